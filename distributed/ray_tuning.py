"""The candidate's Optuna search with its trials run as Ray tasks, several at once.

Same search as :func:`training.tuning.tune_xgboost` (same folds of the training rows, same
table-sized search space, same seeded TPE sampler whose first trial is the config's own
values, same early-stopped fold fits), asked and told in batches: Optuna proposes ``parallel``
trials, each one's cross-validation runs as one Ray task (one CPU, optional custom resources
to keep them on worker nodes), and the scores are told back in trial order. The result is
the same :class:`training.tuning.TuningResult`, so the training run logs the trials as nested
MLflow runs exactly as it does for the local search (:mod:`training.tuning_tracking`).

With ``parallel=1`` the search is the local one, trial for trial. With ``parallel=k`` the
sampler proposes each batch before it sees that batch's scores, so the trials differ from the
sequential search; they stay deterministic (the order of the scores never depends on which
task finishes first).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import pandas as pd

from distributed.ray_session import code_shipped_by_value, connected_ray
from distributed.ray_train import RayTrainSettings
from training.config import TuneConfig
from training.tuning import (
    METRICS,
    SearchSpace,
    TrialRecord,
    TuningResult,
    encoded_folds,
    new_study,
    score_trial,
    search_result,
    search_space_for,
    suggest,
    suggest_values,
    trial_budget,
)

logger = logging.getLogger(__name__)

#: ``score(params_of_each_trial) -> (cv score, trees, seconds) of each``: runs one batch.
BatchScorer = Callable[[list[dict[str, Any]]], list[tuple[float, int, float]]]

#: ``tune(features, labels, base_params, config, metric, groups=...) -> TuningResult``: the
#: hook of ``training.train.fit_models`` (the local default is ``tune_xgboost``).
CandidateTuner = Callable[..., TuningResult]


def search_in_batches(
    features: pd.DataFrame,
    labels: pd.Series,
    base_params: dict[str, Any],
    config: TuneConfig,
    metric: str,
    groups: pd.Series | None,
    *,
    parallel: int,
    score_batch: Callable[[list[dict[str, Any]], list[Any], SearchSpace], list[Any]],
) -> TuningResult:
    """Run the Optuna search, ``parallel`` trials per batch, scored by ``score_batch``.

    Args:
        features: Raw inputs of the training split.
        labels: Their 0/1 labels.
        base_params: The config's XGBoost hyper-parameters (first trial, fixed values).
        config: The ``tune`` section.
        metric: The primary metric.
        groups: Entity ids when an entity's rows must stay in one fold.
        parallel: Trials proposed and scored together.
        score_batch: ``(params of each trial, folds, space) -> [(score, trees, seconds)]`` in
            the same order (a local map of :func:`score_trial`, or Ray tasks).

    Returns:
        The tuned hyper-parameters and every trial, as :func:`training.tuning.tune_xgboost`.

    Raises:
        ValueError: For an unknown metric or ``parallel`` below 1.
    """
    if metric not in METRICS:
        raise ValueError(f"cannot tune for {metric!r}; choose one of {sorted(METRICS)}")
    if parallel < 1:
        raise ValueError(f"parallel must be at least 1, got {parallel}")
    started = time.perf_counter()
    space = search_space_for(len(labels))
    budget = trial_budget(len(labels), config)
    folds = encoded_folds(features, labels, config, groups)
    fixed = {k: v for k, v in base_params.items() if k not in {*space.searched, "n_estimators"}}
    study = new_study(base_params, space, config, metric, budget)
    records: list[TrialRecord] = []
    while len(records) < budget and time.perf_counter() - started < config.timeout_s:
        trials = [study.ask() for _ in range(min(parallel, budget - len(records)))]
        suggested = [suggest(trial, space) for trial in trials]
        outcomes = score_batch([{**fixed, **values} for values in suggested], folds, space)
        for trial, (score, n_estimators, seconds) in zip(trials, outcomes, strict=True):
            trial.set_user_attr("n_estimators", n_estimators)
            study.tell(trial, score)
            records.append(
                TrialRecord(
                    number=trial.number,
                    params={**suggest_values(trial), "n_estimators": n_estimators},
                    score=score,
                    n_estimators=n_estimators,
                    seconds=seconds,
                    state="COMPLETE",
                )
            )
    result = search_result(
        study, fixed, records, space, config, metric, budget, len(labels), started
    )
    logger.info(
        "tuned %d trials (%d at a time) in %.1fs: CV %s %.4f (defaults %.4f)",
        len(records),
        parallel,
        result.seconds,
        metric,
        result.best_score,
        result.default_score if result.default_score is not None else float("nan"),
    )
    return result


def score_locally(
    params: list[dict[str, Any]],
    folds: list[Any],
    space: SearchSpace,
    config: TuneConfig,
    metric: str,
) -> list[tuple[float, int, float]]:
    """Score a batch of trials one after the other in this process."""
    return [score_trial(p, folds, space, config, metric) for p in params]


def tune_xgboost_on_ray(
    features: pd.DataFrame,
    labels: pd.Series,
    base_params: dict[str, Any],
    config: TuneConfig,
    metric: str = "roc_auc",
    groups: pd.Series | None = None,
    *,
    parallel: int = 2,
    resources_per_trial: Mapping[str, float] | None = None,
    ray_address: str | None = None,
) -> TuningResult:
    """Search the candidate's hyper-parameters with each trial's CV run as a Ray task.

    Same arguments and result as :func:`training.tuning.tune_xgboost`, plus:

    Args:
        features: Raw inputs of the training split (never the held-out split).
        labels: Their 0/1 labels.
        base_params: The config's XGBoost hyper-parameters.
        config: The ``tune`` section (budget, folds, seed, timeout).
        metric: The primary metric.
        groups: Entity ids when an entity's rows must stay in one fold.
        parallel: Trials run at once (one CPU each).
        resources_per_trial: Custom resources each trial task needs (``{"worker": 1}``).
        ray_address: Cluster address used when Ray is not initialised yet.

    Returns:
        The tuned hyper-parameters and every trial.
    """
    import ray

    with connected_ray(ray_address), code_shipped_by_value(sys.modules[__name__]):
        task = ray.remote(score_trial).options(
            num_cpus=1, resources=dict(resources_per_trial or {}), max_retries=1
        )
        shipped: dict[int, Any] = {}

        def score_batch(
            params: list[dict[str, Any]], folds: list[Any], space: SearchSpace
        ) -> list[tuple[float, int, float]]:
            if id(folds) not in shipped:  # the folds go to the object store once
                shipped[id(folds)] = ray.put(folds)
            refs = [task.remote(p, shipped[id(folds)], space, config, metric) for p in params]
            return ray.get(refs)

        return search_in_batches(
            features,
            labels,
            base_params,
            config,
            metric,
            groups,
            parallel=parallel,
            score_batch=score_batch,
        )


def ray_candidate_tuner(
    parallel: int,
    resources_per_trial: Mapping[str, float] | None = None,
    address: str | None = None,
) -> CandidateTuner:
    """Return a :data:`CandidateTuner` running ``parallel`` trials at once on Ray."""
    return partial(
        tune_xgboost_on_ray,
        parallel=parallel,
        resources_per_trial=dict(resources_per_trial or {}),
        ray_address=address,
    )


def candidate_tuner_of(config: Any) -> CandidateTuner | None:
    """Return the Ray tuner a training config asks for, or None for the local search.

    Args:
        config: A ``training.config.TrainingConfig``: ``tune.backend`` (``local`` when absent)
            picks the backend, ``tune.parallel_trials`` (default: ``train.ray.num_workers``,
            else 2) the trials run at once; ``train.ray`` gives the placement and address.

    Returns:
        A :data:`CandidateTuner` when ``tune.backend`` is ``ray``, else None.

    Raises:
        ValueError: When the backend is neither ``local`` nor ``ray``.
    """
    backend = getattr(config.tune, "backend", "local")
    if backend == "local":
        return None
    if backend != "ray":
        raise ValueError(f"unknown tuning backend {backend!r} (expected 'local' or 'ray')")
    settings = RayTrainSettings.from_section(getattr(config.train, "ray", None))
    parallel = getattr(config.tune, "parallel_trials", None) or settings.num_workers
    return ray_candidate_tuner(int(parallel), settings.resources_per_worker, settings.address)
