"""Log a training outcome to MLflow, register it as challenger and apply the promotion rule."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mlflow

from haste.settings import Settings
from training.registry import (
    PromotionDecision,
    configure_mlflow,
    log_artifacts,
    log_sklearn_model,
    promote_if_better,
    register_challenger,
)
from training.train import TrainingOutcome, render_model_card

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegistrationResult:
    """Where a training outcome ended up in MLflow."""

    run_id: str
    model_uri: str
    version: str | None
    decision: PromotionDecision | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        out = asdict(self)
        out["decision"] = asdict(self.decision) if self.decision else None
        return out


def _flatten_params(config_section: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {f"{prefix}.{key}": value for key, value in config_section.items()}


def log_and_register(outcome: TrainingOutcome, settings: Settings) -> RegistrationResult:
    """Log params, metrics, plots, model card and model; register and maybe promote.

    A model that fails the fairness gate is logged (for the audit trail) but not registered.

    Args:
        outcome: The evaluated training outcome.
        settings: Platform settings (tracking store).

    Returns:
        Run id, model URI, registered version and the promotion decision.

    """
    client = configure_mlflow(settings)
    config = outcome.config
    with mlflow.start_run(run_name=f"{config.model_name}-xgboost") as run:
        mlflow.set_tags(
            {
                "model_name": config.model_name,
                "dataset": config.dataset,
                "fairness_passed": str(outcome.fairness.passed).lower(),
            }
        )
        mlflow.log_params(_flatten_params(config.train.xgboost, "xgboost"))
        mlflow.log_params(
            {
                "test_size": config.split.test_size,
                "split_seed": config.split.random_state,
                "n_features": len(outcome.model[0].columns),
                "rows_train": len(outcome.train),
                "rows_test": len(outcome.test),
            }
        )
        mlflow.log_metrics(outcome.metrics)
        mlflow.log_metrics({f"baseline_{k}": v for k, v in outcome.baseline_metrics.items()})
        mlflow.log_metrics({f"fairness_{k}": v for k, v in outcome.fairness.disparities.items()})
        with tempfile.TemporaryDirectory() as tmp:
            card = Path(tmp) / "model_card.md"
            card.write_text(render_model_card(outcome), encoding="utf-8")
            summary = Path(tmp) / "metrics.json"
            summary.write_text(json.dumps(outcome.summary(), indent=2), encoding="utf-8")
            log_artifacts([card, summary])
        plots = [p for key, p in outcome.artifacts.items() if p.suffix == ".png"]
        log_artifacts(plots, artifact_path="plots")
        if "fairness" in outcome.artifacts:
            log_artifacts([outcome.artifacts["fairness"]], artifact_path="fairness")
        example = outcome.test.features.head(3)
        integer_columns = example.select_dtypes("integer").columns
        example = example.astype(dict.fromkeys(integer_columns, "float64"))
        model_uri = log_sklearn_model(
            outcome.model, example, tags={"model_name": config.model_name}
        )
        run_id = run.info.run_id
    if not outcome.fairness.passed:
        logger.warning(
            "%s not registered: fairness gate failed (%s)",
            config.model_name,
            "; ".join(outcome.fairness.violations),
        )
        return RegistrationResult(run_id, model_uri, None, None)
    tags = {"fairness_passed": "true", "primary_metric": config.registry.primary_metric}
    version = register_challenger(client, model_uri, config.model_name, tags)
    client.update_model_version(
        config.model_name, version.version, description=render_model_card(outcome)
    )
    decision = promote_if_better(
        client,
        config.model_name,
        version.version,
        config.registry.primary_metric,
        config.registry.min_improvement,
        fairness_passed=True,
    )
    return RegistrationResult(run_id, model_uri, str(version.version), decision)
