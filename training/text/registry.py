"""Where the trained text models live, finding (or, for flows, training) them, MLflow logging.

Serving and the text-AI domain call :func:`trained_text_model_paths`, which only finds models
that a flow trained (``haste train-text`` / :mod:`flows.text_models`); training on demand
(:func:`ensure_text_models`) is for flows, the CLI and tests.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from features.text_embeddings import shared_cache_dir
from haste.settings import Settings, get_settings

logger = logging.getLogger(__name__)

SENTIMENT = "sentiment"
ACTION_ITEMS = "action_items"

#: Model name -> artifact file name inside :func:`text_models_dir`.
TEXT_MODEL_FILES: dict[str, str] = {
    SENTIMENT: "sentiment.pt",
    ACTION_ITEMS: "action_items.joblib",
}


def text_models_dir(settings: Settings) -> Path:
    """Return the folder holding the trained text models (``<home>/models/text``).

    Args:
        settings: Platform settings.

    Returns:
        The folder (not created).
    """
    return settings.home / "models" / "text"


class TextModelsNotTrainedError(RuntimeError):
    """The text models have not been trained into this home yet."""


def trained_text_model_paths(settings: Settings) -> dict[str, Path]:
    """Return the artifact paths of the trained text models; never trains.

    Args:
        settings: Platform settings (home folder).

    Returns:
        Model name (``sentiment``, ``action_items``) -> artifact path.

    Raises:
        TextModelsNotTrainedError: When a model is missing (train it with ``haste train-text``).
    """
    folder = text_models_dir(settings)
    paths = {name: folder / filename for name, filename in TEXT_MODEL_FILES.items()}
    missing = sorted(name for name, path in paths.items() if not path.exists())
    if missing:
        raise TextModelsNotTrainedError(
            f"text model(s) {', '.join(missing)} not trained in {folder}: "
            "run `haste train-text` (the text-models flow) first"
        )
    return paths


def ensure_text_models(settings: Settings, *, datasets_dir: Path | None = None) -> dict[str, Path]:
    """Train whichever text model is missing from :func:`text_models_dir` (idempotent).

    Args:
        settings: Platform settings (home folder, default datasets folder).
        datasets_dir: The shared datasets folder; defaults to ``settings.datasets_dir``.

    Returns:
        Model name (``sentiment``, ``action_items``) -> artifact path.
    """
    folder = text_models_dir(settings)
    source = Path(datasets_dir) if datasets_dir is not None else settings.datasets_dir
    cache_dir = shared_cache_dir()  # content-addressed: shared by every home on the machine
    paths = {name: folder / filename for name, filename in TEXT_MODEL_FILES.items()}
    if not paths[SENTIMENT].exists():
        from training.text.sentiment import train_sentiment_model

        logger.info("training the sentiment model into %s", folder)
        report = train_sentiment_model(source, folder, cache_dir=cache_dir)
        paths[SENTIMENT] = report.artifact_path
    if not paths[ACTION_ITEMS].exists():
        from training.text.action_items import train_action_item_model

        logger.info("training the action-item model into %s", folder)
        report = train_action_item_model(source, folder, cache_dir=cache_dir)
        paths[ACTION_ITEMS] = report.artifact_path
    return paths


def _loggable_params(params: dict[str, Any]) -> dict[str, Any]:
    """Keep scalar params and stringify the rest (MLflow params are strings up to 6,000 chars)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, bool | int | float | str) or value is None:
            out[key] = value
        else:
            out[key] = str(value)[:500]
    return out


def log_text_model_run(report: Any, name: str, *, settings: Settings | None = None) -> str:
    """Log a text model's params, metrics and artifacts as one MLflow run.

    Uses the project's MLflow configuration (:func:`training.registry.configure_mlflow`):
    tracking store ``settings.mlflow_tracking_uri``, experiment ``settings.experiment_name``.

    Args:
        report: A :class:`~training.text.sentiment.SentimentReport` or
            :class:`~training.text.action_items.ActionItemReport` (anything with ``metrics``,
            ``params``, ``artifacts`` and ``wall_time_s``).
        name: Model name, e.g. ``sentiment`` or ``action_items`` (run name and tag).
        settings: Platform settings; defaults to :func:`haste.settings.get_settings`.

    Returns:
        The MLflow run id.
    """
    import mlflow

    from training.registry import configure_mlflow, log_artifacts

    settings = settings or get_settings()
    configure_mlflow(settings)
    with mlflow.start_run(run_name=f"text-{name}") as run:
        mlflow.set_tags({"model_name": name, "model_family": "text"})
        mlflow.log_params(_loggable_params(dict(getattr(report, "params", {}))))
        metrics = {key: float(value) for key, value in report.metrics.items()}
        metrics["wall_time_s"] = float(getattr(report, "wall_time_s", 0.0))
        mlflow.log_metrics(metrics)
        log_artifacts([Path(path) for path in report.artifacts], artifact_path=name)
        return run.info.run_id
