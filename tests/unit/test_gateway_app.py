"""The gateway's FastAPI app: routers, admission as dependencies, one error model.

The app of :func:`serving.http.create_api` runs over a stand-in core (no Ray, no models): the
routers only talk to the core, so admission order, the error model and the OpenAPI schema can
be checked in-process.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from haste.settings import Settings
from serving.auth import ANONYMOUS
from serving.config import RequestLimits
from serving.errors import ApiError
from serving.gateway import CallContext
from serving.http import create_api

KEY = "hk_test"


class StubCore:
    """Admits only ``X-API-Key: hk_test``; answers churn and next actions without a model."""

    def __init__(self, tmp_path: Path) -> None:
        self.database_url = f"sqlite:///{tmp_path / 'haste.db'}"
        self.reports_dir = tmp_path / "reports"
        self.settings = Settings()
        self.config = SimpleNamespace(limits=RequestLimits(max_body_bytes=4096))
        self.admitted: list[str] = []
        self.variants = {"champion": None, "challenger": None}

    def admit(self, headers: Any, permission: str) -> CallContext:
        if headers.get("x-api-key") != KEY:
            raise ApiError(401, "missing API key: send it in the X-API-Key header")
        self.admitted.append(permission)
        return CallContext(ANONYMOUS, uuid.uuid4().hex, False)

    def admit_dashboard(self, headers: Any, query_key: str | None, cookie: str | None) -> None:
        if (query_key or cookie or headers.get("x-api-key")) != KEY:
            raise ApiError(401, "missing API key")

    def variant(self, model_name: str, subject: str) -> str:
        return "champion"

    def refuse(self, context: Any, feature: str, status: int, message: str, inputs: dict) -> Any:
        return ApiError(status, message)

    def call_model(self, context: Any, feature: str, inputs: dict, variant: str, *args: Any):
        return None  # unknown account/deal


@pytest.fixture()
def client(tmp_path: Path) -> TestClient:
    return TestClient(create_api(StubCore(tmp_path)))


def test_every_domain_router_is_mounted() -> None:
    paths = set(create_api().openapi()["paths"])
    assert {
        "/api/ai/health",
        "/api/ai/lead-score",
        "/api/ai/predictions/next-actions",
        "/api/ai/predictions/deal/{deal_id}",
        "/api/ai/predictions/account/{account_id}/churn-risk",
        "/api/ai/conversation/analyze",
        "/api/ai/search",
        "/api/ai/email/compose",
        "/api/ai/email/optimize-subject",
        "/api/ai/email/reply-suggestions",
        "/api/ai/usage",
        "/api/ai/feedback",
        "/dashboard",
        "/api/ai/dashboard",
        "/dashboard/reports/{path}",
        "/api/ai/events",
        "/api/ai/events/status",
        "/api/ai/webhooks",
        "/api/ai/webhooks/{webhook_id}",
        "/dashboard/live",
        "/api/ai/search/chat",
        "/api/ai/conversation/transcribe",
        "/api/ai/content/performance",
        "/api/ai/content/recommend",
        "/api/ai/content/personalize",
        "/api/ai/content/generate",
        "/api/ai/insights/executive-summary",
    } <= paths


def test_missing_key_is_401_before_the_body_is_validated(client: TestClient) -> None:
    response = client.post("/api/ai/lead-score", json={"contact_id": "not-a-uuid"})
    assert response.status_code == 401
    assert response.json() == {"detail": "missing API key: send it in the X-API-Key header"}


def test_invalid_body_is_422_with_the_error_model(client: TestClient) -> None:
    response = client.post(
        "/api/ai/lead-score", json={"contact_id": "not-a-uuid"}, headers={"X-API-Key": KEY}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["detail"].startswith("invalid request: contact_id")
    assert body["errors"][0]["field"] == "contact_id"


def test_refusals_use_the_same_error_model(client: TestClient) -> None:
    response = client.get(
        "/api/ai/predictions/account/NOPE-1/churn-risk", headers={"X-API-Key": KEY}
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "account NOPE-1 not found"}


def test_each_route_asks_for_its_permission(client: TestClient, tmp_path: Path) -> None:
    core = client.app.state.core
    client.get("/api/ai/predictions/deal/D1", headers={"X-API-Key": KEY})
    client.post("/api/ai/search", json={"query": ""}, headers={"X-API-Key": KEY})
    client.get("/api/ai/usage?days=0", headers={"X-API-Key": KEY})
    assert core.admitted == ["predict", "search", "usage"]


def test_openapi_documents_the_error_statuses() -> None:
    operation = create_api().openapi()["paths"]["/api/ai/lead-score"]["post"]
    for status in ("400", "401", "403", "404", "409", "413", "422", "429", "503"):
        assert status in operation["responses"], status
    schema = operation["responses"]["422"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/ErrorResponse")


def test_dashboard_needs_a_key_and_reports_are_confined(client: TestClient) -> None:
    assert client.get("/api/ai/dashboard").status_code == 401
    response = client.get(f"/dashboard/reports/../../etc/passwd?api_key={KEY}")
    assert response.status_code == 404


def test_bodies_over_the_limit_are_413_declared_or_streamed(client: TestClient) -> None:
    big = b'{"query": "' + b"a" * 10_000 + b'"}'
    declared = client.post(
        "/api/ai/search",
        content=big,
        headers={"X-API-Key": KEY, "Content-Type": "application/json"},
    )
    assert declared.status_code == 413
    assert "4096 bytes" in declared.json()["detail"]

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(10):
            yield b"a" * 1000

    streamed = client.post(
        "/api/ai/search",
        content=chunks(),
        headers={"X-API-Key": KEY, "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413


def test_a_database_that_is_down_is_503_with_retry_after(client: TestClient) -> None:
    core = client.app.state.core
    core.database_url = "postgresql+psycopg://postgres@127.0.0.1:1/haste?connect_timeout=2"
    response = client.post(
        "/api/ai/feedback", json={"request_id": "r1", "score": 4}, headers={"X-API-Key": KEY}
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "database is unavailable" in response.json()["detail"]


def test_schema_states_what_the_service_refuses() -> None:
    schema = create_api().openapi()
    components = schema["components"]["schemas"]
    assert components["EmailReplyRequest"]["properties"]["n"]["maximum"] == 4
    usage = schema["paths"]["/api/ai/usage"]["get"]["parameters"]
    by = next(p for p in usage if p["name"] == "by")["schema"]
    assert set(by["enum"]) == {"user", "team", "feature", "provider", "variant", "model"}
    transcript = components["ConversationAnalyzeRequest"]["properties"]["transcript"]["anyOf"]
    assert transcript[0]["minLength"] == 1 and transcript[0]["pattern"]
    assert transcript[1]["minItems"] == 1
    sent_at = components["PreviousEmail"]["properties"]["sent_at"]["anyOf"][0]
    assert sent_at["format"] == "date-time"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_body_bytes": 0}, "positive"),
        ({"nope": 1}, "unknown"),
        ({"job_budget_s": True}, "positive"),
    ],
)
def test_request_limits_refuse_bad_values(values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RequestLimits.from_mapping(values)


def test_serve_yaml_limits_are_loaded() -> None:
    from serving.config import load_request_limits

    limits = load_request_limits()
    assert limits.max_body_bytes == 262_144
    assert limits.sync_transcript_chars < 200_000  # MAX_TRANSCRIPT_CHARS: long ones are jobs


def test_405_lists_every_method_of_the_path_in_allow() -> None:
    client = TestClient(create_api())
    assert client.options("/api/ai/webhooks").headers["allow"] == "GET, POST"
    assert client.delete("/api/ai/events").headers["allow"] == "POST"
