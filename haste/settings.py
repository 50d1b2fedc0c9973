"""Platform settings: one source of truth, ``configs/settings.yaml`` plus ``HASTE_*`` env vars.

Precedence (highest first): explicit keyword arguments, environment variables
(``HASTE_DATABASE_URL`` ...), ``configs/settings.yaml``, then the embedded defaults below.
The defaults need nothing installed: SQLite for the CRM database and MLflow's tracking store,
a local Ray cluster and Feast's SQLite online store, all under ``HASTE_HOME`` (``.haste/``).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "configs"


def _settings_yaml() -> Path:
    """Return the YAML settings file, overridable with ``HASTE_SETTINGS_FILE``."""
    return Path(os.environ.get("HASTE_SETTINGS_FILE", CONFIG_DIR / "settings.yaml"))


class Settings(BaseSettings):
    """Runtime settings of the AI platform.

    Attributes:
        home: Directory holding local state (SQLite files, MLflow artifacts, Feast registry).
        database_url: SQLAlchemy URL of the CRM database; defaults to SQLite under ``home``.
        mlflow_tracking_uri: MLflow tracking/registry store; defaults to SQLite under ``home``.
        mlflow_artifact_root: Where MLflow stores artifacts for new experiments.
        datasets_dir: Read-only folder of the real public datasets.
        data_dir: Folder of pipeline outputs (DVC-tracked).
        ray_address: Address of an existing Ray cluster; ``None`` starts a local one.
        serve_host: Host the Ray Serve HTTP proxy binds to.
        serve_port: Port the Ray Serve HTTP proxy binds to.
        metrics_port: Port of Ray's Prometheus endpoint (``/metrics``) on a local Ray started by
            ``haste serve``; 0 lets Ray pick one.
        online_store: Feast online store type.
        redis_url: Redis URL used when ``online_store`` is ``redis`` and for caches.
        experiment_name: MLflow experiment that training runs log to.
        log_level: Python log level for the platform's loggers.
        auth_required: Whether the AI gateway requires an API key (``X-API-Key``).
        default_rate_limit_per_minute: Requests per minute of a key without its own limit.
        rate_limit_backend: ``memory`` (per replica) or ``redis`` (shared by every replica).
        gateway_cache: ``off`` or ``redis`` (features and recent scores cached in Redis).
        gateway_cache_ttl_s: Lifetime of a cached score.
        broker_url: AMQP URL of the message broker (RabbitMQ) of the real-time scoring engine.
        stream_namespace: Prefix of the broker's exchange and queue names (tests use their own).
        data_keys: Data-encryption keys as comma-separated Fernet keys, the first one encrypting
            (``HASTE_DATA_KEYS``, e.g. from a secret manager); empty: the key file is used.
        data_key_file: Key file of the data-encryption keyring (JSON, mode 0600), created with
            one fresh key on first use; defaults to ``<home>/data_keys.json``.
        data_key_reload_s: How often (seconds) a running process checks the key file for a
            rotation (``haste keys rotate-data-key``); 0 checks on every write.

    """

    model_config = SettingsConfigDict(env_prefix="HASTE_", extra="ignore")

    home: Path = Field(default=Path(".haste"))
    database_url: str = ""
    mlflow_tracking_uri: str = ""
    mlflow_artifact_root: str = ""
    datasets_dir: Path = Field(default=PROJECT_ROOT.parent / "shared" / "datasets")
    data_dir: Path = Field(default=PROJECT_ROOT / "data")
    ray_address: str | None = None
    serve_host: str = "127.0.0.1"
    serve_port: int = 8000
    metrics_port: int = Field(default=8080, ge=0, le=65535)
    online_store: Literal["sqlite", "redis"] = "sqlite"
    redis_url: str = "redis://127.0.0.1:6379/0"
    experiment_name: str = "hastecrm"
    log_level: str = "INFO"
    auth_required: bool = True
    default_rate_limit_per_minute: int = Field(default=600, gt=0)
    rate_limit_backend: Literal["memory", "redis"] = "memory"
    gateway_cache: Literal["off", "redis"] = "off"
    gateway_cache_ttl_s: int = Field(default=300, gt=0)
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    stream_namespace: str = Field(default="haste", pattern=r"^[a-z][a-z0-9_-]{0,30}$")
    data_keys: SecretStr = SecretStr("")
    data_key_file: Path | None = None
    data_key_reload_s: float = Field(default=5.0, ge=0, le=3600)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Insert the YAML file between the environment and the defaults."""
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=_settings_yaml())
        return init_settings, env_settings, yaml_source

    @model_validator(mode="after")
    def _fill_derived_paths(self) -> Settings:
        """Make paths absolute and derive the SQLite/MLflow defaults from ``home``."""
        self.home = self.home.expanduser().resolve()
        self.datasets_dir = self.datasets_dir.expanduser().resolve()
        self.data_dir = self.data_dir.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'haste.db'}"
        if not self.mlflow_tracking_uri:
            self.mlflow_tracking_uri = f"sqlite:///{self.home / 'mlflow.db'}"
        if self.data_key_file is None:
            self.data_key_file = self.home / "data_keys.json"
        self.data_key_file = self.data_key_file.expanduser().resolve()
        if not self.mlflow_artifact_root:
            self.mlflow_artifact_root = (self.home / "mlartifacts").as_uri()
        return self

    def ensure_home(self) -> Path:
        """Create the local state directory if needed and return it."""
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (cached; call ``get_settings.cache_clear()`` to reload)."""
    return Settings()
