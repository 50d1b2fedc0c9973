"""Conformal intervals of the monthly revenue forecast, from rolling one-month windows.

Why not per-deal simulation: summing each open deal's Bernoulli(win probability) x value gives
an interval that only knows the deal-level noise, not the model's error (where the deals land,
the deals engaged and won within the month). Measured on the 2017 backtest it covered 1 month in
8 at a 90 % target. Why not conformal on the eight monthly backtest errors: a two-sided 90 %
split-conformal interval needs at least 19 calibration errors.

What is done instead (split conformal on the forecast totals):

1. Each backtest model (fitted on deals closed before its monthly cut-off) also forecasts, as the
   monthly forecast does, the won revenue of the one-month window starting on *every day* until
   the next cut-off: the deals open that day, placed at ``engage_date + predicted days``, times
   win probability x expected value.
2. The score of a window is ``log(actual / forecast)``.
3. The interval of a backtest month is the forecast times ``exp`` of the lower and upper
   conformal quantiles (``1 - alpha / 2`` each side) of the scores of the windows that *ended
   before its cut-off* (their actual was known then). No future rows; a month with fewer than
   the 19 windows a 90 % two-sided interval needs gets none (reported as such).

Caveats, also in the model card: the windows overlap (consecutive days share most deals), so
they are far from independent, and the coverage across backtest months is measured on few
months (6 of 8 have enough history).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from training.conformal import conformal_quantile
from training.deal_data import INTERVAL_COVERAGE, training_rows_for_cutoff
from training.deal_forecast import ForecastBacktest, expected_deal_values


def window_actuals(frame: pd.DataFrame, starts: pd.DatetimeIndex) -> np.ndarray:
    """Return the won revenue closed in ``[start, start + 1 month)`` for each start."""
    won = frame[frame["deal_stage"] == "Won"]
    close = won["close_date"].to_numpy()
    value = won["close_value"].to_numpy(dtype=float)
    ends = starts + pd.DateOffset(months=1)
    return np.array(
        [value[(close >= s) & (close < e)].sum() for s, e in zip(starts, ends, strict=True)]
    )


def rolling_window_forecasts(frame: pd.DataFrame, backtest: ForecastBacktest) -> pd.DataFrame:
    """Forecast every one-month window starting between each backtest cut-off and the next.

    Args:
        frame: The deal frame.
        backtest: A backtest whose forecasts kept their models (:func:`forecast_revenue`).

    Returns:
        One row per window start (``start``, ``end``, ``model_cutoff``, ``forecast``,
        ``actual``, ``log_ratio``); only windows that end within the export.
    """
    last_day = max(frame["engage_date"].max(), frame["close_date"].max())
    forecasts = sorted(backtest.forecasts.values(), key=lambda forecast: forecast.cutoff)
    rows = []
    for index, forecast in enumerate(forecasts):
        if forecast.models is None:
            raise ValueError("the backtest forecasts must keep their models")
        cutoff = forecast.cutoff
        following = (
            forecasts[index + 1].cutoff
            if index + 1 < len(forecasts)
            else cutoff + pd.DateOffset(months=1)
        )
        pool = frame[
            (frame["engage_date"] < following)
            & (frame["close_date"].isna() | (frame["close_date"] >= cutoff))
        ]
        train = training_rows_for_cutoff(frame, cutoff)
        predicted = pool["engage_date"] + pd.to_timedelta(
            forecast.models.predict_days(pool).round(), unit="D"
        )
        revenue = forecast.models.predict_win(pool) * expected_deal_values(train, pool)
        engage, close = pool["engage_date"].to_numpy(), pool["close_date"].to_numpy()
        predicted_close = predicted.to_numpy()
        starts = pd.date_range(cutoff, following - pd.Timedelta(days=1), freq="D")
        starts = starts[starts + pd.DateOffset(months=1) <= last_day + pd.Timedelta(days=1)]
        for start, end in zip(starts, starts + pd.DateOffset(months=1), strict=True):
            s, e = start.to_datetime64(), end.to_datetime64()
            is_open = (engage < s) & (pd.isna(close) | (close >= s))
            lands = (predicted_close >= s) & (predicted_close < e)
            rows.append(
                {
                    "start": start,
                    "end": end,
                    "model_cutoff": cutoff,
                    "forecast": float(revenue[is_open & lands].sum()),
                }
            )
    table = pd.DataFrame(rows, columns=["start", "end", "model_cutoff", "forecast"])
    table["actual"] = window_actuals(frame, pd.DatetimeIndex(table["start"]))
    valid = (table["forecast"] > 0) & (table["actual"] > 0)
    table["log_ratio"] = np.where(
        valid,
        np.log(table["actual"].where(valid, 1.0) / table["forecast"].where(valid, 1.0)),
        np.nan,
    )
    return table


def ratio_bounds(scores: np.ndarray, coverage: float) -> tuple[float, float] | None:
    """Return conformal (lower, upper) log-ratio bounds, or None with too few scores."""
    scores = np.asarray(scores, dtype=float)
    scores = scores[np.isfinite(scores)]
    side = 1.0 - (1.0 - coverage) / 2
    if len(scores) == 0 or np.ceil((len(scores) + 1) * side) > len(scores):
        return None
    return -conformal_quantile(-scores, side), conformal_quantile(scores, side)


@dataclass
class RevenueIntervals:
    """Conformal intervals of the backtest months and their measured coverage.

    Attributes:
        table: Per backtest month: ``month``, ``forecast``, ``actual``, ``naive``, ``low``,
            ``high`` (NaN without enough history), ``calibration_windows``, ``covered``.
        metrics: Target and measured coverage, months with an interval, relative widths.
        windows: The rolling windows (scores) behind the intervals.
        latest_bounds: Log-ratio bounds from every window (for a forecast made today).
    """

    table: pd.DataFrame
    metrics: dict[str, Any]
    windows: pd.DataFrame = field(repr=False)
    latest_bounds: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary."""
        table = self.table.copy()
        table["cutoff"] = table["cutoff"].astype(str)
        return {
            **self.metrics,
            "latest_log_ratio_bounds": list(self.latest_bounds) if self.latest_bounds else None,
            "periods_table": table.replace({np.nan: None}).to_dict("records"),
        }


def revenue_intervals(
    frame: pd.DataFrame, backtest: ForecastBacktest, coverage: float = INTERVAL_COVERAGE
) -> RevenueIntervals:
    """Give each backtest month a conformal interval and measure its coverage.

    Args:
        frame: The deal frame.
        backtest: The monthly backtest (its forecasts keep their models).
        coverage: Target coverage.

    Returns:
        The intervals, their coverage across backtest months and the window scores.
    """
    windows = rolling_window_forecasts(frame, backtest)
    rows = []
    for row in backtest.table.itertuples(index=False):
        cutoff = pd.Timestamp(row.cutoff)
        known = windows.loc[windows["end"] <= cutoff, "log_ratio"].to_numpy()
        bounds = ratio_bounds(known, coverage)
        low, high = (np.nan, np.nan) if bounds is None else np.exp(bounds) * row.forecast
        rows.append(
            {
                "cutoff": cutoff,
                "month": row.month,
                "forecast": row.forecast,
                "actual": row.actual,
                "naive": row.naive,
                "low": float(low),
                "high": float(high),
                "calibration_windows": int(np.isfinite(known).sum()),
                "covered": None if bounds is None else bool(low <= row.actual <= high),
            }
        )
    table = pd.DataFrame(rows)
    with_interval = table[table["covered"].notna()]
    relative = (with_interval["high"] - with_interval["low"]) / with_interval["forecast"]
    metrics = {
        "method": "split conformal on log(actual / forecast) of rolling one-month windows",
        "target_coverage": coverage,
        "measured_coverage": (
            float(with_interval["covered"].astype(bool).mean()) if len(with_interval) else None
        ),
        "periods": len(table),
        "periods_with_interval": len(with_interval),
        "covered_periods": int(with_interval["covered"].astype(bool).sum()),
        "mean_relative_width": float(relative.mean()) if len(relative) else None,
        "windows": len(windows),
        "mape": backtest.metrics["mape"],
        "naive_mape": backtest.metrics["naive_mape"],
    }
    return RevenueIntervals(
        table=table,
        metrics=metrics,
        windows=windows,
        latest_bounds=ratio_bounds(windows["log_ratio"].to_numpy(), coverage),
    )
