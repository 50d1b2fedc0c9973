"""Personalisation of an email from CRM facts: the facts, their sentences, the call to action.

:func:`load_crm_context` reads a contact's recipient details and facts (industry, size, last
activity, lead score, open deal stage) from the CRM; :func:`build_personalisation` turns them
(and the email thread) into :class:`~textai.email.models.PersonalisationFact` objects, most
specific first; :func:`select_call_to_action` picks the call to action from the lead score.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from textai.email.models import (
    OPEN_DEAL_STAGES,
    EmailContext,
    PersonalisationFact,
    Recipient,
)

_CTA_BY_BAND: dict[str, str] = {
    "hot": "Would you have 20 minutes this week to talk through next steps?",
    "warm": "Would a short call next week be useful?",
    "cold": "If it helps, I can send a short overview you can read at your own pace.",
}
_STAGE_SENTENCES: dict[str, str] = {
    "qualification": "Building on what you shared about your requirements, I have a few "
    "ideas for next steps.",
    "proposal": "As you review our proposal, I am happy to answer any questions from your team.",
    "negotiation": "As we work through the final terms, I want to make sure everything is "
    "clear on your side.",
}


def _format_date(value: Any) -> str | None:
    """Return ``3 March`` for a date/datetime/ISO string, ``None`` when unparseable."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, dt.datetime | dt.date):
        return f"{value.day} {value:%B}"
    return None


def possessive(name: str) -> str:
    """Return ``Acme's`` / ``Acme Analytics'``."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def lead_band(score: float) -> str:
    """Return ``hot`` (>= 70), ``warm`` (40-69) or ``cold`` (< 40) for a 0-100 lead score."""
    if score >= 70:
        return "hot"
    return "warm" if score >= 40 else "cold"


def build_personalisation(
    context: EmailContext, crm_facts: Mapping[str, Any] | None = None
) -> list[PersonalisationFact]:
    """Turn CRM facts (and the thread) into personalisation facts, most specific first.

    Recognised ``crm_facts`` keys: ``industry`` (falls back to the recipient's),
    ``company_size``/``employee_count``/``size``, ``last_activity`` (a mapping with ``type``,
    ``subject``, ``occurred_at``, or a sentence), ``deal_stage`` (open stages only),
    ``lead_score`` (0-100; internal: it picks the call to action and is never written out).
    The last outbound email of ``context.previous_emails`` adds a ``previous_email`` fact.

    Args:
        context: The email context.
        crm_facts: Facts loaded from the CRM (see :func:`load_crm_context`).

    Returns:
        The facts, in the order they should be used.
    """
    facts_in = dict(crm_facts or {})
    company = context.recipient.company
    facts: list[PersonalisationFact] = []

    activity = facts_in.get("last_activity")
    if isinstance(activity, Mapping):
        kind = str(activity.get("type") or "").lower()
        when = _format_date(activity.get("occurred_at"))
        topic = str(activity.get("subject") or "").strip()
        about = f' about "{topic}"' if topic else ""
        on = f" on {when}" if when else ""
        if kind in {"call", "meeting"}:
            sentence = f"Thank you again for our {kind}{on}{about}."
        elif kind == "email":
            sentence = f"I am following up on my email{on}{about}."
        else:
            sentence = ""
        if sentence:
            evidence = [e for e in (when, topic) if e]
            facts.append(
                PersonalisationFact(
                    key="last_activity",
                    value=f"{kind}{on}{about}".strip(),
                    sentence=sentence,
                    evidence=evidence,
                )
            )
    elif isinstance(activity, str) and activity.strip():
        facts.append(
            PersonalisationFact(
                key="last_activity",
                value=activity.strip(),
                sentence=activity.strip().rstrip(".") + ".",
                evidence=[activity.strip().rstrip(".")],
            )
        )

    outbound = [e for e in context.previous_emails if e.direction == "outbound" and e.subject]
    if outbound and not any(f.key == "last_activity" for f in facts):
        subject = outbound[-1].subject.strip()
        facts.append(
            PersonalisationFact(
                key="previous_email",
                value=subject,
                sentence=f'I wanted to follow up on my note about "{subject}".',
                evidence=[subject],
            )
        )

    industry = facts_in.get("industry") or context.recipient.industry
    if industry:
        whose = possessive(company) if company else "yours"
        facts.append(
            PersonalisationFact(
                key="industry",
                value=str(industry),
                sentence=f"We work with a number of {industry} teams with priorities similar "
                f"to {whose}.",
                evidence=[str(industry)],
            )
        )

    size = next(
        (facts_in[k] for k in ("company_size", "employee_count", "size") if facts_in.get(k)),
        None,
    )
    if size:
        size_text = f"{int(size):,}" if isinstance(size, int | float) else str(size)
        where = f" at {company}" if company else ""
        facts.append(
            PersonalisationFact(
                key="company_size",
                value=size_text,
                sentence=f"With around {size_text} people{where}, small gains per person add "
                "up quickly.",
                evidence=[size_text],
            )
        )

    stage = str(facts_in.get("deal_stage") or "").lower()
    if stage in _STAGE_SENTENCES:
        facts.append(
            PersonalisationFact(
                key="deal_stage",
                value=stage,
                sentence=_STAGE_SENTENCES[stage],
                evidence=[_STAGE_SENTENCES[stage][:40]],
            )
        )

    score = facts_in.get("lead_score")
    if isinstance(score, int | float) and not isinstance(score, bool):
        band = lead_band(float(score))
        facts.append(
            PersonalisationFact(
                key="lead_score", value=f"{float(score):g} ({band})", evidence=[_CTA_BY_BAND[band]]
            )
        )
    return facts


def select_call_to_action(facts: Sequence[PersonalisationFact]) -> str:
    """Return the call to action matching the lead-score fact (empty without one)."""
    for fact in facts:
        if fact.key == "lead_score":
            return fact.evidence[0]
    return ""


def load_crm_context(session: Any, contact_id: Any) -> tuple[Recipient, dict[str, Any]]:
    """Read a contact's recipient details and personalisation facts from the CRM.

    Args:
        session: An open SQLAlchemy session (``haste.db.session_scope``).
        contact_id: The contact's id (UUID or its string).

    Returns:
        The :class:`Recipient` and the facts for :func:`build_personalisation`: ``industry``,
        ``employee_count``, ``last_activity`` (latest call/meeting/email), ``lead_score``
        (latest) and ``deal_stage`` (most recent open deal), each only when present.

    Raises:
        LookupError: When the contact does not exist.
    """
    import uuid

    from sqlalchemy import select

    from haste.db import Activity, Company, Contact, Deal, LeadScore

    key = contact_id if isinstance(contact_id, uuid.UUID) else uuid.UUID(str(contact_id))
    contact = session.get(Contact, key)
    if contact is None:
        raise LookupError(f"contact {contact_id} not found")
    company = session.get(Company, contact.company_id) if contact.company_id else None
    recipient = Recipient(
        contact_id=str(contact.id),
        first_name=contact.first_name or "there",
        last_name=contact.last_name,
        email=contact.email,
        title=contact.job_title,
        company=company.name if company else None,
        industry=company.industry if company else None,
    )
    facts: dict[str, Any] = {}
    if company is not None:
        if company.industry:
            facts["industry"] = company.industry
        if company.employee_count:
            facts["employee_count"] = int(company.employee_count)
    activity = session.scalars(
        select(Activity)
        .where(Activity.contact_id == key, Activity.type.in_(("call", "meeting", "email")))
        .order_by(Activity.occurred_at.desc())
        .limit(1)
    ).first()
    if activity is not None:
        facts["last_activity"] = {
            "type": activity.type,
            "subject": activity.subject,
            "occurred_at": activity.occurred_at,
        }
    score = session.scalars(
        select(LeadScore)
        .where(LeadScore.contact_id == key)
        .order_by(LeadScore.calculated_at.desc())
        .limit(1)
    ).first()
    if score is not None:
        facts["lead_score"] = int(score.score)
    deal = session.scalars(
        select(Deal)
        .where(Deal.contact_id == key, Deal.stage.in_(sorted(OPEN_DEAL_STAGES)))
        .order_by(Deal.created_at.desc())
        .limit(1)
    ).first()
    if deal is not None:
        facts["deal_stage"] = deal.stage
    return recipient, facts
