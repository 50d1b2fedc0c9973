"""Score gaming end to end without services: stored CRM + streamed events -> flags, scores.

``GET /api/ai/lead-score/{contact_id}/gaming`` runs over a stand-in core (no Ray, no model:
the stand-in scores the two feature rows it is given), the scan stores ``score_gaming``
predictions and the dashboard section counts them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from haste.db import session_scope
from haste.db.models import AIInteraction, Prediction
from haste.db.stream_tables import StreamEvent
from haste.settings import Settings
from insights.gaming_overview import gaming_overview
from monitoring.gaming import LeadModel, scan_contacts, stored_reports
from monitoring.gaming_log import default_crm_dir
from pipelines.synthetic import generate_crm
from pipelines.synthetic_store import write_crm
from serving.auth import ANONYMOUS
from serving.config import RequestLimits
from serving.errors import ApiError
from serving.gateway import CallContext
from serving.http import create_api

KEY = "hk_test"
BURST = 15


class StubCore:
    """Admits ``hk_test``; scores each row by its email opens (more opens, higher score)."""

    def __init__(self, settings: Settings, url: str, champions: dict[str, str]) -> None:
        self.database_url = url
        self.settings = settings
        self.config = SimpleNamespace(limits=RequestLimits())
        self.champions = champions
        self.rows: list[dict[str, Any]] = []

    def admit(self, headers: Any, permission: str) -> CallContext:
        if headers.get("x-api-key") != KEY:
            raise ApiError(401, "missing API key")
        assert permission == "predict"
        return CallContext(ANONYMOUS, uuid.uuid4().hex, False)

    def require_consent(self, context: Any, feature: str, contact_id: uuid.UUID) -> bool:
        return False

    def refuse(self, context: Any, feature: str, status: int, message: str, inputs: dict) -> Any:
        return ApiError(status, message)

    def call_model(self, context: Any, feature: str, inputs: dict, variant: str, *args: Any):
        method, model_name, rows, _ids = args
        assert (method, model_name, variant) == ("score_leads", "lead_scoring_crm", "champion")
        self.rows = rows
        return [
            {"score": min(100, 10 + row["email_opens"]), "probability": 0.5, "model_name":
             model_name, "model_version": "7"}
            for row in rows
        ]  # fmt: skip


def fake_model() -> LeadModel:
    return LeadModel(
        "fake@v1",
        lambda rows, ids: [{"score": min(100, r["email_opens"]), "probability": 0.1} for r in rows],
    )


@pytest.fixture()
def platform(isolated_settings: Settings, db_url: str) -> tuple[Settings, str, str]:
    """A stored 80-contact CRM and a burst of 15 streamed opens for its first contact."""
    crm = generate_crm(80, seed=3)
    write_crm(crm, default_crm_dir(isolated_settings.data_dir))
    contact = crm.contacts["id"].iloc[0]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with session_scope(db_url) as session:
        session.add_all(
            StreamEvent(
                event_id=f"burst-{i}",
                contact_id=contact,
                event_type="email_opened",
                occurred_at=now - dt.timedelta(seconds=60 - 4 * i),
                outcome="scored",
            )
            for i in range(BURST)
        )
    return isolated_settings, db_url, str(contact)


def client_of(platform: tuple, champions: dict[str, str]) -> tuple[TestClient, StubCore]:
    settings, url, _ = platform
    core = StubCore(settings, url, champions)
    return TestClient(create_api(core)), core


def test_burst_is_flagged_with_evidence_and_both_scores(platform: tuple) -> None:
    client, core = client_of(platform, {"lead_scoring_crm": "7"})
    _, url, contact = platform
    response = client.get(f"/api/ai/lead-score/{contact}/gaming", headers={"X-API-Key": KEY})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["flagged"] and "burst" in body["flag_kinds"]
    burst = next(f for f in body["flags"] if f["kind"] == "burst")
    assert burst["evidence"]["largest_burst"] == BURST
    assert burst["evidence"]["largest_span_s"] == 4 * (BURST - 1)
    assert set(body["suspicious_event_ids"]) == {f"burst-{i}" for i in range(BURST)}
    with_row, without_row = core.rows
    assert with_row["email_opens"] - without_row["email_opens"] == BURST
    assert body["score_with"] - body["score_without"] == BURST == body["score_inflation"]
    assert body["model"] == "lead_scoring_crm@v7"
    with session_scope(url) as session:
        stored = session.query(Prediction).filter_by(prediction_type="score_gaming").one()
        assert stored.prediction_value["suspicious_events"] == BURST
        call = session.query(AIInteraction).filter_by(feature="score_gaming").one()
        assert call.output_data["score_with"] == body["score_with"]


def test_without_a_champion_the_flags_come_with_the_reason(platform: tuple) -> None:
    client, _ = client_of(platform, {})
    contact = platform[2]
    body = client.get(f"/api/ai/lead-score/{contact}/gaming", headers={"X-API-Key": KEY}).json()
    assert body["flagged"] and body["score_with"] is None
    assert "no champion lead_scoring_crm" in body["score_note"]


def test_unknown_contact_is_404_and_bad_ids_422(platform: tuple) -> None:
    client, _ = client_of(platform, {"lead_scoring_crm": "7"})
    response = client.get(f"/api/ai/lead-score/{uuid.uuid4()}/gaming", headers={"X-API-Key": KEY})
    assert response.status_code == 404
    assert "not found in the CRM" in response.json()["detail"]
    assert (
        client.get("/api/ai/lead-score/nope/gaming", headers={"X-API-Key": KEY}).status_code == 422
    )
    assert client.get(f"/api/ai/lead-score/{uuid.uuid4()}/gaming").status_code == 401


def test_scan_stores_the_flagged_and_the_dashboard_counts_them(platform: tuple) -> None:
    settings, url, contact = platform
    assert gaming_overview(url) is None
    result = scan_contacts(url, default_crm_dir(settings.data_dir), model=fake_model())
    assert result.contacts >= 80
    flagged = {r.contact_id: r for r in result.flagged}
    assert contact in flagged  # the organic synthetic contacts are not flagged
    assert len(flagged) == 1, {c: [f.kind for f in r.flags] for c, r in flagged.items()}
    assert flagged[contact].score_with - flagged[contact].score_without == BURST
    assert result.stored == 1 and result.by_kind["burst"] == 1
    assert stored_reports(url, uuid.UUID(contact))[0]["suspicious_events"] == BURST
    section = gaming_overview(url)
    assert section is not None and section["flagged"] == 1
    assert {row["kind"]: row["contacts"] for row in section["by_kind"]}["burst"] == 1
    assert section["latest"][0]["contact_id"] == contact
    assert section["mean_inflation"] == BURST


def test_dashboard_template_renders_the_section(platform: tuple) -> None:
    from jinja2 import Environment, FileSystemLoader

    settings, url, _ = platform
    scan_contacts(url, default_crm_dir(settings.data_dir), model=fake_model())
    folder = Path(__file__).parents[2] / "serving" / "dashboard" / "templates"
    html = (
        Environment(loader=FileSystemLoader(folder))
        .get_template("gaming.html")
        .render(data={"trust": {"gaming": gaming_overview(url)}})
    )
    assert 'id="gaming"' in html and "Bursts of opens/clicks" in html
    assert html.count('class="gaming-contact"') == 1
