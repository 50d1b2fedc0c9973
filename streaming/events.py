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
from typing import Annotated, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

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


class CRMEvent(BaseModel):
    """One CRM event about one contact."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: EventId
    event_type: EventType
    contact_id: uuid.UUID
    occurred_at: AwareDatetime = Field(description="When it happened (with a time zone).")
    page: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^/[\x21-\x7e]*$",
        description="Page path (page_view, form_submitted), e.g. /pricing.",
    )
    duration_s: float | None = Field(
        default=None, ge=0, le=86_400, description="Seconds on the page (page_view)."
    )
    platform: Literal["linkedin", "twitter", "other"] | None = Field(
        default=None, description="Social platform (social_engagement)."
    )
    engagement: Literal["mention", "follow", "share"] | None = Field(
        default=None, description="Kind of social engagement (social_engagement)."
    )
    deal_id: uuid.UUID | None = Field(
        default=None, description="Deal (deal_stage_changed; optional for meeting_booked)."
    )
    stage: str | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        pattern=r"^[a-z][a-z_]*$",
        description="New deal stage (deal_stage_changed), e.g. proposal.",
    )

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
        if self.occurred_at > dt.datetime.now(dt.UTC) + MAX_CLOCK_SKEW:
            raise ValueError("occurred_at is in the future")
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


class EventBatch(BaseModel):
    """Body of ``POST /api/ai/events``."""

    model_config = ConfigDict(extra="forbid")

    events: list[CRMEvent] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _check_unique_ids(self) -> EventBatch:
        """An event id appears once per batch (a repeat in one batch is a sender bug)."""
        seen: set[str] = set()
        for index, event in enumerate(self.events):
            if event.event_id in seen:
                raise ValueError(f"events[{index}]: event_id {event.event_id!r} repeats")
            seen.add(event.event_id)
        return self


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
