"""Deal velocity on the Maven CRM sales pipeline: days-to-close, win probability, revenue forecast.

Framework-free (no Prefect); :mod:`flows.deal_velocity` orchestrates it and
:func:`training.deal_registry.log_deal_models` puts both models in the MLflow registry. This
module runs one training: fit, held-out evaluation against the baselines, the fairness audit
(:mod:`training.deal_fairness`), the forecast backtest and the open-deal scores
(:mod:`training.deal_predict`), gathered in a :class:`~training.deal_outcome.DealVelocityOutcome`.

Three models share one deal frame (:func:`build_deal_frame`, one row per opportunity):

* **Days-to-close** regression (XGBRegressor) on closed deals (Won + Lost), scored by MAE against
  a median baseline (see :func:`median_days_baseline` for what the spec's "median-by-stage" maps
  to here).
* **Win probability** classifier (XGBClassifier, target ``is_won``) on closed deals, scored by
  ROC AUC / Brier against each agent's historical win rate, then applied to the open deals
  (Engaging / Prospecting).
* **Revenue forecast** by month: open pipeline x win probability x expected deal value, placed in
  the month of ``engage_date + predicted days-to-close``; backtested on 2017 with monthly cutoffs,
  each refitted on deals closed before its cutoff only (MAPE vs last month's actual).

Uncertainty (:mod:`training.deal_uncertainty`, :mod:`training.deal_forecast_intervals`): the
latest training deals calibrate conformal days-to-close intervals (MAPIE conformalized quantile
regression) and the win probability (isotonic/Platt), fitted on the earlier ones; the revenue
forecast gets split-conformal intervals from rolling one-month windows of the backtest models.
Coverage against the target is measured on the held-out deals / backtest months
(:meth:`~training.deal_outcome.DealVelocityOutcome.intervals_report`, ``intervals.json``).

Leakage: ``deal_stage``, ``close_date`` and ``close_value`` are only known once the deal is
closed, so they (and ``days_to_close`` / ``is_won`` derived from them) are never model inputs;
they are targets or evaluation data only (:data:`OUTCOME_COLUMNS`). ``engage_month`` is kept in
the frame but is not an input: the export covers close dates 2017-03-01 .. 2017-12-31 only, so a
deal engaged in late 2016 is present only when its cycle was long and one engaged in December
2017 only when it was short; the calendar month therefore encodes the observation window rather
than the deal (measured: held-out MAE ~75 days with it vs ~36 without). The month-of-quarter,
day-of-month and days-to-quarter-end carry the real (quarterly) seasonality.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd

from pipelines.datasets import MavenCRM
from training.deal_data import (
    AUDIT_COLUMN,
    BACKTEST_CUTOFFS,
    CALIBRATION_FRACTION,
    FEATURE_COLUMNS,
    INTERVAL_COVERAGE,
    TEST_FRACTION,
    build_deal_frame,
    time_ordered_split,
)
from training.deal_fairness import audit_win_disparity
from training.deal_forecast import backtest_forecast
from training.deal_forecast_intervals import revenue_intervals
from training.deal_models import (
    agent_win_rate_baseline,
    fit_deal_models,
    median_days_baseline,
    regression_metrics,
)
from training.deal_outcome import DealVelocityOutcome
from training.deal_predict import score_open_deals
from training.deal_uncertainty import attach_uncertainty, evaluate_uncertainty
from training.evaluate import compute_classification_metrics

logger = logging.getLogger(__name__)


def train_deal_velocity(
    maven: MavenCRM,
    days_params: Mapping[str, Any] | None = None,
    win_params: Mapping[str, Any] | None = None,
    cutoffs: Sequence[str | pd.Timestamp] = BACKTEST_CUTOFFS,
    test_fraction: float = TEST_FRACTION,
    coverage: float = INTERVAL_COVERAGE,
    calibration_fraction: float = CALIBRATION_FRACTION,
) -> DealVelocityOutcome:
    """Fit, evaluate and backtest the deal-velocity models on the Maven CRM export.

    Args:
        maven: The Maven CRM tables.
        days_params: Regressor hyper-parameters (default :data:`DAYS_PARAMS`).
        win_params: Classifier hyper-parameters (default :data:`WIN_PARAMS`).
        cutoffs: Backtest cutoffs (first day of each forecast month).
        test_fraction: Share of closed deals (latest engaged) held out.
        coverage: Target coverage of the days-to-close and revenue intervals.
        calibration_fraction: Share of the latest training deals that calibrates the intervals
            and the win probability (:func:`training.deal_uncertainty.attach_uncertainty`).

    Returns:
        Models, held-out metrics vs baselines, the backtest, the audit and open-deal scores.

    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    frame = build_deal_frame(maven)
    train, test = time_ordered_split(frame, test_fraction)
    models = fit_deal_models(train, maven, days_params, win_params)
    fitted = attach_uncertainty(
        models, train, coverage, calibration_fraction, days_params, win_params
    )
    timings["fit"] = time.perf_counter() - start

    test = test.copy()
    test["predicted_days"] = models.predict_days(test)
    days_baseline = median_days_baseline(train)
    test["baseline_days"] = days_baseline.predict(test)
    days_metrics = regression_metrics(test["days_to_close"], test["predicted_days"])
    days_baseline_metrics = regression_metrics(test["days_to_close"], test["baseline_days"])
    overall = np.full(len(test), days_baseline.overall)
    days_baseline_metrics["overall_median_mae"] = regression_metrics(
        test["days_to_close"], overall
    )["mae"]
    # Informational only: the literal "median by stage" needs the outcome (Won/Lost) it predicts.
    by_stage = train.groupby("deal_stage")["days_to_close"].median()
    days_baseline_metrics["stage_oracle_mae"] = regression_metrics(
        test["days_to_close"], test["deal_stage"].map(by_stage)
    )["mae"]

    y_won = test["is_won"].to_numpy(dtype=int)
    test["win_probability"] = models.predict_win(test)
    win_baseline = agent_win_rate_baseline(train)
    test["baseline_win"] = win_baseline.predict_proba(test)
    win_metrics = compute_classification_metrics(y_won, test["win_probability"].to_numpy())
    win_baseline_metrics = compute_classification_metrics(y_won, test["baseline_win"].to_numpy())
    by_group, disparities = audit_win_disparity(
        y_won, test["win_probability"].to_numpy(), test[AUDIT_COLUMN]
    )
    uncertainty = evaluate_uncertainty(models, train, test, fitted)
    timings["evaluate"] = time.perf_counter() - start - timings["fit"]

    step = time.perf_counter()
    forecast = backtest_forecast(frame, cutoffs, days_params, win_params)
    intervals = revenue_intervals(frame, forecast, coverage)
    timings["backtest"] = time.perf_counter() - step

    open_deals = score_open_deals(frame, models)
    sample = test.loc[:, list(FEATURE_COLUMNS)].head(500)
    importance = {
        "days": models.explainer("days").global_importance(sample),
        "win": models.explainer("win").global_importance(sample),
    }
    timings["total"] = time.perf_counter() - start
    logger.info(
        "days MAE %.2f (baseline %.2f); win AUC %.4f (baseline %.4f); MAPE %.3f (naive %.3f)",
        days_metrics["mae"],
        days_baseline_metrics["mae"],
        win_metrics["roc_auc"],
        win_baseline_metrics["roc_auc"],
        forecast.metrics["mape"],
        forecast.metrics["naive_mape"],
    )
    return DealVelocityOutcome(
        frame=frame,
        train=train,
        test=test,
        models=models,
        days_baseline=days_baseline,
        win_baseline=win_baseline,
        days_metrics=days_metrics,
        days_baseline_metrics=days_baseline_metrics,
        win_metrics=win_metrics,
        win_baseline_metrics=win_baseline_metrics,
        forecast=forecast,
        fairness_by_group=by_group,
        fairness_disparities=disparities,
        open_deals=open_deals,
        importance=importance,
        timings=timings,
        uncertainty=uncertainty,
        revenue_intervals=intervals,
    )
