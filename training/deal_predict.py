"""Deal-velocity predictions: every open deal of the pipeline, or one deal with its SHAP factors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from training.deal_data import ID_COLUMN, OPEN_STAGES, data_end, enrich_deals
from training.deal_models import DealModels
from training.deal_outcome import DealVelocityOutcome


def days_intervals(models: DealModels, deals: pd.DataFrame) -> np.ndarray | None:
    """Return ``(n, 2)`` conformal days-to-close intervals, or None when the model has none."""
    days_model = models.days_model
    if getattr(days_model, "interval_", None) is None:
        return None
    return days_model.predict_interval(models.features(deals))


def score_open_deals(
    frame: pd.DataFrame, models: DealModels, as_of: str | pd.Timestamp | None = None
) -> pd.DataFrame:
    """Return win probability, predicted days and expected close date of each open deal.

    Prospecting deals have no engage date; they are scored as if engaged on ``as_of`` (default:
    the export's last date) and flagged ``engage_date_assumed``, instead of sending missing date
    features (never seen in training) down an arbitrary branch.
    """
    as_of = pd.Timestamp(as_of) if as_of is not None else data_end(frame)
    deals = frame[frame["deal_stage"].isin(OPEN_STAGES)].copy()
    assumed = deals["engage_date"].isna()
    deals["engage_date"] = deals["engage_date"].fillna(as_of)
    deals = enrich_deals(deals)
    out = deals[[ID_COLUMN, "sales_agent", "product", "account", "deal_stage", "engage_date"]]
    out = out.copy()
    out["engage_date_assumed"] = assumed.to_numpy()
    out["win_probability"] = models.predict_win(deals)
    out["predicted_days"] = models.predict_days(deals)
    bounds = days_intervals(models, deals)
    if bounds is not None:
        out["days_to_close_low"], out["days_to_close_high"] = bounds[:, 0], bounds[:, 1]
    out["expected_close_date"] = out["engage_date"] + pd.to_timedelta(
        out["predicted_days"].round(), unit="D"
    )
    out["overdue"] = out["expected_close_date"] < as_of
    return out.reset_index(drop=True)


def predict_deal(
    outcome_or_models: DealVelocityOutcome | DealModels,
    deal_row: Mapping[str, Any] | pd.Series,
    top_k: int = 3,
    as_of: str | pd.Timestamp | None = None,
) -> dict[str, Any]:
    """Predict one deal's days to close, expected close date and win probability, with SHAP.

    Args:
        outcome_or_models: A training outcome or the fitted :class:`DealModels`.
        deal_row: A raw pipeline row (``sales_agent``, ``product``, ``account``,
            ``engage_date`` ...) or an already enriched one; missing inputs are treated as
            unknown.
        top_k: Number of SHAP factors returned per model.
        as_of: Optional "today": ``overdue`` says whether the expected close date is before it,
            and a deal without an engage date (Prospecting) is scored as if engaged on it.

    Returns:
        ``days_to_close`` with its conformal ``days_to_close_interval`` ``[low, high]`` at the
        target ``coverage`` (both None for a model without intervals), ``expected_close_date``
        (ISO date, None without an engage date),
        ``engage_date_assumed``, ``overdue``, ``win_probability`` and ``top_factors`` (SHAP
        impacts in days for ``days_to_close``, in log-odds for ``win_probability``).

    """
    models = (
        outcome_or_models.models
        if isinstance(outcome_or_models, DealVelocityOutcome)
        else outcome_or_models
    )
    row = pd.DataFrame([dict(deal_row)])
    row["engage_date"] = pd.to_datetime(row.get("engage_date", pd.NaT), errors="coerce")
    assumed = bool(row["engage_date"].isna().iloc[0] and as_of is not None)
    if assumed:
        row["engage_date"] = pd.Timestamp(as_of)
    features = models.features(row)
    days = float(np.clip(models.days_model.predict(features), 0, None)[0])
    win = float(models.win_model.predict_proba(features)[0, 1])
    interval, coverage = None, None
    if getattr(models.days_model, "interval_", None) is not None:
        low, high = models.days_model.predict_interval(features)[0]
        interval = [round(float(low), 1), round(float(high), 1)]
        coverage = float(models.days_model.interval_.coverage)
    engage = row["engage_date"].iloc[0]
    close = None if pd.isna(engage) else engage + pd.Timedelta(days=round(days))
    overdue = None if close is None or as_of is None else bool(close < pd.Timestamp(as_of))
    factors = {
        "days_to_close": [
            c.to_dict() for c in models.explainer("days").explain(features, top_k)[0]
        ],
        "win_probability": [
            c.to_dict() for c in models.explainer("win").explain(features, top_k)[0]
        ],
    }
    return {
        "opportunity_id": deal_row.get(ID_COLUMN) if hasattr(deal_row, "get") else None,
        "days_to_close": round(days, 1),
        "days_to_close_interval": interval,
        "coverage": coverage,
        "engage_date": None if pd.isna(engage) else str(engage.date()),
        "engage_date_assumed": assumed,
        "expected_close_date": None if close is None else str(close.date()),
        "overdue": overdue,
        "win_probability": round(win, 4),
        "top_factors": factors,
        "factor_units": {"days_to_close": "days", "win_probability": "log-odds"},
    }
