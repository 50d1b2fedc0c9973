"""What email AI reads and returns: recipients, context, personalisation facts, drafts, replies."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from pipelines.corpora.emails import (
    Purpose,
    Tone,
)
from textai.text_patterns import NON_BLANK_PATTERN

INTENTS: tuple[str, ...] = ("accept", "decline", "ask_info", "schedule")


Intent = Literal["accept", "decline", "ask_info", "schedule"]

MIN_BODY_WORDS = 30


MAX_BODY_WORDS = 220


MAX_SUBJECT_CHARS = 78


OPEN_DEAL_STAGES: frozenset[str] = frozenset(
    {"prospecting", "qualification", "proposal", "negotiation"}
)


#: What a refused date-time says (the API's 422 message).
ISO_DATETIME_HINT = "must be an ISO 8601 date-time string, e.g. 2026-12-01T09:30:00Z"


def require_iso_datetime(value: Any) -> Any:
    """Return an ISO 8601 date-time string as a datetime; refuse numbers and number-like strings.

    Pydantic reads numbers, and strings such as ``"1700000000"`` or ``"0.5"``, as Unix times;
    the API's schema promises a ``date-time`` string, so only ISO 8601 strings (and ``datetime``
    objects from Python callers) get through. ``None`` is passed on for optional fields.

    Raises:
        ValueError: When the value is not an ISO 8601 date-time.

    """
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError as error:
            raise ValueError(ISO_DATETIME_HINT) from error
    raise ValueError(ISO_DATETIME_HINT)


#: A date-time given as an ISO 8601 string (numbers and number-like strings are refused).
IsoDateTime = Annotated[dt.datetime, BeforeValidator(require_iso_datetime)]


class GenerateFn(Protocol):
    """The LLM dependency: render prompt ``prompt_name`` with ``variables`` and return text."""

    def __call__(self, prompt_name: str, variables: dict[str, Any]) -> str:
        """Return the model's answer."""
        ...


class EmailRetriever(Protocol):
    """Nearest successful emails (``textai.llm.email_index.EmailIndex``)."""

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

    contact_id: uuid.UUID | None = None
    first_name: str = Field(min_length=1, max_length=100, pattern=NON_BLANK_PATTERN)
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

    subject: str = Field("", max_length=300)
    body: str = Field("", max_length=20_000)
    direction: Literal["inbound", "outbound"] = "outbound"
    sent_at: IsoDateTime | None = None


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
    sender_name: str = Field(min_length=1, max_length=200, pattern=NON_BLANK_PATTERN)
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
