"""Uncertainty of the deal models: conformal days-to-close intervals, a calibrated win probability.

Both are fitted the time-ordered way (:func:`split_for_calibration`): the training deals are
sorted by engage date, the earlier ``1 - CALIBRATION_FRACTION`` *fit* the models behind the
uncertainty and the latest ``CALIBRATION_FRACTION`` *calibrate* them; nothing is shuffled across
time and the held-out (latest) deals are only used to measure.

* **Days to close**: conformalized quantile regression (MAPIE ``ConformalizedQuantileRegressor``,
  prefit): XGBoost quantile regressors of the lower and upper quantiles (and the median) are fitted
  on the fit slice, and MAPIE widens or narrows them by the conformity scores of the calibration
  slice. CQR rather than a fixed +-residual band (``SplitConformalRegressor``) because
  days-to-close is bimodal (lost deals close fast) and bounded by 0: the adaptive band is narrower
  at the same coverage (measured on the held-out deals, see the model card). The served point
  prediction stays the regressor fitted on all training deals; the served interval is widened, if
  needed, to contain it and clipped at 0 days (this can only raise the coverage, which is measured
  after it). Stored with the model: :class:`IntervalPipeline` is the ``encode -> XGBRegressor``
  pipeline carrying the fitted :class:`ConformalInterval` in ``interval_``.
* **Win probability**: the classifier is fitted on the fit slice and its probabilities are
  calibrated on the calibration slice with :mod:`training.calibration` (isotonic or Platt, the
  lower cross-validated Brier score over the calibration rows), then conformalized
  (:func:`training.conformal.fit_conformal`); the served model is a
  :class:`~training.calibration.CalibratedPipeline`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss
from sklearn.pipeline import Pipeline

from training.calibration import (
    CalibratedPipeline,
    CalibrationConfig,
    ScoreCalibration,
    choose_calibrator,
    expected_calibration_error,
)
from training.conformal import fit_conformal, measure_coverage
from training.deal_data import (
    CALIBRATION_FRACTION,
    DAYS_PARAMS,
    FEATURE_COLUMNS,
    ID_COLUMN,
    INTERVAL_COVERAGE,
)
from training.deal_models import DealModels, build_days_pipeline, build_win_pipeline


def split_for_calibration(
    train: pd.DataFrame, fraction: float = CALIBRATION_FRACTION
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split training deals by engage date: the latest ``fraction`` calibrates, the rest fits.

    Args:
        train: Closed training deals.
        fraction: Share of (latest engaged) deals that calibrate.

    Returns:
        (fit, calibration); every calibration deal was engaged on or after every fit deal.

    Raises:
        ValueError: When either part would be empty.
    """
    ordered = train.sort_values(["engage_date", ID_COLUMN], kind="mergesort")
    n_cal = round(len(ordered) * fraction)
    if not 0 < n_cal < len(ordered):
        raise ValueError(f"cannot hold out {fraction:.0%} of {len(ordered)} deals to calibrate")
    return ordered.iloc[:-n_cal], ordered.iloc[-n_cal:]


@dataclass
class ConformalInterval:
    """A fitted conformalized quantile regression at a target coverage.

    Attributes:
        coverage: Target coverage.
        regressor: The conformalized MAPIE ``ConformalizedQuantileRegressor``.
        calibration_rows: Rows whose conformity scores set the correction.
    """

    coverage: float
    regressor: Any
    calibration_rows: int

    def bounds(self, features: Any) -> np.ndarray:
        """Return the ``(n, 2)`` lower and upper bounds of each row."""
        _, intervals = self.regressor.predict_interval(features)
        return np.asarray(intervals, dtype=float)[:, :, 0]


def fit_conformal_interval(
    make_quantile_model: Callable[[float], Any],
    fit_features: Any,
    fit_target: Any,
    cal_features: Any,
    cal_target: Any,
    coverage: float = INTERVAL_COVERAGE,
) -> ConformalInterval:
    """Fit lower/upper/median quantile models on the fit rows, conformalize on the later rows.

    Args:
        make_quantile_model: Unfitted regressor of a given quantile level (0..1).
        fit_features: Inputs of the fit rows.
        fit_target: Their targets.
        cal_features: Inputs of the calibration rows (later in time than the fit rows).
        cal_target: Their targets.
        coverage: Target coverage in (0, 1).

    Returns:
        The fitted interval.

    Raises:
        ValueError: When the coverage is out of range or there are too few calibration rows.
    """
    from mapie.regression import ConformalizedQuantileRegressor

    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must be in (0, 1), got {coverage}")
    if np.ceil((len(cal_target) + 1) * coverage) > len(cal_target):
        raise ValueError(f"{len(cal_target)} calibration rows are too few for {coverage}")
    alpha = 1.0 - coverage
    models = [
        make_quantile_model(level).fit(fit_features, fit_target)
        for level in (alpha / 2, 1.0 - alpha / 2, 0.5)
    ]
    with warnings.catch_warnings():
        # MAPIE's fitted-check does not recognise a fitted Pipeline ("does not appear fitted")
        warnings.filterwarnings("ignore", message="Estimator does not appear fitted")
        regressor = ConformalizedQuantileRegressor(models, confidence_level=coverage, prefit=True)
        regressor.conformalize(cal_features, np.asarray(cal_target, dtype=float))
    return ConformalInterval(coverage, regressor, len(cal_target))


class IntervalPipeline(Pipeline):
    """An ``encode -> regressor`` pipeline that also predicts conformal intervals.

    Indexing, SHAP and :meth:`predict` see the plain pipeline; :meth:`predict_interval` uses
    :attr:`interval_` (None after ``sklearn.clone``) widened to contain the point prediction and
    clipped at :attr:`floor_`.
    """

    interval_: ConformalInterval | None = None
    floor_: float | None = None

    @property
    def coverage(self) -> float | None:
        """Return the target coverage of the intervals (None without one)."""
        return None if self.interval_ is None else self.interval_.coverage

    def predict_interval(self, X: Any) -> np.ndarray:
        """Return ``(n, 2)`` bounds that contain each row's point prediction.

        Raises:
            ValueError: When the pipeline carries no interval.
        """
        if self.interval_ is None:
            raise ValueError("this model carries no conformal interval")
        point = self.predict(X)
        bounds = self.interval_.bounds(X)
        low = np.minimum(bounds[:, 0], point)
        high = np.maximum(bounds[:, 1], point)
        if self.floor_ is not None:
            low, high = np.maximum(low, self.floor_), np.maximum(high, self.floor_)
        return np.column_stack([low, high])


def days_quantile_model(params: Mapping[str, Any] | None = None) -> Callable[[float], Pipeline]:
    """Return a factory of ``encode -> XGBRegressor(reg:quantileerror)`` pipelines."""

    def make(level: float) -> Pipeline:
        pipeline = build_days_pipeline(params=params or DAYS_PARAMS)
        pipeline[-1].set_params(objective="reg:quantileerror", quantile_alpha=level)
        return pipeline

    return make


def with_interval(pipeline: Pipeline, interval: ConformalInterval, floor: float | None) -> Any:
    """Return the fitted ``pipeline`` as an :class:`IntervalPipeline` carrying ``interval``."""
    model = IntervalPipeline(pipeline.steps)
    model.interval_ = interval
    model.floor_ = floor
    return model


@dataclass
class UncertaintyFit:
    """How the uncertainty of a :class:`DealModels` was fitted (for reports)."""

    coverage: float
    fit_rows: int
    calibration_rows: int
    calibration_from: pd.Timestamp
    win_method: str
    win_cv_scores: dict[str, dict[str, float]]


def attach_uncertainty(
    models: DealModels,
    train: pd.DataFrame,
    coverage: float = INTERVAL_COVERAGE,
    fraction: float = CALIBRATION_FRACTION,
    days_params: Mapping[str, Any] | None = None,
    win_params: Mapping[str, Any] | None = None,
) -> UncertaintyFit:
    """Give ``models`` conformal days intervals and a calibrated win probability (in place).

    Args:
        models: Models fitted on ``train`` (the days regressor is kept as the point prediction).
        train: The closed training deals.
        coverage: Target coverage of the intervals and the win prediction sets.
        fraction: Share of the latest training deals that calibrates.
        days_params: Regressor hyper-parameters of the quantile models.
        win_params: Classifier hyper-parameters.

    Returns:
        What was fitted on which rows.
    """
    fit, cal = split_for_calibration(train, fraction)
    columns = list(FEATURE_COLUMNS)
    interval = fit_conformal_interval(
        days_quantile_model(days_params),
        fit[columns],
        fit["days_to_close"],
        cal[columns],
        cal["days_to_close"],
        coverage,
    )
    models.days_model = with_interval(models.days_model, interval, floor=0.0)

    raw = build_win_pipeline(params=win_params).fit(fit[columns], fit["is_won"].astype(int))
    labels = cal["is_won"].to_numpy(dtype=int)
    choice = choose_calibrator(
        raw.predict_proba(cal[columns])[:, 1], labels, CalibrationConfig(coverage=coverage)
    )
    conformal, _ = fit_conformal(choice.cross_fitted, labels, coverage)
    calibrated = CalibratedPipeline(raw.steps)
    calibrated.calibration_ = ScoreCalibration(choice.calibrator, conformal)
    models.win_model = calibrated
    models._explainers.clear()
    return UncertaintyFit(
        coverage=coverage,
        fit_rows=len(fit),
        calibration_rows=len(cal),
        calibration_from=pd.Timestamp(cal["engage_date"].min()),
        win_method=choice.calibrator.method,
        win_cv_scores=choice.scores,
    )


def interval_metrics(actual: np.ndarray, bounds: np.ndarray, target: float) -> dict[str, float]:
    """Return measured coverage, mean and median width of ``(n, 2)`` intervals."""
    from mapie.metrics.regression import regression_coverage_score, regression_mean_width_score

    actual = np.asarray(actual, dtype=float)
    intervals = np.asarray(bounds, dtype=float)[:, :, None]
    return {
        "target_coverage": float(target),
        "measured_coverage": float(regression_coverage_score(actual, intervals)[0]),
        "mean_width": float(regression_mean_width_score(intervals)[0]),
        "median_width": float(np.median(bounds[:, 1] - bounds[:, 0])),
        "rows": float(len(actual)),
    }


def naive_days_bounds(train: pd.DataFrame, coverage: float) -> tuple[float, float]:
    """Return the training period's empirical days-to-close quantiles (the naive interval)."""
    alpha = 1.0 - coverage
    low, high = np.quantile(train["days_to_close"].to_numpy(float), [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def evaluate_uncertainty(
    models: DealModels, train: pd.DataFrame, test: pd.DataFrame, fitted: UncertaintyFit
) -> dict[str, Any]:
    """Measure the intervals and the calibration on the held-out (latest) deals.

    Args:
        models: Models with :func:`attach_uncertainty` applied.
        train: The training deals (for the naive interval).
        test: The held-out closed deals.
        fitted: What :func:`attach_uncertainty` returned.

    Returns:
        ``days_to_close`` (coverage, widths, the naive interval's, by outcome) and
        ``win_probability`` (ECE and Brier before/after, prediction-set coverage).
    """
    features = models.features(test)
    actual = test["days_to_close"].to_numpy(dtype=float)
    bounds = models.days_model.predict_interval(features)
    point = models.predict_days(test)
    days = interval_metrics(actual, bounds, fitted.coverage)
    days["contains_point"] = float(((bounds[:, 0] <= point) & (point <= bounds[:, 1])).mean())
    days["by_outcome"] = {
        stage: interval_metrics(actual[mask], bounds[mask], fitted.coverage)["measured_coverage"]
        for stage in ("Won", "Lost")
        if (mask := (test["deal_stage"] == stage).to_numpy()).any()
    }
    low, high = naive_days_bounds(train, fitted.coverage)
    naive = interval_metrics(actual, np.tile([low, high], (len(actual), 1)), fitted.coverage)
    days["naive"] = {**naive, "bounds": [low, high]}

    labels = test["is_won"].to_numpy(dtype=int)
    raw = Pipeline.predict_proba(models.win_model, features)[:, 1]
    calibrated = models.win_model.predict_proba(features)[:, 1]
    sets, _ = models.win_model.calibration_.assess(calibrated)
    win = {
        "method": fitted.win_method,
        "cv_scores": fitted.win_cv_scores,
        "ece_before": expected_calibration_error(labels, raw),
        "ece_after": expected_calibration_error(labels, calibrated),
        "brier_before": float(brier_score_loss(labels, raw)),
        "brier_after": float(brier_score_loss(labels, calibrated)),
        "prediction_sets": measure_coverage(sets, labels, fitted.coverage).to_dict(),
    }
    return {
        "coverage": fitted.coverage,
        "fit_rows": fitted.fit_rows,
        "calibration_rows": fitted.calibration_rows,
        "calibration_from": str(fitted.calibration_from.date()),
        "days_to_close": days,
        "win_probability": win,
    }
