"""Content library over the served gateway: performance and recommendations (issue 17).

Seeds the library and the synthetic sends into the platform's database first (the served
platform has loaded the synthetic CRM), then calls both endpoints through Ray Serve.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from flows.demo_content import seed_content
from haste.db import ContentSend, Deal
from haste.db.session import session_scope
from tests.support.platform import interactions as _interactions
from tests.support.platform import new_key as _new_key


@pytest.fixture(scope="module")
def content(platform) -> dict:
    settings, _ = platform
    seeded = seed_content(settings)
    assert seeded["contacts"] > 0
    with session_scope(settings.database_url) as session:
        contact = session.scalar(select(ContentSend.contact_id).limit(1))
        deal = session.scalar(select(Deal.id).where(Deal.contact_id.is_not(None)).limit(1))
    return {"contact": str(contact), "deal": str(deal), **seeded}


def test_performance_per_segment(api: httpx.Client, content: dict) -> None:
    answer = api.get("/api/ai/content/performance", params={"segment": "stage", "metric": "reply"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["n_sends"] >= 8000 and len(body["items"]) >= 20
    assert body["prior"]["strength"] > 0
    assert all(c["sends"] > 0 for c in body["segments"]["cells"])
    assert api.get("/api/ai/content/performance", params={"metric": "x"}).status_code == 422


def test_recommend_for_a_contact_and_a_deal_is_audited(
    platform, api: httpx.Client, content: dict
) -> None:
    settings, _ = platform
    answer = api.post(
        "/api/ai/content/recommend",
        json={"contact_id": content["contact"], "kind": "email_template", "n": 3},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["items"]) == 3 and body["items"][0]["prob_best"] > 0
    by_deal = api.post("/api/ai/content/recommend", json={"deal_id": content["deal"]})
    assert by_deal.status_code == 200 and by_deal.json()["deal_id"] == content["deal"]
    assert _interactions(settings, feature="content_recommend")
    assert api.post("/api/ai/content/recommend", json={"n": 3}).status_code == 422
    unknown = api.post("/api/ai/content/recommend", json={"contact_id": str(uuid.uuid4())})
    assert unknown.status_code == 404


def test_permissions(platform, api: httpx.Client, content: dict) -> None:
    settings, _ = platform
    service = {"X-API-Key": _new_key(settings, "service")}
    refused = api.get("/api/ai/content/performance", headers=service)
    assert refused.status_code == 403  # usage: managers and admins
    allowed = api.post(
        "/api/ai/content/recommend", json={"contact_id": content["contact"]}, headers=service
    )
    assert allowed.status_code == 200  # predict


def test_dashboard_shows_the_content_section(api: httpx.Client, content: dict) -> None:
    data = api.get("/api/ai/dashboard").json()
    assert data["content"]["n_sends"] >= 8000
    page = api.get("/dashboard")
    assert page.status_code == 200 and 'id="content"' in page.text
