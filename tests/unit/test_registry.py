"""Unit tests of the MLflow registry helpers on a temporary SQLite store (aliases only)."""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

from haste.settings import Settings
from training.registry import (
    CHALLENGER,
    CHAMPION,
    NoChampionError,
    configure_mlflow,
    get_alias_version,
    load_alias_model,
    log_sklearn_model,
    promote_if_better,
    register_challenger,
    rollback_champion,
)

MODEL = "unit_lead_scoring"
METRIC = "roc_auc"


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Create (once) an empty, fully migrated MLflow SQLite store; migrating takes seconds."""
    path = tmp_path_factory.mktemp("mlflow_template") / "mlflow.db"
    uri = f"sqlite:///{path}"
    MlflowClient(uri, uri).search_experiments()
    return path


@pytest.fixture()
def client(mlflow_store: Settings, empty_store: Path) -> MlflowClient:
    """Return a client bound to a fresh copy of the empty store under the tmp HASTE_HOME."""
    isolated_settings = mlflow_store
    uri = isolated_settings.mlflow_tracking_uri
    assert uri == f"sqlite:///{isolated_settings.home / 'mlflow.db'}"
    shutil.copyfile(empty_store, isolated_settings.home / "mlflow.db")
    client = configure_mlflow(isolated_settings)
    assert mlflow.get_tracking_uri() == uri
    assert client.get_experiment_by_name(isolated_settings.experiment_name) is not None
    return client


def _data(seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = pd.DataFrame(rng.normal(size=(40, 2)), columns=["visits", "time_spent"])
    labels = (features["visits"] + 0.5 * rng.normal(size=40) > 0).astype(int).to_numpy()
    return features, labels


def _log_run(metric_value: float, seed: int = 0) -> str:
    features, labels = _data(seed)
    model = LogisticRegression(C=0.1 + seed).fit(features, labels)
    with mlflow.start_run():
        mlflow.log_metric(METRIC, metric_value)
        return log_sklearn_model(model, features.head(2), tags={"model_name": MODEL})


def _register(client: MlflowClient, metric_value: float, seed: int = 0) -> str:
    uri = _log_run(metric_value, seed)
    return str(register_challenger(client, uri, MODEL, {"fairness_passed": "true"}).version)


def _champion(client: MlflowClient) -> str | None:
    version = get_alias_version(client, MODEL, CHAMPION)
    return None if version is None else str(version.version)


def test_register_challenger_sets_alias_and_tags(client: MlflowClient) -> None:
    uri = _log_run(0.7)
    version = register_challenger(client, uri, MODEL, {"fairness_passed": "true"})
    assert str(version.version) == "1"
    assert CHALLENGER in version.aliases
    assert version.tags["fairness_passed"] == "true"
    assert str(client.get_model_version_by_alias(MODEL, CHALLENGER).version) == "1"
    assert get_alias_version(client, MODEL, CHAMPION) is None
    second = register_challenger(client, _log_run(0.8, seed=1), MODEL, {})
    assert str(second.version) == "2"
    assert str(client.get_model_version_by_alias(MODEL, CHALLENGER).version) == "2"


def test_promotion_sequence(client: MlflowClient) -> None:
    first = _register(client, 0.7)
    decision = promote_if_better(client, MODEL, first, METRIC)
    assert decision.promoted
    assert decision.reason == "no champion yet"
    assert decision.champion_version is None
    assert decision.challenger_metric == pytest.approx(0.7)
    assert _champion(client) == first
    assert get_alias_version(client, MODEL, CHALLENGER) is None
    assert "previous_champion" not in client.get_model_version(MODEL, first).tags

    second = _register(client, 0.8, seed=1)
    decision = promote_if_better(client, MODEL, second, METRIC)
    assert decision.promoted
    assert decision.champion_version == first
    assert decision.champion_metric == pytest.approx(0.7)
    assert _champion(client) == second
    assert client.get_model_version(MODEL, second).tags["previous_champion"] == first

    third = _register(client, 0.75, seed=2)
    decision = promote_if_better(client, MODEL, third, METRIC)
    assert not decision.promoted
    assert decision.champion_version == second
    assert "does not beat" in decision.reason
    assert _champion(client) == second
    assert str(client.get_model_version_by_alias(MODEL, CHALLENGER).version) == third


def test_already_champion_is_not_promoted_again(client: MlflowClient) -> None:
    first = _register(client, 0.7)
    assert promote_if_better(client, MODEL, first, METRIC).promoted
    again = promote_if_better(client, MODEL, first, METRIC)
    assert not again.promoted
    assert again.reason == "already champion"


def test_min_improvement_is_required(client: MlflowClient) -> None:
    first = _register(client, 0.80)
    assert promote_if_better(client, MODEL, first, METRIC).promoted
    second = _register(client, 0.805, seed=1)
    decision = promote_if_better(client, MODEL, second, METRIC, min_improvement=0.01)
    assert not decision.promoted
    assert _champion(client) == first
    equal = _register(client, 0.80, seed=2)
    assert not promote_if_better(client, MODEL, equal, METRIC).promoted


def test_failed_fairness_never_promotes(client: MlflowClient) -> None:
    first = _register(client, 0.9)
    decision = promote_if_better(client, MODEL, first, METRIC, fairness_passed=False)
    assert not decision.promoted
    assert decision.reason == "fairness gate failed"
    assert _champion(client) is None

    assert promote_if_better(client, MODEL, first, METRIC).promoted
    better = _register(client, 0.99, seed=1)
    decision = promote_if_better(client, MODEL, better, METRIC, fairness_passed=False)
    assert not decision.promoted
    assert _champion(client) == first


def test_missing_metric_raises(client: MlflowClient) -> None:
    version = _register(client, 0.7)
    with pytest.raises(KeyError, match="pr_auc"):
        promote_if_better(client, MODEL, version, "pr_auc")


def test_rollback_restores_previous_champion(client: MlflowClient) -> None:
    with pytest.raises(NoChampionError):
        rollback_champion(client, MODEL)
    first = _register(client, 0.7)
    promote_if_better(client, MODEL, first, METRIC)
    with pytest.raises(NoChampionError, match="first champion"):
        rollback_champion(client, MODEL)
    second = _register(client, 0.8, seed=1)
    assert promote_if_better(client, MODEL, second, METRIC).promoted

    assert rollback_champion(client, MODEL) == (second, first)
    assert _champion(client) == first
    assert client.get_model_version(MODEL, second).tags["rolled_back"] == "true"
    with pytest.raises(NoChampionError):
        rollback_champion(client, MODEL)
    assert _champion(client) == first


def test_load_alias_model(client: MlflowClient) -> None:
    with pytest.raises(NoChampionError, match=MODEL):
        load_alias_model(MODEL)
    first = _register(client, 0.7)
    with pytest.raises(NoChampionError, match="champion"):
        load_alias_model(MODEL)
    promote_if_better(client, MODEL, first, METRIC)
    second = _register(client, 0.6, seed=3)
    assert not promote_if_better(client, MODEL, second, METRIC).promoted

    model, version = load_alias_model(MODEL)
    assert str(version.version) == first
    features, labels = _data(0)
    expected = LogisticRegression(C=0.1).fit(features, labels).predict_proba(features)
    np.testing.assert_allclose(model.predict_proba(features), expected)

    challenger, challenger_version = load_alias_model(MODEL, CHALLENGER)
    assert str(challenger_version.version) == second
    assert pytest.approx(3.1) == challenger.C
    with pytest.raises(NoChampionError):
        load_alias_model(MODEL, "no-such-alias")
