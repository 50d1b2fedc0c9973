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
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from pipelines.corpora.emails import (
    MISSING_VALUE_REWRITES,
    PLACEHOLDER_DEFAULTS,
    Purpose,
    Tone,
)
from textai.email.sentiment import analyze_email_sentiment

logger = logging.getLogger(__name__)

Intent = Literal["accept", "decline", "ask_info", "schedule"]
INTENTS: tuple[str, ...] = ("accept", "decline", "ask_info", "schedule")

MIN_BODY_WORDS = 30
MAX_BODY_WORDS = 220
MAX_SUBJECT_CHARS = 78
OPEN_DEAL_STAGES: frozenset[str] = frozenset(
    {"prospecting", "qualification", "proposal", "negotiation"}
)


class GenerateFn(Protocol):
    """The LLM dependency: render prompt ``prompt_name`` with ``variables`` and return text."""

    def __call__(self, prompt_name: str, variables: dict[str, Any]) -> str:
        """Return the model's answer."""
        ...


class EmailRetriever(Protocol):
    """Nearest successful emails (``pipelines.corpora.emails.EmailIndex``)."""

    def search(
        self, query: str, *, k: int = 3, purpose: str | None = None, tone: str | None = None
    ) -> Sequence[Any]:
        """Return the best matches, best first."""
        ...


class Recipient(BaseModel):
    """Who the email is for.

    Attributes:
        contact_id: CRM contact id, when known.
        first_name: First name (used in the greeting).
        last_name: Last name.
        email: Email address.
        title: Job title.
        company: Company name.
        industry: Company industry.
    """

    model_config = ConfigDict(str_strip_whitespace=True)

    contact_id: str | None = None
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=320)
    title: str | None = Field(default=None, max_length=255)
    company: str | None = Field(default=None, max_length=255)
    industry: str | None = Field(default=None, max_length=100)


class PreviousEmail(BaseModel):
    """An earlier email of the thread.

    Attributes:
        subject: Subject line.
        body: Body text.
        direction: ``outbound`` (we sent it) or ``inbound`` (they did).
        sent_at: When it was sent.
    """

    subject: str = ""
    body: str = ""
    direction: Literal["inbound", "outbound"] = "outbound"
    sent_at: dt.datetime | None = None


class EmailContext(BaseModel):
    """Everything :func:`compose_email` needs to write one email.

    Attributes:
        recipient: The recipient.
        purpose: What the email is for.
        tone: ``formal``, ``casual`` or ``friendly``.
        previous_emails: Earlier emails of the thread, oldest first.
        sender_name: Who signs the email.
        product: The product being discussed.
        pain_point: The recipient's problem, in a few words (``manual lead routing``).
        notes: Extra instructions for the writer (passed to the prompt).
    """

    model_config = ConfigDict(str_strip_whitespace=True)

    recipient: Recipient
    purpose: Purpose = "intro"
    tone: Tone = "friendly"
    previous_emails: list[PreviousEmail] = Field(default_factory=list, max_length=20)
    sender_name: str = Field(min_length=1, max_length=200)
    product: str | None = Field(default=None, max_length=200)
    pain_point: str | None = Field(default=None, max_length=300)
    notes: str | None = Field(default=None, max_length=2000)

    def to_placeholder_values(self) -> dict[str, str]:
        """Return the values of the corpus placeholders known from this context."""
        values = {
            "first_name": self.recipient.first_name,
            "last_name": self.recipient.last_name,
            "company": self.recipient.company,
            "industry": self.recipient.industry,
            "title": self.recipient.title,
            "email": self.recipient.email,
            "sender_name": self.sender_name,
            "product": self.product,
            "pain_point": self.pain_point,
        }
        return {key: value for key, value in values.items() if value}


class PersonalisationFact(BaseModel):
    """One fact used to personalise an email.

    Attributes:
        key: ``industry``, ``company_size``, ``last_activity``, ``previous_email``,
            ``deal_stage`` or ``lead_score``.
        value: The fact's value, as text.
        sentence: Email-ready sentence stating it (empty for internal facts such as the lead
            score, which only shapes the call to action and is never written out).
        evidence: Strings whose presence in the email shows the fact was used.
    """

    key: str
    value: str
    sentence: str = ""
    evidence: list[str] = Field(default_factory=list)

    @property
    def is_internal(self) -> bool:
        """Whether the fact must not be written into the email."""
        return not self.sentence


class EmailDraft(BaseModel):
    """A composed email.

    Attributes:
        subject: Subject line.
        body: Body with greeting and sign-off.
        tone: The tone enforced.
        personalisation_used: Keys of the CRM facts the email uses.
        template_id: Id of the corpus email used as the main example (``None`` without one).
        sources: Ids of every corpus email given to the model as an example.
        warnings: What the guard rails had to fix (placeholders filled, facts inserted, ...).
        word_count: Words in the body.
    """

    subject: str
    body: str
    tone: Tone
    personalisation_used: list[str] = Field(default_factory=list)
    template_id: str | None = None
    sources: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    word_count: int = 0


class ReplySuggestion(BaseModel):
    """A suggested reply to an incoming email.

    Attributes:
        text: The reply.
        intent: ``accept``, ``decline``, ``ask_info`` or ``schedule``.
        sentiment: Sentiment label of the incoming email the reply adapts to.
        sentiment_score: P(positive) - P(negative) of the incoming email.
        acknowledged: Whether the reply opens by acknowledging a negative email.
    """

    text: str
    intent: Intent
    sentiment: str
    sentiment_score: float = 0.0
    acknowledged: bool = False


@dataclass(frozen=True)
class ToneStyle:
    """Markers of one tone.

    Attributes:
        greeting: Greeting line (``{first_name}`` is filled).
        sign_off: Sign-off line above the sender's name.
        opener: Sentence the body must open with (``None``: no constraint).
    """

    greeting: str
    sign_off: str
    opener: str | None = None


TONE_STYLES: dict[str, ToneStyle] = {
    "formal": ToneStyle("Dear {first_name},", "Kind regards,"),
    "casual": ToneStyle("Hi {first_name},", "Cheers,"),
    "friendly": ToneStyle("Hi {first_name},", "Best,", "I hope you're having a good week."),
}

_CONTRACTIONS: dict[str, str] = {
    "I'm": "I am",
    "I've": "I have",
    "I'd": "I would",
    "I'll": "I will",
    "you're": "you are",
    "you've": "you have",
    "you'd": "you would",
    "you'll": "you will",
    "we're": "we are",
    "we've": "we have",
    "we'd": "we would",
    "we'll": "we will",
    "it's": "it is",
    "that's": "that is",
    "there's": "there is",
    "don't": "do not",
    "doesn't": "does not",
    "didn't": "did not",
    "can't": "cannot",
    "won't": "will not",
    "isn't": "is not",
    "aren't": "are not",
    "wasn't": "was not",
    "haven't": "have not",
    "let's": "let us",
    "here's": "here is",
    "what's": "what is",
}
_GREETING_LINE = re.compile(
    r"^\s*(dear|hi|hello|hey|hiya|greetings|good (morning|afternoon|evening))\b[^\n]{0,60}$",
    re.IGNORECASE,
)
_SIGN_OFF_PHRASE = re.compile(
    r"^\s*(kind regards|best regards|warm regards|regards|best wishes|best|cheers|thanks|"
    r"thank you|many thanks|sincerely|yours sincerely|yours faithfully|warmly|all the best|"
    r"talk soon|speak soon)\b[\s,.!]*",
    re.IGNORECASE,
)
_ACKNOWLEDGEMENT = re.compile(
    r"\b(sorry|apologi[sz]e|apologies|understand|hear you|thank you for (raising|flagging|"
    r"letting|telling|your patience|your honest)|acknowledge)\b",
    re.IGNORECASE,
)
_ACK_SENTENCE = (
    "I'm sorry for the frustration this has caused, and thank you for telling me directly."
)
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


def _split_paragraphs(text: str) -> list[str]:
    """Split a body into non-empty paragraphs (blank-line separated)."""
    return [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def strip_greeting_and_sign_off(body: str) -> str:
    """Remove the greeting line at the top and the sign-off block at the bottom.

    Args:
        body: Email body.

    Returns:
        The content between greeting and sign-off.
    """
    lines = [line.rstrip() for line in body.strip().splitlines()]
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines and _GREETING_LINE.match(lines[0]) and len(lines[0].split()) <= 8:
        first = lines.pop(0)
        rest_of_greeting = re.sub(
            r"^\s*(dear|hi|hello|hey|hiya|greetings|good (morning|afternoon|evening))\b"
            r"[^,!\n]*[,!]?",
            "",
            first,
            flags=re.IGNORECASE,
        ).strip()
        if rest_of_greeting:
            lines.insert(0, rest_of_greeting)
    while lines and not lines[-1].strip():
        lines.pop()
    # Sign-off: "<phrase>,\n<name>" or "<phrase>, <name>" or "<phrase>" on the last lines.
    for depth in (2, 1):
        if len(lines) >= depth:
            tail = [line.strip() for line in lines[-depth:]]
            phrase_line = tail[0]
            if _SIGN_OFF_PHRASE.match(phrase_line) and len(phrase_line.split()) <= 6:
                name_ok = depth == 1 or (
                    len(tail[1].split()) <= 5 and not tail[1].endswith((".", "?", "!"))
                )
                if name_ok:
                    del lines[-depth:]
                    break
    return "\n".join(lines).strip()


def _expand_contractions(text: str) -> str:
    """Expand common contractions (formal tone)."""
    for short, long in _CONTRACTIONS.items():
        pattern = re.compile(rf"\b{re.escape(short)}\b", re.IGNORECASE)
        text = pattern.sub(
            lambda m, lng=long: lng[0].upper() + lng[1:] if m.group(0)[0].isupper() else lng, text
        )
    return text


def apply_tone(
    body: str, tone: str, first_name: str, sender_name: str, *, opener: bool = True
) -> str:
    """Rebuild greeting, opener and sign-off so the body carries the tone's markers.

    Args:
        body: Email body (with or without greeting and sign-off).
        tone: ``formal``, ``casual`` or ``friendly``.
        first_name: Recipient's first name.
        sender_name: Sender's name.
        opener: Add the tone's opener (friendly: ``I hope ...``) when the body lacks one;
            ``False`` for replies to complaints, which must open with an acknowledgement.

    Returns:
        The body: greeting, content, sign-off and sender name.
    """
    style = TONE_STYLES.get(tone, TONE_STYLES["friendly"])
    content = strip_greeting_and_sign_off(body)
    if tone == "formal":
        content = _expand_contractions(content).replace("!", ".")
        content = re.sub(r"\.{2,}", ".", content)
    if style.opener and opener:
        first_sentence = re.split(r"(?<=[.!?])\s", content.strip(), maxsplit=1)[0]
        if not re.search(r"\bhope\b", first_sentence, re.IGNORECASE):
            content = f"{style.opener}\n\n{content}" if content else style.opener
    greeting = style.greeting.format(first_name=first_name)
    parts = [greeting, content] if content else [greeting]
    return "\n\n".join(parts) + f"\n\n{style.sign_off}\n{sender_name}"


def _count_words(text: str) -> int:
    """Return the number of whitespace-separated words."""
    return len(text.split())


def enforce_length(
    body: str, tone: str, first_name: str, sender_name: str, max_words: int
) -> tuple[str, bool]:
    """Cut the content at sentence boundaries until the whole body fits ``max_words``.

    Args:
        body: Body carrying the tone's markers (see :func:`apply_tone`).
        tone: The tone (to rebuild the markers).
        first_name: Recipient's first name.
        sender_name: Sender's name.
        max_words: Upper bound on the body's words.

    Returns:
        The body and whether it was cut.
    """
    if _count_words(body) <= max_words:
        return body, False
    content = strip_greeting_and_sign_off(body)
    paragraphs = _split_paragraphs(content)
    frame = _count_words(apply_tone("", tone, first_name, sender_name))
    budget = max(10, max_words - frame)
    kept: list[str] = []
    used = 0
    for paragraph in paragraphs:
        sentences = re.split(r"(?<=[.!?])\s+", paragraph)
        taken = []
        for sentence in sentences:
            words = _count_words(sentence)
            if used + words > budget:
                break
            taken.append(sentence)
            used += words
        if taken:
            kept.append(" ".join(taken))
        if len(taken) < len(sentences):
            break
    return apply_tone("\n\n".join(kept), tone, first_name, sender_name), True


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


_SCHEDULE_CUES = re.compile(
    r"\b(meet|meeting|call|demo|calendar|schedule|available|availability|time slot|slot|"
    r"next week|this week|monday|tuesday|wednesday|thursday|friday|when (are|would|could))\b",
    re.IGNORECASE,
)
_INFO_CUES = re.compile(
    r"\?|\b(could you|can you|would you|please send|what is|what are|how (do|does|much|many))\b",
    re.IGNORECASE,
)


def rank_reply_intents(email_text: str, sentiment_label: str) -> list[str]:
    """Order the reply intents by how well they fit the incoming email.

    Negative emails get ``ask_info`` (understand the problem), then ``schedule`` (talk it
    through), ``accept``, ``decline``; emails about meeting times lead with ``schedule``;
    everything else leads with ``accept``.

    Args:
        email_text: The incoming email.
        sentiment_label: Its sentiment label.

    Returns:
        All four intents, best first.
    """
    if sentiment_label == "negative":
        return ["ask_info", "schedule", "accept", "decline"]
    if _SCHEDULE_CUES.search(email_text or ""):
        return ["schedule", "accept", "ask_info", "decline"]
    if len(_INFO_CUES.findall(email_text or "")) >= 2:
        return ["accept", "ask_info", "schedule", "decline"]
    return ["accept", "schedule", "ask_info", "decline"]


def extract_sender_first_name(email_text: str) -> str | None:
    """Return the first name signed at the bottom of an email, when one is recognisable."""
    lines = [line.strip() for line in (email_text or "").strip().splitlines() if line.strip()]
    for line in reversed(lines[-3:]):
        if _SIGN_OFF_PHRASE.match(line) and "," in line:
            tail = line.split(",", 1)[1].strip()
            if re.fullmatch(r"[A-Z][a-zA-Z'-]+(\s[A-Z][a-zA-Z'-]+)?", tail):
                return tail.split()[0]
            continue
        if re.fullmatch(r"[-–—\s]*[A-Z][a-zA-Z'-]+(\s[A-Z][a-zA-Z'-]+)?", line):
            return line.strip("-–— ").split()[0]
    return None


def ensure_acknowledgement(reply: str) -> tuple[str, bool]:
    """Make the first sentence after the greeting acknowledge the sender's frustration.

    Args:
        reply: Reply text (greeting optional).

    Returns:
        The reply (a leading ``I hope ...`` opener removed) and whether an acknowledgement
        sentence had to be inserted.
    """
    lines = reply.strip().splitlines()
    greeting = ""
    if lines and _GREETING_LINE.match(lines[0]) and len(lines[0].split()) <= 8:
        greeting = lines.pop(0).strip()
    content = "\n".join(lines).strip()
    # A cheerful opener ("I hope you're having a good week.") has no place in a reply to a
    # complaint: drop it before checking the first sentence.
    content = re.sub(r"^I hope [^.!?\n]{0,80}[.!]\s*", "", content).strip()
    first_sentence = re.split(r"(?<=[.!?])\s", content, maxsplit=1)[0] if content else ""
    if _ACKNOWLEDGEMENT.search(first_sentence):
        rebuilt = f"{greeting}\n\n{content}" if greeting else content
        return rebuilt, False
    content = f"{_ACK_SENTENCE} {content}".strip()
    return (f"{greeting}\n\n{content}" if greeting else content), True


def suggest_replies(
    email_text: str,
    generate: GenerateFn,
    n: int = 3,
    *,
    sentiment_model: Any = None,
    sender_name: str | None = None,
    recipient_name: str | None = None,
    tone: Tone = "friendly",
    prompt_name: str = "email_reply",
) -> list[ReplySuggestion]:
    """Suggest ``n`` replies to an incoming email, one per intent.

    Args:
        email_text: The incoming email.
        generate: ``(prompt_name, variables) -> text`` (see ``configs/prompts/email_reply.yaml``).
        n: Number of suggestions (1-4: one per intent).
        sentiment_model: The trained sentiment model (``predict_proba``); ``None`` falls back
            to a keyword estimate.
        sender_name: Who signs the replies.
        recipient_name: Who the replies are for (parsed from the email's sign-off if omitted).
        tone: Tone of the replies.
        prompt_name: Prompt rendered by ``generate``.

    Returns:
        Up to ``n`` suggestions with distinct texts, best-fitting intent first.

    Raises:
        ValueError: When ``email_text`` is empty or ``n`` is not in 1-4.
    """
    if not email_text or not email_text.strip():
        raise ValueError("email_text must not be empty")
    if not 1 <= n <= len(INTENTS):
        raise ValueError(f"n must be between 1 and {len(INTENTS)}, got {n}")
    sentiment = analyze_email_sentiment([email_text], sentiment_model)[0]
    label = sentiment["label"]
    name = recipient_name or extract_sender_first_name(email_text) or ""
    values = {"first_name": name or None, "sender_name": sender_name}
    suggestions: list[ReplySuggestion] = []
    seen: set[str] = set()
    for intent in rank_reply_intents(email_text, label):
        variables = {
            "incoming_email": email_text.strip()[:4000],
            "intent": intent,
            "sentiment": label,
            "acknowledge": label == "negative",
            "recipient_name": name,
            "sender_name": sender_name or "",
            "tone": tone,
        }
        raw = generate(prompt_name, variables)
        _, text = parse_email_text(raw or "")
        text, _ = resolve_placeholders(text, values, label="reply")
        if not text.strip():
            logger.warning("empty reply suggestion for intent %s", intent)
            continue
        acknowledged = False
        if label == "negative":
            text, _ = ensure_acknowledgement(text)
            acknowledged = True
        key = re.sub(r"\W+", " ", text.lower()).strip()
        if key in seen:
            continue
        seen.add(key)
        suggestions.append(
            ReplySuggestion(
                text=text.strip(),
                intent=intent,
                sentiment=label,
                sentiment_score=float(sentiment["score"]),
                acknowledged=acknowledged,
            )
        )
        if len(suggestions) >= n:
            break
    return suggestions


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
