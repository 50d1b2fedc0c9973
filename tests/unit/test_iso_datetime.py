"""One date-time rule for every request: ISO 8601 strings only, never Unix times."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from serving.schemas import ActivityIn
from textai.email.models import PreviousEmail, require_iso_datetime


@pytest.mark.parametrize("value", [0, 1.5, True, "0", "1700000000", "0.5", "-1", "1e9", "", "x"])
def test_numbers_and_number_like_strings_are_refused(value: object) -> None:
    with pytest.raises(ValidationError, match="ISO 8601 date-time"):
        ActivityIn(type="call", occurred_at=value)
    with pytest.raises(ValueError, match="ISO 8601 date-time"):
        require_iso_datetime(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-01T09:30:00Z", dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)),
        ("2026-12-01T10:30:00+01:00", dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)),
        ("2026-12-01T09:30:00", dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)),  # naive: UTC
        ("2026-12-01", dt.datetime(2026, 12, 1, tzinfo=dt.UTC)),
    ],
)
def test_iso_strings_are_read_as_utc_times(value: str, expected: dt.datetime) -> None:
    assert ActivityIn(type="call", occurred_at=value).occurred_at == expected


def test_python_callers_pass_datetimes_and_optional_fields_stay_empty() -> None:
    now = dt.datetime.now(dt.UTC)
    assert require_iso_datetime(now) is now
    assert PreviousEmail(body="Hi", sent_at=None).sent_at is None
    with pytest.raises(ValidationError, match="ISO 8601 date-time"):
        PreviousEmail(body="Hi", sent_at="1700000000")
