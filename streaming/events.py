"""CRM events: the schema of ``POST /api/ai/events``, of the broker's messages and of replays.

An event says that something happened to one contact at one time: ``email_opened``,
``page_view``, ``meeting_booked``... Its ``event_id`` (chosen by the sender) makes it
idempotent: the consumers apply an event id once, whatever the number of deliveries.

Type-specific fields are validated per type (a ``page_view`` needs a ``page``, a
``social_engagement`` its ``platform`` and ``engagement``, a ``deal_stage_changed`` its
``deal_id`` and ``stage``); a field that does not belong to the type is refused, never ignored.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
import zlib
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    model_validator,
)

EventType = Literal[
    "email_sent",
    "email_opened",
    "email_clicked",
    "email_replied",
    "page_view",
    "form_submitted",
    "meeting_booked",
    "social_engagement",
    "deal_stage_changed",
]
#: Every event type, in the order of the docs.
EVENT_TYPES: tuple[str, ...] = get_args(EventType)

#: Type -> fields it requires (beyond the common ones).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "page_view": ("page",),
    "form_submitted": ("page",),
    "social_engagement": ("platform", "engagement"),
    "deal_stage_changed": ("deal_id", "stage"),
}
#: Type -> optional fields it may carry.
OPTIONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "page_view": ("duration_s",),
    "meeting_booked": ("deal_id",),
}
_TYPED_FIELDS = ("page", "duration_s", "platform", "engagement", "deal_id", "stage")

#: Latest accepted event time ahead of the receiver's clock (clock skew).
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)

EventId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        description="Sender's id of the event: the same id is applied once, however often sent.",
    ),
]


Page = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=r"^/[\x21-\x7e]*$",
        description="Page path (page_view, form_submitted), e.g. /pricing.",
    ),
]
DurationS = Annotated[float, Strict(), Field(ge=0, le=86_400, description="Seconds on the page.")]
Platform = Annotated[Literal["linkedin", "twitter", "other"], Field(description="Social platform.")]
Engagement = Annotated[
    Literal["mention", "follow", "share"], Field(description="Kind of social engagement.")
]
Stage = Annotated[
    str,
    Field(
        min_length=1,
        max_length=50,
        pattern=r"^[a-z][a-z_]*$",
        description="New deal stage, e.g. proposal.",
    ),
]


def _text_or_datetime(value: Any) -> Any:
    """Refuse a number as a time: pydantic would read it as a Unix timestamp."""
    if not isinstance(value, str | dt.datetime):
        raise ValueError("must be an RFC 3339 date-time string, e.g. 2026-12-04T09:30:00Z")
    return value


OccurredAt = Annotated[
    AwareDatetime,
    BeforeValidator(_text_or_datetime),
    Field(description="When it happened (with a time zone)."),
]


def _check_not_future(occurred_at: dt.datetime) -> None:
    """Refuse an event time ahead of the receiver's clock (beyond the allowed skew)."""
    if occurred_at > dt.datetime.now(dt.UTC) + MAX_CLOCK_SKEW:
        raise ValueError("occurred_at is in the future")


class CRMEvent(BaseModel):
    """One CRM event about one contact (the broker's and the consumers' form)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: EventId
    event_type: EventType
    contact_id: uuid.UUID
    occurred_at: OccurredAt
    page: Page | None = None
    duration_s: DurationS | None = None
    platform: Platform | None = None
    engagement: Engagement | None = None
    deal_id: uuid.UUID | None = None
    stage: Stage | None = None

    @model_validator(mode="after")
    def _check_type_fields(self) -> CRMEvent:
        """Each type carries its required fields and no field of another type."""
        required = REQUIRED_FIELDS.get(self.event_type, ())
        allowed = set(required) | set(OPTIONAL_FIELDS.get(self.event_type, ()))
        missing = [name for name in required if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.event_type} needs {', '.join(missing)}")
        extra = [n for n in _TYPED_FIELDS if n not in allowed and getattr(self, n) is not None]
        if extra:
            raise ValueError(f"{self.event_type} does not take {', '.join(extra)}")
        _check_not_future(self.occurred_at)
        return self

    def partition(self, partitions: int) -> int:
        """Return the partition of this event's contact (stable: CRC-32 of the contact id).

        Every event of a contact goes to one partition queue, consumed by one consumer at a
        time: that is what keeps a contact's events in order.
        """
        return zlib.crc32(self.contact_id.bytes) % partitions

    def to_message(self) -> bytes:
        """Return the broker message body (compact JSON, ``None`` fields left out)."""
        return json.dumps(self.model_dump(mode="json", exclude_none=True)).encode()


class _EventIn(BaseModel):
    """Fields every event of ``POST /api/ai/events`` has (one model per type below)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: EventId
    contact_id: uuid.UUID
    occurred_at: OccurredAt

    @model_validator(mode="after")
    def _check_time(self) -> _EventIn:
        _check_not_future(self.occurred_at)
        return self

    def to_event(self) -> CRMEvent:
        """Return the event in the broker's form."""
        return CRMEvent.model_validate(self.model_dump(exclude_none=True))


class EmailEventIn(_EventIn):
    """A marketing email sent to, opened, clicked or replied to by the contact."""

    event_type: Literal["email_sent", "email_opened", "email_clicked", "email_replied"]


class PageViewEventIn(_EventIn):
    """A page of the website viewed by the contact."""

    event_type: Literal["page_view"]
    page: Page
    duration_s: DurationS | None = None


class FormEventIn(_EventIn):
    """A form submitted on the website (``/demo``, ``/contact-sales``, ``/trial`` are sales)."""

    event_type: Literal["form_submitted"]
    page: Page


class SocialEventIn(_EventIn):
    """A mention, follow or share by the contact on a social platform."""

    event_type: Literal["social_engagement"]
    platform: Platform
    engagement: Engagement


class MeetingEventIn(_EventIn):
    """A meeting the contact booked (optionally about a deal)."""

    event_type: Literal["meeting_booked"]
    deal_id: uuid.UUID | None = None


class DealStageEventIn(_EventIn):
    """A deal of the contact moved to another stage."""

    event_type: Literal["deal_stage_changed"]
    deal_id: uuid.UUID
    stage: Stage


#: One event of ``POST /api/ai/events``: its ``event_type`` says which fields it has.
EventIn = Annotated[
    EmailEventIn
    | PageViewEventIn
    | FormEventIn
    | SocialEventIn
    | MeetingEventIn
    | DealStageEventIn,
    Field(discriminator="event_type"),
]


class EventBatch(BaseModel):
    """Body of ``POST /api/ai/events``.

    An id repeated within the batch is applied once (the repeats are reported as duplicates).
    """

    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=1000)

    def to_events(self) -> list[CRMEvent]:
        """Return the events in the broker's form, in order."""
        return [event.to_event() for event in self.events]


class MalformedEventError(ValueError):
    """A broker message that is not a valid event (it goes to the dead-letter queue)."""


def parse_events(body: bytes) -> list[tuple[bytes, CRMEvent | MalformedEventError]]:
    """Parse a broker message: one event (a JSON object) or several (a JSON array).

    Returns:
        Each event's JSON text and the event, or the error saying why it is not valid
        (an invalid event is dead-lettered alone; the others are applied).

    Raises:
        MalformedEventError: When the body is not JSON at all (the whole message is dead).
    """
    stripped = body.lstrip()
    if not stripped.startswith(b"["):
        try:
            return [(body, parse_message(body))]
        except MalformedEventError as error:
            if str(error).startswith("not JSON"):
                raise
            return [(body, error)]
    try:
        items = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedEventError(f"not JSON: {error}") from error
    parsed: list[tuple[bytes, CRMEvent | MalformedEventError]] = []
    for item in items:
        raw = json.dumps(item).encode()
        try:
            parsed.append((raw, CRMEvent.model_validate(item)))
        except ValidationError as error:
            parsed.append((raw, MalformedEventError(_describe(error))))
    return parsed


def _describe(error: ValidationError) -> str:
    """Return a validation error in one line (up to five problems)."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in item['loc']) or 'event'}: {item['msg']}"
        for item in error.errors()[:5]
    )
    return f"invalid event: {problems}"


def parse_message(body: bytes) -> CRMEvent:
    """Parse a broker message body into an event.

    Raises:
        MalformedEventError: With the reason, when the body is not JSON or not a valid event.
    """
    try:
        return CRMEvent.model_validate_json(body)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise MalformedEventError(f"not JSON: {error.errors()[0]['msg']}") from error
        raise MalformedEventError(_describe(error)) from error
