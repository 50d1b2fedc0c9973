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
from training.pipeline_shap import input_columns
from training.registry import (
    PromotionDecision,
    baseline_gate,
    configure_mlflow,
    log_artifacts,
    log_sklearn_model,
    promote_if_better,
    register_challenger,
)
from training.train import TrainingOutcome, render_model_card
from training.tuning_tracking import log_tuning

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegistrationResult:
    """Where a training outcome ended up in MLflow."""

    run_id: str
    model_uri: str
    version: str | None
    decision: PromotionDecision | None
    #: Why the run was not registered (fairness or baseline gate); None when registered.
    refusal: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        out = asdict(self)
        out["decision"] = asdict(self.decision) if self.decision else None
        return out


def _flatten_params(config_section: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {f"{prefix}.{key}": value for key, value in config_section.items()}


def log_and_register(outcome: TrainingOutcome, settings: Settings) -> RegistrationResult:
    """Log params, metrics, plots, model card and model; register and maybe promote.

    A model that fails the fairness gate is logged (for the audit trail) but not registered;
    the reason is in the run's ``refusal_reason`` tag and in ``refusal``. When the candidate
    loses to the spec's baseline on the same split (:func:`training.registry.baseline_gate`),
    ``outcome.model`` is the (calibrated) baseline: it is what is registered, tagged
    ``model_family=baseline`` with the gate's reason, and the run's plain metrics are its own
    (the candidate's are logged as ``candidate_*``).

    Args:
        outcome: The evaluated training outcome.
        settings: Platform settings (tracking store).

    Returns:
        Run id, model URI, registered version and the promotion decision.

    """
    client = configure_mlflow(settings)
    config = outcome.config
    refusals = refusal_reasons(outcome)
    family = getattr(outcome, "model_family", "xgboost")
    gate_tags = {
        "model_family": family,
        "baseline_gate": _baseline_gate_tag(outcome, refusals),
        "baseline_gate_reason": getattr(outcome, "gate_reason", None) or "gate off",
    }
    with mlflow.start_run(run_name=f"{config.model_name}-{family}") as run:
        mlflow.set_tags(
            {
                "model_name": config.model_name,
                "dataset": config.dataset,
                "fairness_passed": str(outcome.fairness.passed).lower(),
                "registration": "refused" if refusals else "registered",
                **gate_tags,
            }
        )
        if refusals:
            mlflow.set_tag("refusal_reason", "; ".join(refusals))
        tuning = getattr(outcome, "tuning", None)
        params = tuning.params if tuning else config.train.xgboost
        mlflow.log_params(_flatten_params(params, "xgboost"))
        if tuning is not None:
            log_tuning(tuning, config.model_name)
        mlflow.log_params(
            {
                "test_size": config.split.test_size,
                "split_seed": config.split.random_state,
                "n_features": len(input_columns(outcome.model)),
                "rows_train": len(outcome.train),
                "rows_test": len(outcome.test),
            }
        )
        served = outcome.served_metrics if family == "baseline" else outcome.metrics
        mlflow.log_metrics(served)  # the registered model's: the promotion rule reads these
        mlflow.log_metrics({f"candidate_{k}": v for k, v in outcome.metrics.items()})
        mlflow.log_metrics({f"baseline_{k}": v for k, v in outcome.baseline_metrics.items()})
        mlflow.log_metrics({f"fairness_{k}": v for k, v in outcome.fairness.disparities.items()})
        if outcome.calibration is not None:  # ECE before/after, conformal coverage vs target
            mlflow.log_metrics(outcome.calibration.metrics())
            mlflow.log_params({"calibration.method": outcome.calibration.method})
        with tempfile.TemporaryDirectory() as tmp:
            card = Path(tmp) / "model_card.md"
            card.write_text(render_model_card(outcome), encoding="utf-8")
            summary = Path(tmp) / "metrics.json"
            summary.write_text(json.dumps(outcome.summary(), indent=2), encoding="utf-8")
            log_artifacts([card, summary])
        plots = [p for key, p in outcome.artifacts.items() if p.suffix == ".png"]
        log_artifacts(plots, artifact_path="plots")
        if "calibration_report" in outcome.artifacts:
            log_artifacts([outcome.artifacts["calibration_report"]], artifact_path="calibration")
        if "fairness" in outcome.artifacts:
            log_artifacts([outcome.artifacts["fairness"]], artifact_path="fairness")
        example = outcome.test.features.head(3)
        integer_columns = example.select_dtypes("integer").columns
        example = example.astype(dict.fromkeys(integer_columns, "float64"))
        model_uri = log_sklearn_model(
            outcome.model, example, tags={"model_name": config.model_name, "model_family": family}
        )
        run_id = run.info.run_id
    if refusals:
        logger.warning("%s not registered: %s", config.model_name, "; ".join(refusals))
        return RegistrationResult(run_id, model_uri, None, None, "; ".join(refusals))
    tags = {
        "fairness_passed": "true",
        "primary_metric": config.registry.primary_metric,
        **gate_tags,
    }
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


def refusal_reasons(outcome: TrainingOutcome) -> list[str]:
    """Return why an outcome must not be registered (empty: it may be registered).

    Two gates: the fairness audit (of the served model), and the same-split baseline on the
    primary metric (when the config's ``registry.baseline_gate`` is on): a candidate that loses
    is refused unless the outcome already serves the baseline instead
    (:func:`training.train.evaluate_models` does, ``model_family == "baseline"``).
    """
    config = outcome.config
    reasons = []
    if not outcome.fairness.passed:
        reasons.append(f"fairness gate failed ({'; '.join(outcome.fairness.violations)})")
    if config.registry.baseline_gate:
        verdict = baseline_gate(
            outcome.metrics,
            outcome.baseline_metrics,
            config.registry.primary_metric,
            config.registry.baseline_tolerance,
        )
        verdict_word = "passed" if verdict.passed else "failed"
        logger.info("%s baseline gate %s: %s", config.model_name, verdict_word, verdict.reason)
        if not verdict.passed and getattr(outcome, "model_family", "xgboost") != "baseline":
            reasons.append(f"baseline gate failed: {verdict.reason}")
    return reasons


def _baseline_gate_tag(outcome: TrainingOutcome, refusals: list[str]) -> str:
    """Return the run's ``baseline_gate`` tag: ``off``, ``passed``, ``baseline`` or ``failed``.

    ``baseline``: the candidate lost and the baseline is the model registered.
    """
    if not outcome.config.registry.baseline_gate:
        return "off"
    if getattr(outcome, "model_family", "xgboost") == "baseline":
        return "baseline"
    failed = any(reason.startswith("baseline gate") for reason in refusals)
    return "failed" if failed else "passed"
