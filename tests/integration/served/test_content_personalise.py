"""Personalisation and content generation through the served gateway and the TextAI deployment.

The CRM rows are this module's own (names suffixed, in the platform's shared database): a
well-known contact, a bare one, a library template and a broken one. They are erased after the
module, so the later tests see the platform's CRM unchanged (contact counts, the dashboard's
top lead).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from haste.settings import Settings
from tests.support.content_seed import (
    SeededCRM,
    erase_personalisation_crm,
    seed_personalisation_crm,
)
from tests.support.platform import interactions

PERSONALISE = "/api/ai/content/personalize"
GENERATE = "/api/ai/content/generate"


@pytest.fixture(scope="module")
def crm(platform: tuple[Settings, list[dict[str, Any]]]) -> Iterator[SeededCRM]:
    settings, _ = platform
    seeded = seed_personalisation_crm(settings.database_url, suffix=f"-{uuid.uuid4().hex[:8]}")
    yield seeded
    erase_personalisation_crm(settings.database_url, seeded)


def test_a_library_item_is_personalised_and_recorded(
    api: httpx.Client, platform: tuple[Settings, Any], crm: SeededCRM
) -> None:
    settings, _ = platform
    request_id = uuid.uuid4().hex
    response = api.post(
        PERSONALISE,
        json={"contact_id": str(crm.contact_id), "content_id": str(crm.content_id)},
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["body"].startswith("Hi Ada,")
    assert "$50,000" in body["body"] and "{" not in body["body"]
    sources = {slot["name"]: slot["source"] for slot in body["slots"]}
    assert sources["amount"] == "deal.amount" and sources["pains"] == "insights.pain_points"
    (row,) = interactions(settings, request_id=request_id)
    assert row.feature == "content_personalize" and row.error_message is None


def test_missing_slots_are_refused_with_422_naming_them(api: httpx.Client, crm: SeededCRM) -> None:
    response = api.post(
        PERSONALISE,
        json={"contact_id": str(crm.bare_contact_id), "content_id": str(crm.content_id)},
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "{first_name} from contact.first_name" in detail
    assert "{company} from company.name" in detail


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"content_id": str(uuid.uuid4())}, 404),
        ({"template": {"body": "Hi {first_name}"}}, 422),
        ({}, 422),
    ],
)
def test_bad_personalisation_requests(
    api: httpx.Client, crm: SeededCRM, body: dict, status: int
) -> None:
    response = api.post(PERSONALISE, json={"contact_id": str(crm.contact_id), **body})
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_an_unknown_contact_is_404(api: httpx.Client, crm: SeededCRM) -> None:
    response = api.post(
        PERSONALISE, json={"contact_id": str(uuid.uuid4()), "content_id": str(crm.content_id)}
    )
    assert response.status_code == 404


def test_generation_drafts_a_template_that_can_be_personalised(
    api: httpx.Client, crm: SeededCRM
) -> None:
    brief = {"purpose": "renewal", "tone": "formal", "key_points": ["audit logs included"]}
    response = api.post(GENERATE, json=brief, timeout=300)
    assert response.status_code == 200, response.text
    draft = response.json()
    assert draft["path"] in {"llm", "offline"}
    if draft["path"] == "offline":
        assert draft["fallback_reason"] and draft["based_on"]
    filled = api.post(
        PERSONALISE, json={"contact_id": str(crm.contact_id), "template": draft["template"]}
    )
    assert filled.status_code == 200, filled.text
    assert "{" not in filled.json()["body"]
    bad = api.post(GENERATE, json={"purpose": ""})
    assert bad.status_code == 422
