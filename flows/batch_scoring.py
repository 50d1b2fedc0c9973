"""Prefect flow ``batch-scoring``: score every contact with the lead model, store it in bulk.

Thin orchestration: the scoring snapshot is built from the offline feature store
(:func:`features.scoring_snapshot.write_scoring_snapshot`), the registry's champion (and
challenger, when registered) are loaded (:func:`training.batch_models.load_run_models`) and
the Ray Data job (:func:`distributed.batch_scoring.score_batch`) scores and writes every
contact in one transaction. The summary is published as a table artifact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from haste.settings import get_settings


@task(name="build-scoring-snapshot", cache_policy=NO_CACHE, retries=1)
def build_snapshot(dataset: str | None) -> str:
    """Return the dataset to score: ``dataset``, or a fresh snapshot of the offline store."""
    if dataset:
        return dataset
    from features.scoring_snapshot import default_snapshot_dir, write_scoring_snapshot
    from features.store import default_offline_dir

    settings = get_settings()
    snapshot = write_scoring_snapshot(
        default_offline_dir(settings), default_snapshot_dir(settings.data_dir)
    )
    get_run_logger().info("scoring snapshot: %d contacts -> %s", snapshot.rows, snapshot.path)
    return str(snapshot.path)


@task(name="score-and-store", cache_policy=NO_CACHE)
def score_and_store(
    dataset: str,
    model_name: str,
    challenger: bool,
    explain_min_score: int | None,
    target: str,
    run_id: str | None,
) -> dict[str, Any]:
    """Score the dataset on Ray Data and write it in one transaction; return the summary."""
    from distributed.batch_scoring import score_batch
    from haste.db.migrate import upgrade_database
    from training.batch_models import load_run_models
    from training.batch_predict import ExplainSpec
    from training.registry import configure_mlflow

    settings = get_settings()
    configure_mlflow(settings)
    upgrade_database(settings.database_url)
    models = load_run_models(model_name, challenger=challenger)
    explain = ExplainSpec(enabled=explain_min_score is not None, min_score=explain_min_score or 0)
    summary = score_batch(
        Path(dataset),
        models,
        settings.database_url,
        ray_address=settings.ray_address,
        explain=explain,
        target=target,  # type: ignore[arg-type]
        run_id=run_id,
        progress=False,
    )
    get_run_logger().info(
        "%d contacts, %.0f rows/min, written %s",
        summary.contacts,
        summary.rows_per_min,
        summary.written,
    )
    return summary.to_dict()


@flow(name="batch-scoring", log_prints=True)
def batch_scoring(
    model_name: str = "lead_scoring_crm",
    dataset: str | None = None,
    challenger: bool = True,
    explain_min_score: int | None = None,
    target: str = "predictions",
    run_id: str | None = None,
) -> dict[str, Any]:
    """Score every contact with the champion (and challenger) and store the predictions.

    Args:
        model_name: Registered lead model.
        dataset: Parquet dataset to score (default: a fresh snapshot of the offline store).
        challenger: Also score the challenger when one is registered.
        explain_min_score: Explain the scores at or above this (None: no explanations).
        target: Champion's table: ``predictions`` or ``lead_scores``.
        run_id: Explicit run id (a re-run replaces its rows; default: a new id).

    Returns:
        The run summary (rows, rows/min, model versions, where written).
    """
    path = build_snapshot(dataset)
    summary = score_and_store(path, model_name, challenger, explain_min_score, target, run_id)
    create_table_artifact(
        key="batch-scoring",
        table=[
            {
                "variant": model["variant"],
                "version": model["model_version"],
                "contacts": model["rows"],
                "mean_score": model["mean_score"],
                **model["bands"],
            }
            for model in summary["models"]
        ],
        description=(
            f"run {summary['run_id']}: {summary['contacts']} contacts, "
            f"{summary['rows_per_min']} rows/min, written {summary['written']}"
        ),
    )
    return summary


if __name__ == "__main__":  # pragma: no cover
    batch_scoring()
