"""CRM anomaly series on the real PostgreSQL: the same series and anomalies as on SQLite."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from haste.db import dispose_engine, upgrade_database
from monitoring.anomalies import find_crm_anomalies
from monitoring.anomaly_series import crm_metric_series
from tests.support.anomaly_seed import DAYS, END, SHIFT_DAY, SPIKE_DAY, seed_anomaly_crm


def test_an_empty_postgres_database_gives_no_anomaly(pg_url: str) -> None:
    upgrade_database(pg_url)
    assert crm_metric_series(pg_url) == {}
    assert find_crm_anomalies(pg_url, days=DAYS, end=END) == []


def test_postgres_and_sqlite_give_the_same_series_and_anomalies(
    pg_url: str, tmp_path: Path
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'anomalies.db'}"
    seed_anomaly_crm(pg_url)
    seed_anomaly_crm(sqlite_url)
    try:
        on_pg = crm_metric_series(pg_url, days=DAYS, end=END)
        on_sqlite = crm_metric_series(sqlite_url, days=DAYS, end=END)
        assert set(on_pg) == set(on_sqlite)
        for key, series in on_pg.items():
            pd.testing.assert_series_equal(series, on_sqlite[key], check_freq=False, rtol=1e-9)
        found = find_crm_anomalies(pg_url, days=DAYS, end=END)
        assert [a.to_dict() for a in found] == [
            a.to_dict() for a in find_crm_anomalies(sqlite_url, days=DAYS, end=END)
        ]
        kinds = {(a.metric, a.kind, a.timestamp.date()) for a in found}
        assert ("activity_volume[Enterprise Sales]", "spike", SPIKE_DAY) in kinds
        assert ("ai_cost_usd[SMB Growth]", "level_shift", SHIFT_DAY) in kinds
    finally:
        dispose_engine(sqlite_url)


@pytest.mark.parametrize("days", [1, 7])
def test_short_windows_work_on_postgres(pg_url: str, days: int) -> None:
    seed_anomaly_crm(pg_url)
    series = crm_metric_series(pg_url, days=days, end=END)
    assert all(len(s) <= days for key, s in series.items() if key != "win_rate")
    find_crm_anomalies(pg_url, days=days, end=END)
