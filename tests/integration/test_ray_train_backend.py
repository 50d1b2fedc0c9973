"""The Ray Train backend on Telco churn: same split, same held-out AUC, same downstream path.

The candidate is fitted twice on the rows ``training.train.fit_models`` split off: in process
(the local backend) and by :func:`distributed.ray_train.fit_xgboost_on_ray` on a two-CPU local
Ray (two Ray Train workers, the rows sharded between them). The Ray-trained pipeline then goes
through the unchanged evaluation (calibration, metrics, SHAP, fairness), the serving fast path
and MLflow registration.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from xgboost import XGBClassifier

from features.tabular import TabularEncoder
from haste.settings import Settings
from pipelines.datasets import load_telco
from training.booster import BoosterScorer
from training.config import load_training_config
from training.estimators import build_xgboost_pipeline
from training.explain import TreeShapExplainer
from training.train import FittedModels, TrainingOutcome, evaluate_models, fit_models

logger = logging.getLogger(__name__)

#: About 60-120 s on 2 cores; the cluster test trains on Ray Train too (same AUC as the local
#: fit) and the unit tests cover the conversion, so CI (`make test`) skips this module.
pytestmark = pytest.mark.slow

#: The issue's bound on |AUC(ray) - AUC(local)| on the held-out split.
AUC_TOLERANCE = 0.01


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A two-CPU local Ray for this module, shut down even when a test fails."""
    import ray

    if ray.is_initialized():
        pytest.skip("Ray is already initialised in this process (another module's cluster)")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def fits(datasets_dir: Path, local_ray: None) -> dict[str, FittedModels]:
    """The churn split fitted locally (``fit_models``) and with the candidate trained on Ray."""
    from distributed.ray_train import fit_xgboost_on_ray

    config = load_training_config("churn")
    local = fit_models(load_telco(datasets_dir), config)
    template = build_xgboost_pipeline(local.train.features.columns, local.candidate_params)
    started = time.perf_counter()
    on_ray = fit_xgboost_on_ray(template, local.train.features, local.train.labels, num_workers=2)
    seconds = time.perf_counter() - started
    logger.info("churn fit: local %.1fs (with baseline), ray %.1fs", local.fit_seconds, seconds)
    return {"local": local, "ray": dataclasses.replace(local, model=on_ray, fit_seconds=seconds)}


@pytest.fixture(scope="module")
def outcomes(
    fits: dict[str, FittedModels], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, TrainingOutcome]:
    """Both fits through the unchanged evaluation (calibration, metrics, SHAP, fairness)."""
    out = tmp_path_factory.mktemp("ray-train-reports")
    return {name: evaluate_models(fitted, out / name) for name, fitted in fits.items()}


def _held_out_auc(fitted: FittedModels) -> float:
    probabilities = fitted.model.predict_proba(fitted.test.features)[:, 1]
    return float(roc_auc_score(fitted.test.labels, probabilities))


def test_ray_fit_is_the_same_kind_of_pipeline(fits: dict[str, FittedModels]) -> None:
    model, local = fits["ray"].model, fits["local"].model
    assert isinstance(model, Pipeline) and [name for name, _ in model.steps] == ["encode", "model"]
    assert isinstance(model[0], TabularEncoder) and isinstance(model[-1], XGBClassifier)
    assert model[-1].get_booster().num_boosted_rounds() == local[-1].n_estimators
    assert model[-1].get_params() == local[-1].get_params()
    assert model[-1].get_booster().feature_names == local[-1].get_booster().feature_names
    assert model[-1].get_booster().feature_types == local[-1].get_booster().feature_types
    assert model[0].categories_ == local[0].categories_


def test_ray_backend_matches_the_local_held_out_auc(fits: dict[str, FittedModels]) -> None:
    local, on_ray = _held_out_auc(fits["local"]), _held_out_auc(fits["ray"])
    logger.info("held-out ROC AUC: local %.4f, ray %.4f", local, on_ray)
    assert local > 0.84  # the churn model's published range (tests/model/test_churn_model.py)
    assert abs(on_ray - local) <= AUC_TOLERANCE, (local, on_ray)


def test_evaluation_is_unchanged_for_the_ray_model(outcomes: dict[str, TrainingOutcome]) -> None:
    local, on_ray = outcomes["local"], outcomes["ray"]
    assert abs(on_ray.metrics["roc_auc"] - local.metrics["roc_auc"]) <= AUC_TOLERANCE
    assert on_ray.baseline_metrics == local.baseline_metrics  # same split, same baseline
    assert set(on_ray.fairness.reports) == {"gender", "SeniorCitizen"}
    assert on_ray.fairness.passed, on_ray.fairness.violations
    assert on_ray.calibration is not None and on_ray.calibration.ece_after >= 0.0
    top_local = set(list(local.importance)[:3])
    assert top_local & set(list(on_ray.importance)[:3]), (local.importance, on_ray.importance)
    for name in ("metrics", "shap_summary", "model_card", "fairness"):
        assert on_ray.artifacts[name].exists(), name


def test_serving_fast_path_reads_the_ray_booster(fits: dict[str, FittedModels]) -> None:
    model = fits["ray"].model
    records = fits["ray"].test.features.head(200)
    scorer = BoosterScorer(model)
    probabilities, contributions = scorer.predict_explain(
        records[list(model[0].columns)].to_numpy().tolist()
    )
    np.testing.assert_allclose(probabilities, model.predict_proba(records)[:, 1], atol=1e-6)
    _, shap_values = TreeShapExplainer(model).shap_values(records)
    np.testing.assert_allclose(contributions, np.asarray(shap_values), atol=1e-4)


def test_ray_outcome_is_logged_and_registered(
    outcomes: dict[str, TrainingOutcome], mlflow_store: Settings
) -> None:
    import mlflow

    from training.tracking import log_and_register

    outcome = outcomes["ray"]
    result = log_and_register(outcome, mlflow_store)
    assert result.refusal is None and result.version == "1", result.refusal
    loaded = mlflow.sklearn.load_model(result.model_uri)
    records: pd.DataFrame = outcome.test.features.head(50)
    np.testing.assert_allclose(
        loaded.predict_proba(records), outcome.model.predict_proba(records), atol=1e-9
    )


def test_optuna_trials_run_as_ray_tasks_and_log_as_nested_runs(
    fits: dict[str, FittedModels], mlflow_store: Settings
) -> None:
    import mlflow

    from distributed.ray_tuning import tune_xgboost_on_ray
    from training.config import TuneConfig
    from training.registry import configure_mlflow
    from training.tuning import encoded_folds, score_trial, search_space_for
    from training.tuning_tracking import log_tuning

    train = fits["local"].train
    config = TuneConfig(n_trials=4, min_trials=1, cv_folds=2, early_stopping_rounds=20, seed=1)
    base = fits["local"].config.train.xgboost
    result = tune_xgboost_on_ray(train.features, train.labels, base, config, parallel=2)
    assert [t.number for t in result.trials] == [0, 1, 2, 3]
    assert result.default_score is not None and result.default_score > 0.83  # the hand-set values
    assert result.best_score >= result.default_score
    # a Ray task scores a trial exactly as the process does
    best = result.trials[result.best_trial]
    params = {**base, **best.params}
    params.pop("n_estimators")
    space = search_space_for(len(train))
    folds = encoded_folds(train.features, train.labels, config, None)
    score, trees, _ = score_trial(params, folds, space, config, "roc_auc")
    assert (score, trees) == (pytest.approx(best.score), best.n_estimators)

    client = configure_mlflow(mlflow_store)
    with mlflow.start_run(run_name="churn-xgboost") as parent:
        assert log_tuning(result, "churn") == 4
    nested = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    logged = {int(run.data.tags["tuning_trial"]): run.data.metrics["cv_roc_auc"] for run in nested}
    assert logged == {t.number: pytest.approx(t.score) for t in result.trials}
