"""Values of the slot sources (:data:`content.slots.SLOT_SOURCES`) for one contact, from the CRM.

:func:`load_slot_values` reads, in one session: the contact, its company and owner, the deal
(the one asked for, else the contact's latest open deal), the last call/meeting/email and the
latest lead score (through :func:`textai.email.personalisation.load_crm_context`), pain points
(objections the contact raised in analysed calls, ``conversation_insights.key_moments``) and
company news. There is no external news feed: ``company.news`` is the subject of the latest
``note`` activity tagged news (``details.tags`` holds ``news``, ``details.kind == "news"`` or
the subject starts with ``News:``) of the contact or of a colleague at the same company, within
:data:`NEWS_MAX_AGE_DAYS`; the slot is always optional.

A source without a value is ``None``: it is the renderer's job to refuse or fall back.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from typing import Any

from content.slots import SLOT_SOURCES

#: Older news notes are not "news".
NEWS_MAX_AGE_DAYS = 120
#: Analysed calls read for pain points, most recent first.
INSIGHTS_SCANNED = 5
#: Pain points kept (most recent first).
MAX_PAIN_POINTS = 3

_NEWS_PREFIX = re.compile(r"^\s*news\s*[:\-]\s*", re.IGNORECASE)


def as_uuid(value: Any, what: str) -> uuid.UUID:
    """Return ``value`` as a UUID.

    Raises:
        ValueError: When it is not one (the message names ``what``).
    """
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a UUID") from None


def _is_news(subject: str | None, details: Any) -> bool:
    """Return whether a note is tagged or titled as news."""
    if isinstance(details, Mapping):
        tags = details.get("tags")
        if isinstance(tags, list | tuple) and any(str(t).lower() == "news" for t in tags):
            return True
        if str(details.get("kind") or "").lower() == "news":
            return True
    return bool(subject and _NEWS_PREFIX.match(subject))


def _latest_news(session: Any, contact: Any, now: dt.datetime) -> str | None:
    """Return the subject of the latest news note about the contact or its company."""
    from sqlalchemy import select

    from haste.db import Activity, Contact

    people = [contact.id]
    if contact.company_id is not None:
        people = list(
            session.scalars(select(Contact.id).where(Contact.company_id == contact.company_id))
        )
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    since = now - dt.timedelta(days=NEWS_MAX_AGE_DAYS)
    notes = session.scalars(
        select(Activity)
        .where(Activity.type == "note", Activity.contact_id.in_(people))
        .order_by(Activity.occurred_at.desc())
        .limit(50)
    )
    for note in notes:
        when = note.occurred_at
        if when.tzinfo is None:  # SQLite gives naive UTC times back
            when = when.replace(tzinfo=dt.UTC)
        if when < since:
            break
        if _is_news(note.subject, note.details):
            text = _NEWS_PREFIX.sub("", note.subject or "").strip() or (note.body or "").strip()
            if text:
                return text.splitlines()[0][:300]
    return None


def pain_points_of(key_moments: Any) -> list[str]:
    """Return the objection texts of a stored ``key_moments`` value.

    Args:
        key_moments: ``{"moments": [...]}`` (as :mod:`textai.conversation.insight_store`
            writes it) or a bare list of moments, each with ``type`` and ``text``.

    Returns:
        The texts of the ``objection`` moments, in order.
    """
    moments = key_moments.get("moments") if isinstance(key_moments, Mapping) else key_moments
    texts = []
    for moment in moments if isinstance(moments, list) else []:
        if isinstance(moment, Mapping) and moment.get("type") == "objection":
            text = " ".join(str(moment.get("text") or "").split())
            if text:
                texts.append(text)
    return texts


def _insights(session: Any, contact_id: uuid.UUID) -> tuple[list[str], str | None]:
    """Return the contact's pain points (latest first) and its latest call summary."""
    from sqlalchemy import select

    from haste.db import Activity, ConversationInsight

    rows = session.scalars(
        select(ConversationInsight)
        .join(Activity, ConversationInsight.activity_id == Activity.id)
        .where(Activity.contact_id == contact_id)
        .order_by(ConversationInsight.analyzed_at.desc())
        .limit(INSIGHTS_SCANNED)
    ).all()
    points: list[str] = []
    for row in rows:
        for text in pain_points_of(row.key_moments):
            if text.lower() not in {p.lower() for p in points}:
                points.append(text)
    summary = next((row.summary.strip() for row in rows if (row.summary or "").strip()), None)
    return points[:MAX_PAIN_POINTS], summary


def _deal(session: Any, contact_id: uuid.UUID, deal_id: Any) -> Any:
    """Return the deal asked for (checked against the contact), else the latest open deal."""
    from sqlalchemy import select

    from haste.db import Deal
    from textai.email.models import OPEN_DEAL_STAGES

    if deal_id is not None:
        deal = session.get(Deal, as_uuid(deal_id, "deal_id"))
        if deal is None:
            raise LookupError(f"deal {deal_id} not found in the CRM")
        if deal.contact_id is not None and deal.contact_id != contact_id:
            raise ValueError(f"deal {deal_id} belongs to another contact")
        return deal
    return session.scalars(
        select(Deal)
        .where(Deal.contact_id == contact_id, Deal.stage.in_(sorted(OPEN_DEAL_STAGES)))
        .order_by(Deal.created_at.desc())
        .limit(1)
    ).first()


def _clean(value: Any) -> Any:
    """Return ``None`` for blank strings and empty lists, else the value."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list | tuple) and not value:
        return None
    return value


def load_slot_values(
    session: Any,
    contact_id: Any,
    deal_id: Any = None,
    *,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Read every slot source's value for one contact (and deal).

    Args:
        session: An open SQLAlchemy session (``haste.db.session_scope``).
        contact_id: The contact (UUID or its string).
        deal_id: The deal the content is about; default: the contact's latest open deal.
        now: Reference time of "recent" news (default: now, UTC).

    Returns:
        ``{source: value}`` for every key of :data:`~content.slots.SLOT_SOURCES` (``None``
        without a value), plus ``deal.currency`` (the deal's ISO currency, for money).

    Raises:
        ValueError: When an id is not a UUID or the deal belongs to another contact.
        LookupError: When the contact or the deal does not exist.
    """
    from haste.db import Company, Contact, User
    from insights.common import band_of_score
    from textai.email.personalisation import load_crm_context

    key = as_uuid(contact_id, "contact_id")
    contact = session.get(Contact, key)
    if contact is None:
        raise LookupError(f"contact {key} not found in the CRM")
    _, facts = load_crm_context(session, key)
    company = session.get(Company, contact.company_id) if contact.company_id else None
    owner = session.get(User, contact.owner_id) if contact.owner_id else None
    deal = _deal(session, key, deal_id)
    pain_points, call_summary = _insights(session, key)
    activity = facts.get("last_activity") or {}
    score = facts.get("lead_score")
    owner_name = (owner.full_name or "").strip() if owner else ""
    full_name = " ".join(p for p in (contact.first_name, contact.last_name) if p and p.strip())
    values: dict[str, Any] = {
        "contact.first_name": contact.first_name,
        "contact.last_name": contact.last_name,
        "contact.full_name": full_name,
        "contact.email": contact.email,
        "contact.job_title": contact.job_title,
        "contact.lifecycle_stage": contact.lifecycle_stage,
        "company.name": company.name if company else None,
        "company.industry": company.industry if company else None,
        "company.country": company.country if company else None,
        "company.employee_count": company.employee_count if company else None,
        "company.annual_revenue": company.annual_revenue if company else None,
        "company.news": _latest_news(session, contact, now or dt.datetime.now(dt.UTC)),
        "deal.name": deal.name if deal else None,
        "deal.stage": deal.stage if deal else None,
        "deal.amount": deal.amount if deal else None,
        "deal.expected_close_date": deal.expected_close_date if deal else None,
        "last_activity.type": activity.get("type"),
        "last_activity.date": activity.get("occurred_at"),
        "last_activity.subject": activity.get("subject"),
        "insights.pain_points": pain_points,
        "insights.top_pain_point": pain_points[0] if pain_points else None,
        "insights.last_call_summary": call_summary,
        "lead_score.score": score,
        "lead_score.band": band_of_score(score) if score is not None else None,
        "owner.full_name": owner_name,
        "owner.first_name": owner_name.split()[0] if owner_name else None,
        "owner.email": owner.email if owner else None,
    }
    cleaned = {source: _clean(values.get(source)) for source in SLOT_SOURCES}
    cleaned["deal.currency"] = (deal.currency if deal else None) or "USD"
    return cleaned
