"""Revenue forecast from open deals and its backtest over monthly cut-offs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from training.deal_data import (
    BACKTEST_CUTOFFS,
    ID_COLUMN,
    open_at_cutoff,
    training_rows_for_cutoff,
    won_revenue_by_month,
)
from training.deal_models import (
    DealModels,
    fit_deal_models,
)


def expected_deal_values(train: pd.DataFrame, deals: pd.DataFrame) -> np.ndarray:
    """Return each deal's expected value if won, from won deals in ``train`` only.

    Mean ``close_value`` of the agent's won deals of that product, else of all won deals of the
    product, else the product's list ``sales_price``.
    """
    won = train[train["deal_stage"] == "Won"]
    by_pair = won.groupby(["sales_agent", "product"])["close_value"].mean()
    by_product = won.groupby("product")["close_value"].mean()
    pairs = pd.MultiIndex.from_arrays([deals["sales_agent"], deals["product"]])
    values = pd.Series(by_pair.reindex(pairs).to_numpy(), index=deals.index)
    values = values.fillna(deals["product"].map(by_product)).fillna(deals["sales_price"])
    return values.to_numpy(dtype=float)


@dataclass
class RevenueForecast:
    """Open pipeline at a cutoff, scored and placed by predicted close month."""

    cutoff: pd.Timestamp
    deals: pd.DataFrame
    by_month: pd.Series
    train_ids: list[str]
    train_last_close: pd.Timestamp | None
    models: DealModels | None = field(default=None, repr=False)

    def month_total(self, month: pd.Period) -> float:
        """Return the forecast won revenue of ``month`` (0.0 when no deal lands there)."""
        return float(self.by_month.get(month, 0.0))


def forecast_revenue(
    frame: pd.DataFrame,
    cutoff: pd.Timestamp | str,
    models: DealModels | None = None,
    days_params: Mapping[str, Any] | None = None,
    win_params: Mapping[str, Any] | None = None,
) -> RevenueForecast:
    """Forecast won revenue by month from the pipeline open at ``cutoff``.

    Each open deal contributes ``win_probability x expected value`` to the month of
    ``engage_date + predicted days-to-close``. A deal whose predicted close is already before the
    cutoff lands in a past month and so adds nothing to the forecast: it has outlived its
    predicted cycle and is treated as stalled (many such deals never close in this export).

    Args:
        frame: The deal frame (:func:`build_deal_frame`).
        cutoff: The "as of" date; nothing closed on or after it is used.
        models: Models to use; by default they are fitted on deals closed before the cutoff.
        days_params: Regressor hyper-parameters when fitting.
        win_params: Classifier hyper-parameters when fitting.

    Returns:
        The scored open deals and the forecast by close month (months >= the cutoff's).

    """
    cutoff = pd.Timestamp(cutoff)
    train = training_rows_for_cutoff(frame, cutoff)
    if models is None:
        models = fit_deal_models(train, days_params=days_params, win_params=win_params)
    deals = open_at_cutoff(frame, cutoff).copy()
    deals["predicted_days"] = models.predict_days(deals)
    deals["win_probability"] = models.predict_win(deals)
    deals["expected_value"] = expected_deal_values(train, deals)
    deals["expected_revenue"] = deals["win_probability"] * deals["expected_value"]
    deals["predicted_close"] = deals["engage_date"] + pd.to_timedelta(
        deals["predicted_days"].round(), unit="D"
    )
    deals["predicted_month"] = deals["predicted_close"].dt.to_period("M")
    future = deals[deals["predicted_close"] >= cutoff]
    by_month = future.groupby("predicted_month")["expected_revenue"].sum().sort_index()
    return RevenueForecast(
        cutoff=cutoff,
        deals=deals,
        by_month=by_month,
        train_ids=train[ID_COLUMN].tolist(),
        train_last_close=train["close_date"].max() if len(train) else None,
        models=models,
    )


@dataclass
class ForecastBacktest:
    """Next-month forecasts for each cutoff vs actual won revenue and the naive baseline."""

    table: pd.DataFrame
    metrics: dict[str, float]
    forecasts: dict[str, RevenueForecast] = field(repr=False)


def _ape(forecast: pd.Series, actual: pd.Series) -> pd.Series:
    return (forecast - actual).abs() / actual


def backtest_forecast(
    frame: pd.DataFrame,
    cutoffs: Sequence[str | pd.Timestamp] = BACKTEST_CUTOFFS,
    days_params: Mapping[str, Any] | None = None,
    win_params: Mapping[str, Any] | None = None,
) -> ForecastBacktest:
    """Backtest the next-month revenue forecast, refitting on deals closed before each cutoff.

    Args:
        frame: The deal frame.
        cutoffs: First day of each forecast month.
        days_params: Regressor hyper-parameters.
        win_params: Classifier hyper-parameters.

    Returns:
        One row per cutoff (forecast, actual, naive = previous month's actual, absolute percentage
        errors, training rows and their last close date) and the MAPE of model and naive.

    """
    actual = won_revenue_by_month(frame)
    rows, forecasts = [], {}
    for cutoff in cutoffs:
        result = forecast_revenue(frame, cutoff, days_params=days_params, win_params=win_params)
        month = result.cutoff.to_period("M")
        forecasts[str(result.cutoff.date())] = result
        rows.append(
            {
                "cutoff": result.cutoff,
                "month": str(month),
                "forecast": result.month_total(month),
                "actual": float(actual.get(month, 0.0)),
                "naive": float(actual.get(month - 1, np.nan)),
                "open_deals": len(result.deals),
                "train_rows": len(result.train_ids),
                "train_last_close": result.train_last_close,
            }
        )
    table = pd.DataFrame(rows)
    table["model_ape"] = _ape(table["forecast"], table["actual"])
    table["naive_ape"] = _ape(table["naive"], table["actual"])
    metrics = {
        "mape": float(table["model_ape"].mean()),
        "naive_mape": float(table["naive_ape"].mean()),
        "n_cutoffs": float(len(table)),
    }
    return ForecastBacktest(table=table, metrics=metrics, forecasts=forecasts)
