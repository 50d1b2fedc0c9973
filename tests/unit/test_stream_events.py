"""CRM event schema: per-type fields, 422-style validation errors, broker messages, partitions."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from streaming.events import (
    EVENT_TYPES,
    MAX_CLOCK_SKEW,
    CRMEvent,
    EventBatch,
    MalformedEventError,
    parse_message,
)

CONTACT = uuid.UUID("12345678-1234-5678-1234-567812345678")
DEAL = uuid.UUID("87654321-4321-8765-4321-876543218765")
WHEN = dt.datetime(2026, 3, 2, 10, 30, tzinfo=dt.UTC)

#: One valid payload per event type (with its type-specific fields).
VALID: dict[str, dict[str, Any]] = {
    "email_sent": {},
    "email_opened": {},
    "email_clicked": {},
    "email_replied": {},
    "page_view": {"page": "/pricing", "duration_s": 42.5},
    "form_submitted": {"page": "/contact-sales"},
    "meeting_booked": {"deal_id": str(DEAL)},
    "social_engagement": {"platform": "linkedin", "engagement": "share"},
    "deal_stage_changed": {"deal_id": str(DEAL), "stage": "proposal"},
}


def _payload(event_type: str = "email_opened", **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event_id": f"evt-{event_type}-1",
        "event_type": event_type,
        "contact_id": str(CONTACT),
        "occurred_at": WHEN.isoformat(),
        **VALID.get(event_type, {}),
    }
    payload.update(fields)
    return {key: value for key, value in payload.items() if value is not None}


def _event(event_type: str = "email_opened", **fields: Any) -> CRMEvent:
    return CRMEvent.model_validate(_payload(event_type, **fields))


def _messages(error: pytest.ExceptionInfo[ValidationError]) -> str:
    return " | ".join(str(item["msg"]) for item in error.value.errors())


# --- valid events ------------------------------------------------------------------------------


def test_every_documented_event_type_has_a_valid_example() -> None:
    assert set(VALID) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_a_valid_event_of_each_type_is_accepted(event_type: str) -> None:
    event = _event(event_type)
    assert event.event_type == event_type
    assert event.contact_id == CONTACT
    assert event.occurred_at == WHEN
    assert event.occurred_at.tzinfo is not None
    for name, value in VALID[event_type].items():
        assert str(getattr(event, name)) == str(value)


def test_optional_fields_may_be_left_out() -> None:
    assert _event("page_view", duration_s=None).duration_s is None
    assert _event("meeting_booked", deal_id=None).deal_id is None


def test_a_time_zone_other_than_utc_and_a_small_clock_skew_are_accepted() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    assert _event(occurred_at=WHEN.astimezone(paris).isoformat()).occurred_at == WHEN
    soon = dt.datetime.now(dt.UTC) + MAX_CLOCK_SKEW - dt.timedelta(seconds=30)
    assert _event(occurred_at=soon.isoformat()).occurred_at == soon


def test_events_are_frozen() -> None:
    event = _event()
    with pytest.raises(ValidationError):
        event.event_id = "other"  # type: ignore[misc]


# --- validation errors (the API's 422) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "missing", "needs"),
    [
        ("page_view", "page", "page_view needs page"),
        ("form_submitted", "page", "form_submitted needs page"),
        ("social_engagement", "platform", "social_engagement needs platform"),
        ("social_engagement", "engagement", "social_engagement needs engagement"),
        ("deal_stage_changed", "stage", "deal_stage_changed needs stage"),
        ("deal_stage_changed", "deal_id", "deal_stage_changed needs deal_id"),
    ],
)
def test_a_type_without_its_required_field_is_refused(
    event_type: str, missing: str, needs: str
) -> None:
    payload = _payload(event_type)
    del payload[missing]
    with pytest.raises(ValidationError) as error:
        CRMEvent.model_validate(payload)
    assert needs in _messages(error)


@pytest.mark.parametrize(
    ("event_type", "field", "value"),
    [
        ("email_opened", "page", "/pricing"),
        ("email_replied", "platform", "linkedin"),
        ("page_view", "stage", "proposal"),
        ("form_submitted", "duration_s", 3.0),
        ("meeting_booked", "stage", "proposal"),
        ("social_engagement", "deal_id", str(DEAL)),
    ],
)
def test_a_field_of_another_type_is_refused_not_ignored(
    event_type: str, field: str, value: Any
) -> None:
    with pytest.raises(ValidationError) as error:
        _event(event_type, **{field: value})
    assert f"{event_type} does not take {field}" in _messages(error)


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValidationError) as error:
        _event(occurred_at="2026-03-02T10:30:00")
    assert error.value.errors()[0]["loc"] == ("occurred_at",)
    assert error.value.errors()[0]["type"] == "timezone_aware"


def test_an_event_in_the_future_is_refused() -> None:
    later = dt.datetime.now(dt.UTC) + MAX_CLOCK_SKEW + dt.timedelta(minutes=1)
    with pytest.raises(ValidationError) as error:
        _event(occurred_at=later.isoformat())
    assert "occurred_at is in the future" in _messages(error)


@pytest.mark.parametrize(
    "event_id", ["", "-starts-with-dash", "has space", "slash/inside", "é-accent", "x" * 65]
)
def test_a_bad_event_id_is_refused(event_id: str) -> None:
    with pytest.raises(ValidationError) as error:
        _event(event_id=event_id)
    assert error.value.errors()[0]["loc"] == ("event_id",)


def test_event_ids_may_use_the_documented_punctuation() -> None:
    assert _event(event_id="email:abc-1_2.3").event_id == "email:abc-1_2.3"
    assert _event(event_id="x" * 64).event_id == "x" * 64


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_type", "email_bounced"),
        ("contact_id", "not-a-uuid"),
        ("unknown_field", 1),
    ],
)
def test_unknown_types_bad_ids_and_unknown_fields_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as error:
        _event(**{field: value})
    assert error.value.errors()[0]["loc"][0] == field


@pytest.mark.parametrize(
    ("event_type", "fields"),
    [
        ("page_view", {"page": "pricing"}),  # not a path
        ("page_view", {"page": "/has space"}),
        ("page_view", {"duration_s": -1.0}),
        ("page_view", {"duration_s": 86_401.0}),
        ("social_engagement", {"platform": "facebook"}),
        ("social_engagement", {"engagement": "like"}),
        ("deal_stage_changed", {"stage": "Proposal"}),
    ],
)
def test_typed_fields_are_validated(event_type: str, fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as error:
        _event(event_type, **fields)
    assert error.value.errors()[0]["loc"][0] in fields


# --- batches -----------------------------------------------------------------------------------


def _batch_payload(count: int) -> dict[str, Any]:
    return {"events": [_payload(event_id=f"e{i}") for i in range(count)]}


def test_a_batch_of_distinct_events_is_accepted_up_to_1000() -> None:
    assert len(EventBatch.model_validate(_batch_payload(1)).events) == 1
    assert len(EventBatch.model_validate(_batch_payload(1000)).events) == 1000


def test_a_repeated_event_id_in_a_batch_is_accepted_and_kept_once_by_the_ingestor() -> None:
    payload = _batch_payload(3)
    payload["events"][2]["event_id"] = "e0"
    events = EventBatch.model_validate(payload).to_events()
    assert [e.event_id for e in events].count("e0") == 2  # the ingestor publishes it once


@pytest.mark.parametrize(("count", "kind"), [(0, "too_short"), (1001, "too_long")])
def test_an_empty_or_oversized_batch_is_refused(count: int, kind: str) -> None:
    with pytest.raises(ValidationError) as error:
        EventBatch.model_validate(_batch_payload(count))
    assert error.value.errors()[0]["type"] == kind
    assert error.value.errors()[0]["loc"] == ("events",)


def test_one_invalid_event_fails_the_batch_with_its_position() -> None:
    payload = _batch_payload(3)
    payload["events"][1]["page"] = "/pricing"
    with pytest.raises(ValidationError) as error:
        EventBatch.model_validate(payload)
    assert error.value.errors()[0]["loc"][:2] == ("events", 1)


def test_a_batch_refuses_unknown_top_level_keys() -> None:
    with pytest.raises(ValidationError):
        EventBatch.model_validate({**_batch_payload(1), "extra": True})


# --- broker messages ---------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_to_message_round_trips_through_parse_message(event_type: str) -> None:
    event = _event(event_type)
    body = event.to_message()
    assert isinstance(body, bytes)
    assert parse_message(body) == event


def test_to_message_is_compact_json_without_none_fields() -> None:
    body = _event("email_opened").to_message()
    payload = json.loads(body)
    assert set(payload) == {"event_id", "event_type", "contact_id", "occurred_at"}
    assert dt.datetime.fromisoformat(payload["occurred_at"]) == WHEN
    assert b"\n" not in body


@pytest.mark.parametrize("body", [b"", b"{not json", b"\xff\xfe\x00garbage", b"[1, 2"])
def test_a_body_that_is_not_json_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedEventError, match=r"^not JSON: "):
        parse_message(body)


def test_an_invalid_event_is_malformed_with_a_readable_reason() -> None:
    body = json.dumps(_payload("page_view", page=None)).encode()
    with pytest.raises(MalformedEventError) as error:
        parse_message(body)
    assert str(error.value) == "invalid event: event: Value error, page_view needs page"
    assert isinstance(error.value, ValueError)


def test_a_malformed_reason_names_the_bad_fields() -> None:
    body = json.dumps(_payload(event_type="email_bounced", contact_id="x")).encode()
    with pytest.raises(MalformedEventError) as error:
        parse_message(body)
    reason = str(error.value)
    assert reason.startswith("invalid event: ")
    assert "event_type: Input should be" in reason
    assert "contact_id: Input should be a valid UUID" in reason


def test_a_json_value_that_is_not_an_object_is_malformed() -> None:
    with pytest.raises(MalformedEventError, match=r"^invalid event: event: "):
        parse_message(b"[1, 2, 3]")


# --- partitions --------------------------------------------------------------------------------


def test_the_partition_is_pinned_crc32_of_the_contact_id() -> None:
    # A change of the hash would reorder a contact's in-flight events across queues.
    assert [_event().partition(n) for n in (3, 5, 7, 10, 64)] == [0, 2, 4, 2, 16]


def test_partitions_are_in_range_and_cover_every_queue() -> None:
    seen = set()
    for index in range(400):
        contact = uuid.UUID(int=index * 7919 + 1)
        partition = _event(contact_id=str(contact)).partition(4)
        assert 0 <= partition < 4
        seen.add(partition)
    assert seen == {0, 1, 2, 3}


def test_every_event_of_a_contact_goes_to_one_partition() -> None:
    partitions = {
        _event(event_type, event_id=f"id-{i}").partition(8)
        for i, event_type in enumerate(EVENT_TYPES)
    }
    assert len(partitions) == 1
