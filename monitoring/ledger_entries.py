"""Ledger entries of the platform's forecasts, each with the naive baseline made at the same time.

* revenue: a month's won-revenue forecast; naive = the previous month's actual;
* deal velocity: an open deal's days to close (from engagement); naive = the historical median
  days to close (by product, else overall) of deals closed before the forecast;
* win probability: naive = the historical win rate (base rate) of deals closed before it;
* churn: a held-out account's churn probability over ``horizon_days``; naive = the training
  base rate.

Framework-free; the frames follow :mod:`training.deal_data` (columns only, nothing imported).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from monitoring.ledger import LedgerEntry
from monitoring.ledger_actuals import as_utc, month_end

#: Days a churn prediction looks ahead (Telco's label: left within the month).
CHURN_HORIZON_DAYS = 30


def revenue_entry(
    month: pd.Period | str,
    made_at: dt.datetime | pd.Timestamp | str,
    forecast: float,
    naive: float | None,
    model_version: str,
    interval: tuple[float, float] | None = None,
    coverage: float | None = None,
) -> LedgerEntry:
    """Return the ledger entry of one month's revenue forecast (due at the month's end)."""
    low, high = interval if interval is not None else (None, None)
    return LedgerEntry(
        kind="revenue_forecast",
        entity_type="period",
        entity_id=str(pd.Period(month, freq="M")),
        model_name="revenue_forecast",
        model_version=model_version,
        made_at=as_utc(made_at),
        target_at=month_end(month),
        predicted=float(forecast),
        interval_low=low,
        interval_high=high,
        coverage=coverage if interval is not None else None,
        naive=naive,
    )


def naive_days(train: pd.DataFrame, deals: pd.DataFrame) -> np.ndarray:
    """Return the historical median days to close of each deal's product (else overall)."""
    if train.empty:
        return np.full(len(deals), np.nan)
    by_product = train.groupby("product")["days_to_close"].median()
    overall = float(train["days_to_close"].median())
    return deals["product"].map(by_product).fillna(overall).to_numpy(dtype=float)


def deal_entries(
    deals: pd.DataFrame,
    train: pd.DataFrame,
    made_at: dt.datetime | pd.Timestamp | str,
    versions: Mapping[str, str],
    coverage: float | None = None,
) -> list[LedgerEntry]:
    """Return the days-to-close and win-probability entries of deals open at ``made_at``.

    Args:
        deals: Scored open deals: ``opportunity_id``, ``product``, ``engage_date``,
            ``predicted_days``, ``win_probability`` and, optionally, ``days_low`` /
            ``days_high`` (the days-to-close interval).
        train: Deals closed before ``made_at`` (``product``, ``days_to_close``, ``is_won``):
            the naive baselines.
        made_at: When the deals were scored.
        versions: ``deal_velocity`` and ``win_probability`` model versions.
        coverage: Nominal coverage of the days interval.

    Returns:
        Two entries per deal, due at the expected close date (``made_at`` if already past).
    """
    made = as_utc(made_at)
    base_rate = float(train["is_won"].mean()) if len(train) else None
    naive = naive_days(train, deals)
    has_interval = {"days_low", "days_high"} <= set(deals.columns)
    entries: list[LedgerEntry] = []
    for position, deal in enumerate(deals.itertuples(index=False)):
        engage = pd.Timestamp(deal.engage_date)
        if pd.isna(engage):
            continue
        days = float(deal.predicted_days)
        target = max(as_utc(engage + pd.Timedelta(days=round(days))), made)
        common: dict[str, Any] = {
            "entity_type": "deal",
            "entity_id": str(deal.opportunity_id),
            "made_at": made,
            "target_at": target,
        }
        entries.append(
            LedgerEntry(
                kind="deal_velocity",
                model_name="deal_velocity",
                model_version=versions["deal_velocity"],
                predicted=days,
                interval_low=float(deal.days_low) if has_interval else None,
                interval_high=float(deal.days_high) if has_interval else None,
                coverage=coverage if has_interval else None,
                naive=float(naive[position]),
                **common,
            )
        )
        entries.append(
            LedgerEntry(
                kind="win_probability",
                model_name="win_probability",
                model_version=versions["win_probability"],
                probability=float(deal.win_probability),
                naive=base_rate,
                **common,
            )
        )
    return entries


def churn_entries(
    entity_ids: Sequence[Any],
    probabilities: Sequence[float],
    base_rate: float,
    model_version: str,
    made_at: dt.datetime | pd.Timestamp | str,
    horizon_days: int = CHURN_HORIZON_DAYS,
    model_name: str = "churn",
) -> list[LedgerEntry]:
    """Return the churn entries of scored accounts (due ``horizon_days`` after ``made_at``).

    Args:
        entity_ids: Account ids (as stored in ``predictions.entity_id``).
        probabilities: Churn probabilities, aligned with the ids.
        base_rate: The training churn rate (the naive forecast).
        model_version: The producing version.
        made_at: When the accounts were scored.
        horizon_days: Look-ahead of the prediction.
        model_name: The producing model.

    Returns:
        One entry per account.
    """
    made = as_utc(made_at)
    target = made + dt.timedelta(days=horizon_days)
    return [
        LedgerEntry(
            kind="churn",
            entity_type="account",
            entity_id=str(entity),
            model_name=model_name,
            model_version=model_version,
            made_at=made,
            target_at=target,
            probability=float(p),
            naive=float(base_rate),
        )
        for entity, p in zip(entity_ids, probabilities, strict=True)
    ]
