"""Unit tests of the forecast ledger: error maths, naive baselines, recording, resolution, views."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from haste.db import dispose_engine, upgrade_database
from haste.settings import Settings
from monitoring.ledger import (
    LedgerEntry,
    ledger_markdown,
    ledger_report,
    ledger_rows,
    record_forecasts,
    resolve_ledger,
)
from monitoring.ledger_actuals import Actual, CombinedActuals, LabelActuals, PendingEntry
from monitoring.ledger_entries import churn_entries, deal_entries, naive_days, revenue_entry
from monitoring.ledger_replay import conformal_quantile
from monitoring.ledger_scoring import entry_errors, summarize_by, summarize_entries

UTC = dt.UTC


def _at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=UTC)


@pytest.fixture()
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    upgrade_database(url)
    yield url
    dispose_engine(url)


class FixedActuals:
    """Revenue of 2017-06 = 100 (known 2017-07-01); deal D1 took 40 days and was won (06-20)."""

    def actual_of(self, entry: PendingEntry) -> Actual | None:
        if entry.kind == "revenue_forecast" and entry.entity_id == "2017-06":
            return Actual(100.0, _at("2017-07-01"))
        if entry.entity_id == "D1" and entry.kind == "deal_velocity":
            return Actual(40.0, _at("2017-06-20"))
        if entry.entity_id == "D1" and entry.kind == "win_probability":
            return Actual(1.0, _at("2017-06-20"))
        if entry.entity_id == "D2":  # closes after the resolution date used below
            return Actual(0.0, _at("2017-09-01"))
        return None


def _entries() -> list[LedgerEntry]:
    made = _at("2017-06-01")
    deal = {"entity_type": "deal", "made_at": made, "target_at": _at("2017-07-15")}
    return [
        revenue_entry("2017-06", made, 80.0, 130.0, "1", interval=(70.0, 110.0), coverage=0.9),
        LedgerEntry("deal_velocity", entity_id="D1", model_name="dv", model_version="1",
                    predicted=50.0, naive=30.0, interval_low=10.0, interval_high=35.0,
                    coverage=0.9, **deal),
        LedgerEntry("win_probability", entity_id="D1", model_name="wp", model_version="1",
                    probability=0.8, naive=0.6, **deal),
        LedgerEntry("win_probability", entity_id="D2", model_name="wp", model_version="1",
                    probability=0.3, naive=0.6, **deal),
    ]  # fmt: skip


# --- error maths ------------------------------------------------------------------------------


def test_value_errors_percentages_and_coverage() -> None:
    errors = entry_errors("revenue_forecast", 100.0, predicted=80.0, naive=130.0,
                          interval_low=70.0, interval_high=110.0)  # fmt: skip
    assert errors["abs_error"] == pytest.approx(20.0)
    assert errors["pct_error"] == pytest.approx(0.2)
    assert errors["naive_pct_error"] == pytest.approx(0.3)
    assert errors["covered"] is True and errors["interval_width"] == pytest.approx(40.0)
    outside = entry_errors("deal_velocity", 40.0, predicted=50.0, interval_low=10, interval_high=35)
    assert outside["covered"] is False and outside["naive_pct_error"] is None
    assert entry_errors("revenue_forecast", 0.0, predicted=5.0)["pct_error"] is None


def test_brier_of_probabilities_and_bad_actuals() -> None:
    errors = entry_errors("churn", 1.0, probability=0.7, naive=0.25)
    assert errors == {"brier": pytest.approx(0.09), "naive_brier": pytest.approx(0.5625)}
    with pytest.raises(ValueError, match="0 or 1"):
        entry_errors("win_probability", 0.5, probability=0.5)
    with pytest.raises(ValueError, match="finite"):
        entry_errors("deal_velocity", float("nan"), predicted=3.0)
    with pytest.raises(ValueError, match="unknown"):
        entry_errors("weather", 1.0, predicted=1.0)


def test_summaries_average_resolved_entries_only() -> None:
    rows = [
        {"kind": "revenue_forecast", "month": "2017-05", "coverage": 0.9,
         "errors": {"pct_error": 0.1, "naive_pct_error": 0.4, "covered": True}},
        {"kind": "revenue_forecast", "month": "2017-06", "coverage": 0.9,
         "errors": {"pct_error": 0.3, "naive_pct_error": 0.2, "covered": False}},
        {"kind": "revenue_forecast", "month": "2017-06", "coverage": 0.9, "errors": None},
    ]  # fmt: skip
    summary = summarize_entries(rows)
    assert (summary["n"], summary["resolved"], summary["pending"]) == (3, 2, 1)
    assert summary["mape"] == pytest.approx(0.2) and summary["naive_mape"] == pytest.approx(0.3)
    assert summary["mape_ratio"] == pytest.approx(2 / 3)
    assert summary["coverage"] == pytest.approx(0.5) and summary["nominal_coverage"] == 0.9
    assert summary["brier"] is None
    months = summarize_by(rows)
    assert [(m["month"], m["resolved"]) for m in months] == [("2017-05", 1), ("2017-06", 1)]


def test_conformal_quantile_is_the_finite_sample_rank() -> None:
    residuals = list(range(1, 20))  # n = 19: rank ceil(20 * 0.9) = 18
    assert conformal_quantile(residuals, 0.9) == 18.0
    assert conformal_quantile([1.0, 2.0], 0.9) == float("inf")


# --- entries and naive baselines ---------------------------------------------------------------


def test_naive_baselines_of_deal_and_churn_entries() -> None:
    train = pd.DataFrame({"product": ["A", "A", "A", "B"], "days_to_close": [10, 20, 90, 50.0],
                          "is_won": [1.0, 0.0, 1.0, 1.0]})  # fmt: skip
    deals = pd.DataFrame({
        "opportunity_id": ["X", "Y", "Z"], "product": ["A", "B", "C"],
        "engage_date": pd.to_datetime(["2017-05-01", "2017-05-20", None]),
        "predicted_days": [40.0, 5.0, 9.0], "win_probability": [0.9, 0.2, 0.5],
    })  # fmt: skip
    assert naive_days(train, deals).tolist() == [20.0, 50.0, 35.0]  # product median, else all
    entries = deal_entries(
        deals, train, "2017-06-01", {"deal_velocity": "3", "win_probability": "4"}
    )
    assert len(entries) == 4  # Z has no engage date: not placeable, skipped
    days = [e for e in entries if e.kind == "deal_velocity"]
    wins = [e for e in entries if e.kind == "win_probability"]
    assert [e.naive for e in wins] == [0.75, 0.75]  # historical win rate
    assert days[0].target_at == _at("2017-06-10")  # engage + 40 days
    assert days[1].target_at == _at("2017-06-01")  # predicted close already past: due now
    churn = churn_entries(["a", "b"], [0.1, 0.8], 0.27, "7", "2024-01-01")
    assert churn[0].naive == 0.27 and churn[1].to_row()["horizon_days"] == 30


def test_entries_are_validated_before_anything_is_written(db: str) -> None:
    good = _entries()[0]
    made = _at("2017-06-01")
    bad = [
        LedgerEntry("weather", "x", "1", "m", "1", made, made, predicted=1.0),
        LedgerEntry("churn", "account", "1", "m", "1", made, made, probability=1.5),
        LedgerEntry(
            "churn", "account", "1", "m", "1", made, made - dt.timedelta(days=1), probability=0.5
        ),
        LedgerEntry("deal_velocity", "deal", "1", "m", "1", made, made),
    ]
    for entry in bad:
        with pytest.raises(ValueError):
            record_forecasts(db, [good, entry])
    assert ledger_rows(db) == []


# --- record and resolve ------------------------------------------------------------------------


def test_recording_is_idempotent(db: str) -> None:
    assert record_forecasts(db, _entries()) == 4
    assert record_forecasts(db, _entries()) == 0
    newer = revenue_entry("2017-06", "2017-06-02", 90.0, 130.0, "1")  # another made_at: new row
    assert record_forecasts(db, [newer]) == 1
    rows = ledger_rows(db, ["revenue_forecast"])
    assert [r["horizon_days"] for r in rows] == [30, 29]
    assert rows[0]["made_at"] == _at("2017-06-01") and rows[0]["target_at"] == _at("2017-07-01")


def test_resolution_only_when_due(db: str) -> None:
    record_forecasts(db, _entries())
    early = resolve_ledger(db, FixedActuals(), _at("2017-06-15"))
    assert (early.resolved, early.pending) == (0, 4)  # D1 closes 06-20; the month ends 07-01
    mid = resolve_ledger(db, FixedActuals(), _at("2017-06-25"))
    assert (mid.resolved, mid.pending) == (2, 2)  # D1 closed before its expected date
    late = resolve_ledger(db, FixedActuals(), _at("2017-07-02"))
    assert (late.resolved, late.pending) == (1, 1)  # the month is over; D2 is still open
    rows = {(r["kind"], r["entity_id"]): r for r in ledger_rows(db)}
    revenue = rows[("revenue_forecast", "2017-06")]
    assert revenue["actual"] == 100.0 and revenue["errors"]["pct_error"] == pytest.approx(0.2)
    assert revenue["resolved_at"] == _at("2017-07-02")
    days = rows[("deal_velocity", "D1")]
    assert days["errors"]["covered"] is False and days["errors"]["abs_error"] == 10.0
    assert rows[("win_probability", "D1")]["errors"]["brier"] == pytest.approx(0.04)
    assert rows[("win_probability", "D2")]["resolved_at"] is None
    again = resolve_ledger(db, FixedActuals(), _at("2017-07-02"))
    assert (again.resolved, again.pending) == (0, 1)  # resolved entries are never rescored

    report = ledger_report(db)
    assert report["kinds"]["revenue_forecast"]["mape"] == pytest.approx(0.2)
    assert report["kinds"]["revenue_forecast"]["naive_mape"] == pytest.approx(0.3)
    assert report["kinds"]["win_probability"]["pending"] == 1
    assert "| revenue_forecast | 1 | 0 | 20.0% | 30.0% |" in ledger_markdown(report)


def test_held_out_labels_resolve_churn_at_the_horizon(db: str) -> None:
    record_forecasts(db, churn_entries(["a", "b", "c"], [0.9, 0.2, 0.5], 0.3, "1", "2024-01-01"))
    labels = CombinedActuals([FixedActuals(), LabelActuals("churn", {"a": 1.0, "b": 0.0})])
    assert resolve_ledger(db, labels, _at("2024-01-30")).resolved == 0  # horizon not over
    result = resolve_ledger(db, labels, _at("2024-01-31"))
    assert (result.resolved, result.pending) == (2, 1)  # "c" has no label
    churn = ledger_report(db)["kinds"]["churn"]
    assert churn["brier"] == pytest.approx((0.01 + 0.04) / 2)
    assert churn["naive_brier"] == pytest.approx((0.49 + 0.09) / 2)


# --- dashboard and CLI -------------------------------------------------------------------------


def test_dashboard_section_and_template(db: str) -> None:
    from insights.ledger_overview import ledger_overview
    from serving.dashboard.render import _environment

    assert ledger_overview(db) is None  # empty ledger: the section stays hidden
    record_forecasts(db, _entries())
    resolve_ledger(db, FixedActuals(), _at("2017-07-02"))
    section = ledger_overview(db)
    assert section["resolved"] == 3 and section["chart"].startswith("<svg")
    cards = {k["kind"]: k for k in section["kinds"]}
    assert cards["revenue_forecast"]["verdict"] == "beats naive"
    assert cards["win_probability"]["metric"] == "Brier"
    html = _environment().get_template("ledger.html").render(data={"trust": {"ledger": section}})
    assert 'id="ledger"' in html and html.count('class="ledger-month"') == 3
    assert "beats naive" in html and 'data-chart="ledger_accuracy"' in html
    empty = _environment().get_template("ledger.html").render(data={"trust": {"ledger": None}})
    assert 'id="ledger"' not in empty


def test_cli_report_and_resolve(isolated_settings: Settings) -> None:
    from haste.cli.ledger import app

    url = isolated_settings.database_url
    upgrade_database(url)
    record_forecasts(url, _entries()[:1])
    runner = CliRunner()
    result = runner.invoke(app, ["report", "--json"])
    assert result.exit_code == 0, result.output
    assert '"entries": 1' in result.output
    bad = runner.invoke(app, ["resolve", "--as-of", "yesterday"])
    assert bad.exit_code == 1 and "ISO date" in bad.output
