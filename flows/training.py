"""Prefect flow ``model-training``: ingest -> validate -> features -> train -> audit -> register.

One generic flow trains any tabular model described by ``configs/models/<name>.yaml``.

Thin orchestration only: every task calls a framework-free function of ``pipelines`` or
``training``; Prefect adds retries, logs, the run graph and artifacts for the UI.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from distributed.ray_train import candidate_fitter_of
from distributed.ray_tuning import candidate_tuner_of
from haste.db.migrate import upgrade_database
from haste.records import entity_uuid, record_batch_predictions, record_model_version
from haste.settings import Settings, get_settings
from monitoring.ledger import record_forecasts
from monitoring.ledger_entries import churn_entries
from pipelines import stages
from pipelines.crm_store import store_crm, store_lead_contacts
from pipelines.synthetic_store import read_crm
from pipelines.validation import DataValidationError, ValidationReport
from training.calibration import calibration_of
from training.config import TrainingConfig, load_training_config
from training.scoring import confidence_of, probability_to_score
from training.tracking import RegistrationResult, log_and_register
from training.train import TrainingOutcome, evaluate_models, fit_models


@task(name="migrate-database", cache_policy=NO_CACHE)
def migrate_database(settings: Settings) -> None:
    """Bring the CRM database schema to the latest Alembic revision."""
    upgrade_database(settings.database_url)
    get_run_logger().info("database at head: %s", settings.database_url.split("@")[-1])


@task(name="ingest", cache_policy=NO_CACHE, retries=1)
def ingest(settings: Settings) -> dict[str, str]:
    """Read Leads.csv and generate the synthetic CRM into the data folder."""
    written = stages.ingest(settings)
    return {name: str(path) for name, path in written.items()}


@task(name="validate", cache_policy=NO_CACHE)
def validate(settings: Settings) -> list[ValidationReport]:
    """Run the Great Expectations suites; fail the flow with a readable report on bad data."""
    reports = stages.validate(settings)
    rows = [
        {
            "suite": r.dataset,
            "success": r.success,
            "evaluated": r.evaluated,
            "failed": len(r.failed),
        }
        for r in reports
    ]
    create_table_artifact(key="data-validation", table=rows, description="Ingestion checks")
    failed = [r for r in reports if not r.success]
    if failed:
        raise DataValidationError(failed[0])
    return reports


@task(name="load-crm", cache_policy=NO_CACHE)
def load_crm(settings: Settings) -> dict[str, int]:
    """Insert the synthetic CRM and the real leads (as contacts) into the database."""
    paths = stages.PipelinePaths(settings.data_dir)
    inserted = store_crm(read_crm(paths.crm_dir), settings.database_url)
    inserted["lead_contacts"] = store_lead_contacts(
        pd.read_parquet(paths.raw_leads), settings.database_url
    )
    get_run_logger().info("rows inserted: %s", inserted)
    return inserted


@task(name="build-features", cache_policy=NO_CACHE)
def build_features(settings: Settings, config: TrainingConfig) -> str:
    """Write the model-ready feature table (leakage columns dropped)."""
    return str(stages.build_features(settings, config))


@task(name="train-evaluate-audit", cache_policy=NO_CACHE)
def train_evaluate_audit(settings: Settings, config: TrainingConfig) -> TrainingOutcome:
    """Fit XGBoost and the baseline, evaluate, explain with SHAP and audit with Fairlearn."""
    paths = stages.PipelinePaths(settings.data_dir)
    frame = pd.read_parquet(paths.features(config.model_name))
    fitted = fit_models(
        frame,
        config,
        fit_candidate=candidate_fitter_of(config),
        tune_candidate=candidate_tuner_of(config),
    )
    outcome = evaluate_models(fitted, paths.reports(config.model_name))
    logger = get_run_logger()
    logger.info(
        "held-out accuracy %.4f, ROC AUC %.4f (spec baseline: %.4f, %.4f)",
        outcome.metrics["accuracy"],
        outcome.metrics["roc_auc"],
        outcome.baseline_metrics["accuracy"],
        outcome.baseline_metrics["roc_auc"],
    )
    create_table_artifact(
        key=f"{config.model_name.replace('_', '-')}-metrics",
        table=[
            {"metric": k, "xgboost": round(v, 4), "baseline": round(outcome.baseline_metrics[k], 4)}
            for k, v in outcome.metrics.items()
        ],
        description="Held-out metrics, XGBoost vs the spec's GradientBoosting baseline",
    )
    create_markdown_artifact(
        key=f"{config.model_name.replace('_', '-')}-fairness",
        markdown=outcome.fairness.to_markdown(),
        description="Fairlearn audit (registration gate)",
    )
    return outcome


@task(name="register-and-promote", cache_policy=NO_CACHE)
def register_and_promote(settings: Settings, outcome: TrainingOutcome) -> RegistrationResult:
    """Log to MLflow; register as challenger and promote to champion if it passes the gates.

    Gates: fairness, then the same-split baseline on the primary metric (when the candidate
    loses, the calibrated baseline is the model registered, tagged ``model_family=baseline``
    with the gate's reason), then the champion comparison.
    """
    result = log_and_register(outcome, settings)
    logger = get_run_logger()
    if result.version is None:
        logger.warning("model refused: %s; run %s kept for audit", result.refusal, result.run_id)
        status = "rejected"
        version = f"run:{result.run_id[:8]}"
    else:
        decision = result.decision
        status = "champion" if decision and decision.promoted else "challenger"
        version = result.version
        logger.info("version %s -> %s (%s)", version, status, decision.reason if decision else "")
    record_model_version(
        settings.database_url,
        outcome.config.model_name,
        outcome.config.model_name,
        version,
        {
            "metrics": outcome.served_metrics,
            "candidate_metrics": outcome.metrics,
            "baseline_metrics": outcome.baseline_metrics,
            "model_family": outcome.model_family,
            "baseline_gate": outcome.gate_reason,
            "fairness": outcome.fairness.to_dict()["disparities"],
            "refusal": result.refusal,
            "tuning": outcome.tuning.summary() if outcome.tuning else None,
        },
        outcome.config.model_dump(),
        status,
    )
    return result


@task(name="store-batch-predictions", cache_policy=NO_CACHE)
def store_batch_predictions(
    settings: Settings, outcome: TrainingOutcome, result: RegistrationResult
) -> int:
    """Score every labelled entity with a newly promoted champion and store the predictions."""
    logger = get_run_logger()
    if result.decision is None or not result.decision.promoted:
        logger.info("champion unchanged: batch predictions not refreshed")
        return 0
    config = outcome.config
    frame = pd.concat([outcome.train.features, outcome.test.features])
    ids = pd.concat([outcome.train.ids, outcome.test.ids])
    probabilities = outcome.model.predict_proba(frame)[:, 1]
    rows = [
        (
            entity_uuid(config.dataset, raw_id),
            {"probability": round(float(p), 4), "score": probability_to_score(float(p))},
            confidence_of(float(p), calibration_of(outcome.model)),
        )
        for raw_id, p in zip(ids, probabilities, strict=True)
    ]
    stored = record_batch_predictions(
        settings.database_url, config.entity_type, config.model_name, str(result.version), rows
    )
    logger.info("stored %d %s predictions (v%s)", stored, config.model_name, result.version)
    if config.model_name == "churn":  # forecast ledger: held-out accounts, resolved in 30 days
        held_out = probabilities[len(outcome.train.ids) :]
        ledger = churn_entries(
            [entity_uuid(config.dataset, raw_id) for raw_id in outcome.test.ids],
            held_out,
            float(outcome.train.labels.mean()),
            str(result.version),
            pd.Timestamp.now(tz="UTC"),
        )
        logger.info("ledger: %d churn forecasts", record_forecasts(settings.database_url, ledger))
    return stored


@flow(name="model-training", log_prints=True)
def model_training(model_name: str = "lead_scoring") -> dict[str, Any]:
    """Train, audit and register one model end to end.

    Args:
        model_name: Config under ``configs/models`` to train.

    Returns:
        Metrics, fairness verdict and registry outcome.

    """
    settings = get_settings()
    config = load_training_config(model_name)
    migrate_database(settings)
    ingest(settings)
    validate(settings)
    load_crm(settings)
    build_features(settings, config)
    outcome = train_evaluate_audit(settings, config)
    result = register_and_promote(settings, outcome)
    store_batch_predictions(settings, outcome, result)
    return {
        "model_name": config.model_name,
        "metrics": outcome.metrics,
        "baseline_metrics": outcome.baseline_metrics,
        "model_family": outcome.model_family,
        "baseline_gate": outcome.gate_reason,
        "fairness_passed": outcome.fairness.passed,
        "registration": result.to_dict(),
        "refusal": result.refusal,
        "tuning": outcome.tuning.summary() if outcome.tuning else None,
        "held_out_contacts": outcome.test.ids.head(20).tolist(),
    }
