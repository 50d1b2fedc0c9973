"""Prefect flow ``deal-velocity-training``: load Maven CRM -> fit/evaluate -> reports -> register.

Thin orchestration only: every task calls a framework-free function of
:mod:`pipelines.datasets` or :mod:`training.deal_velocity`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from haste.db.migrate import upgrade_database
from haste.settings import Settings, get_settings
from monitoring.ledger import record_forecasts
from monitoring.ledger_replay import training_run_entries
from pipelines.datasets import MavenCRM, load_maven_crm
from training.deal_outcome import DealVelocityOutcome
from training.deal_registry import log_deal_models
from training.deal_velocity import train_deal_velocity

REPORTS_NAME = "deal_velocity"


@task(name="load-maven-crm", cache_policy=NO_CACHE, retries=1)
def load_maven(settings: Settings) -> MavenCRM:
    """Read the four Maven CRM tables from the shared datasets folder."""
    maven = load_maven_crm(settings.datasets_dir)
    get_run_logger().info("loaded %d opportunities", len(maven.pipeline))
    return maven


@task(name="fit-evaluate-deal-models", cache_policy=NO_CACHE)
def fit_evaluate(maven: MavenCRM) -> DealVelocityOutcome:
    """Fit days-to-close and win-probability models, evaluate them and backtest the forecast."""
    outcome = train_deal_velocity(maven)
    get_run_logger().info(
        "days MAE %.2f (baseline %.2f); win ROC AUC %.4f (baseline %.4f); "
        "forecast MAPE %.3f (naive %.3f)",
        outcome.days_metrics["mae"],
        outcome.days_baseline_metrics["mae"],
        outcome.win_metrics["roc_auc"],
        outcome.win_baseline_metrics["roc_auc"],
        outcome.forecast.metrics["mape"],
        outcome.forecast.metrics["naive_mape"],
    )
    create_table_artifact(
        key="deal-velocity-metrics",
        table=outcome.metrics_table(),
        description="Held-out metrics vs baselines; forecast MAPE vs last month's actual",
    )
    return outcome


@task(name="write-deal-reports", cache_policy=NO_CACHE)
def write_reports(outcome: DealVelocityOutcome, out_dir: Path) -> dict[str, str]:
    """Write plots, metrics, the backtest table and the model card."""
    return {name: str(path) for name, path in outcome.write_reports(out_dir).items()}


@task(name="register-deal-models", cache_policy=NO_CACHE)
def register(outcome: DealVelocityOutcome, settings: Settings) -> dict[str, Any]:
    """Log both models to MLflow, register them as challengers and promote if they win."""
    results = log_deal_models(outcome, settings)
    logger = get_run_logger()
    for name, result in results.items():
        decision = result["decision"]
        logger.info(
            "%s v%s: %s (%s)",
            name,
            result["version"],
            "champion" if decision["promoted"] else "challenger",
            decision["reason"],
        )
    return results


@task(name="record-deal-forecasts", cache_policy=NO_CACHE)
def record_ledger(
    outcome: DealVelocityOutcome, registration: dict[str, Any], settings: Settings
) -> int:
    """Record the backtest's and the served forecasts in the forecast ledger."""
    versions = {
        name: str(registration.get(name, {}).get("version") or "unregistered")
        for name in ("deal_velocity", "win_probability")
    }
    upgrade_database(settings.database_url)
    stored = record_forecasts(settings.database_url, training_run_entries(outcome, versions))
    get_run_logger().info("recorded %d new forecasts in the ledger", stored)
    return stored


@flow(name="deal-velocity-training", log_prints=True)
def deal_velocity_training() -> dict[str, Any]:
    """Train, backtest and register the deal-velocity and win-probability models.

    Returns:
        Metrics of both models and the forecast, report paths and the registry outcome.

    """
    settings = get_settings()
    maven = load_maven(settings)
    outcome = fit_evaluate(maven)
    reports = write_reports(outcome, settings.data_dir / "reports" / REPORTS_NAME)
    registration = register(outcome, settings)
    ledger = record_ledger(outcome, registration, settings)
    return {
        "days_to_close": {
            "model": outcome.days_metrics,
            "baseline": outcome.days_baseline_metrics,
        },
        "win_probability": {
            "model": outcome.win_metrics,
            "baseline": outcome.win_baseline_metrics,
        },
        "forecast": outcome.forecast.metrics,
        "reports": reports,
        "registration": registration,
        "ledger_recorded": ledger,
    }
