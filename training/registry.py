"""MLflow model registry: log runs, register challengers, promote champions, roll back.

Versions are addressed by aliases only (``champion``/``challenger``), never by stages.
The previous champion is recorded on each new champion version (tag ``previous_champion``)
so that :func:`rollback_champion` can restore it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from haste.settings import Settings

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"

#: Metrics where a smaller value is better (every other primary metric: larger is better).
LOWER_IS_BETTER = frozenset({"mae", "rmse", "mape", "brier", "log_loss", "mse"})

#: Requirements recorded with logged models (skips MLflow's slow requirement inference).
MODEL_REQUIREMENTS = ["scikit-learn", "xgboost", "pandas", "numpy", "shap", "haste-ai"]


@dataclass(frozen=True)
class PromotionDecision:
    """What the registry did with a challenger."""

    model_name: str
    version: str
    promoted: bool
    reason: str
    challenger_metric: float
    champion_version: str | None = None
    champion_metric: float | None = None


@dataclass(frozen=True)
class BaselineVerdict:
    """The baseline gate's verdict: is the candidate at least as good as the same-split baseline?"""

    passed: bool
    reason: str
    metric: str
    candidate: float
    baseline: float


class NoChampionError(LookupError):
    """Raised when a model has no version with the requested alias."""


def configure_mlflow(settings: Settings) -> MlflowClient:
    """Point MLflow at the configured tracking/registry store and experiment.

    Args:
        settings: Platform settings.

    Returns:
        A client bound to that store.

    """
    settings.ensure_home()
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    client = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    if client.get_experiment_by_name(settings.experiment_name) is None:
        client.create_experiment(
            settings.experiment_name, artifact_location=settings.mlflow_artifact_root
        )
    mlflow.set_experiment(settings.experiment_name)
    return client


def log_sklearn_model(pipeline: Any, input_example: Any, tags: dict[str, str]) -> str:
    """Log a fitted scikit-learn pipeline into the active run and return its model URI."""
    info = mlflow.sklearn.log_model(
        pipeline,
        name="model",
        input_example=input_example,
        serialization_format="cloudpickle",
        pip_requirements=MODEL_REQUIREMENTS,
        tags=tags,
    )
    return info.model_uri


def register_challenger(
    client: MlflowClient, model_uri: str, model_name: str, tags: dict[str, str]
) -> ModelVersion:
    """Register a logged model as a new version and give it the ``challenger`` alias.

    Args:
        client: MLflow client.
        model_uri: URI of the logged model.
        model_name: Registered model name.
        tags: Tags set on the new version.

    Returns:
        The new model version.

    """
    version = mlflow.register_model(model_uri, model_name, tags=tags)
    client.set_registered_model_alias(model_name, CHALLENGER, version.version)
    logger.info("registered %s version %s as %s", model_name, version.version, CHALLENGER)
    return client.get_model_version(model_name, version.version)


def get_alias_version(client: MlflowClient, model_name: str, alias: str) -> ModelVersion | None:
    """Return the version holding ``alias``, or None when there is none."""
    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None


def alias_versions(model_names: list[str], alias: str) -> dict[str, str]:
    """Return model name -> the version holding ``alias``, for the models that have one."""
    client = MlflowClient()
    versions = {}
    for name in model_names:
        version = get_alias_version(client, name, alias)
        if version is not None:
            versions[name] = str(version.version)
    return versions


def version_metric(client: MlflowClient, version: ModelVersion, metric: str) -> float:
    """Return the held-out metric logged by the run that produced ``version``."""
    run = client.get_run(version.run_id)
    if metric not in run.data.metrics:
        raise KeyError(f"run {version.run_id} logged no metric {metric!r}")
    return float(run.data.metrics[metric])


def promote_if_better(
    client: MlflowClient,
    model_name: str,
    version: str,
    metric: str,
    min_improvement: float = 0.0,
    fairness_passed: bool = True,
) -> PromotionDecision:
    """Make the challenger champion when it beats the champion and passed the fairness gate.

    Args:
        client: MLflow client.
        model_name: Registered model name.
        version: The challenger's version.
        metric: Primary metric (larger is better, except the :data:`LOWER_IS_BETTER` ones).
        min_improvement: Required margin over the champion.
        fairness_passed: The fairness gate's verdict for the challenger.

    Returns:
        The decision, with both metrics.

    """
    challenger = client.get_model_version(model_name, version)
    challenger_metric = version_metric(client, challenger, metric)
    champion = get_alias_version(client, model_name, CHAMPION)
    champion_metric = version_metric(client, champion, metric) if champion else None
    if not fairness_passed:
        promoted, reason = False, "fairness gate failed"
    elif champion is None:
        promoted, reason = True, "no champion yet"
    elif champion.version == challenger.version:
        promoted, reason = False, "already champion"
    elif beats(challenger_metric, champion_metric, metric, min_improvement):
        promoted = True
        reason = f"{metric} {challenger_metric:.4f} beats champion {champion_metric:.4f}"
    else:
        promoted = False
        reason = f"{metric} {challenger_metric:.4f} does not beat champion {champion_metric:.4f}"
    if promoted:
        if champion is not None:
            client.set_model_version_tag(
                model_name, challenger.version, "previous_champion", champion.version
            )
        client.set_registered_model_alias(model_name, CHAMPION, challenger.version)
        client.delete_registered_model_alias(model_name, CHALLENGER)
    logger.info("%s v%s: %s (%s)", model_name, version, "promoted" if promoted else "kept", reason)
    return PromotionDecision(
        model_name=model_name,
        version=str(challenger.version),
        promoted=promoted,
        reason=reason,
        challenger_metric=challenger_metric,
        champion_version=str(champion.version) if champion else None,
        champion_metric=champion_metric,
    )


def baseline_gate(
    candidate: dict[str, float],
    baseline: dict[str, float],
    metric: str,
    tolerance: float = 0.0,
) -> BaselineVerdict:
    """Judge a candidate against the spec's baseline fitted and scored on the same split.

    A candidate that does worse than the baseline on ``metric`` (by more than ``tolerance``) is
    never registered: the better of the two is (:func:`training.train.evaluate_models` then
    serves the calibrated baseline, scored and explained by
    :class:`training.pipeline_shap.PipelineShap`).

    Args:
        candidate: The candidate's held-out metrics.
        baseline: The baseline's held-out metrics on the same rows.
        metric: The primary metric (larger is better except :data:`LOWER_IS_BETTER`).
        tolerance: How much worse than the baseline still passes (0: ties pass, losses fail).

    Returns:
        The verdict with both figures and a readable reason.

    Raises:
        KeyError: When either side lacks ``metric``.

    """
    if metric not in candidate or metric not in baseline:
        raise KeyError(f"baseline gate needs {metric!r} for both the candidate and the baseline")
    ours, theirs = float(candidate[metric]), float(baseline[metric])
    passed = not beats(theirs, ours, metric, tolerance)
    relation = "matches or beats" if passed else "loses to"
    reason = f"candidate {metric} {ours:.4f} {relation} the same-split baseline's {theirs:.4f}"
    if tolerance and passed:
        reason += f" (tolerance {tolerance:.4f})"
    return BaselineVerdict(passed, reason, metric, ours, theirs)


def beats(challenger: float, champion: float, metric: str, min_improvement: float = 0.0) -> bool:
    """Return whether ``challenger`` beats ``champion`` on ``metric`` by more than the margin."""
    if metric in LOWER_IS_BETTER:
        return challenger < champion - min_improvement
    return challenger > champion + min_improvement


def rollback_champion(client: MlflowClient, model_name: str) -> tuple[str, str]:
    """Give the ``champion`` alias back to the version it replaced.

    Args:
        client: MLflow client.
        model_name: Registered model name.

    Returns:
        (rolled back version, restored version).

    Raises:
        NoChampionError: When there is no champion or it replaced nothing.

    """
    champion = get_alias_version(client, model_name, CHAMPION)
    if champion is None:
        raise NoChampionError(f"{model_name} has no champion to roll back")
    previous = champion.tags.get("previous_champion")
    if not previous:
        raise NoChampionError(
            f"{model_name} v{champion.version} is the first champion; nothing to roll back to"
        )
    client.set_registered_model_alias(model_name, CHAMPION, previous)
    client.set_model_version_tag(model_name, champion.version, "rolled_back", "true")
    logger.info("%s: champion rolled back from v%s to v%s", model_name, champion.version, previous)
    return str(champion.version), str(previous)


def load_alias_model(model_name: str, alias: str = CHAMPION) -> tuple[Any, ModelVersion]:
    """Load the scikit-learn model holding ``alias`` and its version record.

    Raises:
        NoChampionError: When no version holds the alias.

    """
    client = MlflowClient()
    version = get_alias_version(client, model_name, alias)
    if version is None:
        raise NoChampionError(
            f"no {alias!r} version of {model_name!r} in the registry; train one first "
            "(`haste train lead-scoring`)"
        )
    model = mlflow.sklearn.load_model(f"models:/{model_name}@{alias}")
    return model, version


def log_artifacts(paths: list[Path], artifact_path: str | None = None) -> None:
    """Log files into the active run."""
    for path in paths:
        mlflow.log_artifact(str(path), artifact_path=artifact_path)
