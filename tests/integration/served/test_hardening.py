"""API hardening on the served platform: replay bound to its caller, ids checked at the edge,
bounded work (413, jobs), feedback authorisation, Redis failing cleanly, metrics and JSON logs.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from haste.settings import Settings
from tests.support.platform import PrivateRedis, interactions, new_key

Platform = tuple[Settings, list[dict[str, Any]]]


def _contacts(platform: Platform) -> list[str]:
    _, (first, *_) = platform
    return list(first["held_out_contacts"][10:20])


def test_replay_is_bound_to_caller_endpoint_and_body(api: httpx.Client, platform) -> None:
    settings, _ = platform
    one, two = _contacts(platform)[:2]
    rep = {"X-API-Key": new_key(settings, "rep")}
    request_id = uuid.uuid4().hex
    sent = {"X-Request-ID": request_id}
    first = api.post("/api/ai/lead-score", json={"contact_id": one}, headers=sent)
    replay = api.post("/api/ai/lead-score", json={"contact_id": one}, headers=sent)
    assert first.status_code == replay.status_code == 200
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    # Another caller choosing the same id gets its own answer, never the first caller's.
    other = api.post("/api/ai/lead-score", json={"contact_id": two}, headers={**rep, **sent}).json()
    assert other["contact_id"] == two
    # The same caller reusing the id for another body or endpoint: 422, not a 500.
    for path, body in (
        ("/api/ai/lead-score", {"contact_id": two}),
        ("/api/ai/search", {"query": "acme"}),
    ):
        reused = api.post(path, json=body, headers=sent)
        assert reused.status_code == 422, reused.text
        assert "already used" in reused.json()["detail"]
    rows = interactions(settings, request_id=request_id)
    assert len(rows) == 2  # one per caller: the replay recorded nothing
    assert len({row.api_key_id for row in rows}) == 2


def test_unknown_or_malformed_ids_on_text_endpoints_are_4xx_and_recorded(
    api: httpx.Client, platform
) -> None:
    settings, _ = platform
    unknown = str(uuid.uuid4())
    calls = {
        "/api/ai/email/optimize-subject": {"subject": "Quick question", "contact_id": unknown},
        "/api/ai/email/reply-suggestions": {"email": "Can we meet?", "contact_id": unknown},
        "/api/ai/conversation/analyze": {
            "transcript": "Rep: hi\nAda: hello",
            "contact_id": unknown,
        },
        "/api/ai/email/compose": {
            "context": {
                "recipient": {"first_name": "Ada", "contact_id": unknown},
                "sender_name": "Sam",
            }
        },
    }
    for path, body in calls.items():
        request_id = uuid.uuid4().hex
        response = api.post(path, json=body, headers={"X-Request-ID": request_id})
        assert response.status_code == 404, (path, response.text)
        assert unknown in response.json()["detail"]
        (row,) = interactions(settings, request_id=request_id)
        assert row.error_message.startswith("404")
    malformed = api.post(
        "/api/ai/email/compose",
        json={
            "context": {
                "recipient": {"first_name": "Ada", "contact_id": "not-a-uuid"},
                "sender_name": "Sam",
            }
        },
    )
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "context.recipient.contact_id"


def test_oversized_bodies_are_413_before_they_are_read(api: httpx.Client) -> None:
    big = b'{"query": "' + b"a" * 2_000_000 + b'"}'
    response = api.post("/api/ai/search", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "max_body_bytes" in response.json()["detail"]


def test_long_transcript_is_a_job_others_cannot_read(api: httpx.Client, platform) -> None:
    settings, _ = platform
    turns = [
        f"{'Rep' if i % 2 else 'Ada'}: we went over pricing, onboarding step {i} and the next call."
        for i in range(400)
    ]
    transcript = "\n".join(turns)
    assert len(transcript) > 20_000  # limits.sync_transcript_chars
    accepted = api.post("/api/ai/conversation/analyze", json={"transcript": transcript})
    assert accepted.status_code == 202, accepted.text
    status_url = accepted.json()["status_url"]
    assert accepted.headers["Location"] == status_url
    started = time.monotonic()
    search = api.post("/api/ai/search", json={"query": "pricing questions"})
    assert search.status_code == 200  # interactive calls are not queued behind the job
    assert time.monotonic() - started < 10
    stranger = api.get(status_url, headers={"X-API-Key": new_key(settings, "rep")})
    assert stranger.status_code == 404
    for _ in range(120):
        job = api.get(status_url).json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(1)
    assert job["status"] == "succeeded", job
    assert job["result"]["summary"] and job["result"]["insight_id"]
    request_id = accepted.json()["request_id"]
    (row,) = interactions(settings, request_id=request_id)
    assert row.feature == "conversation_analyze" and row.error_message is None


def test_feedback_is_limited_to_own_calls_unless_manager(api: httpx.Client, platform) -> None:
    settings, _ = platform
    request_id = uuid.uuid4().hex
    api.post(
        "/api/ai/email/optimize-subject",
        json={"subject": "Hello"},
        headers={"X-Request-ID": request_id},
    )
    stranger = {"X-API-Key": new_key(settings, "rep")}
    refused = api.post(
        "/api/ai/feedback", json={"request_id": request_id, "score": 1}, headers=stranger
    )
    assert refused.status_code == 404
    assert interactions(settings, request_id=request_id)[0].feedback_score is None
    own = api.post("/api/ai/feedback", json={"request_id": request_id, "score": 5})
    assert own.status_code == 200
    assert interactions(settings, request_id=request_id)[0].feedback_score == 5


def test_redis_stopped_mid_load_degrades_without_5xx_and_recovers(
    api: httpx.Client, platform, redis_server: PrivateRedis
) -> None:
    contacts = _contacts(platform)

    def call(n: int) -> tuple[int, float]:
        started = time.monotonic()
        response = api.post("/api/ai/lead-score", json={"contact_id": contacts[n % len(contacts)]})
        return response.status_code, time.monotonic() - started

    before = [call(n) for n in range(5)]
    redis_server.stop()
    try:
        during = [call(n) for n in range(10)]
    finally:
        redis_server.start()
    time.sleep(6)  # the Redis back-off
    after = [call(n) for n in range(10)]
    for status, seconds in before + during + after:
        assert status == 200 and seconds < 10
    client = redis.Redis.from_url(redis_server.url)
    assert client.keys("haste:ratelimit*"), "the limiter went back to Redis"


def _metric_lines(settings: Settings, name: str) -> list[str]:
    text = httpx.get(f"http://127.0.0.1:{settings.metrics_port}/metrics", timeout=5).text
    return [line for line in text.splitlines() if line.startswith(name)]


def test_gateway_metrics_reach_rays_prometheus_endpoint(api: httpx.Client, platform) -> None:
    settings, _ = platform
    contact = _contacts(platform)[0]
    assert api.post("/api/ai/lead-score", json={"contact_id": contact}).status_code == 200
    deadline = time.monotonic() + 90
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = [
            line
            for line in _metric_lines(settings, "ray_haste_requests_total")
            if 'endpoint="/api/ai/lead-score"' in line and 'status="200"' in line
        ]
        if lines:
            break
        time.sleep(3)
    assert lines, "ray_haste_requests_total not exported"
    assert any('variant="champion"' in line and 'model_version="' in line for line in lines)
    assert _metric_lines(settings, "ray_haste_request_latency_ms_bucket")


def test_logs_are_json_lines_carrying_the_request_id(api: httpx.Client) -> None:
    import ray

    request_id = uuid.uuid4().hex
    assert (
        api.post(
            "/api/ai/search", json={"query": "acme"}, headers={"X-Request-ID": request_id}
        ).status_code
        == 200
    )
    logs = Path(ray._private.worker._global_node.get_logs_dir_path()) / "serve"
    deadline = time.monotonic() + 30
    found: list[dict[str, Any]] = []
    deployments = ""
    # Each replica flushes its own log file: wait until both the ingress and the text
    # replica have written their line (either may land first).
    while time.monotonic() < deadline:
        found = [
            json.loads(line)
            for path in logs.glob("replica_*.log")
            for line in path.read_text(errors="replace").splitlines()
            if request_id in line and line.startswith("{")
        ]
        deployments = " ".join(str(entry.get("deployment")) for entry in found)
        if "AIGateway" in deployments and "TextAI" in deployments:
            break
        time.sleep(1)
    assert found, "no log line carries the request id"
    assert {entry["request_id"] for entry in found} == {request_id}
    assert "AIGateway" in deployments and "TextAI" in deployments  # ingress -> text replica


@pytest.mark.parametrize("by", ["", "nope"])
def test_usage_refuses_values_the_schema_does_not_allow(api: httpx.Client, by: str) -> None:
    response = api.get(f"/api/ai/usage?by={by}")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "by"
