"""The seeded content library: templates, sequence steps, documents, case studies, subjects.

Every item is a plain dict with the columns of :class:`haste.db.ContentItem`. Bodies use
``{slot}`` placeholders; ``slots`` types each placeholder and names the CRM field it is filled
from (``{"first_name": {"type": "str", "source": "contact.first_name"}}``).
:func:`seed_library` inserts the items whose name is not stored yet (idempotent).
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

#: The typed slots the library's bodies use (name -> type and CRM source).
SLOT_TYPES: dict[str, dict[str, str]] = {
    "first_name": {"type": "str", "source": "contact.first_name"},
    "company": {"type": "str", "source": "company.name"},
    "industry": {"type": "str", "source": "company.industry"},
    "job_title": {"type": "str", "source": "contact.job_title"},
    "sender_name": {"type": "str", "source": "user.full_name"},
    "deal_amount": {"type": "money", "source": "deal.amount"},
    "close_date": {"type": "date", "source": "deal.expected_close_date"},
    "meeting_date": {"type": "date", "source": "activity.next_meeting"},
    "pain_points": {"type": "list", "source": "conversation.pain_points"},
}

_SIGN = "\n\nBest,\n{sender_name}"


def _slots(*names: str) -> dict[str, dict[str, str]]:
    """Return the typed slot metadata of ``names``."""
    return {name: dict(SLOT_TYPES[name]) for name in names}


def _item(kind: str, name: str, topic: str, subject: str | None, body: str, *slots: str,
          sequence: str | None = None, step: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Return one library item as a row of ``content_items``."""
    return {
        "kind": kind,
        "name": name,
        "topic": topic,
        "subject": subject,
        "body": body,
        "slots": _slots(*slots),
        "sequence_name": sequence,
        "step_number": step,
        "is_active": True,
    }


def library_items() -> list[dict[str, Any]]:
    """Return the seeded library (29 items across the five kinds), in a stable order."""
    t, s, d, c, sl = "email_template", "sequence_step", "document", "case_study", "subject_line"
    name_co, sign = ("first_name", "company"), ("sender_name",)
    items = [
        _item(
            t,
            "Intro - short and direct",
            "intro",
            "Quick question, {first_name}",
            "Hi {first_name},\n\nI work with revenue teams like {company}'s to cut the time "
            "reps spend on admin. Worth a 15-minute call next week?" + _SIGN,
            *name_co,
            *sign,
        ),
        _item(
            t,
            "Intro - industry insight",
            "intro",
            "What {industry} teams changed this year",
            "Hi {first_name},\n\nThree {industry} teams we work with moved their pipeline "
            "reviews to live scores this year; the pattern may fit {company} too. Shall I "
            "send the one-page summary?" + _SIGN,
            *name_co,
            "industry",
            *sign,
        ),
        _item(
            t,
            "Follow-up after demo",
            "follow_up",
            "Next steps after our demo",
            "Hi {first_name},\n\nThanks for the time on the demo. As promised, here is the "
            "plan we discussed for {company}, and the points you raised: {pain_points}. Could "
            "we confirm the pilot by {close_date}?" + _SIGN,
            *name_co,
            "pain_points",
            "close_date",
            *sign,
        ),
        _item(
            t,
            "Pricing and ROI",
            "roi",
            "{company}: the numbers behind the proposal",
            "Hi {first_name},\n\nAttached is the ROI model for a {deal_amount} investment: "
            "most teams recover it within two quarters. Happy to walk your finance lead "
            "through it." + _SIGN,
            *name_co,
            "deal_amount",
            *sign,
        ),
        _item(
            t,
            "Security review pack",
            "security",
            "Security documentation for {company}",
            "Hi {first_name},\n\nHere are our SOC 2 report, the data-processing agreement and "
            "the answers to the standard questionnaire, so your security review at {company} "
            "can start today." + _SIGN,
            *name_co,
            *sign,
        ),
        _item(
            t,
            "Re-engagement - closing the loop",
            "re_engagement",
            "Should I close your file, {first_name}?",
            "Hi {first_name},\n\nI have not heard back, so I assume timing is off for "
            "{company}. Should I check in next quarter instead?" + _SIGN,
            *name_co,
            *sign,
        ),
        _item(
            t,
            "Meeting confirmation",
            "meeting",
            "Confirmed: {meeting_date}",
            "Hi {first_name},\n\nConfirming our meeting on {meeting_date}. I will bring a "
            "short agenda built around {pain_points}." + _SIGN,
            "first_name",
            "meeting_date",
            "pain_points",
            *sign,
        ),
        _item(
            t,
            "Executive sponsor note",
            "executive",
            "A note for {company}'s leadership",
            "Hi {first_name},\n\nAs {job_title} you will care less about features and more "
            "about forecast accuracy: here is what changed for peers who switched." + _SIGN,
            *name_co,
            "job_title",
            *sign,
        ),
        _item(
            s,
            "Outbound sequence - step 1 (intro)",
            "intro",
            "{company} + hasteCRM",
            "Hi {first_name}, reaching out because {company} is hiring sales reps; we help "
            "new reps ramp faster." + _SIGN,
            *name_co,
            *sign,
            sequence="Outbound prospecting",
            step=1,
        ),
        _item(
            s,
            "Outbound sequence - step 2 (value)",
            "roi",
            "Re: {company} + hasteCRM",
            "Hi {first_name}, one number: teams like yours save 6 hours per rep per week. "
            "Worth a look?" + _SIGN,
            *name_co,
            *sign,
            sequence="Outbound prospecting",
            step=2,
        ),
        _item(
            s,
            "Outbound sequence - step 3 (breakup)",
            "re_engagement",
            "Last note",
            "Hi {first_name}, I will stop here. If pipeline visibility becomes a priority at "
            "{company}, this is the link to book a call." + _SIGN,
            *name_co,
            *sign,
            sequence="Outbound prospecting",
            step=3,
        ),
        _item(
            s,
            "Trial nurture - step 1 (welcome)",
            "onboarding",
            "Welcome to your trial",
            "Hi {first_name}, your trial for {company} is live. The first thing to try is "
            "importing last quarter's deals." + _SIGN,
            *name_co,
            *sign,
            sequence="Trial nurture",
            step=1,
        ),
        _item(
            s,
            "Trial nurture - step 2 (tips)",
            "onboarding",
            "3 things top trial users do",
            "Hi {first_name}, the teams that convert connect their inbox, score their leads "
            "and set one workflow in week one." + _SIGN,
            "first_name",
            *sign,
            sequence="Trial nurture",
            step=2,
        ),
        _item(
            s,
            "Trial nurture - step 3 (offer)",
            "pricing",
            "Your trial ends on {close_date}",
            "Hi {first_name}, your trial ends on {close_date}; keep everything you set up "
            "with the growth plan." + _SIGN,
            "first_name",
            "close_date",
            *sign,
            sequence="Trial nurture",
            step=3,
        ),
        _item(
            d,
            "Buyer's guide to AI in sales",
            "education",
            "The buyer's guide to AI in sales",
            "A 12-page guide for {job_title}s: what AI scoring can and cannot do, how to "
            "measure it, and the questions to ask vendors.",
            "job_title",
        ),
        _item(
            d,
            "Security and compliance overview",
            "security",
            "Security and compliance overview",
            "SOC 2 Type II, GDPR data processing, encryption at rest and in transit, data "
            "residency options, for {company}'s review.",
            "company",
        ),
        _item(
            d,
            "Implementation plan template",
            "onboarding",
            "Your 30-day implementation plan",
            "A week-by-week plan for {company}: data import, integrations, training and the "
            "go-live review.",
            "company",
        ),
        _item(
            d,
            "ROI calculator",
            "roi",
            "ROI calculator",
            "A spreadsheet that turns {company}'s team size and deal volume into hours "
            "saved and a payback period.",
            "company",
        ),
        _item(
            d,
            "Product one-pager",
            "product",
            "hasteCRM at a glance",
            "One page: lead scoring, deal predictions, email AI and workflow automation.",
        ),
        _item(
            c,
            "Case study - healthcare network",
            "roi",
            "How a healthcare network cut its sales cycle by 23%",
            "A regional healthcare provider replaced spreadsheets with predictive scoring "
            "and closed deals 23% faster while meeting HIPAA requirements.",
        ),
        _item(
            c,
            "Case study - fintech scale-up",
            "roi",
            "From 8 to 40 reps without chaos",
            "A fintech scale-up grew its team fivefold and kept forecast error under 5%.",
        ),
        _item(
            c,
            "Case study - manufacturer",
            "product",
            "How a manufacturer found 30% more pipeline",
            "A mid-size manufacturer revived dormant accounts with re-engagement sequences.",
        ),
        _item(
            c,
            "Case study - software company",
            "product",
            "A SaaS team's first 90 days",
            "A B2B software company went live in two weeks and doubled its reply rate.",
        ),
        _item(sl, "Subject - question", "intro", "Quick question, {first_name}?", "", "first_name"),
        _item(
            sl, "Subject - personalised company", "intro", "An idea for {company}", "", "company"
        ),
        _item(sl, "Subject - number", "roi", "6 hours back per rep, per week", ""),
        _item(
            sl,
            "Subject - social proof",
            "product",
            "How teams like {company}'s win more",
            "",
            "company",
        ),
        _item(sl, "Subject - urgency", "pricing", "Before {close_date}", "", "close_date"),
        _item(sl, "Subject - plain", "intro", "hasteCRM", ""),
    ]
    return items


def seed_library(url: str | None = None) -> int:
    """Insert the library items whose name is not stored yet.

    Args:
        url: Database URL (defaults to the configured one).

    Returns:
        The number of items inserted (0 when the library is already there).
    """
    from sqlalchemy import select

    from haste.db import ContentItem, session_scope

    with session_scope(url) as session:
        stored = set(session.scalars(select(ContentItem.name)))
        missing = [item for item in library_items() if item["name"] not in stored]
        session.add_all(ContentItem(**item) for item in missing)
    logger.info("content library: %d items inserted", len(missing))
    return len(missing)
