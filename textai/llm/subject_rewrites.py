"""Rule-based rewrites of a subject line: personalised, question, benefit first, shorter, ...

:func:`generate_subject_variants` proposes deterministic rewrites of a subject line from what
is known about the recipient and the email (:class:`SubjectContext`). The offline provider
answers subject requests with them, and :func:`textai.email.subjects.optimize_subject` scores
them (with any LLM variants) to pick the best. Every variant is cleaned of spam-trigger
phrases (:func:`clean_subject`) and capped at :data:`MAX_SUBJECT_CHARS` characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

#: Phrases that spam filters and readers associate with bulk marketing (kept short on purpose).
SPAM_PHRASES: tuple[str, ...] = (
    "free",
    "act now",
    "urgent",
    "limited time",
    "guarantee",
    "guaranteed",
    "risk-free",
    "risk free",
    "winner",
    "cash",
    "100%",
    "click here",
    "buy now",
    "order now",
    "don't miss",
    "last chance",
    "exclusive deal",
    "special promotion",
    "no cost",
    "earn money",
    "$$$",
    "amazing",
    "congratulations",
)
FILLER_PHRASES: tuple[str, ...] = (
    "just wanted to",
    "i wanted to",
    "following up on",
    "following up",
    "checking in on",
    "regarding",
    "re:",
    "fwd:",
    "quick",
    "just",
    "about our",
    "a note about",
    "an update on",
    "update on",
    "touching base on",
    "touching base",
)
_DANGLING_WORDS: frozenset[str] = frozenset(
    {"a", "an", "the", "for", "to", "of", "and", "on", "with", "at", "in", "your", "our"}
)
ACRONYMS: frozenset[str] = frozenset({"CRM", "ROI", "API", "SOW", "Q1", "Q2", "Q3", "Q4", "AI"})
#: The target length band of a subject line in characters (mobile clients cut longer ones).
TARGET_MIN_CHARS = 30
TARGET_MAX_CHARS = 50
#: The longest subject line any rewrite returns.
MAX_SUBJECT_CHARS = 78

_PURPOSE_BENEFITS: dict[str, str] = {
    "intro": "Less busywork for your reps",
    "follow_up": "Next steps",
    "meeting_request": "20 minutes",
    "proposal": "Your proposal",
    "renewal": "Keep your current rate",
    "win_back": "What's changed",
    "thank_you": "Thank you",
    "pricing": "Your pricing",
    "check_in": "How it's going",
}
_PURPOSE_QUESTIONS: dict[str, str] = {
    "intro": "Is {pain_point} slowing {company} down?",
    "follow_up": "Any thoughts on {topic}?",
    "meeting_request": "Free for 15 minutes this week, {first_name}?",
    "proposal": "Any questions on the proposal for {company}?",
    "renewal": "Shall we lock in {company}'s renewal?",
    "win_back": "Worth another look, {first_name}?",
    "thank_you": "Anything else I can send over, {first_name}?",
    "pricing": "Does this pricing work for {company}?",
    "check_in": "How is {product} working for {company}?",
}
_QUESTION_DEFAULTS: dict[str, str] = {
    "pain_point": "manual admin",
    "company": "your team",
    "first_name": "",
    "product": "the platform",
}
_PURPOSE_NUMBERS: dict[str, str] = {
    "intro": "3 ideas for {company}",
    "follow_up": "3 next steps",
    "meeting_request": "15 minutes this week",
    "proposal": "2 options inside",
    "renewal": "3 things before you renew",
    "win_back": "3 things we changed",
    "thank_you": "2 resources for {company}",
    "pricing": "2 plans to compare",
    "check_in": "2 tips for your team",
}
_PURPOSE_TIMING: dict[str, str] = {
    "renewal": "ahead of your renewal date",
    "pricing": "before quarter-end",
    "proposal": "ahead of your review",
    "follow_up": "while it's fresh",
    "meeting_request": "this week or next",
    "intro": "before next quarter's planning",
}


class SubjectContext(BaseModel):
    """What the subject rules may use about the recipient and the email.

    Attributes:
        first_name: Recipient's first name.
        company: Recipient's company.
        product: Product being sold.
        purpose: Email purpose (``intro``, ``renewal``, ...).
        pain_point: The recipient's problem, in a few words.
    """

    first_name: str | None = Field(None, max_length=100)
    company: str | None = Field(None, max_length=255)
    product: str | None = Field(None, max_length=200)
    purpose: str | None = Field(None, max_length=50)
    pain_point: str | None = Field(None, max_length=300)


@dataclass(frozen=True)
class SubjectVariant:
    """One rewrite of a subject line.

    Attributes:
        text: The rewritten subject.
        rule: The rule that produced it.
    """

    text: str
    rule: str


def coerce_subject_context(context: Any) -> SubjectContext:
    """Build a :class:`SubjectContext` from ``None``, a mapping, or an ``EmailContext``.

    Args:
        context: ``None``, a mapping with ``first_name``/``company``/..., a
            :class:`SubjectContext` or an object with ``recipient``, ``product``, ``purpose``
            and ``pain_point`` attributes (``textai.email.models.EmailContext``).

    Returns:
        The subject context.
    """
    if context is None:
        return SubjectContext()
    if isinstance(context, SubjectContext):
        return context
    if isinstance(context, Mapping):
        known = {k: context.get(k) for k in SubjectContext.model_fields if context.get(k)}
        if "first_name" not in known and context.get("recipient_name"):
            known["first_name"] = str(context["recipient_name"]).split()[0]
        return SubjectContext(**{k: str(v) for k, v in known.items()})
    recipient = getattr(context, "recipient", None)
    return SubjectContext(
        first_name=getattr(recipient, "first_name", None),
        company=getattr(recipient, "company", None),
        product=getattr(context, "product", None),
        purpose=getattr(context, "purpose", None),
        pain_point=getattr(context, "pain_point", None),
    )


def clean_subject(subject: str) -> str:
    """Strip ``Re:``/``Fwd:`` prefixes, spam phrases, shouting and repeated punctuation.

    Args:
        subject: The subject line.

    Returns:
        The cleaned subject (may be empty).
    """
    text = re.sub(r"^\s*((re|fwd?|fw)\s*:\s*)+", "", subject or "", flags=re.IGNORECASE)
    for phrase in sorted(SPAM_PHRASES, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(phrase)}(?!\w)", "", text, flags=re.IGNORECASE)
    words = [w.capitalize() if is_shouting(w) else w for w in text.split()]
    text = " ".join(words)
    text = re.sub(r"([!?.])\1+", r"\1", text).replace("!", "")
    text = re.sub(r"\s+([,:;?])", r"\1", text)
    return re.sub(r"^[\s:,\-–—]+|[\s:,\-–—]+$", "", text).strip()


def is_shouting(word: str) -> bool:
    """Return whether a word is written in capitals (not a known acronym).

    Args:
        word: One word of a subject line.

    Returns:
        ``True`` for three or more letters, all capitals, that are not in :data:`ACRONYMS`.
    """
    letters = re.sub(r"[^A-Za-z]", "", word)
    return len(letters) >= 3 and letters.isupper() and letters not in ACRONYMS


def _lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym or a name-like token."""
    if not text:
        return text
    first = text.split()[0]
    if first.isupper() or (len(first) > 1 and any(c.isupper() for c in first[1:])):
        return text
    return text[0].lower() + text[1:]


def _upper_first(text: str) -> str:
    """Capitalise the first letter."""
    return text[:1].upper() + text[1:] if text else text


def _strip_fillers(text: str) -> str:
    """Remove filler phrases (``following up on``, ``quick``, ``re:``) from a subject."""
    short = text
    for phrase in sorted(FILLER_PHRASES, key=len, reverse=True):
        short = re.sub(rf"(?<!\w){re.escape(phrase)}(?!\w)", "", short, flags=re.IGNORECASE)
    return re.sub(r"\s{2,}", " ", short).strip(" ,:-")


def _cap_words(text: str, limit: int) -> str:
    """Cut a text at a word boundary to at most ``limit`` characters (no dangling words)."""
    if len(text) <= limit:
        return text
    words = text.split()
    while words and len(" ".join(words)) > limit:
        words.pop()
    while len(words) > 1 and words[-1].lower().strip(",:;-") in _DANGLING_WORDS:
        words.pop()
    return " ".join(words).rstrip(",:;- ")


def _fill(template: str, values: Mapping[str, str | None]) -> str:
    """Fill ``{name}`` slots from values, then tidy the punctuation left by empty ones."""
    text = template
    for key, value in values.items():
        text = text.replace("{" + key + "}", value or _QUESTION_DEFAULTS.get(key, ""))
    text = re.sub(r",\s*([?!.])", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def generate_subject_variants(
    subject: str, context: Any = None, n: int = 5
) -> list[SubjectVariant]:
    """Rewrite a subject line with deterministic rules.

    Rules, in priority order: ``personalise_name`` (first name up front),
    ``personalise_company`` (the company named), ``question`` (a question suited to the
    purpose), ``benefit_first`` (the benefit or the pain point leads), ``shorter`` (filler
    phrases dropped; strictly shorter than the input, at least two words), ``specific_number``
    (a concrete number), ``timely`` (a reason to act now, without spam words) and
    ``longer_specific`` (adds product and company; strictly longer than the input). Variants
    identical to the input or to each other (case-insensitive) are dropped; every variant is
    cleaned of spam words and capped at 78 characters.

    Args:
        subject: The subject line to improve.
        context: Recipient/email context (see :func:`coerce_subject_context`).
        n: Maximum number of variants.

    Returns:
        Up to ``n`` distinct variants, in rule order.
    """
    ctx = coerce_subject_context(context)
    purpose = ctx.purpose or ""
    core = clean_subject(subject).rstrip("?.! ")
    if not core:
        core = _PURPOSE_BENEFITS.get(purpose, "A quick idea")
    if len(core) > TARGET_MAX_CHARS:
        core = _cap_words(core, TARGET_MAX_CHARS - 5)
    topic = _strip_fillers(core) or core
    if len(topic.split()) < 2:
        topic = core
    core_lower, topic_lower = _lower_first(core), _lower_first(topic)
    name, company, product = ctx.first_name, ctx.company, ctx.product
    slots = {
        "first_name": name,
        "company": company,
        "product": product,
        "pain_point": ctx.pain_point,
        "topic": topic_lower,
    }
    candidates: list[SubjectVariant] = []

    if name and name.lower() not in core.lower():
        candidates.append(SubjectVariant(f"{name}, {core_lower}", "personalise_name"))
    if company and company.lower() not in core.lower():
        candidates.append(SubjectVariant(f"{core} for {company}", "personalise_company"))
    question = _PURPOSE_QUESTIONS.get(purpose, "{topic}: any thoughts?")
    if question.startswith("{topic}"):
        question = question.replace("{topic}", topic)
    candidates.append(SubjectVariant(_fill(question, slots), "question"))
    if ctx.pain_point:
        benefit = f"Less {ctx.pain_point.strip().rstrip('.')}"
    else:
        benefit = _PURPOSE_BENEFITS.get(purpose, "")
    if benefit and benefit.lower() not in core.lower():
        tail = f": {topic_lower}" if len(topic.split()) >= 2 else f" for {company or 'your team'}"
        candidates.append(SubjectVariant(f"{_upper_first(benefit)}{tail}", "benefit_first"))
    short = _strip_fillers(clean_subject(subject))
    if len(short) > TARGET_MAX_CHARS:
        short = _cap_words(short, TARGET_MAX_CHARS - 5)
    if len(short.split()) >= 2 and len(short) < len((subject or "").strip()):
        candidates.append(SubjectVariant(_upper_first(short), "shorter"))
    number = _fill(_PURPOSE_NUMBERS.get(purpose, "3 ideas for {company}"), slots)
    if number.lower() not in topic.lower() and topic.lower() not in number.lower():
        candidates.append(SubjectVariant(f"{topic}: {number}", "specific_number"))
    timing = _PURPOSE_TIMING.get(purpose)
    if timing:
        candidates.append(SubjectVariant(f"{topic}, {timing}", "timely"))
    extra = [part for part in (product, company) if part and part.lower() not in core.lower()]
    if extra:
        longer = f"{core}: {extra[0]} for {extra[1]}" if len(extra) == 2 else f"{core}: {extra[0]}"
        if len(longer) > len((subject or "").strip()):
            candidates.append(SubjectVariant(longer, "longer_specific"))

    seen = {re.sub(r"\W+", " ", (subject or "").lower()).strip()}
    variants: list[SubjectVariant] = []
    for candidate in candidates:
        text = clean_subject(candidate.text) if candidate.rule != "question" else candidate.text
        text = re.sub(r"\s{2,}", " ", text).strip()
        text = _cap_words(_upper_first(text), MAX_SUBJECT_CHARS)
        key = re.sub(r"\W+", " ", text.lower()).strip()
        if not text or key in seen:
            continue
        seen.add(key)
        variants.append(SubjectVariant(text, candidate.rule))
        if len(variants) >= n:
            break
    return variants
