"""``POST /api/ai/lead-score/{contact_id}/what-if`` over a stand-in core (no Ray, no models).

The route's refusals (404 unknown contact, 422 immutable or unknown ``vary``, 403 without
consent), the answer's shape and its audit record are checked in-process; the search itself
is covered by ``test_counterfactuals.py``.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from haste.db.models import AIInteraction
from haste.db.session import session_scope
from haste.settings import Settings
from serving.auth import ANONYMOUS
from serving.config import RequestLimits
from serving.errors import ApiError
from serving.gateway import CallContext
from serving.http import create_api
from serving.lookup import FoundContact

KEY = "hk_test"
KNOWN = uuid.UUID("7927b2df-8bba-4d29-b9a2-b6e0beafe620")
REFUSED = uuid.UUID("2a272436-5132-4136-86fa-dcc88c88f482")
PAYLOAD = {
    "contact_id": str(KNOWN),
    "current_score": 45,
    "band": "warm",
    "target_band": "hot",
    "already_in_target": False,
    "counterfactuals": [
        {
            "changes": [
                {
                    "feature": "Total Time Spent on Website",
                    "from": 310,
                    "to": 1250,
                    "text": "time on the website: 310 -> 1,250 s",
                }
            ],
            "score": 72,
            "probability": 0.7213,
            "band": "hot",
            "distance": 0.51,
        }
    ],
    "varied": ["Total Time Spent on Website"],
    "validity": 0.3333,
    "model_name": "lead_scoring",
    "model_version": "3",
}


class StubCore:
    """Knows one lead-profile contact; a second one refused AI processing."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.settings = Settings()
        self.config = SimpleNamespace(limits=RequestLimits())
        self.variants = {"champion": None, "challenger": None}
        self.calls: list[tuple] = []
        self.lookup = SimpleNamespace(find=self.find)

    def admit(self, headers: Any, permission: str) -> CallContext:
        if headers.get("x-api-key") != KEY:
            raise ApiError(401, "missing API key")
        return CallContext(ANONYMOUS, uuid.uuid4().hex, False)

    def find(self, key: str) -> FoundContact | None:
        if key == str(KNOWN):
            return FoundContact("lead_scoring", {"TotalVisits": 2.0}, "lead_profile")
        return None

    def require_consent(self, context: Any, feature: str, contact_id: uuid.UUID) -> bool:
        if contact_id == REFUSED:
            raise ApiError(403, f"contact {contact_id} has not consented to AI processing")
        return True

    def variant(self, model_name: str, subject: str) -> str:
        return "champion"

    def refuse(self, context: Any, feature: str, status: int, message: str, inputs: dict):
        self.calls.append(("refuse", feature, status))
        return ApiError(status, message)

    def call_model(self, context: Any, feature: str, inputs: dict, variant: str, *args: Any):
        self.calls.append(args)
        return dict(PAYLOAD)


@pytest.fixture()
def client(db_url: str) -> TestClient:
    return TestClient(create_api(StubCore(db_url)))


def _post(client: TestClient, contact: uuid.UUID | str, body: dict | None = None):
    return client.post(
        f"/api/ai/lead-score/{contact}/what-if", json=body or {}, headers={"X-API-Key": KEY}
    )


def test_answers_counterfactuals_and_records_the_call(client: TestClient, db_url: str) -> None:
    response = _post(client, KNOWN, {"k": 2, "vary": ["Total Time Spent on Website"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["counterfactuals"][0]["changes"][0]["from"] == 310
    assert body["counterfactuals"][0]["score"] >= 70
    assert body["variant"] == "champion" and body["model_version"] == "3"
    call = client.app.state.core.calls[-1]
    assert call[0] == "what_if" and call[1] == "lead_scoring"
    assert call[-3:] == ("hot", 2, ["Total Time Spent on Website"])
    with session_scope(db_url) as session:
        rows = session.execute(
            select(AIInteraction.input_data, AIInteraction.output_data).where(
                AIInteraction.feature == "lead_what_if"
            )
        ).all()
    assert len(rows) == 1
    inputs, outputs = rows[0]
    assert inputs["vary"] == ["Total Time Spent on Website"] and inputs["k"] == 2
    assert outputs["counterfactuals"][0]["score"] == 72


def test_unknown_contact_is_404(client: TestClient) -> None:
    response = _post(client, uuid.uuid4())
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


def test_contact_without_consent_is_403(client: TestClient) -> None:
    assert _post(client, REFUSED).status_code == 403


@pytest.mark.parametrize(
    ("vary", "words"),
    [
        (["Country"], "'Country' is immutable: geography"),
        (["Lead Source"], "'Lead Source' is immutable: acquisition source"),
        (["Do Not Email"], "consent preference"),
        (["Lead Number"], "'Lead Number' is not an actionable feature of lead_scoring"),
    ],
)
def test_vary_naming_a_frozen_feature_is_422(client: TestClient, vary: list, words: str) -> None:
    response = _post(client, KNOWN, {"vary": vary})
    assert response.status_code == 422
    assert words in response.json()["detail"]
    assert not [c for c in client.app.state.core.calls if c[0] == "what_if"]


@pytest.mark.parametrize(
    "body",
    [{"k": 0}, {"k": 6}, {"target_band": "cold"}, {"vary": ["x" * 81]}, {"extra": 1}],
)
def test_invalid_bodies_are_422(client: TestClient, body: dict) -> None:
    assert _post(client, KNOWN, body).status_code == 422


def test_a_malformed_contact_id_is_422(client: TestClient) -> None:
    assert _post(client, "not-a-uuid").status_code == 422
