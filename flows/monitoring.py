"""Prefect flow ``drift-monitoring``: champion -> reference/current -> Evidently -> retrain?

Compares recent data with the champion's training reference (features and predictions) using
:mod:`monitoring.drift`, publishes the Evidently HTML/JSON report as Prefect and MLflow artifacts,
records performance once labels are present, and runs the ``model-training`` flow as a subflow
when a threshold of ``configs/monitoring.yaml`` is crossed.

Data windows:

* reference: a seeded sample (``reference_window`` rows) of the model's training feature table
  ``data/features/<model>.parquet``;
* current: the last ``current_window`` rows of the parquet at ``current_path`` (recent scoring
  inputs, with the target column once outcomes are known); without ``current_path``, a fresh
  seeded sample of the feature table outside the reference: a smoke check that should show no
  drift.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE

from flows.training import model_training
from haste.settings import Settings, get_settings
from monitoring.drift import (
    DriftResult,
    MonitoringConfig,
    RetrainingDecision,
    add_predictions,
    decide_retraining,
    detect_drift,
    drift_table,
    load_monitoring_config,
    model_input_columns,
    performance_once_labelled,
    select_windows,
    summary_json,
    write_reports,
)
from pipelines.stages import PipelinePaths
from training.config import TrainingConfig, load_training_config
from training.registry import CHAMPION, configure_mlflow, load_alias_model, version_metric


@task(name="load-champion", cache_policy=NO_CACHE, retries=1)
def load_champion(settings: Settings, model_name: str) -> tuple[Any, ModelVersion]:
    """Load the champion version of ``model_name`` from the MLflow registry."""
    configure_mlflow(settings)
    model, version = load_alias_model(model_name, CHAMPION)
    get_run_logger().info("monitoring %s v%s (champion)", model_name, version.version)
    return model, version


@task(name="load-windows", cache_policy=NO_CACHE)
def load_windows(
    settings: Settings, monitoring: MonitoringConfig, current_path: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the training feature table and the current data; pick both windows."""
    table = pd.read_parquet(PipelinePaths(settings.data_dir).features(monitoring.model_name))
    current = pd.read_parquet(current_path) if current_path else None
    reference, current = select_windows(table, current, monitoring)
    get_run_logger().info(
        "reference %d rows, current %d rows (%s)",
        len(reference),
        len(current),
        current_path or "fresh sample of the feature table",
    )
    return reference, current


@task(name="score-windows", cache_policy=NO_CACHE)
def score_windows(
    model: Any,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    config: TrainingConfig,
    monitoring: MonitoringConfig,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Add the champion's predicted probability to both windows; return its input columns."""
    inputs = model_input_columns(model, reference, config.excluded_columns)
    column = monitoring.prediction_column
    return (
        add_predictions(model, reference, inputs, column),
        add_predictions(model, current, inputs, column),
        inputs,
    )


@task(name="detect-drift", cache_policy=NO_CACHE)
def run_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    inputs: list[str],
    monitoring: MonitoringConfig,
) -> DriftResult:
    """Run the Evidently report (DataDriftPreset + prediction ValueDrift, tests included)."""
    drift = detect_drift(
        reference, current, monitoring, monitoring.prediction_column, columns=inputs
    )
    get_run_logger().info(
        "%d/%d feature columns drifted, prediction drift %s, tests %d passed / %d failed",
        len(drift.drifted_columns),
        len(drift.columns),
        drift.prediction_drift,
        drift.tests_passed,
        drift.tests_failed,
    )
    return drift


@task(name="measure-performance", cache_policy=NO_CACHE)
def measure_performance(
    current: pd.DataFrame,
    config: TrainingConfig,
    monitoring: MonitoringConfig,
    version: ModelVersion,
) -> tuple[dict[str, float] | None, float | None]:
    """Score the labelled current rows; return them with the champion's registered ROC AUC."""
    performance = performance_once_labelled(
        current,
        current[monitoring.prediction_column],
        target=config.target,
        threshold=config.evaluate.threshold,
        min_rows=monitoring.thresholds.min_labelled_rows,
    )
    logger = get_run_logger()
    if performance is None:
        logger.info("no usable labels in the current window: performance not recorded")
        return None, None
    try:
        registered = version_metric(MlflowClient(), version, "roc_auc")
    except KeyError:
        registered = None
    logger.info(
        "current ROC AUC %.4f on %d labelled rows (registered %s)",
        performance["roc_auc"],
        int(performance["n_labelled"]),
        "n/a" if registered is None else f"{registered:.4f}",
    )
    return performance, registered


@task(name="publish-drift-reports", cache_policy=NO_CACHE)
def publish_reports(
    settings: Settings,
    model_name: str,
    version: ModelVersion,
    drift: DriftResult,
    performance: dict[str, float] | None,
    registered: float | None,
    decision: RetrainingDecision,
) -> dict[str, str]:
    """Write the Evidently HTML/JSON, log them to an MLflow run and create Prefect artifacts."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = settings.data_dir / "reports" / "monitoring" / model_name / stamp
    html_path, json_path = write_reports(drift.snapshot, out_dir)
    summary = {
        "model_name": model_name,
        "champion_version": str(version.version),
        "performance": performance,
        "registered_roc_auc": registered,
        "decision": decision.to_dict(),
    }
    summary_path = out_dir / "drift_summary.json"
    summary_path.write_text(summary_json(drift, summary), encoding="utf-8")

    configure_mlflow(settings)
    with mlflow.start_run(run_name=f"{model_name}-drift-{stamp}") as run:
        mlflow.set_tags(
            {
                "model_name": model_name,
                "monitoring": "true",
                "champion_version": str(version.version),
                "should_retrain": str(decision.should_retrain).lower(),
            }
        )
        metrics = {
            "share_drifted_columns": drift.share_drifted,
            "drifted_columns": float(len(drift.drifted_columns)),
            "prediction_drift": float(drift.prediction_drift),
            "evidently_tests_failed": float(drift.tests_failed),
            "evidently_tests_passed": float(drift.tests_passed),
            "current_rows": float(drift.current_rows),
        }
        if drift.prediction_score is not None:
            metrics["prediction_drift_score"] = drift.prediction_score
        if performance is not None:
            metrics.update({f"current_{key}": value for key, value in performance.items()})
        mlflow.log_metrics(metrics)
        for path in (html_path, json_path, summary_path):
            mlflow.log_artifact(str(path), artifact_path="drift")
        run_id, artifact_uri = run.info.run_id, run.info.artifact_uri

    key = model_name.replace("_", "-")
    verdict = "**retraining triggered**" if decision.should_retrain else "no retraining needed"
    markdown = drift.to_markdown(f"Drift monitoring: {model_name} v{version.version}")
    markdown += f"\n**Decision:** {verdict}\n\n" + "".join(f"- {r}\n" for r in decision.reasons)
    if performance is not None:
        markdown += (
            f"\n**Performance** on {int(performance['n_labelled'])} labelled rows: ROC AUC "
            f"{performance['roc_auc']:.4f} (registered {registered}), accuracy "
            f"{performance['accuracy']:.4f}, Brier {performance['brier']:.4f}\n"
        )
    markdown += f"\nMLflow run `{run_id}`, report `{html_path}`\n"
    create_markdown_artifact(key=f"{key}-drift", markdown=markdown, description="Drift summary")
    create_table_artifact(
        key=f"{key}-drift-columns", table=drift_table(drift), description="Drift score per column"
    )
    create_link_artifact(
        key=f"{key}-drift-report",
        link=f"{artifact_uri}/drift/{html_path.name}",
        link_text="Evidently drift report (HTML)",
        description="Evidently DataDriftPreset report logged to MLflow",
    )
    return {
        "mlflow_run_id": run_id,
        "html": str(html_path),
        "json": str(json_path),
        "summary": str(summary_path),
    }


@flow(name="drift-monitoring", log_prints=True)
def drift_monitoring(
    model_name: str = "lead_scoring", current_path: str | None = None, retrain: bool = True
) -> dict[str, Any]:
    """Check the champion's data and prediction drift; retrain when thresholds are crossed.

    Args:
        model_name: Model (``configs/models/<name>.yaml`` and ``configs/monitoring.yaml``).
        current_path: Parquet of recent rows (model inputs, optionally the target column).
            None: a fresh sample of the feature table (see the module docstring).
        retrain: Run the ``model-training`` subflow when retraining is decided.

    Returns:
        Drift summary, performance, decision, report paths and the retraining result.

    """
    settings = get_settings()
    config = load_training_config(model_name)
    monitoring = load_monitoring_config(config.model_name)
    model, version = load_champion(settings, config.model_name)
    reference, current = load_windows(settings, monitoring, current_path)
    reference, current, inputs = score_windows(model, reference, current, config, monitoring)
    drift = run_drift_report(reference, current, inputs, monitoring)
    performance, registered = measure_performance(current, config, monitoring, version)
    decision = decide_retraining(drift, performance, registered, monitoring.thresholds)
    reports = publish_reports(
        settings, config.model_name, version, drift, performance, registered, decision
    )
    logger = get_run_logger()
    retraining: dict[str, Any] | None = None
    if decision.should_retrain:
        logger.warning("retraining %s: %s", config.model_name, "; ".join(decision.reasons))
        if retrain:
            retraining = model_training(config.model_name)
    else:
        logger.info("%s: no threshold crossed", config.model_name)
    return {
        "model_name": config.model_name,
        "champion_version": str(version.version),
        "drift": drift.to_dict(),
        "performance": performance,
        "registered_roc_auc": registered,
        "should_retrain": decision.should_retrain,
        "reasons": decision.reasons,
        "retrained": retraining is not None,
        "retraining": retraining,
        "reports": reports,
    }
