"""Prefect flows of workflow automation: scheduled workflows and the CRM anomaly scan.

Thin orchestration of :mod:`workflows` and :mod:`monitoring.anomalies`:

* ``workflow-automation`` (hourly): score every live contact with the champion trigger model
  (the ``prediction.trigger_probability`` field), then fire the schedule and
  prediction-threshold workflows that are due. Event-driven workflows run in the
  ``EventConsumer`` replica 0 (or ``haste workflows poll``) on the real-time engine's events.
* ``crm-anomaly-scan`` (daily): anomalies of the CRM's daily series, as a Prefect artifact.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from haste.settings import get_settings


@task(name="score-trigger-probabilities", cache_policy=NO_CACHE)
def score_trigger_probabilities() -> int:
    """Store each live contact's trigger probability (0 when no trigger model is registered)."""
    from training.registry import NoChampionError
    from training.trigger_predict import store_trigger_predictions

    logger = get_run_logger()
    try:
        stored, version = store_trigger_predictions(get_settings())
    except NoChampionError as error:
        logger.warning("trigger probabilities not refreshed: %s", error)
        return 0
    logger.info("stored %d trigger probabilities (trigger_prediction v%s)", stored, version)
    return stored


@task(name="run-scheduled-workflows", cache_policy=NO_CACHE)
def run_scheduled_workflows() -> dict[str, int]:
    """Fire the due schedule and prediction-threshold workflows."""
    from workflows.engine import run_scheduled

    report = run_scheduled(get_settings().database_url).to_dict()
    get_run_logger().info("scheduled workflows: %s", report)
    return report


@flow(name="workflow-automation", log_prints=True)
def workflow_automation() -> dict[str, Any]:
    """Refresh trigger probabilities, then run the due scheduled workflows.

    Returns:
        Predictions stored and the engine's counts (runs, actions done, held for review).
    """
    stored = score_trigger_probabilities()
    report = run_scheduled_workflows()
    create_table_artifact(
        key="workflow-automation",
        table=[
            {"what": k, "count": v} for k, v in {"trigger_predictions": stored, **report}.items()
        ],
        description="What the scheduled workflows did (held actions wait for a manager).",
    )
    return {"trigger_predictions": stored, **report}


@task(name="find-crm-anomalies", cache_policy=NO_CACHE)
def scan_anomalies(days: int) -> list[dict[str, Any]]:
    """Return the anomalies of the CRM's daily series."""
    from insights.automation import find_anomalies

    _, found = find_anomalies(get_settings().database_url, days)
    return [a.to_dict() for a in found]


@flow(name="crm-anomaly-scan", log_prints=True)
def crm_anomaly_scan(days: int = 90) -> dict[str, Any]:
    """Scan the CRM's daily series for spikes, dips and level shifts; publish them.

    Args:
        days: History examined.

    Returns:
        The anomalies found.
    """
    found = scan_anomalies(days)
    lines = [f"- **{a.get('metric')}**: {a.get('message')}" for a in found[:30]]
    create_markdown_artifact(
        key="crm-anomalies",
        markdown="# CRM anomalies\n\n" + ("\n".join(lines) or "None in the window."),
        description=f"Anomalies of the last {days} days (GET /api/ai/anomalies).",
    )
    return {"days": days, "count": len(found), "anomalies": found}


@task(name="fit-evaluate-save-uplift", cache_policy=NO_CACHE)
def fit_uplift() -> dict[str, Any]:
    """Fit the T-learner, evaluate it on held-out contacts, save and log it."""
    from training.action_uplift_train import train_action_uplift

    return train_action_uplift(get_settings())


@flow(name="action-uplift-training", log_prints=True)
def action_uplift_training() -> dict[str, Any]:
    """Train the action-recommendation model (associational T-learner) the gateway serves.

    Returns:
        Rows, the saved model's path and the held-out evaluation (average lifts, Qini, AUUC).
    """
    result = fit_uplift()
    evaluation = result["evaluation"]
    create_table_artifact(
        key="action-uplift",
        table=[
            {
                "action": action,
                "average_lift": round(f["average_lift"], 3),
                "naive_difference": round(f["naive_difference"], 3),
                "qini": round(f["qini_coefficient"], 3),
                "qini_random_p95": round(f["qini_coefficient_random_p95"], 3),
            }
            for action, f in evaluation["actions"].items()
        ],
        description="Held-out action lifts (associational: see the caveat) vs random targeting.",
    )
    return result
