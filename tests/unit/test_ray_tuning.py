"""The batched Optuna search behind the Ray tuner, scored in process (no Ray here)."""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from distributed.ray_tuning import (
    candidate_tuner_of,
    score_locally,
    search_in_batches,
)
from training.config import TuneConfig
from training.tuning import default_values, search_space_for, tune_xgboost

BASE = {"n_estimators": 50, "max_depth": 3, "learning_rate": 0.1, "random_state": 0}
TUNE = TuneConfig(n_trials=5, min_trials=2, cv_folds=2, early_stopping_rounds=5, seed=3)


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    rows = 300
    visits = rng.poisson(3, rows).astype(float)
    source = rng.choice(["ads", "email", "referral"], rows)
    logit = 0.6 * visits + (source == "referral") - 2.0
    labels = pd.Series((rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int))
    return pd.DataFrame({"visits": visits, "source": source}), labels


def _search(table, parallel: int):
    features, labels = table
    scorer = partial(score_locally, config=TUNE, metric="roc_auc")
    return search_in_batches(
        features, labels, BASE, TUNE, "roc_auc", None, parallel=parallel, score_batch=scorer
    )


def test_one_trial_at_a_time_is_the_local_search(table) -> None:
    features, labels = table
    local = tune_xgboost(features, labels, BASE, TUNE, "roc_auc")
    batched = _search(table, parallel=1)
    assert [t.params for t in batched.trials] == [t.params for t in local.trials]
    assert [t.score for t in batched.trials] == pytest.approx([t.score for t in local.trials])
    assert batched.params == local.params
    assert batched.best_score == pytest.approx(local.best_score)


def test_batches_keep_the_budget_the_defaults_first_and_determinism(table) -> None:
    first, again = _search(table, parallel=3), _search(table, parallel=3)
    assert len(first.trials) == TUNE.n_trials
    assert [t.number for t in first.trials] == list(range(TUNE.n_trials))
    space = search_space_for(len(table[1]))
    defaults = default_values(BASE, space)
    assert {k: first.trials[0].params[k] for k in defaults} == pytest.approx(defaults)
    assert [t.params for t in first.trials] == [t.params for t in again.trials]
    best = max(first.trials, key=lambda t: t.score)
    assert first.best_score == pytest.approx(best.score)
    assert first.params["n_estimators"] == best.n_estimators
    assert first.params["random_state"] == BASE["random_state"]  # fixed values are kept


def test_bad_arguments_are_refused(table) -> None:
    features, labels = table
    with pytest.raises(ValueError, match="parallel"):
        search_in_batches(
            features, labels, BASE, TUNE, "roc_auc", None, parallel=0, score_batch=list
        )
    with pytest.raises(ValueError, match="f1"):
        search_in_batches(features, labels, BASE, TUNE, "f1", None, parallel=1, score_batch=list)


def test_tuning_backend_follows_the_config() -> None:
    local = SimpleNamespace(tune=SimpleNamespace(), train=SimpleNamespace())
    assert candidate_tuner_of(local) is None
    config = SimpleNamespace(
        tune=SimpleNamespace(backend="ray", parallel_trials=None),
        train=SimpleNamespace(ray={"num_workers": 3, "resources_per_worker": {"worker": 1}}),
    )
    tuner = candidate_tuner_of(config)
    assert tuner is not None
    assert tuner.keywords == {
        "parallel": 3,
        "resources_per_trial": {"worker": 1},
        "ray_address": None,
    }
    config.tune.parallel_trials = 4
    assert candidate_tuner_of(config).keywords["parallel"] == 4
    with pytest.raises(ValueError, match="dask"):
        candidate_tuner_of(SimpleNamespace(tune=SimpleNamespace(backend="dask")))
