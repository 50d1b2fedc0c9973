"""Unit tests of size-scaled Optuna tuning and of the same-split baseline gate."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from training import train as train_module
from training.config import TrainingConfig, TuneConfig
from training.registry import baseline_gate
from training.tracking import refusal_reasons
from training.tuning import (
    REFERENCE_ROWS,
    default_values,
    search_space_for,
    trial_budget,
    tune_xgboost,
)


def _frame(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    visits = rng.poisson(3, rows).astype(float)
    minutes = rng.gamma(2.0, 5.0, rows)
    source = rng.choice(["ads", "email", "referral"], rows)
    logit = 0.5 * visits + 0.05 * minutes + (source == "referral") - 2.5
    converted = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "id": [f"c{i}" for i in range(rows)],
            "visits": visits,
            "minutes": minutes,
            "source": source,
            "gender": rng.choice(["female", "male"], rows),
            "converted": converted,
        }
    )


def _config(**tune: object) -> TrainingConfig:
    return TrainingConfig.model_validate(
        {
            "model_name": "unit_tuned",
            "dataset": "unit",
            "id_column": "id",
            "target": "converted",
            "features": {"sensitive_columns": ["gender"]},
            "train": {
                "xgboost": {"n_estimators": 50, "max_depth": 3, "random_state": 0},
                "baseline": {"n_estimators": 20, "max_depth": 2, "random_state": 0},
            },
            "tune": {"enabled": True, "n_trials": 4, "min_trials": 2, "cv_folds": 3, **tune},
            "fairness": {
                "sensitive_columns": ["gender"],
                "min_group_size": 10,
                "max_equalized_odds_difference": 1.0,
                "max_true_positive_rate_difference": 1.0,
            },
        }
    )


# --- search space and budget --------------------------------------------------------------------


def test_search_space_is_shallower_and_more_regularised_on_small_tables() -> None:
    small, medium, large = (search_space_for(n) for n in (1_500, 7_000, 60_000))
    assert (small.name, medium.name, large.name) == ("small", "medium", "large")
    assert small.max_depth[1] < medium.max_depth[1] < large.max_depth[1]
    assert small.min_child_weight[1] > large.min_child_weight[1]
    assert small.reg_lambda[0] > large.reg_lambda[0]
    assert small.max_estimators < large.max_estimators


def test_trial_budget_shrinks_on_large_tables_but_not_below_the_floor() -> None:
    config = TuneConfig(n_trials=30, min_trials=8)
    assert trial_budget(1_500, config) == 30
    assert trial_budget(REFERENCE_ROWS, config) == 30
    assert trial_budget(2 * REFERENCE_ROWS, config) == 15
    assert trial_budget(100 * REFERENCE_ROWS, config) == 8


def test_min_trials_cannot_exceed_n_trials() -> None:
    with pytest.raises(ValueError, match="min_trials"):
        TuneConfig(n_trials=5, min_trials=6)


def test_defaults_are_clipped_into_the_space() -> None:
    space = search_space_for(1_000)
    values = default_values({"max_depth": 8, "learning_rate": 0.03}, space)
    assert values["max_depth"] == space.max_depth[1]
    assert values["learning_rate"] == pytest.approx(0.03)
    assert values["reg_alpha"] == space.reg_alpha[0]


# --- the search ----------------------------------------------------------------------------------


def test_search_is_deterministic_respects_the_budget_and_starts_from_the_config() -> None:
    frame = _frame()
    features, labels = frame[["visits", "minutes", "source"]], frame["converted"]
    config = TuneConfig(enabled=True, n_trials=5, min_trials=2, cv_folds=3, seed=7)
    base = {"max_depth": 3, "learning_rate": 0.05, "random_state": 0}
    first = tune_xgboost(features, labels, base, config)
    second = tune_xgboost(features, labels, base, config)
    assert len(first.trials) == first.budget == 5
    assert [t.params for t in first.trials] == [t.params for t in second.trials]
    assert [t.score for t in first.trials] == [t.score for t in second.trials]
    assert first.params == second.params
    assert first.trials[0].params["max_depth"] == 3
    assert first.trials[0].params["learning_rate"] == pytest.approx(0.05)
    assert first.default_score == first.trials[0].score
    assert first.best_score == max(t.score for t in first.trials)
    assert first.params["random_state"] == 0  # unsearched parameters are kept
    assert 1 <= first.params["n_estimators"] <= search_space_for(len(frame)).max_estimators
    other = tune_xgboost(features, labels, base, config.model_copy(update={"seed": 8}))
    assert [t.params for t in other.trials[1:]] != [t.params for t in first.trials[1:]]


def test_unknown_metric_is_refused() -> None:
    frame = _frame(120)
    with pytest.raises(ValueError, match="cannot tune"):
        tune_xgboost(frame[["visits"]], frame["converted"], {}, TuneConfig(), metric="recall")


def test_fit_models_tunes_on_training_rows_only(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[pd.Index] = []
    real = train_module.tune_xgboost

    def spy(features: pd.DataFrame, labels: pd.Series, *args: object, **kwargs: object):
        seen.extend([features.index, labels.index])
        return real(features, labels, *args, **kwargs)

    monkeypatch.setattr(train_module, "tune_xgboost", spy)
    fitted = train_module.fit_models(_frame(), _config())
    assert seen, "the search never ran"
    test_rows = set(fitted.test.features.index)
    for index in seen:
        assert not test_rows & set(index)
        assert set(index) == set(fitted.train.features.index)
    assert fitted.tuning is not None and len(fitted.tuning.trials) == 4
    model = fitted.model[-1]
    assert model.get_params()["n_estimators"] == fitted.tuning.params["n_estimators"]
    assert model.get_params()["max_depth"] == fitted.tuning.params["max_depth"]


def test_fit_models_skips_the_search_when_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("tuning ran although disabled")

    monkeypatch.setattr(train_module, "tune_xgboost", fail)
    fitted = train_module.fit_models(_frame(), _config(enabled=False))
    assert fitted.tuning is None
    assert fitted.model[-1].get_params()["n_estimators"] == 50


# --- the baseline gate ---------------------------------------------------------------------------


def test_candidate_that_loses_to_the_baseline_fails_with_its_reason() -> None:
    verdict = baseline_gate({"roc_auc": 0.765}, {"roc_auc": 0.784}, "roc_auc")
    assert not verdict.passed
    assert "0.7650 loses to the same-split baseline's 0.7840" in verdict.reason


def test_candidate_that_wins_or_ties_passes() -> None:
    assert baseline_gate({"roc_auc": 0.80}, {"roc_auc": 0.78}, "roc_auc").passed
    assert baseline_gate({"roc_auc": 0.78}, {"roc_auc": 0.78}, "roc_auc").passed


def test_gate_direction_follows_the_metric_and_tolerance() -> None:
    assert baseline_gate({"brier": 0.15}, {"brier": 0.16}, "brier").passed
    assert not baseline_gate({"brier": 0.17}, {"brier": 0.16}, "brier").passed
    assert baseline_gate({"roc_auc": 0.775}, {"roc_auc": 0.78}, "roc_auc", tolerance=0.01).passed
    with pytest.raises(KeyError, match="pr_auc"):
        baseline_gate({"roc_auc": 0.8}, {"roc_auc": 0.7}, "pr_auc")


def _outcome(candidate: float, baseline: float, fair: bool = True, gate: bool = True):
    config = _config().model_copy(deep=True)
    config.registry.baseline_gate = gate
    fairness = SimpleNamespace(passed=fair, violations=[] if fair else ["EOD 0.3 > 0.2"])
    return SimpleNamespace(
        config=config,
        metrics={"roc_auc": candidate},
        baseline_metrics={"roc_auc": baseline},
        fairness=fairness,
    )


def test_refusal_reasons_name_each_failed_gate() -> None:
    assert refusal_reasons(_outcome(0.80, 0.78)) == []
    (reason,) = refusal_reasons(_outcome(0.765, 0.784))
    assert reason.startswith("baseline gate failed: candidate roc_auc 0.7650 loses")
    both = refusal_reasons(_outcome(0.765, 0.784, fair=False))
    assert len(both) == 2 and both[0].startswith("fairness gate failed (EOD")
    assert refusal_reasons(_outcome(0.765, 0.784, gate=False)) == []


# --- logging and registration --------------------------------------------------------------------


def test_losing_candidate_is_logged_not_registered_and_trials_are_nested(mlflow_store) -> None:
    import mlflow
    from mlflow import MlflowClient

    from training.tracking import log_and_register

    outcome = train_module.train_and_evaluate(_frame(), _config())
    outcome.metrics["roc_auc"] = outcome.baseline_metrics["roc_auc"] - 0.02
    refused = log_and_register(outcome, mlflow_store)
    assert refused.version is None and refused.decision is None
    assert refused.refusal.startswith("baseline gate failed")
    client = MlflowClient()
    run = client.get_run(refused.run_id)
    assert run.data.tags["registration"] == "refused"
    assert run.data.tags["baseline_gate"] == "failed"
    assert run.data.tags["refusal_reason"] == refused.refusal
    assert run.data.params["tuning.trials"] == "4"
    assert "tuning_best_cv_roc_auc" in run.data.metrics
    assert client.search_registered_models(filter_string="name='unit_tuned'") == []
    experiment = run.info.experiment_id
    trials = mlflow.search_runs(
        [experiment], filter_string=f"tags.mlflow.parentRunId = '{refused.run_id}'"
    )
    assert len(trials) == 4
    assert trials["metrics.cv_roc_auc"].notna().all()
    assert (trials["tags.tuning_best"] == "true").sum() == 1

    outcome.metrics["roc_auc"] = outcome.baseline_metrics["roc_auc"] + 0.01
    registered = log_and_register(outcome, mlflow_store)
    assert registered.version == "1" and registered.refusal is None
    assert registered.decision is not None and registered.decision.promoted
    version = client.get_model_version("unit_tuned", "1")
    assert version.tags["baseline_gate"] == "passed"
