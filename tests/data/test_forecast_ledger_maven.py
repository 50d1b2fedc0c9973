"""The forecast ledger on the real Maven CRM export: actuals, a replayed cut-off, its resolution."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from haste.db import dispose_engine, upgrade_database
from monitoring.ledger import ledger_report, ledger_rows, record_forecasts, resolve_ledger
from monitoring.ledger_actuals import MavenActuals, PendingEntry, as_utc
from monitoring.ledger_replay import replay_maven_ledger


@pytest.fixture(scope="module")
def frame(datasets_dir: Path) -> pd.DataFrame:
    from pipelines.datasets import load_maven_crm
    from training.deal_data import build_deal_frame

    return build_deal_frame(load_maven_crm(datasets_dir))


def test_maven_actuals_match_the_export(frame: pd.DataFrame) -> None:
    from training.deal_data import won_revenue_by_month

    actuals = MavenActuals(frame)
    june = PendingEntry("revenue_forecast", "2017-06", as_utc("2017-06-01"), as_utc("2017-07-01"))
    actual = actuals.actual_of(june)
    assert actual.value == pytest.approx(won_revenue_by_month(frame)[pd.Period("2017-06")])
    assert actual.observed_at == as_utc("2017-07-01")
    assert actuals.actual_of(replace(june, entity_id="2018-01")) is None
    won = frame[frame["deal_stage"] == "Won"].iloc[0]
    deal = PendingEntry("win_probability", won["opportunity_id"], june.made_at, june.target_at)
    assert actuals.actual_of(deal).value == 1.0
    assert actuals.actual_of(deal).observed_at == as_utc(won["close_date"])
    open_deal = frame[frame["deal_stage"] == "Engaging"].iloc[0]["opportunity_id"]
    assert actuals.actual_of(replace(june, kind="deal_velocity", entity_id=open_deal)) is None


def test_one_replayed_cutoff_resolves_against_what_happened(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    from training.deal_data import open_at_cutoff, won_revenue_by_month

    entries = replay_maven_ledger(frame, cutoffs=["2017-06-01"])
    revenue = [e for e in entries if e.kind == "revenue_forecast"]
    assert len(revenue) == 1
    assert revenue[0].naive == pytest.approx(won_revenue_by_month(frame)[pd.Period("2017-05")])
    open_deals = open_at_cutoff(frame, "2017-06-01")
    assert len(entries) == 1 + 2 * len(open_deals)
    days = [e for e in entries if e.kind == "deal_velocity"]
    assert all(e.coverage == 0.9 and e.interval_low <= e.predicted <= e.interval_high for e in days)

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    upgrade_database(url)
    try:
        assert record_forecasts(url, entries) == len(entries)
        as_of = dt.datetime(2017, 8, 1, tzinfo=dt.UTC)
        resolve_ledger(url, MavenActuals(frame), as_of)
        rows = ledger_rows(url)
        report = ledger_report(url)
    finally:
        dispose_engine(url)
    closed_by = frame.set_index("opportunity_id")["close_date"]
    for row in rows:
        if row["kind"] == "deal_velocity":
            closed = closed_by[row["entity_id"]]
            assert (row["resolved_at"] is not None) == (
                pd.notna(closed) and closed < pd.Timestamp(as_of.date()) + pd.Timedelta(days=1)
            )
    assert report["kinds"]["revenue_forecast"]["resolved"] == 1
    assert 0.0 < report["kinds"]["deal_velocity"]["coverage"] <= 1.0
    assert report["kinds"]["win_probability"]["brier"] < 0.35
