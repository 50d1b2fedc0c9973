"""Shared fixtures: isolated settings per test session and the real datasets folder."""

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
