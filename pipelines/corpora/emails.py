"""The corpus of successful sales emails behind the offline model and the email AI.

Two sources feed it:

1. **The seed corpus** ``data/email_corpus/successful_emails.jsonl``: 72 B2B sales emails (8 for
   each of the 9 purposes, formal/friendly/casual) written for this project, with placeholders
   (``{first_name}``, ``{company}``, ``{sender_name}``, ``{product}``, ``{pain_point}``,
   ``{industry}``, ``{title}``, ``{date}``, ``{amount}``). Their ``sends``/``opens``/``replies``
   counts and ``outcome`` are **illustrative, hand-set values, not measurements**: they rank
   templates sensibly until real outcomes exist, and no model is trained on them.
2. **The CRM** (:func:`harvest_crm_emails`): outbound ``activities`` of type ``email`` whose
   ``details.outcome`` is ``replied``, ``meeting_booked`` or ``won``. The contact's name, the
   company and the sender are abstracted back into placeholders, so the corpus grows with real
   usage. (The seeded synthetic CRM logs no email outcomes, so it contributes nothing today.)

Retrieval over the corpus (MiniLM nearest neighbours) lives in :mod:`textai.llm.email_index`.
Nothing is loaded at import time.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from haste.settings import PROJECT_ROOT

logger = logging.getLogger(__name__)

Purpose = Literal[
    "intro",
    "follow_up",
    "meeting_request",
    "proposal",
    "renewal",
    "win_back",
    "thank_you",
    "pricing",
    "check_in",
]
Tone = Literal["formal", "casual", "friendly"]
Outcome = Literal["replied", "meeting_booked", "won"]

PURPOSES: tuple[str, ...] = (
    "intro",
    "follow_up",
    "meeting_request",
    "proposal",
    "renewal",
    "win_back",
    "thank_you",
    "pricing",
    "check_in",
)
TONES: tuple[str, ...] = ("formal", "casual", "friendly")
SUCCESS_OUTCOMES: tuple[str, ...] = ("replied", "meeting_booked", "won")

DEFAULT_CORPUS_PATH = PROJECT_ROOT / "data" / "email_corpus" / "successful_emails.jsonl"

#: Neutral wording used when a placeholder has no value (never leaves ``{...}`` in a text).
PLACEHOLDER_DEFAULTS: dict[str, str] = {
    "first_name": "there",
    "last_name": "",
    "company": "your team",
    "sender_name": "The hasteCRM team",
    "product": "our platform",
    "pain_point": "manual sales admin",
    "industry": "your industry",
    "title": "your role",
    "date": "next week",
    "amount": "the quoted amount",
}

#: Rewrites applied before filling when a placeholder has no value, so the neutral wording
#: reads naturally ("renews on {date}" -> "renews soon", "the {product} plan" -> "our plan").
MISSING_VALUE_REWRITES: dict[str, tuple[tuple[str, str], ...]] = {
    "date": (
        (r"\s+(?:on|by|before|until)\s+\{date\}(?=\s*$)", ""),
        (r"\s*\(\{date\}\)", ""),
        (r"\b(?:on|by|before|until)\s+\{date\}", "soon"),
        (r"\b(?:end date|expiry date) of \{date\}", "end date"),
    ),
    "amount": (
        (r"\s*\(\{amount\}[^)]*\)", ""),
        (r"\s+of \{amount\}", ""),
        (r"\bThe (?:one-year|total) price is \{amount\}\.\s*", ""),
    ),
    "product": (
        (r"\b[Tt]he \{product\}(?=\s+[a-z])", "our"),
        (r"\b(your|our) \{product\}(?=\s+[a-z])", r"\1"),
    ),
    "industry": ((r"\{industry\}\s+(?=[a-z])", ""),),
    "title": ((r"\s+as \{title\}", ""),),
}

PLACEHOLDER_PATTERN = re.compile(r"\{\{?\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}?\}")

#: Purpose keywords used to classify CRM emails and free-text purposes (first match wins).
PURPOSE_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("renewal", ("renew", "renewal", "subscription expires", "contract year")),
    ("win_back", ("missed you", "win back", "come back", "return on", "since you left")),
    ("thank_you", ("thank you for", "thanks for", "grateful", "appreciate")),
    ("pricing", ("pricing", "price", "quote", "quotation", "cost", "budget", "discount")),
    ("proposal", ("proposal", "statement of work", "sow", "options for")),
    ("meeting_request", ("meeting", "demo", "call", "calendar", "15 min", "20 minutes")),
    ("check_in", ("check in", "check-in", "checking in", "how is everything", "how's it going")),
    ("follow_up", ("follow up", "follow-up", "following up", "circling back", "as promised")),
    ("intro", ("introduce", "introduction", "intro", "reaching out")),
)


class CorpusError(ValueError):
    """A corpus file is missing or one of its lines is invalid (the message names the line)."""


class SuccessfulEmail(BaseModel):
    """One email that got a good outcome, with placeholders instead of names.

    Attributes:
        id: Stable identifier (``seed-renewal-03``, ``crm-<activity id>``).
        purpose: What the email is for (one of :data:`PURPOSES`).
        tone: ``formal``, ``casual`` or ``friendly``.
        subject: Subject line, with placeholders.
        body: Body including greeting and sign-off, with placeholders.
        outcome: ``replied``, ``meeting_booked`` or ``won``.
        sends: How many times this email (template) was sent; ``None`` when unknown.
        opens: Opens counted.
        replies: Replies counted.
        source: ``seed`` (hand-written, illustrative counts) or ``crm`` (harvested).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    purpose: Purpose
    tone: Tone
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1)
    outcome: Outcome
    sends: int | None = Field(default=None, ge=0)
    opens: int = Field(default=0, ge=0)
    replies: int = Field(default=0, ge=0)
    source: str = "seed"

    @field_validator("body")
    @classmethod
    def _strip_body(cls, value: str) -> str:
        """Normalise line endings and trailing whitespace."""
        return value.replace("\r\n", "\n").strip()

    @property
    def reply_rate(self) -> float:
        """Replies per send (per open when sends are unknown; 1.0 for a single replied email)."""
        denominator = self.sends or self.opens
        if not denominator:
            return 1.0 if self.replies or self.outcome else 0.0
        return min(1.0, self.replies / denominator)

    def to_retrieval_text(self) -> str:
        """Return the text embedded for retrieval: purpose, tone, subject and body."""
        label = self.purpose.replace("_", " ")
        return f"{label} email ({self.tone}). Subject: {self.subject}\n{self.body}"

    def to_example(self) -> dict[str, Any]:
        """Return the few-shot example passed to a prompt (id, purpose, tone, subject, body)."""
        return {
            "id": self.id,
            "purpose": self.purpose,
            "tone": self.tone,
            "subject": self.subject,
            "body": self.body,
        }


def load_seed_corpus(path: str | Path | None = None) -> list[SuccessfulEmail]:
    """Load and validate the committed seed corpus (JSON Lines).

    Args:
        path: Corpus file; defaults to :data:`DEFAULT_CORPUS_PATH`.

    Returns:
        The emails in file order.

    Raises:
        CorpusError: When the file is missing, a line is not JSON, a record is invalid or an
            id repeats.
    """
    corpus_path = Path(path) if path is not None else DEFAULT_CORPUS_PATH
    if not corpus_path.is_file():
        raise CorpusError(f"email corpus {corpus_path} not found")
    emails: list[SuccessfulEmail] = []
    seen: set[str] = set()
    for number, line in enumerate(corpus_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            email = SuccessfulEmail.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise CorpusError(f"{corpus_path}:{number}: invalid email record: {exc}") from exc
        if email.id in seen:
            raise CorpusError(f"{corpus_path}:{number}: duplicate id {email.id!r}")
        seen.add(email.id)
        emails.append(email)
    return emails


def normalise_purpose(value: str | None, *, default: str = "intro") -> str:
    """Map a free-text purpose (``"renewal request"``, ``"Follow-up"``) to one of PURPOSES.

    Args:
        value: The purpose as given.
        default: Returned when nothing matches.

    Returns:
        A member of :data:`PURPOSES`.
    """
    if not value:
        return default
    key = re.sub(r"[\s\-]+", "_", value.strip().lower())
    if key in PURPOSES:
        return key
    return infer_purpose(value, "", default=default)


def infer_purpose(subject: str, body: str, *, default: str = "follow_up") -> str:
    """Guess an email's purpose from keywords in its subject (weighted) and body.

    Args:
        subject: Subject line.
        body: Body text.
        default: Returned when no keyword matches.

    Returns:
        A member of :data:`PURPOSES`.
    """
    subject_text = (subject or "").lower()
    body_text = (body or "").lower()
    best, best_score = default, 0
    for purpose, keywords in PURPOSE_KEYWORDS:
        score = sum(3 * (k in subject_text) + (k in body_text) for k in keywords)
        if score > best_score:
            best, best_score = purpose, score
    return best


def infer_tone(body: str) -> str:
    """Guess the tone of an email from its greeting and sign-off.

    Args:
        body: Body text including greeting and sign-off.

    Returns:
        ``formal`` (Dear / regards / sincerely), ``casual`` (Hey / Cheers / Thanks!) or
        ``friendly`` (anything else).
    """
    text = (body or "").lower()
    head = text[:80]
    if re.search(r"^\s*dear\b", head) or re.search(
        r"\b(kind regards|best regards|sincerely|yours (sincerely|faithfully|truly))\b", text
    ):
        return "formal"
    if re.search(r"^\s*(hey|yo)\b", head) or re.search(r"\bcheers\b", text):
        return "casual"
    return "friendly"


def fill_placeholders(
    text: str,
    values: Mapping[str, Any],
    *,
    defaults: Mapping[str, str] | None = None,
) -> tuple[str, list[str]]:
    """Replace ``{name}`` (and ``{{ name }}``) placeholders with values.

    A placeholder with no value is first rewritten out of common phrasings
    (:data:`MISSING_VALUE_REWRITES`), then falls back to ``defaults``
    (:data:`PLACEHOLDER_DEFAULTS`); one with neither is replaced by its name in words, so the
    result never keeps braces.

    Args:
        text: Text with placeholders.
        values: Values by placeholder name (empty strings count as missing).
        defaults: Fallback wording by placeholder name.

    Returns:
        The filled text and the names that had no value (filled from the defaults).
    """
    fallback = PLACEHOLDER_DEFAULTS if defaults is None else defaults
    missing: list[str] = []
    for name, rewrites in MISSING_VALUE_REWRITES.items():
        value = values.get(name)
        if (value is None or not str(value).strip()) and "{" + name + "}" in text:
            for pattern, replacement in rewrites:
                text = re.sub(pattern, replacement, text)

    def _replace(match: re.Match[str]) -> str:
        name = match.group(1)
        value = values.get(name)
        if value is not None and str(value).strip():
            return str(value).strip()
        if name not in missing:
            missing.append(name)
        return fallback.get(name, name.replace("_", " "))

    for name, value in values.items():
        if value is not None and str(value).strip().endswith("s"):
            text = text.replace("{" + name + "}'s", str(value).strip() + "'")
    filled = PLACEHOLDER_PATTERN.sub(_replace, text)
    filled = re.sub(r"[ \t]+([,.;:!?])", r"\1", filled)
    filled = re.sub(r"[ \t]{2,}", " ", filled)
    return filled, missing


def abstract_entities(text: str, replacements: Mapping[str, str | None]) -> str:
    """Replace known entity values (a name, a company) by their placeholders.

    Longer values are replaced first, on word boundaries, case-sensitively for names and
    case-insensitively for multi-word values. A possessive (``Acme's``) keeps its ``'s``.

    Args:
        text: The text (a real email).
        replacements: Placeholder name -> the value to abstract (``{"first_name": "Ada"}``).

    Returns:
        The text with each value replaced by ``{placeholder}``.
    """
    pairs = [
        (name, value.strip())
        for name, value in replacements.items()
        if value and len(value.strip()) >= 2
    ]
    pairs.sort(key=lambda item: -len(item[1]))
    for name, value in pairs:
        flags = re.IGNORECASE if " " in value else 0
        pattern = re.compile(rf"(?<![\w{{]){re.escape(value)}(?![\w}}])", flags)
        text = pattern.sub("{" + name + "}", text)
    return text


def harvest_crm_emails(
    database_url: str | None = None,
    *,
    scan_limit: int = 5000,
    min_words: int = 15,
) -> list[SuccessfulEmail]:
    """Harvest successful outbound emails from the CRM ``activities`` table.

    An activity qualifies when ``type == "email"``, its ``details.outcome`` is one of
    :data:`SUCCESS_OUTCOMES` (``details.direction``, when present, must be ``outbound``) and its
    body has at least ``min_words`` words. Purpose and tone come from ``details.purpose`` /
    ``details.tone`` when logged, else from keywords; the contact's names, the company's name
    and the sending user's name are abstracted into placeholders; ``details.opens`` /
    ``details.replies`` / ``details.sends`` are used when logged (default: one send, one reply).

    Args:
        database_url: Database URL; defaults to the configured one.
        scan_limit: Most recent email activities scanned.
        min_words: Minimum body length.

    Returns:
        The harvested emails (``source="crm"``), newest first; empty when the table is empty,
        missing or unreadable (the error is logged, never raised).
    """
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from haste.db import Activity, Company, Contact, User, session_scope

    try:
        with session_scope(database_url) as session:
            stmt = (
                select(Activity, Contact, Company, User)
                .outerjoin(Contact, Activity.contact_id == Contact.id)
                .outerjoin(Company, Contact.company_id == Company.id)
                .outerjoin(User, Activity.user_id == User.id)
                .where(Activity.type == "email")
                .order_by(Activity.occurred_at.desc(), Activity.id)
                .limit(scan_limit)
            )
            rows = [
                _email_from_activity(activity, contact, company, user, min_words)
                for activity, contact, company, user in session.execute(stmt)
            ]
    except SQLAlchemyError as exc:
        logger.warning("could not harvest CRM emails: %s", exc)
        return []
    return [row for row in rows if row is not None]


def _email_from_activity(
    activity: Any, contact: Any, company: Any, user: Any, min_words: int
) -> SuccessfulEmail | None:
    """Turn one CRM email activity into a :class:`SuccessfulEmail` (``None`` if it fails)."""
    details = activity.details if isinstance(activity.details, dict) else {}
    outcome = str(details.get("outcome") or "").lower()
    direction = str(details.get("direction") or "outbound").lower()
    body = (activity.body or "").strip()
    if outcome not in SUCCESS_OUTCOMES or direction != "outbound":
        return None
    if len(body.split()) < min_words:
        return None
    subject = (activity.subject or "").strip() or "(no subject)"
    replacements = {
        "first_name": getattr(contact, "first_name", None),
        "last_name": getattr(contact, "last_name", None),
        "company": getattr(company, "name", None),
        "sender_name": getattr(user, "full_name", None),
    }
    purpose = details.get("purpose")
    tone = details.get("tone")
    try:
        return SuccessfulEmail(
            id=f"crm-{activity.id}",
            purpose=purpose if purpose in PURPOSES else infer_purpose(subject, body),
            tone=tone if tone in TONES else infer_tone(body),
            subject=abstract_entities(subject, replacements)[:300],
            body=abstract_entities(body, replacements),
            outcome=outcome,
            sends=_as_count(details.get("sends"), 1),
            opens=_as_count(details.get("opens"), 1),
            replies=_as_count(details.get("replies"), 1 if outcome else 0),
            source="crm",
        )
    except ValidationError as exc:
        logger.debug("skipping CRM email %s: %s", activity.id, exc)
        return None


def _as_count(value: Any, default: int) -> int:
    """Return a non-negative int count from a JSON value."""
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return default


def load_email_corpus(
    path: str | Path | None = None,
    *,
    include_crm: bool = False,
    database_url: str | None = None,
) -> list[SuccessfulEmail]:
    """Load the seed corpus, plus the CRM's successful emails when asked.

    Args:
        path: Seed corpus file; defaults to :data:`DEFAULT_CORPUS_PATH`.
        include_crm: Also harvest the CRM (:func:`harvest_crm_emails`).
        database_url: Database to harvest; defaults to the configured one.

    Returns:
        Seed emails first, then harvested ones (ids are unique).
    """
    emails = load_seed_corpus(path)
    if include_crm:
        seen = {email.id for email in emails}
        emails.extend(e for e in harvest_crm_emails(database_url) if e.id not in seen)
    return emails


def describe_corpus(emails: Sequence[SuccessfulEmail]) -> dict[str, Any]:
    """Return counts by purpose, tone and source (for reports and health checks)."""
    summary: dict[str, Any] = {"emails": len(emails)}
    for field in ("purpose", "tone", "source"):
        counts: dict[str, int] = {}
        for email in emails:
            value = getattr(email, field)
            counts[value] = counts.get(value, 0) + 1
        summary[field] = dict(sorted(counts.items()))
    return summary
