"""Ingress settings of the local Ray (HAProxy, replica flags) and the gateway's cheap admission.

:mod:`serving.ingress` gives each local Ray its own HAProxy files and ports and the gateway its
replica flags; admission of a cached key under an in-memory limit runs on the event loop, and the
in-memory limiter counts without starting threads.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving import ingress
from serving.auth import Authenticator, Principal
from serving.dependencies import Predict
from serving.errors import ApiError
from serving.gateway import CallContext
from serving.rate_limit import MemoryRateLimiter
from serving.runner import environment_defaults


def test_each_local_ray_gets_its_own_haproxy_files_and_ports() -> None:
    first = ingress.ingress_environment(8100, haproxy=True)
    second = ingress.ingress_environment(8200, haproxy=True)
    assert first["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    assert first["RAY_SERVE_LOG_TO_STDERR"] == "0"
    assert int(first["RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"]) < 20  # < shutdown grace
    paths = [key for key in first if key.endswith(("_LOC", "_PATH", "_BASE", "_FILE"))]
    assert len(paths) == 5
    for key in paths:
        assert "haste-haproxy-8100" in first[key] and "haste-haproxy-8200" in second[key]
    ports = {first[key] for key in first if key.endswith("_PORT") and "DRAINING" not in key} | {
        second[key] for key in second if key.endswith("_PORT")
    }
    assert len(ports) == 8 and "8100" not in ports  # metrics, stats and the fallback proxy's
    assert "8500" not in ports  # Serve's fixed fallback port: shared by every local Ray


def test_without_haproxy_only_the_log_setting_remains() -> None:
    assert ingress.ingress_environment(8100, haproxy=False) == {"RAY_SERVE_LOG_TO_STDERR": "0"}


def test_the_gateway_flags_join_its_actor_options_and_explicit_ones_win() -> None:
    options = {
        "num_replicas": 2,
        "ray_actor_options": {
            "num_cpus": 0.5,
            "runtime_env": {"env_vars": {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "1"}},
        },
    }
    merged = ingress.with_gateway_env(options)
    actor = merged["ray_actor_options"]
    assert merged["num_replicas"] == 2 and actor["num_cpus"] == 0.5
    assert actor["runtime_env"]["env_vars"] == {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "1"}
    assert options["ray_actor_options"]["runtime_env"] == actor["runtime_env"]  # unchanged input
    assert options["ray_actor_options"] is not actor
    assert ingress.with_gateway_env({})["ray_actor_options"]["runtime_env"]["env_vars"] == (
        ingress.GATEWAY_REPLICA_ENV
    )


def test_environment_defaults_apply_for_the_block_and_never_override(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HASTE_TEST_SET", "mine")
    monkeypatch.delenv("HASTE_TEST_NEW", raising=False)
    with environment_defaults({"HASTE_TEST_SET": "theirs", "HASTE_TEST_NEW": "1"}):
        assert os.environ["HASTE_TEST_SET"] == "mine"
        assert os.environ["HASTE_TEST_NEW"] == "1"
    assert "HASTE_TEST_NEW" not in os.environ and os.environ["HASTE_TEST_SET"] == "mine"


def test_the_memory_limiter_counts_fixed_windows_without_threads() -> None:
    now = [1_800_020.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    threads = threading.active_count()
    decisions = [limiter.hit("key", 3) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert decisions[-1].retry_after_s == 40
    assert limiter.hit("other", 3).allowed  # per key
    now[0] += 40  # the next minute: a new window
    assert limiter.hit("key", 3).remaining == 2
    assert threading.active_count() == threads


def test_the_authenticator_tells_whether_a_key_is_cached(monkeypatch) -> None:
    principal = Principal(uuid.uuid4(), None, None, "rep", None)
    auth = Authenticator("sqlite://", ttl_s=10.0)
    monkeypatch.setattr("serving.auth.lookup_principal", lambda url, key: principal)
    assert not auth.is_cached("hk_one")
    assert auth.authenticate("hk_one") == principal
    assert auth.is_cached("hk_one") and not auth.is_cached("hk_two")
    auth.ttl_s = 0.0
    assert not auth.is_cached("hk_one")  # expired: the next call queries the database


class InlineCore:
    """A stand-in core that admits on the loop when told the key is cached."""

    def __init__(self, tmp_path: Path, inline: bool) -> None:
        from types import SimpleNamespace

        from haste.settings import Settings
        from serving.config import RequestLimits

        self.inline = inline
        self.database_url = f"sqlite:///{tmp_path / 'haste.db'}"
        self.settings = Settings()
        self.config = SimpleNamespace(limits=RequestLimits())
        self.variants: dict[str, Any] = {"champion": None, "challenger": None}
        self.admitted_on: list[int] = []

    def admits_inline(self, headers: Any) -> bool:
        return self.inline

    def admit(self, headers: Any, permission: str) -> CallContext:
        if headers.get("x-api-key") != "hk_test":
            raise ApiError(401, "missing API key")
        self.admitted_on.append(threading.get_ident())
        return CallContext(Principal(None, None, None, "admin", None), uuid.uuid4().hex, False)


@pytest.mark.parametrize("inline", [True, False])
def test_a_cached_key_is_admitted_on_the_event_loop(tmp_path: Path, inline: bool) -> None:
    from serving.http import create_api

    core = InlineCore(tmp_path, inline)
    app = create_api(core)  # type: ignore[arg-type]
    loop_threads: list[int] = []

    @app.get("/probe")
    async def probe(context: Predict) -> dict:  # an async route runs on the loop's thread
        loop_threads.append(threading.get_ident())
        return {"request_id": context.request_id}

    with TestClient(app) as client:
        assert client.get("/probe").status_code == 401
        assert client.get("/probe", headers={"X-API-Key": "hk_test"}).status_code == 200
    assert (core.admitted_on == loop_threads) is inline
