"""Conformal intervals of the deal models on synthetic data with known noise (no datasets)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from training.deal_forecast_intervals import ratio_bounds
from training.deal_uncertainty import (
    IntervalPipeline,
    fit_conformal_interval,
    interval_metrics,
    naive_days_bounds,
    split_for_calibration,
    with_interval,
)


def _quantile_model(level: float) -> GradientBoostingRegressor:
    return GradientBoostingRegressor(
        loss="quantile", alpha=level, n_estimators=60, max_depth=2, random_state=0
    )


def _noisy(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """y = 3x + noise whose scale grows with x (heteroskedastic, known)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, size=(n, 1))
    y = 3 * x[:, 0] + rng.normal(0, 1 + x[:, 0], size=n)
    return x, y


@pytest.mark.parametrize("coverage", [0.8, 0.9])
def test_conformal_interval_reaches_the_target_coverage(coverage: float) -> None:
    x_fit, y_fit = _noisy(1500, 1)
    x_cal, y_cal = _noisy(1000, 2)
    x_new, y_new = _noisy(4000, 3)
    interval = fit_conformal_interval(_quantile_model, x_fit, y_fit, x_cal, y_cal, coverage)
    metrics = interval_metrics(y_new, interval.bounds(x_new), coverage)
    assert abs(metrics["measured_coverage"] - coverage) < 0.03
    # Adaptive: the noise grows with x, so should the width.
    width = np.diff(interval.bounds(np.array([[1.0], [9.0]])), axis=1).ravel()
    assert width[1] > 2 * width[0]


def test_conformal_interval_beats_the_naive_quantiles_at_the_same_coverage() -> None:
    x_fit, y_fit = _noisy(1500, 4)
    x_cal, y_cal = _noisy(1000, 5)
    x_new, y_new = _noisy(3000, 6)
    interval = fit_conformal_interval(_quantile_model, x_fit, y_fit, x_cal, y_cal, 0.9)
    model = interval_metrics(y_new, interval.bounds(x_new), 0.9)
    low, high = naive_days_bounds(pd.DataFrame({"days_to_close": y_fit}), 0.9)
    naive = interval_metrics(y_new, np.tile([low, high], (len(y_new), 1)), 0.9)
    assert naive["measured_coverage"] > 0.85  # the naive interval is valid here too...
    assert model["mean_width"] < 0.8 * naive["mean_width"]  # ...but much wider


def test_too_few_calibration_rows_or_bad_coverage_are_refused() -> None:
    x, y = _noisy(100, 7)
    with pytest.raises(ValueError, match="too few"):
        fit_conformal_interval(_quantile_model, x, y, x[:5], y[:5], 0.9)
    with pytest.raises(ValueError, match="coverage"):
        fit_conformal_interval(_quantile_model, x, y, x, y, 1.0)


def test_interval_pipeline_contains_the_point_and_respects_the_floor() -> None:
    x_fit, y_fit = _noisy(800, 8)
    x_cal, y_cal = _noisy(400, 9)
    interval = fit_conformal_interval(_quantile_model, x_fit, y_fit, x_cal, y_cal, 0.9)
    # A point model deliberately off (+40): the served interval must still contain it.
    point = Pipeline([("model", LinearRegression())]).fit(x_fit, y_fit + 40)
    model = with_interval(point, interval, floor=0.0)
    x_new = np.linspace(-5, 10, 50)[:, None]
    bounds = model.predict_interval(x_new)
    predicted = model.predict(x_new)
    assert (bounds[:, 0] <= predicted).all() and (predicted <= bounds[:, 1]).all()
    assert (bounds >= 0).all()
    assert model.coverage == 0.9
    with pytest.raises(ValueError, match="no conformal interval"):
        IntervalPipeline(point.steps).predict_interval(x_new)


def test_calibration_slice_is_the_latest_whatever_the_row_order() -> None:
    rng = np.random.default_rng(0)
    days = pd.date_range("2017-01-01", periods=400, freq="D")
    train = pd.DataFrame(
        {
            "opportunity_id": [f"D{i:04d}" for i in range(400)],
            "engage_date": days,
            "days_to_close": rng.uniform(1, 100, 400),
        }
    ).sample(frac=1.0, random_state=1)  # shuffled: the split must sort by time, not trust order
    fit, cal = split_for_calibration(train, 0.25)
    assert len(cal) == 100 and len(fit) == 300
    assert fit["engage_date"].max() < cal["engage_date"].min()
    assert set(cal["engage_date"]) == set(days[-100:])
    with pytest.raises(ValueError, match="cannot hold out"):
        split_for_calibration(train.head(1), 0.25)


def test_ratio_bounds_need_enough_scores_for_two_sided_coverage() -> None:
    scores = np.linspace(-1, 1, 18)
    assert ratio_bounds(scores, 0.9) is None  # 90 % two-sided needs 19 scores
    low, high = ratio_bounds(np.append(scores, 2.0), 0.9)
    assert low == -1.0 and high == 2.0
    low, high = ratio_bounds(np.linspace(-1, 1, 201), 0.9)
    assert -1 < low < -0.85 and 0.85 < high < 1
    assert ratio_bounds(np.array([np.nan] * 30), 0.9) is None
