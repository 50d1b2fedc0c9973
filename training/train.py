"""Train, evaluate, explain and audit one tabular classifier (no orchestration, no registry).

The Prefect flow (:mod:`flows.training`) and the DVC stages both call
:func:`train_and_evaluate`; logging and registration live in :mod:`training.registry`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from training.config import TrainingConfig
from training.dataset import LabelledData, prepare_labelled_data, split_labelled_data
from training.estimators import build_baseline_pipeline, build_xgboost_pipeline
from training.evaluate import compute_classification_metrics, plot_calibration, plot_roc_pr
from training.explain import TreeShapExplainer
from training.fairness import FairnessAudit, audit_all_columns

logger = logging.getLogger(__name__)


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

    def summary(self) -> dict[str, Any]:
        """Return the JSON-ready summary written to ``metrics.json``."""
        return {
            "model_name": self.config.model_name,
            "rows": {"train": len(self.train), "test": len(self.test)},
            "features": list(self.model[0].columns),
            "metrics": _rounded(self.metrics),
            "baseline_metrics": _rounded(self.baseline_metrics),
            "fairness": self.fairness.to_dict(),
            "top_features": _rounded(dict(list(self.importance.items())[:10])),
            "timings_s": _rounded(self.timings),
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


def fit_models(frame: pd.DataFrame, config: TrainingConfig) -> FittedModels:
    """Split the data and fit the XGBoost candidate and the spec's baseline on the same rows.

    Args:
        frame: The cleaned dataset.
        config: The model's training config.

    Returns:
        Both fitted pipelines and the split.

    """
    started = time.perf_counter()
    data = prepare_labelled_data(frame, config)
    train, test = split_labelled_data(
        data, config.split.test_size, config.split.random_state, config.split.group_by_id
    )
    model = build_xgboost_pipeline(train.features.columns, config.train.xgboost)
    model.fit(train.features, train.labels)
    baseline = build_baseline_pipeline(train.features, config.train.baseline)
    baseline.fit(train.features, train.labels)
    return FittedModels(config, model, baseline, train, test, time.perf_counter() - started)


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
    threshold = config.evaluate.threshold
    probabilities = fitted.model.predict_proba(test.features)[:, 1]
    baseline_probabilities = fitted.baseline.predict_proba(test.features)[:, 1]
    metrics = compute_classification_metrics(test.labels, probabilities, threshold)
    baseline_metrics = compute_classification_metrics(
        test.labels, baseline_probabilities, threshold
    )
    fairness = audit_all_columns(
        test.labels, probabilities, test.groups, config.fairness, threshold
    )
    explainer = TreeShapExplainer(fitted.model)
    sample = test.features.sample(min(len(test), 1000), random_state=0)
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
        model=fitted.model,
        baseline=fitted.baseline,
        train=fitted.train,
        test=test,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        fairness=fairness,
        importance=importance,
        timings={"fit": fitted.fit_seconds},
    )
    if out_dir is not None:
        outcome.artifacts = write_reports(
            outcome, probabilities, baseline_probabilities, explainer, sample, Path(out_dir)
        )
    outcome.timings["evaluate"] = time.perf_counter() - started
    return outcome


def train_and_evaluate(
    frame: pd.DataFrame, config: TrainingConfig, out_dir: Path | None = None
) -> TrainingOutcome:
    """Fit then evaluate (see :func:`fit_models` and :func:`evaluate_models`)."""
    return evaluate_models(fit_models(frame, config), out_dir)


def write_reports(
    outcome: TrainingOutcome,
    probabilities: np.ndarray,
    baseline_probabilities: np.ndarray,
    explainer: TreeShapExplainer,
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
        "calibration": plot_calibration(
            labels,
            probabilities,
            out_dir / "calibration.png",
            outcome.config.evaluate.calibration_bins,
        ),
        "shap_summary": explainer.plot_summary(sample, out_dir / "shap_summary.png"),
    }
    metrics_path = out_dir / "metrics.json"
    metrics_path.write_text(json.dumps(outcome.summary(), indent=2), encoding="utf-8")
    fairness_path = out_dir / "fairness.md"
    fairness_path.write_text(outcome.fairness.to_markdown(), encoding="utf-8")
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
XGBoost (native categoricals) with parameters `{config.train.xgboost}`; compared with the product
spec's GradientBoostingClassifier baseline `{config.train.baseline}` on the same split.

## Held-out metrics (threshold {config.evaluate.threshold})
| metric | XGBoost | baseline |
|---|---|---|
{chr(10).join(rows)}

## Most influential features (SHAP)
{top}

## Fairness
{outcome.fairness.to_markdown()}

## Limits
- Trained on one historical export; scores drift as channels and campaigns change (monitor drift).
- Probabilities are those of the boosted trees; read the reliability curve before using them as
  conversion rates.
- Groups under {config.fairness.min_group_size} rows are not audited; their disparities are unknown.
"""
