"""The forecast ledger on PostgreSQL (record -> resolve from the CRM -> report) and its flow."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

from haste.db import Account, Company, Deal, session_scope, upgrade_database
from haste.db.session import dispose_all_engines
from haste.records import entity_uuid
from haste.settings import Settings
from monitoring.ledger import (
    LedgerEntry,
    ledger_report,
    ledger_rows,
    record_forecasts,
    resolve_ledger,
)
from monitoring.ledger_actuals import CrmActuals
from monitoring.ledger_entries import churn_entries, revenue_entry

UTC = dt.UTC


def _seed_crm(url: str) -> dict[str, str]:
    """A churned and an active account, a won and a lost deal closed in March 2025."""
    with session_scope(url) as session:
        company = Company(name="Acme")
        session.add(company)
        session.flush()
        churned = Account(company_id=company.id, name="A", status="churned")
        active = Account(company_id=company.id, name="B", status="active")
        won = Deal(name="won", stage="closed_won", amount=1000.0, is_won=True,
                   created_at=dt.datetime(2025, 2, 1, tzinfo=UTC),
                   closed_at=dt.datetime(2025, 3, 3, tzinfo=UTC))  # fmt: skip
        lost = Deal(name="lost", stage="closed_lost", amount=500.0, is_won=False,
                    created_at=dt.datetime(2025, 2, 10, tzinfo=UTC),
                    closed_at=dt.datetime(2025, 3, 12, tzinfo=UTC))  # fmt: skip
        session.add_all([churned, active, won, lost])
        session.flush()
        return {"churned": str(churned.id), "active": str(active.id),
                "won": str(won.id), "lost": str(lost.id)}  # fmt: skip


def test_record_resolve_report_on_postgresql(pg_url: str) -> None:
    upgrade_database(pg_url)
    ids = _seed_crm(pg_url)
    made = dt.datetime(2025, 2, 15, tzinfo=UTC)
    deal = {"entity_type": "deal", "made_at": made, "target_at": made + dt.timedelta(days=20)}
    entries = [
        revenue_entry("2025-03", "2025-03-01", 800.0, 1250.0, "2", (600.0, 1200.0), 0.9),
        LedgerEntry("deal_velocity", entity_id=ids["won"], model_name="dv", model_version="2",
                    predicted=25.0, naive=40.0, **deal),
        LedgerEntry("win_probability", entity_id=ids["won"], model_name="wp", model_version="2",
                    probability=0.7, naive=0.5, **deal),
        LedgerEntry("win_probability", entity_id=ids["lost"], model_name="wp", model_version="2",
                    probability=0.4, naive=0.5, **deal),
        *churn_entries([ids["churned"], ids["active"]], [0.6, 0.1], 0.2, "5", made),
    ]  # fmt: skip
    assert record_forecasts(pg_url, entries) == 6
    assert record_forecasts(pg_url, entries) == 0  # ON CONFLICT DO NOTHING on the unique key

    early = resolve_ledger(pg_url, CrmActuals(pg_url), dt.datetime(2025, 3, 5, tzinfo=UTC))
    assert early.resolved == 2  # the won deal (closed 03-03): days and win probability
    done = resolve_ledger(pg_url, CrmActuals(pg_url), dt.datetime(2025, 4, 2, tzinfo=UTC))
    assert (done.resolved, done.pending) == (4, 0)

    rows = {(r["kind"], r["entity_id"]): r for r in ledger_rows(pg_url)}
    assert rows[("revenue_forecast", "2025-03")]["actual"] == 1000.0  # the won amount only
    assert rows[("revenue_forecast", "2025-03")]["errors"]["covered"] is True
    assert rows[("deal_velocity", ids["won"])]["actual"] == pytest.approx(30.0)
    assert rows[("churn", ids["churned"])]["actual"] == 1.0
    assert rows[("churn", ids["active"])]["errors"]["brier"] == pytest.approx(0.01)
    report = ledger_report(pg_url)
    assert report["kinds"]["revenue_forecast"]["mape"] == pytest.approx(0.2)
    assert report["kinds"]["revenue_forecast"]["naive_mape"] == pytest.approx(0.25)
    assert report["kinds"]["deal_velocity"]["mape"] == pytest.approx(5 / 30)
    assert report["kinds"]["win_probability"]["brier"] == pytest.approx((0.09 + 0.16) / 2)
    assert report["kinds"]["churn"]["naive_brier"] == pytest.approx((0.64 + 0.04) / 2)


def test_scoring_flow_resolves_maven_and_telco_entries(
    isolated_settings: Settings, datasets_dir: Path
) -> None:
    from flows.forecast_ledger import forecast_ledger_scoring
    from pipelines.datasets import load_telco

    url = isolated_settings.database_url
    upgrade_database(url)
    telco = load_telco(datasets_dir).iloc[:2]
    accounts = [str(entity_uuid("telco", c)) for c in telco["customerID"]]
    record_forecasts(
        url,
        [
            revenue_entry("2017-06", "2017-06-01", 900_000.0, 1_000_000.0, "backtest"),
            revenue_entry("2018-01", "2017-12-31", 900_000.0, 1_000_000.0, "3+3"),  # no actual
            *churn_entries(accounts, [0.8, 0.3], 0.27, "1", "2024-01-01"),
        ],
    )
    try:
        with prefect_test_harness(server_startup_timeout=180):
            result = forecast_ledger_scoring(as_of="2024-03-01T00:00:00+00:00")
    finally:
        dispose_all_engines()
    assert result["resolution"]["resolved"] == 3
    assert result["resolution"]["pending"] == 1  # the month after the export never arrives
    churn = result["report"]["kinds"]["churn"]
    labels = telco["Churn"].tolist()
    expected = ((0.8 - labels[0]) ** 2 + (0.3 - labels[1]) ** 2) / 2
    assert churn["brier"] == pytest.approx(expected)
    written = json.loads(Path(result["paths"]["json"]).read_text(encoding="utf-8"))
    assert written["kinds"]["revenue_forecast"]["resolved"] == 1
    assert Path(result["paths"]["json"]).is_relative_to(isolated_settings.data_dir)
