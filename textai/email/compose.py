"""Email composition (tone, personalisation, guard rails) and reply suggestions.

:func:`compose_email` turns an :class:`EmailContext` plus CRM facts into prompt variables for
the ``email_compose`` prompt (``configs/prompts/email_compose.yaml``), few-shot examples
retrieved from the successful-email corpus when a retriever is given, calls a ``generate``
dependency ``(prompt_name, variables) -> text`` (the LLM service, the offline provider or a
test double) and enforces on the answer:

* **tone markers**: formal = ``Dear <name>,`` ... ``Kind regards,``; casual = ``Hi <name>,`` ...
  ``Cheers,``; friendly = ``Hi <name>,`` + an ``I hope ...`` opener ... ``Best,`` (formal also
  expands contractions and drops exclamation marks);
* **personalisation**: at least one CRM fact is used (the first is inserted and flagged when
  the model ignored them all);
* **length bounds**: bodies over ``max_words`` are cut at sentence boundaries, short ones are
  flagged;
* **no unresolved placeholders**: ``{first_name}``, ``{{company}}``, ``[PERSON_1]``,
  ``[Your Name]``, ``<company>`` left by the model are filled from the context (or neutral
  wording) and flagged in ``warnings``.

:func:`suggest_replies` scores the incoming email with the sentiment model, orders the reply
intents (accept / decline / ask_info / schedule) by what the email asks for, and makes every
reply to a negative email open with an acknowledgement.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pipelines.corpora.emails import (
    MISSING_VALUE_REWRITES,
    PLACEHOLDER_DEFAULTS,
)
from textai.email.models import (
    MAX_BODY_WORDS,
    MAX_SUBJECT_CHARS,
    MIN_BODY_WORDS,
    OPEN_DEAL_STAGES,
    EmailContext,
    EmailDraft,
    EmailRetriever,
    GenerateFn,
    PersonalisationFact,
    Recipient,
)
from textai.email.tone import (
    _count_words,
    _split_paragraphs,
    apply_tone,
    enforce_length,
)

logger = logging.getLogger(__name__)


_BRACKET_TOKEN = re.compile(
    r"\{\{?\s*([A-Za-z_][\w ]*?)\s*\}?\}"
    r"|\[([A-Z][A-Za-z_ ]{0,30}?)(?:[_\- ]?(\d+))?(?:_(FIRST|LAST))?\](?!\()"
    r"|<([a-z_]{2,30})>"
)
_TOKEN_ALIASES: dict[str, str] = {
    "first_name": "first_name",
    "firstname": "first_name",
    "name": "first_name",
    "recipient": "first_name",
    "recipient_name": "first_name",
    "recipient_first_name": "first_name",
    "contact": "first_name",
    "contact_name": "first_name",
    "person": "first_name",
    "last_name": "last_name",
    "lastname": "last_name",
    "company": "company",
    "company_name": "company",
    "org": "company",
    "organization": "company",
    "organisation": "company",
    "account": "company",
    "your_name": "sender_name",
    "my_name": "sender_name",
    "sender": "sender_name",
    "sender_name": "sender_name",
    "product": "product",
    "product_name": "product",
    "email": "email",
    "email_address": "email",
    "title": "title",
    "job_title": "title",
    "industry": "industry",
    "pain_point": "pain_point",
    "date": "date",
    "amount": "amount",
    "price": "amount",
}
_PURPOSE_SUBJECTS: dict[str, str] = {
    "intro": "An idea for {company}",
    "follow_up": "Following up, {first_name}",
    "meeting_request": "20 minutes next week, {first_name}?",
    "proposal": "Your proposal from {sender_name}",
    "renewal": "Your upcoming renewal",
    "win_back": "What's new since we last spoke",
    "thank_you": "Thank you, {first_name}",
    "pricing": "Pricing for {company}",
    "check_in": "How are things at {company}?",
}
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


def build_compose_variables(
    context: EmailContext,
    facts: Sequence[PersonalisationFact],
    examples: Sequence[Mapping[str, Any]] = (),
    *,
    min_words: int = MIN_BODY_WORDS,
    max_words: int = MAX_BODY_WORDS,
) -> dict[str, Any]:
    """Return the variables of the ``email_compose`` prompt.

    Args:
        context: The email context.
        facts: Personalisation facts (:func:`build_personalisation`).
        examples: Few-shot examples (``id``, ``subject``, ``body``) from the corpus.
        min_words: Lower bound given to the model.
        max_words: Upper bound given to the model.

    Returns:
        The prompt variables (every optional one present, possibly empty).
    """
    recipient = context.recipient
    previous = [
        {
            "subject": email.subject,
            "body": email.body[:600],
            "direction": email.direction,
            "sent_at": email.sent_at.isoformat() if email.sent_at else "",
        }
        for email in context.previous_emails[-3:]
    ]
    return {
        "recipient_name": recipient.first_name,
        "recipient_last_name": recipient.last_name or "",
        "recipient_title": recipient.title or "",
        "company": recipient.company or "",
        "industry": recipient.industry or "",
        "purpose": context.purpose,
        "tone": context.tone,
        "sender_name": context.sender_name,
        "product": context.product or "",
        "pain_point": context.pain_point or "",
        "notes": context.notes or "",
        "personalisation": [fact.sentence for fact in facts if not fact.is_internal],
        "call_to_action": select_call_to_action(facts),
        "previous_emails": previous,
        "examples": [
            {
                "id": str(e.get("id", "")),
                "subject": str(e.get("subject", "")),
                "body": str(e.get("body", "")),
            }
            for e in examples
        ],
        "min_words": min_words,
        "max_words": max_words,
    }


def parse_email_text(text: str) -> tuple[str | None, str]:
    """Split a model answer into subject and body.

    The subject is the first line starting with ``Subject:`` (markdown emphasis allowed); a
    leading ``Body:`` label and surrounding code fences are removed.

    Args:
        text: The model's answer.

    Returns:
        ``(subject or None, body)``.
    """
    cleaned = re.sub(r"^```\w*\s*|\s*```\s*$", "", (text or "").strip())
    lines = cleaned.splitlines()
    subject = None
    for index, line in enumerate(lines[:5]):
        match = re.match(r"^\s*\**\s*subject\s*\**\s*:\s*\**\s*(.*?)\**\s*$", line, re.IGNORECASE)
        if match:
            subject = match.group(1).strip() or None
            lines = lines[:index] + lines[index + 1 :]
            break
    body = "\n".join(lines).strip()
    body = re.sub(r"^\s*\**\s*body\s*\**\s*:\s*", "", body, flags=re.IGNORECASE)
    return subject, body.strip()


def resolve_placeholders(
    text: str, values: Mapping[str, str | None], *, label: str = "text"
) -> tuple[str, list[str]]:
    """Fill placeholders the model left (``{x}``, ``{{x}}``, ``[PERSON_1]``, ``<company>``).

    Known names are filled from ``values``; names without a value get neutral wording
    (:data:`~pipelines.corpora.emails.PLACEHOLDER_DEFAULTS`); unknown tokens are removed.

    Args:
        text: Text that may contain placeholders.
        values: Values by placeholder name (``first_name``, ``company``, ``sender_name``...).
        label: Where the text comes from (``subject``/``body``), for the warnings.

    Returns:
        The resolved text and one warning per placeholder found.
    """
    warnings: list[str] = []

    def _replace(match: re.Match[str]) -> str:
        raw = next(g for g in (match.group(1), match.group(2), match.group(5)) if g)
        index, part = match.group(3), match.group(4)
        key = re.sub(r"[\s\-]+", "_", raw.strip().lower()).strip("_")
        name = _TOKEN_ALIASES.get(key)
        if key == "person":
            name = None if index not in (None, "1") else ("last_name" if part == "LAST" else name)
        value = values.get(name) if name else None
        if value:
            replacement = str(value)
            how = "filled from the context"
        elif name and name in PLACEHOLDER_DEFAULTS:
            replacement = PLACEHOLDER_DEFAULTS[name]
            how = "no value: neutral wording used"
        elif key == "person":
            replacement = "a colleague"
            how = "unknown person: neutral wording used"
        else:
            replacement = ""
            how = "unknown: removed"
        before = match.string[: match.start()].rstrip(" \t")
        if replacement and (not before or before[-1] in ".!?\n"):
            replacement = replacement[:1].upper() + replacement[1:]
        warnings.append(f"unresolved placeholder {match.group(0)} in {label} ({how})")
        return replacement

    for name, rewrites in MISSING_VALUE_REWRITES.items():
        if not values.get(name) and re.search(r"\{\{?\s*" + name + r"\s*\}?\}", text):
            for pattern, replacement in rewrites:
                text, count = re.subn(pattern, replacement, text)
                if count:
                    warnings.append(
                        f"unresolved placeholder {{{name}}} in {label} (no value: rephrased)"
                    )
    resolved = _BRACKET_TOKEN.sub(_replace, text)
    if warnings:
        resolved = re.sub(r"[ \t]+([,.;:!?])", r"\1", resolved)
        resolved = re.sub(r"[ \t]{2,}", " ", resolved)
    return resolved, warnings


def _fact_is_used(fact: PersonalisationFact, body: str) -> bool:
    """Return whether the body states (or, for internal facts, acts on) a fact."""
    lower = body.lower()
    if fact.sentence and fact.sentence.lower()[:40] in lower:
        return True
    return any(term and term.lower() in lower for term in fact.evidence)


def _insert_after_opening(body: str, sentence: str) -> str:
    """Insert a paragraph after the greeting (and the friendly opener, when present)."""
    paragraphs = _split_paragraphs(body)
    position = 1
    if (
        len(paragraphs) > 2
        and re.match(r"^I hope\b", paragraphs[1])
        and len(paragraphs[1].split()) <= 14
    ):
        position = 2
    paragraphs.insert(min(position, len(paragraphs)), sentence)
    return "\n\n".join(paragraphs)


def _examples_from(results: Sequence[Any]) -> list[dict[str, Any]]:
    """Turn retriever results (RetrievedEmail, SuccessfulEmail or dicts) into example dicts."""
    examples = []
    for item in results:
        email = getattr(item, "email", item)
        if hasattr(email, "to_example"):
            examples.append(email.to_example())
        elif isinstance(email, Mapping):
            examples.append(dict(email))
    return examples


def build_retrieval_query(context: EmailContext) -> str:
    """Return the text used to retrieve example emails for a context."""
    parts = [
        f"{context.purpose.replace('_', ' ')} email, {context.tone} tone",
        f"about {context.pain_point}" if context.pain_point else "",
        f"for a {context.recipient.industry} company" if context.recipient.industry else "",
        context.notes or "",
    ]
    if context.previous_emails:
        parts.append(f"previous email: {context.previous_emails[-1].subject}")
    return ". ".join(part for part in parts if part)


def compose_email(
    context: EmailContext,
    generate: GenerateFn,
    *,
    crm_facts: Mapping[str, Any] | None = None,
    retriever: EmailRetriever | None = None,
    n_examples: int = 2,
    min_words: int = MIN_BODY_WORDS,
    max_words: int = MAX_BODY_WORDS,
    prompt_name: str = "email_compose",
) -> EmailDraft:
    """Compose one email: prompt variables, model call, tone/length/placeholder guard rails.

    Args:
        context: Recipient, purpose, tone, thread and sender.
        generate: ``(prompt_name, variables) -> text``; the text is ``Subject: ...`` then the
            body (a missing subject line gets a purpose default).
        crm_facts: CRM facts for personalisation (see :func:`build_personalisation`).
        retriever: Retrieves successful emails used as few-shot examples, same-tone ones
            first (their ids become ``template_id``/``sources``); ``None`` sends no examples.
        n_examples: How many examples to retrieve.
        min_words: Bodies shorter than this are flagged.
        max_words: Bodies longer than this are cut at sentence boundaries.
        prompt_name: Prompt rendered by ``generate``.

    Returns:
        The draft.

    Raises:
        ValueError: When ``min_words`` > ``max_words`` or the model returns no text.
    """
    if min_words > max_words:
        raise ValueError(f"min_words ({min_words}) must be <= max_words ({max_words})")
    facts = build_personalisation(context, crm_facts)
    examples: list[dict[str, Any]] = []
    if retriever is not None and n_examples > 0:
        results = retriever.search(
            build_retrieval_query(context),
            k=max(3 * n_examples, 6),
            purpose=context.purpose,
            tone=context.tone,
        )
        candidates = _examples_from(results)
        ranked = sorted(
            range(len(candidates)),
            key=lambda i: (candidates[i].get("tone", context.tone) != context.tone, i),
        )
        examples = [candidates[i] for i in ranked[:n_examples]]
    variables = build_compose_variables(
        context, facts, examples, min_words=min_words, max_words=max_words
    )
    raw = generate(prompt_name, variables)
    if not raw or not raw.strip():
        raise ValueError(f"the model returned no text for prompt {prompt_name!r}")
    subject, body = parse_email_text(raw)
    values = context.to_placeholder_values()
    warnings: list[str] = []

    body, found = resolve_placeholders(body, values, label="body")
    warnings.extend(found)
    if not subject:
        subject = _PURPOSE_SUBJECTS[context.purpose]
        warnings.append("no subject line in the answer: purpose default used")
        subject, _ = resolve_placeholders(subject, values, label="subject")
    else:
        subject, found = resolve_placeholders(subject, values, label="subject")
        warnings.extend(found)
    subject = _clean_subject_line(subject)

    first_name, sender = context.recipient.first_name, context.sender_name
    body = apply_tone(body, context.tone, first_name, sender)
    public = [fact for fact in facts if not fact.is_internal]
    if public and not any(_fact_is_used(fact, body) for fact in public):
        body = _insert_after_opening(body, public[0].sentence)
        warnings.append(f"personalisation added: {public[0].key}")
    body, cut = enforce_length(body, context.tone, first_name, sender, max_words)
    if cut:
        warnings.append(f"body cut to {max_words} words")
    word_count = _count_words(body)
    if word_count < min_words:
        warnings.append(f"body is short ({word_count} words < {min_words})")
    used = [fact.key for fact in facts if _fact_is_used(fact, body)]
    return EmailDraft(
        subject=subject,
        body=body,
        tone=context.tone,
        personalisation_used=used,
        template_id=examples[0]["id"] if examples else None,
        sources=[str(e["id"]) for e in examples if e.get("id")],
        warnings=warnings,
        word_count=word_count,
    )


def _clean_subject_line(subject: str) -> str:
    """Collapse whitespace, strip quotes and cut at a word boundary to 78 characters."""
    text = re.sub(r"\s+", " ", subject).strip().strip("\"'“”").strip()
    if len(text) <= MAX_SUBJECT_CHARS:
        return text
    words = text.split()
    while words and len(" ".join(words)) > MAX_SUBJECT_CHARS:
        words.pop()
    return " ".join(words)


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
