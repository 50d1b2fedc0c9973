"""Unit tests of platform settings: defaults, env vars, the YAML file and their precedence."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from haste.settings import CONFIG_DIR, Settings, get_settings


@pytest.fixture()
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Drop every HASTE_* variable, point HASTE_HOME at a tmp folder and reset the cache."""
    for key in list(os.environ):
        if key.startswith("HASTE_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    monkeypatch.setenv("HASTE_HOME", str(home))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


def _write_yaml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_sqlite_under_home(clean_env: Path) -> None:
    settings = get_settings()
    home = clean_env.resolve()
    assert settings.home == home
    assert settings.database_url == f"sqlite:///{home / 'haste.db'}"
    assert settings.mlflow_tracking_uri == f"sqlite:///{home / 'mlflow.db'}"
    assert settings.mlflow_artifact_root == (home / "mlartifacts").as_uri()
    assert settings.online_store == "sqlite"
    assert settings.ray_address is None
    assert settings.serve_port == 8000
    assert not home.exists()
    assert settings.ensure_home() == home
    assert home.is_dir()


def test_paths_are_made_absolute(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(clean_env.parent)
    monkeypatch.setenv("HASTE_HOME", "relative-home")
    monkeypatch.setenv("HASTE_DATA_DIR", "relative-data")
    settings = Settings()
    assert settings.home == (clean_env.parent / "relative-home").resolve()
    assert settings.data_dir.is_absolute()
    assert settings.datasets_dir.is_absolute()
    assert settings.database_url == f"sqlite:///{settings.home / 'haste.db'}"


def test_env_vars_override_defaults(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://haste:secret@db.internal:5432/haste"
    monkeypatch.setenv("HASTE_DATABASE_URL", url)
    monkeypatch.setenv("HASTE_ONLINE_STORE", "redis")
    monkeypatch.setenv("HASTE_SERVE_PORT", "9100")
    monkeypatch.setenv("HASTE_MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    settings = get_settings()
    assert settings.database_url == url
    assert settings.online_store == "redis"
    assert settings.serve_port == 9100
    assert settings.mlflow_tracking_uri == "http://mlflow.internal:5000"
    # Unset keys still get their derived defaults.
    assert settings.mlflow_artifact_root == (clean_env.resolve() / "mlartifacts").as_uri()


def test_invalid_online_store_is_rejected(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASTE_ONLINE_STORE", "memcached")
    with pytest.raises(ValidationError, match="online_store"):
        Settings()


def test_invalid_port_is_rejected(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASTE_SERVE_PORT", "not-a-port")
    with pytest.raises(ValidationError, match="serve_port"):
        Settings()


def test_settings_file_is_read(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml_file = _write_yaml(
        tmp_path / "settings.yaml",
        "online_store: redis\n"
        "redis_url: redis://cache.internal:6379/2\n"
        "experiment_name: from-yaml\n"
        "serve_port: 8123\n",
    )
    monkeypatch.setenv("HASTE_SETTINGS_FILE", str(yaml_file))
    settings = get_settings()
    assert settings.online_store == "redis"
    assert settings.redis_url == "redis://cache.internal:6379/2"
    assert settings.experiment_name == "from-yaml"
    assert settings.serve_port == 8123


def test_invalid_value_in_settings_file_is_rejected(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml_file = _write_yaml(tmp_path / "settings.yaml", "online_store: dynamodb\n")
    monkeypatch.setenv("HASTE_SETTINGS_FILE", str(yaml_file))
    with pytest.raises(ValidationError):
        Settings()


def test_env_beats_yaml_and_yaml_beats_defaults(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml_file = _write_yaml(
        tmp_path / "settings.yaml",
        "database_url: sqlite:////yaml/haste.db\nexperiment_name: from-yaml\nlog_level: DEBUG\n",
    )
    monkeypatch.setenv("HASTE_SETTINGS_FILE", str(yaml_file))
    monkeypatch.setenv("HASTE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1/haste")
    monkeypatch.setenv("HASTE_EXPERIMENT_NAME", "from-env")
    settings = get_settings()
    assert settings.database_url == "postgresql+psycopg://postgres@127.0.0.1/haste"
    assert settings.experiment_name == "from-env"
    assert settings.log_level == "DEBUG"


def test_keyword_arguments_beat_env(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASTE_EXPERIMENT_NAME", "from-env")
    assert Settings(experiment_name="explicit").experiment_name == "explicit"


def test_yaml_home_is_used_without_env(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml_home = tmp_path / "yaml-home"
    yaml_file = _write_yaml(tmp_path / "settings.yaml", f"home: {yaml_home}\n")
    monkeypatch.delenv("HASTE_HOME")
    monkeypatch.setenv("HASTE_SETTINGS_FILE", str(yaml_file))
    settings = Settings()
    assert settings.home == yaml_home.resolve()
    assert settings.mlflow_tracking_uri == f"sqlite:///{yaml_home.resolve() / 'mlflow.db'}"


def test_missing_settings_file_falls_back_to_defaults(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HASTE_SETTINGS_FILE", str(tmp_path / "absent.yaml"))
    settings = Settings()
    assert settings.online_store == "sqlite"
    assert settings.experiment_name == "hastecrm"


def test_repository_settings_file_is_valid(clean_env: Path) -> None:
    assert (CONFIG_DIR / "settings.yaml").exists()
    settings = Settings()
    assert settings.online_store in {"sqlite", "redis"}
    assert settings.home == clean_env.resolve()


def test_get_settings_is_cached_until_cleared(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = get_settings()
    monkeypatch.setenv("HASTE_EXPERIMENT_NAME", "changed")
    assert get_settings() is first
    assert first.experiment_name != "changed"
    get_settings.cache_clear()
    reloaded = get_settings()
    assert reloaded is not first
    assert reloaded.experiment_name == "changed"
