"""The demo's personalisation step (Prefect-free): draft a template, fill it, see one refused."""

from __future__ import annotations

from typing import Any

import httpx

from flows.demo_report import DemoReport

GENERATE_PATH = "/api/ai/content/generate"
PERSONALISE_PATH = "/api/ai/content/personalize"

#: A template whose slots come from the contact, its company and (optional) company news.
GREETING_TEMPLATE: dict[str, Any] = {
    "subject": "An idea for {company}",
    "body": "Hi {first_name},\n\n{news}\n\nWould a short call next week be useful?\n\nBest,\nSam",
    "slots": {
        "first_name": {"type": "str", "source": "contact.first_name"},
        "company": {"type": "str", "source": "company.name"},
        "news": {
            "type": "str",
            "source": "company.news",
            "required": False,
            "fallback": "I have been following how teams like yours run their pipeline.",
        },
    },
}
#: The same greeting, but quoting pain points the contact never raised in an analysed call.
PAIN_POINT_TEMPLATE: dict[str, Any] = {
    "subject": "About what you raised",
    "body": "Hi {first_name},\n\nOn our call you raised {pains}.\n\nBest,\nSam",
    "slots": {
        "first_name": {"type": "str", "source": "contact.first_name"},
        "pains": {"type": "list", "source": "insights.pain_points"},
    },
}


def pick_contact(database_url: str) -> str | None:
    """Return a consenting contact with a first name and a company and no analysed call."""
    from sqlalchemy import exists, select

    from haste.db import Activity, Contact, ConversationInsight
    from haste.db.session import session_scope

    analysed = exists().where(
        ConversationInsight.activity_id == Activity.id, Activity.contact_id == Contact.id
    )
    with session_scope(database_url) as session:
        found = session.scalars(
            select(Contact.id)
            .where(
                Contact.ai_consent.is_(True),
                Contact.first_name.is_not(None),
                Contact.company_id.is_not(None),
                ~analysed,
            )
            .order_by(Contact.id)
            .limit(1)
        ).first()
    return str(found) if found else None


def _draft_summary(body: dict[str, Any]) -> str:
    """One line: the path, the slots and the corpus email (or provider) used."""
    source = body["based_on"][0]["email_id"] if body["based_on"] else body["provider"]
    return f"{body['path']} draft from {source}: {len(body['template']['slots'])} slots"[:70]


def _filled_summary(body: dict[str, Any]) -> str:
    """One line: the subject and where each slot came from."""
    origins = ", ".join(f"{s['name']}<-{s['filled_from']}" for s in body["slots"])
    return f"{body['subject']!r}: {origins}"[:70]


def run_personalise_demo(report: DemoReport, client: httpx.Client) -> None:
    """Draft a renewal template, personalise a greeting, and show a refused personalisation."""
    from haste.settings import get_settings

    report.call(
        client,
        "POST",
        GENERATE_PATH,
        _draft_summary,
        json={
            "purpose": "renewal",
            "audience": "operations leaders at mid-size companies",
            "tone": "formal",
            "key_points": ["audit logs are now included", "price locked for 12 months"],
            "product": "hasteCRM",
        },
        timeout=300,
    )
    contact_id = pick_contact(get_settings().database_url)
    if contact_id is None:
        report.console.print("[yellow]no consenting contact with a name and company: skipped")
        return
    report.call(
        client,
        "POST",
        PERSONALISE_PATH,
        _filled_summary,
        json={"contact_id": contact_id, "template": GREETING_TEMPLATE},
        timeout=120,
    )
    report.call(  # refused with 422: the contact has no analysed call, so no pain points
        client,
        "POST",
        PERSONALISE_PATH,
        _filled_summary,
        json={"contact_id": contact_id, "template": PAIN_POINT_TEMPLATE},
        timeout=120,
    )
