"""Train, evaluate, explain and audit one tabular classifier (no orchestration, no registry).

The Prefect flow (:mod:`flows.training`) and the DVC stages both call
:func:`train_and_evaluate`; logging and registration live in :mod:`training.registry`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from training.calibration import CalibrationReport, calibrate_model, calibration_config_of
from training.config import TrainingConfig
from training.dataset import LabelledData, prepare_labelled_data, split_labelled_data
from training.estimators import build_baseline_pipeline, build_xgboost_pipeline
from training.evaluate import compute_classification_metrics, plot_calibration, plot_roc_pr
from training.explain import TreeShapExplainer
from training.fairness import FairnessAudit, audit_all_columns
from training.pipeline_shap import PipelineShap, input_columns
from training.registry import baseline_gate
from training.tuning import TuningResult, tune_xgboost

logger = logging.getLogger(__name__)

#: ``fit(unfitted candidate pipeline, features, labels) -> fitted pipeline``: how the
#: candidate is fitted (None: in process, ``pipeline.fit``; the flow passes the Ray Train
#: fitter of :mod:`distributed.ray_train` for ``train.backend: ray``).
CandidateFitter = Callable[[Pipeline, pd.DataFrame, pd.Series], Pipeline]
#: Same arguments and result as :func:`training.tuning.tune_xgboost` (the default); the flow
#: passes the Ray tuner of :mod:`distributed.ray_tuning` for ``tune.backend: ray``.
CandidateTuner = Callable[..., TuningResult]


@dataclass
class TrainingOutcome:
    """Everything a training run produced."""

    config: TrainingConfig
    model: Pipeline
    baseline: Pipeline
    train: LabelledData
    test: LabelledData
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    fairness: FairnessAudit
    importance: dict[str, float]
    artifacts: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    #: Calibration and conformal coverage on the test split (None: calibration disabled).
    calibration: CalibrationReport | None = None
    #: The Optuna search that chose the candidate's hyper-parameters (None: not tuned).
    tuning: TuningResult | None = None
    #: Which pipeline ``model`` is: ``xgboost`` (the candidate) or ``baseline`` (it won the gate).
    model_family: str = "xgboost"
    #: The baseline gate's reason (None: gate off).
    gate_reason: str | None = None

    @property
    def served_metrics(self) -> dict[str, float]:
        """Return the held-out metrics of ``model`` (the baseline's when it won the gate)."""
        return self.baseline_metrics if self.model_family == "baseline" else self.metrics

    def summary(self) -> dict[str, Any]:
        """Return the JSON-ready summary written to ``metrics.json``."""
        return {
            "model_name": self.config.model_name,
            "rows": {"train": len(self.train), "test": len(self.test)},
            "features": input_columns(self.model),
            "model_family": self.model_family,
            "baseline_gate": self.gate_reason,
            "metrics": _rounded(self.metrics),
            "baseline_metrics": _rounded(self.baseline_metrics),
            "fairness": self.fairness.to_dict(),
            "top_features": _rounded(dict(list(self.importance.items())[:10])),
            "timings_s": _rounded(self.timings),
            "calibration": (
                self.calibration.to_dict(include_reliability=False) if self.calibration else None
            ),
            "tuning": self.tuning.summary() if self.tuning else None,
        }


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {key: round(float(value), 4) for key, value in values.items()}


@dataclass
class FittedModels:
    """The fitted candidate and baseline with the exact split they saw."""

    config: TrainingConfig
    model: Pipeline
    baseline: Pipeline
    train: LabelledData
    test: LabelledData
    fit_seconds: float
    #: The Optuna search on the training rows (None when the config's ``tune`` is disabled).
    tuning: TuningResult | None = None

    @property
    def candidate_params(self) -> dict[str, Any]:
        """Return the XGBoost hyper-parameters the candidate was fitted with."""
        return self.tuning.params if self.tuning else dict(self.config.train.xgboost)


def fit_models(
    frame: pd.DataFrame,
    config: TrainingConfig,
    fit_candidate: CandidateFitter | None = None,
    tune_candidate: CandidateTuner | None = None,
) -> FittedModels:
    """Split the data and fit the XGBoost candidate and the spec's baseline on the same rows.

    With ``tune.enabled``, the candidate's hyper-parameters are searched first by
    cross-validation on the training rows only (:func:`training.tuning.tune_xgboost`); the
    held-out rows never reach the search.

    Args:
        frame: The cleaned dataset.
        config: The model's training config.
        fit_candidate: Fits the candidate pipeline elsewhere (Ray Train); None fits it here.
            It must return the same kind of fitted ``encode -> XGBClassifier`` pipeline.
        tune_candidate: Runs the search elsewhere (trials as Ray tasks); None: here.

    Returns:
        Both fitted pipelines and the split.

    """
    started = time.perf_counter()
    data = prepare_labelled_data(frame, config)
    train, test = split_labelled_data(
        data, config.split.test_size, config.split.random_state, config.split.group_by_id
    )
    tuning = None
    if config.tune.enabled:
        tuning = (tune_candidate or tune_xgboost)(
            train.features,
            train.labels,
            config.train.xgboost,
            config.tune,
            config.registry.primary_metric,
            groups=train.ids if config.split.group_by_id else None,
        )
    params = tuning.params if tuning else config.train.xgboost
    model = build_xgboost_pipeline(train.features.columns, params)
    if fit_candidate is None:
        model.fit(train.features, train.labels)
    else:
        model = fit_candidate(model, train.features, train.labels)
    baseline = build_baseline_pipeline(train.features, config.train.baseline)
    baseline.fit(train.features, train.labels)
    seconds = time.perf_counter() - started
    return FittedModels(config, model, baseline, train, test, seconds, tuning)


def evaluate_models(fitted: FittedModels, out_dir: Path | None = None) -> TrainingOutcome:
    """Evaluate, explain and audit fitted models on their held-out split.

    Args:
        fitted: Output of :func:`fit_models`.
        out_dir: Where plots, reports and the model card go (skipped when None).

    Returns:
        Held-out metrics of both models, the fairness report and artifact paths.

    """
    started = time.perf_counter()
    config, test = fitted.config, fitted.test
    model, calibration = calibrate_candidate(fitted)
    threshold = config.evaluate.threshold
    probabilities = model.predict_proba(test.features)[:, 1]
    baseline_probabilities = fitted.baseline.predict_proba(test.features)[:, 1]
    metrics = compute_classification_metrics(test.labels, probabilities, threshold)
    baseline_metrics = compute_classification_metrics(
        test.labels, baseline_probabilities, threshold
    )
    family, gate_reason = "xgboost", None
    if config.registry.baseline_gate:
        verdict = baseline_gate(
            metrics,
            baseline_metrics,
            config.registry.primary_metric,
            config.registry.baseline_tolerance,
        )
        gate_reason = verdict.reason
        if not verdict.passed:  # the better of the two is registered: the baseline
            family = "baseline"
            model, calibration = calibrate_candidate(fitted, fitted.baseline)
            logger.info("%s: serving the baseline (%s)", config.model_name, verdict.reason)
    served = model.predict_proba(test.features)[:, 1] if family == "baseline" else probabilities
    fairness = audit_all_columns(test.labels, served, test.groups, config.fairness, threshold)
    sample = test.features.sample(min(len(test), 1000), random_state=0)
    # SHAP stays on the raw model's log-odds
    explainer: Any = PipelineShap(model) if family == "baseline" else TreeShapExplainer(model)
    importance = explainer.global_importance(sample)
    logger.info(
        "%s: accuracy %.4f, ROC AUC %.4f (baseline %.4f / %.4f); fairness %s",
        config.model_name,
        metrics["accuracy"],
        metrics["roc_auc"],
        baseline_metrics["accuracy"],
        baseline_metrics["roc_auc"],
        "passed" if fairness.passed else "FAILED",
    )
    outcome = TrainingOutcome(
        config=config,
        model=model,
        baseline=fitted.baseline,
        train=fitted.train,
        test=test,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        fairness=fairness,
        importance=importance,
        timings={"fit": fitted.fit_seconds},
        calibration=calibration,
        tuning=getattr(fitted, "tuning", None),
        model_family=family,
        gate_reason=gate_reason,
    )
    if calibration is not None:
        outcome.timings["calibrate"] = calibration.seconds
    if out_dir is not None:
        outcome.artifacts = write_reports(
            outcome, probabilities, baseline_probabilities, explainer, sample, Path(out_dir)
        )
    outcome.timings["evaluate"] = time.perf_counter() - started
    return outcome


def calibrate_candidate(
    fitted: FittedModels, pipeline: Pipeline | None = None
) -> tuple[Pipeline, CalibrationReport | None]:
    """Calibrate the candidate on its training rows (see :mod:`training.calibration`).

    Args:
        fitted: Output of :func:`fit_models` (the candidate is not refitted).
        pipeline: Calibrate this fitted pipeline instead (the baseline, when it won the gate).

    Returns:
        The calibrated pipeline and its test-split report, or the candidate as it is and None
        when the config's ``calibration.enabled`` is false.
    """
    settings = calibration_config_of(fitted.config)
    pipeline = fitted.model if pipeline is None else pipeline
    if not settings.enabled:
        return pipeline, None
    calibrated = calibrate_model(
        pipeline,
        fitted.train,
        fitted.test,
        settings,
        fitted.config.model_name,
        group_by_id=fitted.config.split.group_by_id,
    )
    report = calibrated.report
    logger.info(
        "%s: %s calibration, ECE %.4f -> %.4f; %.0f%% conformal sets cover %.3f (%.1fs)",
        fitted.config.model_name,
        report.method,
        report.ece_before,
        report.ece_after,
        100 * report.coverage.target,
        report.coverage.measured,
        report.seconds,
    )
    return calibrated.pipeline, report


def train_and_evaluate(
    frame: pd.DataFrame,
    config: TrainingConfig,
    out_dir: Path | None = None,
    fit_candidate: CandidateFitter | None = None,
) -> TrainingOutcome:
    """Fit then evaluate (see :func:`fit_models` and :func:`evaluate_models`)."""
    return evaluate_models(fit_models(frame, config, fit_candidate), out_dir)


def write_reports(
    outcome: TrainingOutcome,
    probabilities: np.ndarray,
    baseline_probabilities: np.ndarray,
    explainer: TreeShapExplainer | PipelineShap,
    sample: pd.DataFrame,
    out_dir: Path,
) -> dict[str, Path]:
    """Write plots, the metrics JSON, the fairness report and the model card."""
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = outcome.test.labels.to_numpy()
    name = outcome.config.model_name
    artifacts = {
        "roc_pr": plot_roc_pr(
            labels,
            {
                f"{name} (XGBoost)": probabilities,
                "baseline (GradientBoosting)": baseline_probabilities,
            },
            out_dir / "roc_pr.png",
        ),
        "calibration": plot_calibration(  # the served model's calibrated probabilities
            labels,
            outcome.model.predict_proba(outcome.test.features)[:, 1],
            out_dir / "calibration.png",
            outcome.config.evaluate.calibration_bins,
        ),
        "shap_summary": explainer.plot_summary(sample, out_dir / "shap_summary.png"),
    }
    metrics_path = out_dir / "metrics.json"
    metrics_path.write_text(json.dumps(outcome.summary(), indent=2), encoding="utf-8")
    fairness_path = out_dir / "fairness.md"
    fairness_path.write_text(outcome.fairness.to_markdown(), encoding="utf-8")
    if outcome.calibration is not None:
        calibration_path = out_dir / "calibration.json"
        calibration_path.write_text(
            json.dumps(outcome.calibration.to_dict(), indent=2), encoding="utf-8"
        )
        artifacts["calibration_report"] = calibration_path
    card_path = out_dir / "model_card.md"
    card_path.write_text(render_model_card(outcome), encoding="utf-8")
    artifacts.update({"metrics": metrics_path, "fairness": fairness_path, "model_card": card_path})
    return artifacts


def render_model_card(outcome: TrainingOutcome) -> str:
    """Render a Markdown model card: data, features, metrics, fairness, limits."""
    config = outcome.config
    rows = [
        f"| {metric} | {outcome.metrics[metric]:.4f} | {outcome.baseline_metrics[metric]:.4f} |"
        for metric in outcome.metrics
    ]
    top = "\n".join(
        f"{i}. {feature} (mean |SHAP| {value:.3f})"
        for i, (feature, value) in enumerate(list(outcome.importance.items())[:8], start=1)
    )
    excluded = ", ".join(config.features.leaky_columns) or "none"
    return f"""# Model card: {config.model_name}

## Data
- Dataset: `{config.dataset}`; target `{config.target}`; id `{config.id_column}`.
- Rows: {len(outcome.train)} train / {len(outcome.test)} held-out (stratified,
  test_size={config.split.test_size}, seed={config.split.random_state}).
- Held-out positive rate: {outcome.test.labels.mean():.3f}.
- Excluded as target leakage: {excluded}.
- Sensitive, audited, never inputs: {", ".join(config.features.sensitive_columns) or "none"}.

## Model
XGBoost (native categoricals) with parameters `{_candidate_params(outcome)}`; compared with the
product spec's GradientBoostingClassifier baseline `{config.train.baseline}` on the same split.
{_tuning_line(outcome)}
{_served_line(outcome)}

## Held-out metrics (threshold {config.evaluate.threshold})
| metric | XGBoost | baseline |
|---|---|---|
{chr(10).join(rows)}

## Calibration and uncertainty
{outcome.calibration.to_markdown() if outcome.calibration else "Not calibrated (disabled)."}

## Most influential features (SHAP)
{top}

## Fairness
{outcome.fairness.to_markdown()}

## Limits
- Trained on one historical export; scores drift as channels and campaigns change (monitor drift).
- Probabilities are calibrated on out-of-fold training scores (section above); the
  reliability curve shows how far they hold on the test split. SHAP factors explain the raw
  model's log-odds, before calibration (a monotone map: it never reverses a factor's sign).
- Groups under {config.fairness.min_group_size} rows are not audited; their disparities are unknown.
"""


def _candidate_params(outcome: TrainingOutcome) -> dict[str, Any]:
    """Return the candidate's hyper-parameters (tuned ones rounded for the card)."""
    tuning = getattr(outcome, "tuning", None)
    if tuning is None:
        return dict(outcome.config.train.xgboost)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in tuning.params.items()}


def _served_line(outcome: TrainingOutcome) -> str:
    """Return the model card's sentence naming the served model and the baseline gate."""
    if outcome.gate_reason is None:
        return "Served model: XGBoost (baseline gate off)."
    if outcome.model_family == "baseline":
        return (
            f"**Served model: the GradientBoosting baseline**, which won the baseline gate "
            f"({outcome.gate_reason}); the XGBoost candidate is not served."
        )
    return f"Served model: XGBoost (baseline gate passed: {outcome.gate_reason})."


def _tuning_line(outcome: TrainingOutcome) -> str:
    """Return the model card's sentence about the hyper-parameter search (empty if none)."""
    tuning = getattr(outcome, "tuning", None)
    if tuning is None:
        return "Hyper-parameters as configured (no search)."
    default = "n/a" if tuning.default_score is None else f"{tuning.default_score:.4f}"
    return (
        f"Hyper-parameters tuned with Optuna TPE on the training rows only ({tuning.space} "
        f"search space for {tuning.rows} rows, {len(tuning.trials)} trials, {tuning.cv_folds}-fold "
        f"CV {tuning.metric} {tuning.best_score:.4f} vs {default} with the configured values)."
    )
