"""The served platform, shared by this package's tests (trained once, served once).

A temporary HASTE_HOME/data, the Prefect test harness, free ports for Serve and Ray's metrics
endpoint, and a private redis-server for the shared rate limiter (so the tests can stop it).
Every model is trained by its real flow; the champion set is served by Ray Serve. The tests of
this package share the platform's database, so each finds its own rows by request id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.testing.utilities import prefect_test_harness

from haste.api_keys import create_api_key, ensure_user
from haste.db.session import dispose_all_engines
from haste.settings import Settings, get_settings
from tests.support.asgi_server import free_port
from tests.support.platform import NO_AB, PrivateRedis, private_redis


@pytest.fixture(scope="package")
def redis_server() -> Iterator[PrivateRedis]:
    """A private redis-server for the served platform."""
    with private_redis(free_port()) as server:
        yield server


@pytest.fixture(scope="package")
def platform(
    tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path, redis_server: PrivateRedis
) -> Iterator[tuple[Settings, list[dict[str, Any]]]]:
    """Train every model with its real flow in an isolated home."""
    home = tmp_path_factory.mktemp("platform")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HASTE_HOME", str(home / "state"))
        patch.setenv("HASTE_DATA_DIR", str(home / "data"))
        patch.setenv("HASTE_SERVE_PORT", str(free_port()))
        patch.setenv("HASTE_METRICS_PORT", str(free_port()))
        patch.setenv("HASTE_REDIS_URL", redis_server.url)
        patch.setenv("HASTE_RATE_LIMIT_BACKEND", "redis")
        patch.setenv("HASTE_STREAM_NAMESPACE", f"e2e{uuid.uuid4().hex[:8]}")  # own queues
        for key in ("HASTE_DATABASE_URL", "HASTE_MLFLOW_TRACKING_URI"):
            patch.delenv(key, raising=False)
        get_settings.cache_clear()
        from flows.deal_velocity import deal_velocity_training
        from flows.features import feature_pipeline
        from flows.search_index import search_index
        from flows.text_models import text_model_training
        from flows.training import model_training
        from flows.workflow_automation import action_uplift_training

        with prefect_test_harness(server_startup_timeout=180):
            results = [model_training(), model_training()]
            feature_pipeline()
            results.append(model_training("lead_scoring_crm"))
            results.append(model_training("churn"))
            action_uplift_training()
            deal_velocity_training()
            text_model_training()
            search_index()
        yield get_settings(), results
    get_settings.cache_clear()
    dispose_all_engines()


@pytest.fixture(scope="package")
def admin_key(platform: tuple[Settings, list[dict[str, Any]]]) -> str:
    """An admin API key of the platform."""
    settings, _ = platform
    user_id = ensure_user(settings.database_url, "e2e@hastecrm.example", "admin", "E2E")
    key, _ = create_api_key(settings.database_url, user_id, "e2e", "admin")
    return key


@pytest.fixture(scope="package")
def api(platform: tuple[Settings, list[dict[str, Any]]], admin_key: str) -> Iterator[httpx.Client]:
    """Serve the champions with Ray Serve; yield an admin HTTP client on it."""
    from serving.runner import start_serving, stop_serving

    settings, _ = platform
    url = start_serving(settings, user_config=NO_AB)  # deterministic: champions only
    try:
        with httpx.Client(base_url=url, timeout=30, headers={"X-API-Key": admin_key}) as client:
            yield client
    finally:
        stop_serving()
