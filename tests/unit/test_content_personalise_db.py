"""Personalisation against a real (SQLite, migrated) CRM, and the two content routes.

The slot values come from CRM rows (contact, company, owner, deals, activities, conversation
insights, lead scores, a news note); the routes run in-process over a stand-in core whose
consent, refusal and audit methods are the real :class:`~serving.core.GatewayCore` ones and
whose ``call_text`` calls a real (un-deployed) ``TextAI`` object.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from content.personalise import MissingSlotsError, personalise_content
from content.slot_sources import load_slot_values
from haste.db import AIInteraction, Contact, session_scope, upgrade_database
from haste.settings import Settings
from pipelines.corpora.emails import load_email_corpus
from serving.auth import ANONYMOUS
from serving.config import RequestLimits
from serving.core import GatewayCore
from serving.errors import ApiError
from serving.gateway import CallContext
from serving.http import create_api
from serving.text_app import TextAI, TextAIError
from tests.support.content_seed import NOW, TEMPLATE_BODY, SeededCRM, seed_personalisation_crm

KEY = "hk_test"


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, SeededCRM]:
    url = f"sqlite:///{tmp_path_factory.mktemp('crm') / 'haste.db'}"
    upgrade_database(url)
    return url, seed_personalisation_crm(url)


# ------------------------------------------------------------------ slot sources


def test_slot_values_come_from_the_crm_rows(crm: tuple[str, SeededCRM]) -> None:
    url, ids = crm
    with session_scope(url) as session:
        values = load_slot_values(session, ids.contact_id, now=NOW)
    assert values["contact.full_name"] == "Ada Lovelace"
    assert values["company.name"] == "Acme Analytics"
    assert values["owner.full_name"] == "Grace Hopper" and values["owner.first_name"] == "Grace"
    assert values["deal.name"] == "Acme renewal"  # the latest open deal
    assert values["deal.amount"] == 50000.0 and values["deal.currency"] == "USD"
    assert values["last_activity.type"] == "meeting"
    assert values["last_activity.subject"] == "Pricing review"
    assert values["insights.pain_points"] == [
        "the migration effort worries us",
        "the onboarding timeline",
    ]
    assert values["insights.top_pain_point"] == "the migration effort worries us"
    assert values["lead_score.band"] == "hot" and values["lead_score.score"] == 82
    assert values["company.news"] == "Acme opens a Berlin office"


def test_news_is_only_recent_and_a_bare_contact_has_no_values(
    crm: tuple[str, SeededCRM],
) -> None:
    url, ids = crm
    later = NOW.replace(year=2027, month=6)
    with session_scope(url) as session:
        assert load_slot_values(session, ids.contact_id, now=later)["company.news"] is None
        bare = load_slot_values(session, ids.bare_contact_id, now=NOW)
    assert bare["contact.first_name"] is None and bare["company.name"] is None
    assert bare["insights.pain_points"] is None and bare["deal.amount"] is None


def test_a_deal_asked_for_is_used_and_must_be_the_contacts(crm: tuple[str, SeededCRM]) -> None:
    url, ids = crm
    with session_scope(url) as session:
        values = load_slot_values(session, ids.contact_id, ids.other_deal_id, now=NOW)
        assert values["deal.amount"] == 1250.5 and values["deal.currency"] == "EUR"
        with pytest.raises(ValueError, match="belongs to another contact"):
            load_slot_values(session, ids.bare_contact_id, ids.deal_id)
        with pytest.raises(LookupError, match="deal"):
            load_slot_values(session, ids.contact_id, uuid.uuid4())
        with pytest.raises(LookupError, match="contact"):
            load_slot_values(session, uuid.uuid4())
        with pytest.raises(ValueError, match="not a UUID"):
            load_slot_values(session, "ada")


# ------------------------------------------------------------------ personalise_content


def test_a_library_item_is_personalised_from_the_crm(crm: tuple[str, SeededCRM]) -> None:
    url, ids = crm
    result = personalise_content(url, ids.contact_id, content_id=ids.content_id, now=NOW)
    assert result.subject == "Acme Analytics: your proposal"
    assert result.body.startswith("Hi Ada,\n\nAcme opens a Berlin office\n\n")
    assert "Since our meeting on 20 November 2026" in result.body
    assert "the migration effort worries us and the onboarding timeline" in result.body
    assert "stands at $50,000, valid until 4 December 2026." in result.body
    assert result.body.endswith("Best,\nGrace Hopper")
    assert "{" not in result.body
    assert result.content_id == str(ids.content_id)


def test_the_other_deal_gives_euros(crm: tuple[str, SeededCRM]) -> None:
    url, ids = crm
    template = {
        "body": "Hi {first_name}, {amount}.",
        "slots": {
            "first_name": {"type": "str", "source": "contact.first_name"},
            "amount": {"type": "money", "source": "deal.amount"},
        },
    }
    result = personalise_content(url, ids.contact_id, template=template, deal_id=ids.other_deal_id)
    assert result.body == "Hi Ada, €1,250.50."


def test_a_bare_contact_is_refused_naming_every_missing_slot(crm: tuple[str, SeededCRM]) -> None:
    url, ids = crm
    with pytest.raises(MissingSlotsError) as caught:
        personalise_content(url, ids.bare_contact_id, content_id=ids.content_id, now=NOW)
    missing = dict(caught.value.missing)
    assert missing == {
        "company": "company.name",
        "first_name": "contact.first_name",
        "last_meeting": "last_activity.date",
        "pains": "insights.pain_points",
        "amount": "deal.amount",
        "close_date": "deal.expected_close_date",
        "sender": "owner.full_name",
    }
    assert str(ids.bare_contact_id) in str(caught.value)


def test_unknown_and_invalid_content(crm: tuple[str, SeededCRM]) -> None:
    url, ids = crm
    with pytest.raises(LookupError, match="content item"):
        personalise_content(url, ids.contact_id, content_id=uuid.uuid4())
    with pytest.raises(ValueError, match=r"not a valid template: .*\{unknown_thing\}"):
        personalise_content(url, ids.contact_id, content_id=ids.broken_content_id)
    with pytest.raises(ValueError, match="exactly one"):
        personalise_content(url, ids.contact_id)


# ------------------------------------------------------------------ routes


class RetrieverStub:
    """The seed corpus, best purpose/tone match first (no MiniLM)."""

    def search(self, query: str, *, k: int, purpose: Any, tone: Any) -> list[Any]:
        ranked = sorted(load_email_corpus(), key=lambda e: (e.purpose != purpose, e.tone != tone))
        return [SimpleNamespace(email=e, similarity=0.5) for e in ranked[:k]]


class ContentCore:
    """Stand-in core: the real consent/refusal/audit methods; text calls run in-process."""

    consent = GatewayCore.consent
    require_consent = GatewayCore.require_consent
    refuse = GatewayCore.refuse
    record = GatewayCore.record

    def __init__(self, url: str) -> None:
        self.database_url = url
        self.config = SimpleNamespace(database_url=url, limits=RequestLimits())
        self.text = TextAI.func_or_class(Settings(database_url=url).model_dump(mode="json"))
        self.text._email_index = RetrieverStub

    def admit(self, headers: Any, permission: str) -> CallContext:
        if headers.get("x-api-key") != KEY:
            raise ApiError(401, "missing API key")
        return CallContext(ANONYMOUS, headers.get("x-request-id") or uuid.uuid4().hex, False)

    async def call_text(self, context: Any, feature: str, inputs: dict, method: str, *args: Any):
        try:
            return getattr(self.text, method)(*args)
        except TextAIError as error:
            raise self.refuse(context, feature, error.status_code, error.message, inputs) from None


@pytest.fixture(scope="module")
def client(crm: tuple[str, SeededCRM]) -> TestClient:
    return TestClient(create_api(ContentCore(crm[0])), headers={"X-API-Key": KEY})


def audit(url: str, request_id: str) -> list[AIInteraction]:
    with session_scope(url) as session:
        rows = session.scalars(select(AIInteraction).where(AIInteraction.request_id == request_id))
        return [(r.feature, r.model_used, r.error_message) for r in rows]


def test_personalize_route_answers_the_filled_slots_and_records_the_call(
    client: TestClient, crm: tuple[str, SeededCRM]
) -> None:
    url, ids = crm
    body = {"contact_id": str(ids.contact_id), "content_id": str(ids.content_id)}
    response = client.post("/api/ai/content/personalize", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["subject"] == "Acme Analytics: your proposal"
    amount = next(slot for slot in result["slots"] if slot["name"] == "amount")
    assert amount == {
        "name": "amount",
        "source": "deal.amount",
        "type": "money",
        "value": "$50,000",
        "filled_from": "crm",
    }
    assert audit(url, result["request_id"]) == [("content_personalize", "rules", None)]


def test_personalize_route_refuses_missing_slots_with_422(
    client: TestClient, crm: tuple[str, SeededCRM]
) -> None:
    url, ids = crm
    inline = {
        "subject": "Hello",
        "body": "Hi {first_name}, congratulations to {company}!",
        "slots": {
            "first_name": {"type": "str", "source": "contact.first_name"},
            "company": {"type": "str", "source": "company.name"},
        },
    }
    response = client.post(
        "/api/ai/content/personalize",
        json={"contact_id": str(ids.bare_contact_id), "template": inline},
        headers={"X-Request-ID": (request_id := uuid.uuid4().hex)},
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "{first_name} from contact.first_name" in detail
    assert "{company} from company.name" in detail
    assert "Hi" not in detail.split("refused", 1)[0]
    assert audit(url, request_id)[0][2].startswith("422: refused to personalise")


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"contact_id": None, "content_id": str(uuid.uuid4())}, 422, "contact_id"),
        ({"contact_id": "nope", "content_id": str(uuid.uuid4())}, 422, "contact_id"),
        ({}, 422, "exactly one of content_id and template"),
        ({"template": {"body": "Hi {first_name}"}}, 422, "placeholders without a slot spec"),
        (
            {"template": {"body": "Hi {x}", "slots": {"x": {"source": "contact.age"}}}},
            422,
            "unknown slot source",
        ),
        ({"content_id": "UNKNOWN"}, 404, "content item"),
        ({"content_id": "BROKEN"}, 422, "not a valid template"),
        ({"content_id": "CONTENT", "deal_id": str(uuid.uuid4())}, 404, "deal"),
        ({"contact_id": str(uuid.uuid4()), "content_id": "CONTENT"}, 404, "not found in the CRM"),
    ],
)
def test_personalize_route_bad_input(
    client: TestClient, crm: tuple[str, SeededCRM], body: dict, status: int, fragment: str
) -> None:
    _, ids = crm
    request = {"contact_id": str(ids.contact_id), **body}
    request = {k: v for k, v in request.items() if v is not None}
    named = {"UNKNOWN": uuid.uuid4(), "CONTENT": ids.content_id, "BROKEN": ids.broken_content_id}
    if request.get("content_id") in named:
        request["content_id"] = str(named[request["content_id"]])
    response = client.post("/api/ai/content/personalize", json=request)
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]


def test_personalize_route_checks_consent(client: TestClient, crm: tuple[str, SeededCRM]) -> None:
    url, _ = crm
    refused = uuid.uuid4()
    with session_scope(url) as session:
        session.add(Contact(id=refused, first_name="Nope", ai_consent=False))
    body = {"contact_id": str(refused), "template": {"body": "Hi {n}", "slots": {
        "n": {"source": "contact.first_name"}}}}  # fmt: skip
    response = client.post("/api/ai/content/personalize", json=body)
    assert response.status_code == 403 and "consented" in response.json()["detail"]


def test_generate_route_drafts_offline_and_says_why(client: TestClient) -> None:
    brief = {"purpose": "renewal", "tone": "formal", "key_points": ["audit logs included"]}
    response = client.post("/api/ai/content/generate", json=brief)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["path"] == "offline" and result["llm"] is None
    assert result["fallback_reason"] == "no hosted LLM provider is configured"
    template = result["template"]
    assert "- audit logs included" in template["body"]
    assert template["slots"]["first_name"]["source"] == "contact.first_name"
    bad = client.post("/api/ai/content/generate", json={"purpose": "renewal", "tone": "rude"})
    assert bad.status_code == 422 and "tone" in bad.json()["detail"]


def test_a_generated_template_can_be_personalised(
    client: TestClient, crm: tuple[str, SeededCRM]
) -> None:
    _, ids = crm
    draft = client.post("/api/ai/content/generate", json={"purpose": "check in"}).json()
    response = client.post(
        "/api/ai/content/personalize",
        json={"contact_id": str(ids.contact_id), "template": draft["template"]},
    )
    assert response.status_code == 200, response.text
    assert "Ada" in response.json()["body"] and "{" not in response.json()["body"]


def test_routes_are_in_the_openapi_schema() -> None:
    paths = create_api().openapi()["paths"]
    for path in ("/api/ai/content/personalize", "/api/ai/content/generate"):
        assert {"404", "422"} <= set(paths[path]["post"]["responses"])


def test_the_seeded_template_has_every_placeholder_declared() -> None:
    from content.slots import parse_placeholders
    from tests.support.content_seed import TEMPLATE_SLOTS

    assert set(parse_placeholders(TEMPLATE_BODY)) == set(TEMPLATE_SLOTS)


@pytest.mark.filterwarnings("ignore:You should not use the 'timeout' argument")
def test_the_demo_step_drafts_fills_and_shows_one_refusal(
    client: TestClient, crm: tuple[str, SeededCRM], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    from flows.demo_personalise import pick_contact, run_personalise_demo
    from flows.demo_report import DemoReport
    from haste.db import Company
    from haste.settings import get_settings

    url, _ = crm
    assert pick_contact(url) is None  # Ada has an analysed call, the bare contact no name
    linus = uuid.uuid4()
    with session_scope(url) as session:
        company = Company(name="Kernel Works")
        session.add(company)
        session.flush()
        session.add(Contact(id=linus, first_name="Linus", company_id=company.id, ai_consent=True))
    assert pick_contact(url) == str(linus)
    monkeypatch.setenv("HASTE_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        report = DemoReport(Console(quiet=True), total_steps=1)
        run_personalise_demo(report, client)
    finally:
        get_settings.cache_clear()
    statuses = [(row.path, row.status) for row in report.calls]
    assert statuses == [
        ("/api/ai/content/generate", 200),
        ("/api/ai/content/personalize", 200),
        ("/api/ai/content/personalize", 422),
    ]
    assert report.calls[1].summary.startswith("'An idea for Kernel Works'")
    assert "pains" in report.calls[2].summary
