"""Prefect flow ``text-model-training``: the Lightning sentiment model and the action-item model.

Thin orchestration only: each task calls :mod:`training.text`; metrics land in MLflow and as
Prefect table artifacts; the models are written where the serving layer loads them
(``<HASTE_HOME>/models/text``).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from haste.settings import Settings, get_settings


def _metric_table(metrics: dict[str, float]) -> list[dict[str, Any]]:
    """Return metrics as Prefect table rows."""
    return [{"metric": key, "value": round(float(value), 4)} for key, value in metrics.items()]


@task(name="train-sentiment", cache_policy=NO_CACHE)
def train_sentiment(settings: Settings, sample: int | None = None) -> dict[str, float]:
    """Train the MiniLM + Lightning sentiment classifier on the airline tweets (+ UCI check)."""
    from features.text_embeddings import shared_cache_dir
    from training.text.registry import log_text_model_run, text_models_dir
    from training.text.sentiment import train_sentiment_model

    report = train_sentiment_model(
        settings.datasets_dir,
        text_models_dir(settings),
        cache_dir=shared_cache_dir(),
        sample=sample,
    )
    log_text_model_run(report, "sentiment")
    create_table_artifact(
        key="sentiment-metrics",
        table=_metric_table(report.metrics),
        description="Airline tweets test split (ours and the TF-IDF baseline) and UCI held out",
    )
    get_run_logger().info("sentiment: %s", report.metrics)
    return report.metrics


@task(name="train-action-items", cache_policy=NO_CACHE)
def train_action_items(settings: Settings, sample: int | None = None) -> dict[str, float]:
    """Train the action-item (request) sentence classifier on the email-intent data."""
    from features.text_embeddings import shared_cache_dir
    from training.text.action_items import train_action_item_model
    from training.text.registry import log_text_model_run, text_models_dir

    report = train_action_item_model(
        settings.datasets_dir,
        text_models_dir(settings),
        cache_dir=shared_cache_dir(),
        sample=sample,
    )
    log_text_model_run(report, "action_items")
    create_table_artifact(
        key="action-item-metrics",
        table=_metric_table(report.metrics),
        description="Email-intent test file: ours vs the TF-IDF baseline",
    )
    get_run_logger().info("action items: %s", report.metrics)
    return report.metrics


@flow(name="text-model-training", log_prints=True)
def text_model_training(sample: int | None = None) -> dict[str, dict[str, float]]:
    """Train and log the two text models used by email and conversation AI.

    Args:
        sample: Train on a seeded sample of this many texts per corpus (the demo's fast mode;
            the test sets stay whole); None trains on the whole corpora.

    Returns:
        The held-out metrics of each model.
    """
    settings = get_settings()
    settings.ensure_home()
    return {
        "sentiment": train_sentiment(settings, sample),
        "action_items": train_action_items(settings, sample),
    }
