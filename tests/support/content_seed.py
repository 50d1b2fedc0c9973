"""CRM rows for the personalisation tests: one well-known contact, one with almost nothing.

:func:`seed_personalisation_crm` writes, into a migrated database: a company with an owner,
a consenting contact (Ada Lovelace) with an open deal, a meeting, a call analysed into
``conversation_insights`` (an objection), a news note, a lead score; and a bare contact (no
first name, no company, no owner) for the refusals.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from haste.db import (
    Activity,
    Company,
    Contact,
    ConversationInsight,
    Deal,
    LeadScore,
    User,
    session_scope,
)
from haste.db.content_tables import ContentItem

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class SeededCRM:
    """Ids of the seeded rows."""

    contact_id: uuid.UUID
    bare_contact_id: uuid.UUID
    deal_id: uuid.UUID
    other_deal_id: uuid.UUID
    content_id: uuid.UUID
    broken_content_id: uuid.UUID
    company_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None


#: A library template using most kinds of slot.
TEMPLATE_SLOTS = {
    "first_name": {"type": "str", "source": "contact.first_name"},
    "company": {"type": "str", "source": "company.name"},
    "amount": {"type": "money", "source": "deal.amount"},
    "close_date": {"type": "date", "source": "deal.expected_close_date"},
    "last_meeting": {"type": "date", "source": "last_activity.date"},
    "pains": {"type": "list", "source": "insights.pain_points"},
    "news": {
        "type": "str",
        "source": "company.news",
        "required": False,
        "fallback": "I hope the quarter is going well.",
    },
    "sender": {"type": "str", "source": "owner.full_name"},
}
TEMPLATE_BODY = (
    "Hi {first_name},\n\n{news}\n\nSince our meeting on {last_meeting}, I have kept in mind "
    "what you raised: {pains}\n\nThe proposal for {company} stands at {amount}, valid until "
    "{close_date}.\n\nBest,\n{sender}"
)


def seed_personalisation_crm(url: str, *, suffix: str = "") -> SeededCRM:
    """Write the rows (names suffixed with ``suffix`` to share a database) and return their ids."""
    ids = {name: uuid.uuid4() for name in ("user", "company", "ada", "bare", "deal", "deal2")}
    meeting, call, note = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    content, broken = uuid.uuid4(), uuid.uuid4()
    with session_scope(url) as session:
        session.add(
            User(id=ids["user"], email=f"grace{suffix}@haste.example", full_name="Grace Hopper")
        )
        session.add(
            Company(id=ids["company"], name=f"Acme Analytics{suffix}", industry="Healthcare")
        )
        session.flush()
        session.add_all(
            [
                Contact(
                    id=ids["ada"],
                    company_id=ids["company"],
                    owner_id=ids["user"],
                    first_name="Ada",
                    last_name="Lovelace",
                    email=f"ada{suffix}@acme.example",
                    job_title="CFO",
                    ai_consent=True,
                ),
                Contact(id=ids["bare"], email=f"someone{suffix}@nowhere.example", ai_consent=True),
            ]
        )
        session.flush()
        session.add_all(
            [
                Deal(
                    id=ids["deal"],
                    contact_id=ids["ada"],
                    name="Acme renewal",
                    stage="proposal",
                    amount=50000.0,
                    currency="USD",
                    expected_close_date=dt.date(2026, 12, 4),
                    created_at=NOW - dt.timedelta(days=20),
                ),
                Deal(
                    id=ids["deal2"],
                    contact_id=ids["ada"],
                    name="Acme expansion",
                    stage="qualification",
                    amount=1250.5,
                    currency="EUR",
                    created_at=NOW - dt.timedelta(days=40),
                ),
                Activity(
                    id=meeting,
                    contact_id=ids["ada"],
                    user_id=ids["user"],
                    type="meeting",
                    subject="Pricing review",
                    occurred_at=NOW - dt.timedelta(days=11),
                ),
                Activity(
                    id=call,
                    contact_id=ids["ada"],
                    type="call",
                    subject="Discovery call",
                    occurred_at=NOW - dt.timedelta(days=30),
                ),
                Activity(
                    id=note,
                    contact_id=ids["ada"],
                    type="note",
                    subject="News: Acme opens a Berlin office",
                    occurred_at=NOW - dt.timedelta(days=3),
                ),
                LeadScore(contact_id=ids["ada"], score=82, calculated_at=NOW),
            ]
        )
        session.flush()
        session.add(
            ConversationInsight(
                activity_id=call,
                summary="Ada asked about migration and pricing.",
                key_moments={
                    "moments": [
                        {"type": "objection", "text": "the migration effort worries us"},
                        {"type": "next_step", "text": "send over the proposal"},
                        {"type": "objection", "text": "the onboarding timeline"},
                    ]
                },
                analyzed_at=NOW - dt.timedelta(days=29),
            )
        )
        session.add_all(
            [
                ContentItem(
                    id=content,
                    kind="email_template",
                    name=f"Proposal follow-up{suffix}",
                    subject="{company}: your proposal",
                    body=TEMPLATE_BODY,
                    slots=TEMPLATE_SLOTS,
                ),
                ContentItem(
                    id=broken,
                    kind="email_template",
                    name=f"Broken template{suffix}",
                    subject="Hello",
                    body="Hi {first_name}, about {unknown_thing}",
                    slots={"first_name": {"type": "str", "source": "contact.first_name"}},
                ),
            ]
        )
    return SeededCRM(
        ids["ada"], ids["bare"], ids["deal"], ids["deal2"], content, broken,
        ids["company"], ids["user"],
    )  # fmt: skip


def erase_personalisation_crm(url: str, seeded: SeededCRM) -> None:
    """Erase the rows of :func:`seed_personalisation_crm` (a shared database is left as found)."""
    from sqlalchemy import delete

    from pipelines.erasure import forget_in_database

    for contact_id in (seeded.contact_id, seeded.bare_contact_id):
        forget_in_database(url, contact_id)
    with session_scope(url) as session:
        session.execute(delete(Deal).where(Deal.id.in_([seeded.deal_id, seeded.other_deal_id])))
        ids = [seeded.content_id, seeded.broken_content_id]
        session.execute(delete(ContentItem).where(ContentItem.id.in_(ids)))
        if seeded.company_id:
            session.execute(delete(Company).where(Company.id == seeded.company_id))
        if seeded.user_id:
            session.execute(delete(User).where(User.id == seeded.user_id))
