"""Replay the Maven CRM history as a forecast ledger (the real-data figures of the ledger).

At each monthly cut-off the forecasts are made exactly as the deal-velocity training backtest
makes them (:func:`training.deal_forecast.forecast_revenue`: both models refitted on deals
closed before the cut-off only), and recorded with what the naive baselines said at the same
moment: the month's revenue (naive: last month's actual), and each open deal's days to close
(naive: historical median by product) and win probability (naive: historical win rate).

Days-to-close intervals are split-conformal (absolute residuals, finite-sample quantile
``ceil((n + 1)(1 - alpha)) / n``): a second days model is fitted on the older part of the
deals closed before the cut-off and calibrated on the newest ``calibration_fraction`` of them;
the interval is the served model's prediction +/- that quantile. The revenue entries carry no
interval: eight monthly residuals cannot support a 90 % conformal bound (that needs >= 9).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from monitoring.ledger import LedgerEntry
from monitoring.ledger_entries import deal_entries, revenue_entry

#: Version label of replayed (backtest) forecasts.
REPLAY_VERSION = "backtest"


def conformal_quantile(residuals: np.ndarray, coverage: float) -> float:
    """Return the split-conformal quantile of absolute residuals for ``coverage``.

    Args:
        residuals: Absolute calibration residuals.
        coverage: Target coverage in (0, 1).

    Returns:
        The ``ceil((n + 1) * coverage) / n`` empirical quantile (``inf`` when n is too small).
    """
    values = np.sort(np.asarray(residuals, dtype=float))
    n = len(values)
    rank = math.ceil((n + 1) * coverage)
    return float("inf") if n == 0 or rank > n else float(values[rank - 1])


def days_interval_half_width(
    train: pd.DataFrame, coverage: float, calibration_fraction: float = 0.2
) -> float:
    """Return the conformal half-width of days to close, from deals closed before a cut-off.

    Args:
        train: Deals closed before the cut-off
            (:func:`training.deal_data.training_rows_for_cutoff`).
        coverage: Target coverage.
        calibration_fraction: Newest share (by close date) held out for calibration.

    Returns:
        The half-width in days.
    """
    from training.deal_data import FEATURE_COLUMNS
    from training.deal_models import build_days_pipeline

    ordered = train.sort_values(["close_date", "opportunity_id"], kind="mergesort")
    n_cal = max(1, round(len(ordered) * calibration_fraction))
    proper, calibration = ordered.iloc[:-n_cal], ordered.iloc[-n_cal:]
    columns = list(FEATURE_COLUMNS)
    model = build_days_pipeline().fit(proper[columns], proper["days_to_close"])
    predicted = np.clip(model.predict(calibration[columns]), 0, None)
    residuals = np.abs(calibration["days_to_close"].to_numpy(dtype=float) - predicted)
    return conformal_quantile(residuals, coverage)


def replay_maven_ledger(
    frame: pd.DataFrame,
    cutoffs: Sequence[str | pd.Timestamp] | None = None,
    coverage: float = 0.9,
    calibration_fraction: float = 0.2,
    version: str = REPLAY_VERSION,
) -> list[LedgerEntry]:
    """Return the ledger entries of the Maven CRM history replayed at monthly cut-offs.

    Args:
        frame: The deal frame (:func:`training.deal_data.build_deal_frame`).
        cutoffs: First day of each forecast month (default: the training backtest's).
        coverage: Nominal coverage of the days-to-close intervals.
        calibration_fraction: Share of closed deals used for the conformal calibration.
        version: ``model_version`` of the entries.

    Returns:
        Per cut-off: one revenue entry and two entries per open deal.
    """
    from training.deal_data import BACKTEST_CUTOFFS, training_rows_for_cutoff
    from training.deal_forecast import forecast_revenue

    entries: list[LedgerEntry] = []
    versions = {"deal_velocity": version, "win_probability": version}
    for cutoff in cutoffs or BACKTEST_CUTOFFS:
        cutoff = pd.Timestamp(cutoff)
        train = training_rows_for_cutoff(frame, cutoff)
        forecast = forecast_revenue(frame, cutoff)
        month = cutoff.to_period("M")
        won = train[train["deal_stage"] == "Won"]
        previous = won.loc[won["close_date"].dt.to_period("M") == month - 1, "close_value"]
        naive = float(previous.sum()) if len(train) else None
        entries.append(revenue_entry(month, cutoff, forecast.month_total(month), naive, version))
        half_width = days_interval_half_width(train, coverage, calibration_fraction)
        deals = forecast.deals.copy()
        if math.isfinite(half_width):
            deals["days_low"] = np.clip(deals["predicted_days"] - half_width, 0, None)
            deals["days_high"] = deals["predicted_days"] + half_width
        entries.extend(deal_entries(deals, train, cutoff, versions, coverage))
    return entries


def training_run_entries(outcome: Any, versions: Mapping[str, str]) -> list[LedgerEntry]:
    """Return the ledger entries of one deal-velocity training run.

    * the backtest's forecasts, as made at each cut-off (``model_version`` ``backtest``): each
      month's revenue and the deals open then (resolvable at once from the export);
    * the served forecasts, made at the export's last day: each open deal's days to close and
      win probability, and the next month's revenue (pending until their actuals arrive).

    Args:
        outcome: A :class:`training.deal_outcome.DealVelocityOutcome`.
        versions: Registered ``deal_velocity`` and ``win_probability`` versions.

    Returns:
        The entries (days-to-close intervals when the scored deals carry ``days_low`` /
        ``days_high``).
    """
    from training.deal_data import closed_deals, data_end, training_rows_for_cutoff
    from training.deal_forecast import forecast_revenue

    frame = outcome.frame
    entries: list[LedgerEntry] = []
    replayed = {"deal_velocity": REPLAY_VERSION, "win_probability": REPLAY_VERSION}
    for row in outcome.forecast.table.itertuples(index=False):
        naive = None if pd.isna(row.naive) else float(row.naive)
        entries.append(revenue_entry(row.month, row.cutoff, row.forecast, naive, REPLAY_VERSION))
        forecast = outcome.forecast.forecasts[str(pd.Timestamp(row.cutoff).date())]
        train = training_rows_for_cutoff(frame, row.cutoff)
        entries.extend(deal_entries(forecast.deals, train, row.cutoff, replayed))
    as_of = data_end(frame)
    entries.extend(deal_entries(outcome.open_deals, closed_deals(frame), as_of, versions))
    following = (as_of + pd.Timedelta(days=1)).to_period("M")
    upcoming = forecast_revenue(frame, following.start_time, models=outcome.models)
    won = frame[frame["deal_stage"] == "Won"]
    last = won.loc[won["close_date"].dt.to_period("M") == following - 1, "close_value"]
    version = f"{versions['deal_velocity']}+{versions['win_probability']}"
    total = upcoming.month_total(following)
    entries.append(revenue_entry(following, as_of, total, float(last.sum()), version))
    return entries
