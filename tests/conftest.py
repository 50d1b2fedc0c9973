"""Fixtures shared by several test folders: isolated settings, MLflow state, real datasets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from haste.runtime import configure_runtime_env
from haste.settings import Settings, get_settings

configure_runtime_env()


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """Return the real datasets folder, skipping with a clear message when it is absent."""
    path = Settings().datasets_dir
    if not (path / "INDEX.md").exists():
        pytest.skip(f"real datasets folder {path} is absent (expected ../shared/datasets)")
    return path


@pytest.fixture()
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Point every local store (SQLite, MLflow, data) at a fresh temporary folder."""
    monkeypatch.setenv("HASTE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HASTE_DATA_DIR", str(tmp_path / "data"))
    for key in ("HASTE_DATABASE_URL", "HASTE_MLFLOW_TRACKING_URI", "HASTE_MLFLOW_ARTIFACT_ROOT"):
        monkeypatch.delenv(key, raising=False)
    get_settings.cache_clear()
    settings = get_settings()
    settings.ensure_home()
    yield settings
    get_settings.cache_clear()


@pytest.fixture()
def mlflow_store(
    isolated_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """Isolated settings; MLflow's global tracking/registry URIs are restored afterwards."""
    import mlflow
    import mlflow.tracking.fluent

    previous_tracking, previous_registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    yield isolated_settings
    if mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(previous_tracking)
    mlflow.set_registry_uri(previous_registry)
