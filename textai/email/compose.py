"""Email composition: prompt variables, few-shot examples, model call and guard rails.

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

The personalisation facts come from :mod:`textai.email.personalisation`, the answer is read by
:mod:`textai.email.model_answers` and the tone rules are :mod:`textai.llm.email_tone`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from textai.email.model_answers import parse_email_text, resolve_placeholders
from textai.email.models import (
    MAX_BODY_WORDS,
    MAX_SUBJECT_CHARS,
    MIN_BODY_WORDS,
    EmailContext,
    EmailDraft,
    EmailRetriever,
    GenerateFn,
    PersonalisationFact,
)
from textai.email.personalisation import build_personalisation, select_call_to_action
from textai.llm.email_tone import apply_tone, count_words, enforce_length, split_paragraphs

logger = logging.getLogger(__name__)


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


def _fact_is_used(fact: PersonalisationFact, body: str) -> bool:
    """Return whether the body states (or, for internal facts, acts on) a fact."""
    lower = body.lower()
    if fact.sentence and fact.sentence.lower()[:40] in lower:
        return True
    return any(term and term.lower() in lower for term in fact.evidence)


def _insert_after_opening(body: str, sentence: str) -> str:
    """Insert a paragraph after the greeting (and the friendly opener, when present)."""
    paragraphs = split_paragraphs(body)
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
    word_count = count_words(body)
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
