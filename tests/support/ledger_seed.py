"""A seeded forecast ledger for dashboard tests: six months of forecasts, resolved."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from monitoring.ledger import LedgerEntry, ledger_report, record_forecasts, resolve_ledger
from monitoring.ledger_actuals import Actual, PendingEntry
from monitoring.ledger_entries import churn_entries, revenue_entry

MONTHS: tuple[str, ...] = ("2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06")


class SeededActuals:
    """Actuals drawn once per entity (revenue near 100k, days near 40, events at 40 %)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.known: dict[tuple[str, str], float] = {}

    def actual_of(self, entry: PendingEntry) -> Actual | None:
        key = (entry.kind, entry.entity_id)
        if key not in self.known:
            if entry.kind == "revenue_forecast":
                self.known[key] = self.rng.uniform(70_000, 130_000)
            elif entry.kind == "deal_velocity":
                self.known[key] = float(self.rng.randint(10, 80))
            else:
                self.known[key] = 1.0 if self.rng.random() < 0.4 else 0.0
        return Actual(self.known[key], entry.target_at)


def seed_ledger(url: str, seed: int = 7) -> dict[str, Any]:
    """Record revenue, deal and churn forecasts over six months, resolve them, return the report.

    Args:
        url: Migrated database URL.
        seed: Random seed.

    Returns:
        :func:`monitoring.ledger.ledger_report` after the resolution.
    """
    rng = random.Random(seed)
    entries: list[LedgerEntry] = []
    for month in MONTHS:
        made = dt.datetime.fromisoformat(f"{month}-01").replace(tzinfo=dt.UTC)
        forecast = rng.uniform(80_000, 120_000)
        entries.append(revenue_entry(month, made, forecast, rng.uniform(60_000, 140_000), "1"))
        for index in range(20):
            deal = {
                "entity_type": "deal",
                "entity_id": f"{month}-D{index}",
                "made_at": made,
                "target_at": made + dt.timedelta(days=30),
            }
            low = rng.uniform(5, 30)
            entries.append(
                LedgerEntry(
                    "deal_velocity",
                    model_name="deal_velocity",
                    model_version="1",
                    predicted=low + 15,
                    interval_low=low,
                    interval_high=low + 45,
                    coverage=0.9,
                    naive=45.0,
                    **deal,
                )
            )
            entries.append(
                LedgerEntry(
                    "win_probability",
                    model_name="win_probability",
                    model_version="1",
                    probability=rng.uniform(0.1, 0.9),
                    naive=0.4,
                    **deal,
                )
            )
        ids = [f"{month}-A{i}" for i in range(15)]
        entries.extend(churn_entries(ids, [rng.random() for _ in ids], 0.25, "1", made))
    record_forecasts(url, entries)
    resolve_ledger(url, SeededActuals(seed), dt.datetime(2025, 8, 1, tzinfo=dt.UTC))
    return ledger_report(url)
