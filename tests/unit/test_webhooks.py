"""Webhooks of score changes: signatures, queueing, signed deliveries with retries, the routes.

Deliveries go to a real HTTP receiver (a tiny Starlette app under uvicorn in a thread) that
records every request and can be told to fail; time is stepped with ``now=`` instead of
sleeping through the backoff.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from haste.db import (
    Webhook,
    WebhookDelivery,
    session_scope,
)
from serving.auth import Principal
from serving.errors import ApiError, install_error_handlers
from serving.gateway import CallContext
from streaming.changes import change_message
from streaming.config import WebhookConfig
from streaming.webhooks import (
    WEBHOOK_EVENT,
    WebhookDispatcher,
    delete_webhook,
    deliver_due,
    enqueue_deliveries,
    list_webhooks,
    register_webhook,
    serialise_payload,
    sign_payload,
    validate_webhook_url,
    verify_signature,
)
from tests.support.asgi_server import free_port, serve_in_thread
from tests.support.dashboard_seed import add_score_change

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
CONFIG = WebhookConfig(max_attempts=3, backoff_s=1.0, backoff_max_s=60.0, timeout_s=2.0)


@dataclass
class Receiver:
    """Records POSTs; answers ``fail_status`` to the next ``failures`` (to ``fail_path``)."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    failures: int = 0
    fail_status: int = 500
    fail_path: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            fail = self.failures > 0 and self.fail_path in (None, request.url.path)
            if fail:
                self.failures -= 1
            self.requests.append(
                {"path": request.url.path, "headers": dict(request.headers), "body": body}
            )
        if fail:
            return Response(f"receiver down ({self.fail_status})", status_code=self.fail_status)
        return Response(status_code=204)

    def reset(self, failures: int = 0, fail_status: int = 500, path: str | None = None) -> None:
        with self.lock:
            self.requests.clear()
            self.failures = failures
            self.fail_status = fail_status
            self.fail_path = path


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()
    app = Starlette(routes=[Route("/hooks/{name}", state.endpoint, methods=["POST"])])
    with serve_in_thread(app, "webhook receiver") as port:
        yield state, f"http://127.0.0.1:{port}"


@pytest.fixture()
def hooks(receiver: tuple[Receiver, str]) -> Iterator[tuple[Receiver, str]]:
    state, base = receiver
    state.reset()
    yield state, base
    state.reset()


def _message(url: str, **kwargs: Any) -> dict[str, Any]:
    """A committed band crossing's change message."""
    return change_message(add_score_change(url, **kwargs))


def _deliver(url: str, now: dt.datetime, config: WebhookConfig = CONFIG) -> dict[str, int]:
    async def run() -> dict[str, int]:
        async with httpx.AsyncClient() as client:
            return await deliver_due(url, config, client, now=now)

    return asyncio.run(run())


def _deliveries(url: str) -> list[WebhookDelivery]:
    with session_scope(url) as session:
        rows = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)).all()
        session.expunge_all()
        return list(rows)


# --- signatures ------------------------------------------------------------------------------


def test_signature_matches_a_known_vector() -> None:
    body = b'{"type":"lead_score.changed","score":73}'
    # printf '1700000000.<body>' | openssl dgst -sha256 -hmac whsec_test_secret
    expected = "sha256=388dfd32ecc0632892ca8350ed67f791936023f791d1ba56e98b83178f69a14a"
    assert sign_payload("whsec_test_secret", "1700000000", body) == expected
    assert verify_signature("whsec_test_secret", "1700000000", body, expected)


def test_tampered_deliveries_do_not_verify() -> None:
    body = serialise_payload({"type": WEBHOOK_EVENT, "score": 73})
    signature = sign_payload("s" * 32, "1700000000", body)
    assert verify_signature("s" * 32, "1700000000", body, signature)
    assert not verify_signature("s" * 32, "1700000000", body.replace(b"73", b"74"), signature)
    assert not verify_signature("s" * 32, "1700000001", body, signature)
    assert not verify_signature("t" * 32, "1700000000", body, signature)
    assert not verify_signature("s" * 32, "1700000000", body, signature.upper())
    assert not verify_signature("s" * 32, "1700000000", body, "")


def test_backoff_doubles_up_to_its_ceiling() -> None:
    config = WebhookConfig(backoff_s=1.0, backoff_max_s=20.0)
    assert [config.backoff(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 20, 20]
    assert WebhookConfig().backoff(0) == 1.0


# --- registration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("ftp://example.com/hook", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("http:///path-only", "no host"),
        ("https://exa mple.com/", "blanks"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http://[::1/", "not a valid URL"),
        ("https://example.com/" + "a" * 2000, "longer than 2000"),
    ],
)
def test_unusable_urls_are_refused_with_a_reason(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_webhook_url(url)


def test_registration_returns_the_secret_once(db_url: str) -> None:
    assert validate_webhook_url(" https://crm.example.com:8443/hooks?x=1 ").startswith("https")
    hook = register_webhook(db_url, "key-a", "https://crm.example.com/hooks")
    assert len(hook["secret"]) >= 40 and hook["active"] is True
    assert uuid.UUID(hook["id"]) and hook["created_at"].endswith("+00:00")
    chosen = register_webhook(db_url, "key-a", "http://10.0.0.5/h", secret="x" * 16)
    assert chosen["secret"] == "x" * 16
    with pytest.raises(ValueError, match="16 to 128"):
        register_webhook(db_url, "key-a", "http://10.0.0.5/h", secret="short")
    with pytest.raises(ValueError, match="http:// or https://"):
        register_webhook(db_url, "key-a", "javascript:alert(1)")
    listed = list_webhooks(db_url, "key-a")
    assert [h["id"] for h in listed] == [hook["id"], chosen["id"]]
    assert all("secret" not in h for h in listed)
    assert listed[0] | {"delivered": 0, "pending": 0, "failed": 0} == listed[0]
    assert list_webhooks(db_url, "key-b") == []


def test_only_the_registering_scope_deletes(db_url: str) -> None:
    hook = register_webhook(db_url, "key-a", "https://crm.example.com/hooks")
    enqueue_deliveries(db_url, _message(db_url))
    assert not delete_webhook(db_url, "key-b", hook["id"])
    assert not delete_webhook(db_url, "key-a", "not-a-uuid")
    assert not delete_webhook(db_url, "key-a", uuid.uuid4())
    assert delete_webhook(db_url, "key-a", hook["id"])
    assert list_webhooks(db_url, "key-a") == [] and _deliveries(db_url) == []
    assert not delete_webhook(db_url, "key-a", hook["id"])


# --- queueing --------------------------------------------------------------------------------


def test_a_band_crossing_is_queued_once_per_active_hook(db_url: str) -> None:
    first = register_webhook(db_url, "key-a", "https://a.example.com/h")
    register_webhook(db_url, "key-b", "https://b.example.com/h")
    paused = register_webhook(db_url, "key-b", "https://c.example.com/h")
    with session_scope(db_url) as session:
        session.execute(
            update(Webhook).where(Webhook.id == uuid.UUID(paused["id"])).values(active=False)
        )
    message = _message(db_url)
    assert enqueue_deliveries(db_url, message, now=T0) == 2
    assert enqueue_deliveries(db_url, message, now=T0) == 0  # the broker redelivered it
    assert enqueue_deliveries(db_url, dict(message), now=T0 + dt.timedelta(seconds=5)) == 0
    rows = _deliveries(db_url)
    assert len(rows) == 2
    assert {row.status for row in rows} == {"pending"} and {row.attempts for row in rows} == {0}
    assert all(row.payload == message for row in rows)
    assert {str(row.change_id) for row in rows} == {message["change_id"]}
    # a hook registered later gets the next crossings, and the old one only once
    register_webhook(db_url, "key-c", "https://d.example.com/h")
    assert enqueue_deliveries(db_url, message) == 1
    assert enqueue_deliveries(db_url, _message(db_url, previous_score=70, score=35)) == 3
    # a change within its band is not delivered
    within = _message(db_url, previous_score=41, score=45)
    assert within["band_crossed"] is False
    assert enqueue_deliveries(db_url, within) == 0
    with pytest.raises(ValueError, match="change_id"):
        enqueue_deliveries(db_url, {"band_crossed": True})
    assert list_webhooks(db_url, "key-a")[0]["pending"] == 2
    assert first["id"] == list_webhooks(db_url, "key-a")[0]["id"]


# --- delivery --------------------------------------------------------------------------------


def test_a_2xx_delivers_once_with_a_verifiable_signature(db_url: str, hooks) -> None:
    receiver, base = hooks
    hook = register_webhook(db_url, "key-a", f"{base}/hooks/a")
    message = _message(db_url)
    enqueue_deliveries(db_url, message, now=T0)
    assert _deliver(db_url, T0) == {"delivered": 1, "retried": 0, "failed": 0}
    assert _deliver(db_url, T0 + dt.timedelta(hours=1)) == {
        "delivered": 0,
        "retried": 0,
        "failed": 0,
    }
    enqueue_deliveries(db_url, message, now=T0)  # redelivered message: nothing new
    assert _deliver(db_url, T0 + dt.timedelta(hours=2))["delivered"] == 0

    (request,) = receiver.requests
    headers = request["headers"]
    assert request["path"] == "/hooks/a"
    assert headers["content-type"] == "application/json"
    assert headers["x-haste-event"] == "lead_score.changed"
    assert verify_signature(
        hook["secret"], headers["x-haste-timestamp"], request["body"], headers["x-haste-signature"]
    )
    assert json.loads(request["body"]) == message
    (row,) = _deliveries(db_url)
    assert headers["x-haste-delivery"] == str(row.id)
    assert row.status == "delivered" and row.attempts == 1 and row.last_status_code == 204
    assert row.delivered_at is not None and row.last_error is None
    (listed,) = list_webhooks(db_url, "key-a", CONFIG)
    assert (listed["delivered"], listed["pending"], listed["failed"]) == (1, 0, 0)
    assert listed["last_status_code"] == 204 and listed["last_error"] is None
    assert listed["last_attempt_at"] == T0.isoformat()


def test_failures_are_retried_with_backoff_then_delivered(db_url: str, hooks) -> None:
    receiver, base = hooks
    hook = register_webhook(db_url, "key-a", f"{base}/hooks/a")
    receiver.reset(failures=2, fail_status=502)
    enqueue_deliveries(db_url, _message(db_url), now=T0)

    assert _deliver(db_url, T0) == {"delivered": 0, "retried": 1, "failed": 0}
    (row,) = _deliveries(db_url)
    assert row.attempts == 1 and row.last_status_code == 502
    assert row.last_error == "HTTP 502: receiver down (502)"
    (listed,) = list_webhooks(db_url, "key-a", CONFIG)
    assert listed["pending"] == 1 and listed["last_status_code"] == 502
    assert listed["last_attempt_at"] == T0.isoformat()
    assert listed["next_attempt_at"] == (T0 + dt.timedelta(seconds=1)).isoformat()

    # not due before the backoff (1 s, then 2 s)
    assert sum(_deliver(db_url, T0 + dt.timedelta(seconds=0.5)).values()) == 0
    assert _deliver(db_url, T0 + dt.timedelta(seconds=1))["retried"] == 1
    assert sum(_deliver(db_url, T0 + dt.timedelta(seconds=2.5)).values()) == 0
    assert _deliver(db_url, T0 + dt.timedelta(seconds=3))["delivered"] == 1

    assert len(receiver.requests) == 3
    ids = {r["headers"]["x-haste-delivery"] for r in receiver.requests}
    assert len(ids) == 1  # one delivery, three attempts
    assert len({r["body"] for r in receiver.requests}) == 1
    for request in receiver.requests:
        headers = request["headers"]
        assert verify_signature(
            hook["secret"],
            headers["x-haste-timestamp"],
            request["body"],
            headers["x-haste-signature"],
        )
    (row,) = _deliveries(db_url)
    assert row.status == "delivered" and row.attempts == 3 and row.last_error is None


def test_after_max_attempts_the_failure_is_visible(db_url: str, hooks) -> None:
    receiver, base = hooks
    register_webhook(db_url, "key-a", f"{base}/hooks/down")
    receiver.reset(failures=100, fail_status=503)
    enqueue_deliveries(db_url, _message(db_url), now=T0)
    outcomes = [_deliver(db_url, T0 + dt.timedelta(seconds=s)) for s in (0, 1, 3, 7, 60)]
    assert [o["retried"] for o in outcomes] == [1, 1, 0, 0, 0]
    assert [o["failed"] for o in outcomes] == [0, 0, 1, 0, 0]
    assert len(receiver.requests) == CONFIG.max_attempts
    (row,) = _deliveries(db_url)
    assert row.status == "failed" and row.attempts == 3 and row.delivered_at is None
    (listed,) = list_webhooks(db_url, "key-a", CONFIG)
    assert (listed["delivered"], listed["pending"], listed["failed"]) == (0, 0, 1)
    assert listed["last_status_code"] == 503
    assert listed["last_error"] == "HTTP 503: receiver down (503)"
    assert listed["last_attempt_at"] == (T0 + dt.timedelta(seconds=3)).isoformat()
    assert listed["next_attempt_at"] is None


def test_network_errors_are_retried_and_recorded(db_url: str) -> None:
    register_webhook(db_url, "key-a", f"http://127.0.0.1:{free_port()}/nobody-listens")
    enqueue_deliveries(db_url, _message(db_url), now=T0)
    assert _deliver(db_url, T0)["retried"] == 1
    (listed,) = list_webhooks(db_url, "key-a", CONFIG)
    assert listed["last_status_code"] is None
    assert listed["last_error"].startswith("ConnectError")


def test_one_hooks_deliveries_keep_their_order(db_url: str, hooks) -> None:
    receiver, base = hooks
    register_webhook(db_url, "key-a", f"{base}/hooks/ordered")
    register_webhook(db_url, "key-b", f"{base}/hooks/other")
    first, second = _message(db_url), _message(db_url, previous_score=75, score=30)
    enqueue_deliveries(db_url, first, now=T0)
    enqueue_deliveries(db_url, second, now=T0 + dt.timedelta(milliseconds=1))
    receiver.reset(failures=1, path="/hooks/ordered")  # its first POST fails
    later = T0 + dt.timedelta(seconds=0.1)

    counts = _deliver(db_url, later)
    # one hook's first delivery failed: its second waits; the other hook got both
    assert counts == {"delivered": 2, "retried": 1, "failed": 0}
    assert sum(_deliver(db_url, later + dt.timedelta(seconds=0.5)).values()) == 0
    assert _deliver(db_url, later + dt.timedelta(seconds=1))["delivered"] == 2

    def changes(path: str) -> list[str]:
        return [json.loads(r["body"])["change_id"] for r in receiver.requests if r["path"] == path]

    assert changes("/hooks/other") == [first["change_id"], second["change_id"]]
    ordered = changes("/hooks/ordered")
    assert ordered[-2:] == [first["change_id"], second["change_id"]]
    assert ordered.count(first["change_id"]) == 2 and ordered.count(second["change_id"]) == 1


def test_a_picked_delivery_is_leased(db_url: str, hooks) -> None:
    receiver, base = hooks
    register_webhook(db_url, "key-a", f"{base}/hooks/a")
    enqueue_deliveries(db_url, _message(db_url), now=T0)
    # a dispatcher that died after picking it: the lease holds it back, then it is due again
    from streaming.webhooks import claim_due_deliveries

    assert len(claim_due_deliveries(db_url, T0, 10, CONFIG.timeout_s)) == 1
    assert claim_due_deliveries(db_url, T0, 10, CONFIG.timeout_s) == []
    assert sum(_deliver(db_url, T0 + dt.timedelta(seconds=5)).values()) == 0
    assert _deliver(db_url, T0 + dt.timedelta(minutes=5))["delivered"] == 1
    assert len(receiver.requests) == 1


def test_the_dispatcher_delivers_until_stopped(db_url: str, hooks, caplog) -> None:
    receiver, base = hooks
    register_webhook(db_url, "key-a", f"{base}/hooks/a")
    receiver.reset(failures=1)
    config = WebhookConfig(max_attempts=3, backoff_s=0.2, backoff_max_s=1.0, timeout_s=2.0)

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(WebhookDispatcher(db_url, config).run(stop, poll_s=0.05))
        await asyncio.to_thread(enqueue_deliveries, db_url, _message(db_url))
        for _ in range(200):
            if any(
                row.status == "delivered" for row in await asyncio.to_thread(_deliveries, db_url)
            ):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, timeout=5)

    with caplog.at_level("WARNING", logger="haste.streaming"):
        asyncio.run(run())
    (row,) = _deliveries(db_url)
    assert row.status == "delivered" and row.attempts == 2
    assert len(receiver.requests) == 2
    failures = [r for r in caplog.records if r.name == "haste.streaming"]
    assert len(failures) == 1 and "will be retried" in failures[0].getMessage()


# --- routes ----------------------------------------------------------------------------------


class StubCore:
    """Admits ``X-API-Key: key-a`` / ``key-b`` as two different keys of role rep."""

    def __init__(self, url: str) -> None:
        self.database_url = url
        self.keys = {name: uuid.uuid4() for name in ("key-a", "key-b")}

    def admit(self, headers: Any, permission: str) -> CallContext:
        key = self.keys.get(headers.get("x-api-key", ""))
        if key is None:
            raise ApiError(401, "missing API key")
        assert permission == "predict"
        principal = Principal(key, None, None, "rep", None)
        return CallContext(principal, uuid.uuid4().hex, False)


@pytest.fixture()
def api(db_url: str) -> TestClient:
    from serving.routes import webhooks

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(webhooks.router)
    app.state.core = StubCore(db_url)
    return TestClient(app)


def test_routes_register_list_and_delete_per_key(api: TestClient, db_url: str) -> None:
    a, b = {"X-API-Key": "key-a"}, {"X-API-Key": "key-b"}
    assert api.get("/api/ai/webhooks").status_code == 401
    created = api.post("/api/ai/webhooks", json={"url": "https://crm.example.com/h"}, headers=a)
    assert created.status_code == 201, created.text
    hook = created.json()
    assert set(hook) == {"id", "url", "secret", "active", "created_at"} and hook["secret"]

    bad = api.post("/api/ai/webhooks", json={"url": "ftp://crm.example.com/h"}, headers=a)
    assert bad.status_code == 422 and "url" in bad.json()["detail"]
    long = api.post("/api/ai/webhooks", json={"url": "https://x.io/" + "a" * 2000}, headers=a)
    assert long.status_code == 422
    short = api.post("/api/ai/webhooks", json={"url": "https://x.io/", "secret": "s"}, headers=a)
    assert short.status_code == 422

    enqueue_deliveries(db_url, _message(db_url))
    listed = api.get("/api/ai/webhooks", headers=a).json()["webhooks"]
    assert [h["id"] for h in listed] == [hook["id"]]
    assert listed[0]["pending"] == 1 and "secret" not in listed[0]
    assert api.get("/api/ai/webhooks", headers=b).json() == {"webhooks": []}

    path = f"/api/ai/webhooks/{hook['id']}"
    assert api.delete(path, headers=b).status_code == 404  # another key's hook
    assert api.delete("/api/ai/webhooks/nope", headers=a).status_code == 404
    gone = api.delete(path, headers=a)
    assert gone.status_code == 204 and gone.content == b""
    assert api.delete(path, headers=a).status_code == 404
    assert api.get("/api/ai/webhooks", headers=a).json() == {"webhooks": []}
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_the_schema_pattern_of_urls_admits_only_what_the_validator_accepts() -> None:
    import re

    from serving.routes.webhooks import WEBHOOK_URL_PATTERN

    for url in ("http://127.0.0.1:43521/hook", "HTTPS://a.b:65535/x?y=1", "http://h:0", "http://-"):
        assert re.fullmatch(WEBHOOK_URL_PATTERN, url), url
        assert validate_webhook_url(url) == url
    for url in ("http://h:65536", "http://h:99999", "ftp://h", "http://", "http://h /x"):
        assert not re.fullmatch(WEBHOOK_URL_PATTERN, url), url


def test_claims_go_round_robin_so_a_backlog_never_starves_another_webhook(db_url: str) -> None:
    from streaming.webhooks import claim_due_deliveries

    busy = [register_webhook(db_url, "key-a", f"https://busy{i}.example.com/h") for i in range(5)]
    for _ in range(6):  # 6 crossings x 5 busy hooks = 30 deliveries queued before the quiet one
        enqueue_deliveries(db_url, _message(db_url), now=T0)
    quiet = register_webhook(db_url, "key-b", "https://quiet.example.com/h")
    enqueue_deliveries(db_url, _message(db_url), now=T0 + dt.timedelta(seconds=1))
    picked = claim_due_deliveries(db_url, T0 + dt.timedelta(seconds=2), limit=8, timeout_s=1.0)
    hooks = [str(d.webhook_id) for d in picked]
    assert quiet["id"] in hooks[:6]  # first round: each webhook's oldest delivery
    in_flight = {uuid.UUID(h["id"]) for h in busy}
    again = claim_due_deliveries(
        db_url, T0 + dt.timedelta(seconds=2), limit=8, timeout_s=1.0, exclude=in_flight
    )
    assert all(d.webhook_id not in in_flight for d in again)
