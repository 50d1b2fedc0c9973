"""The synthetic CRM's activity as a stream of events (``haste events replay``)."""

from __future__ import annotations

import datetime as dt
import uuid

import pandas as pd
import pytest

from pipelines.synthetic import generate_crm
from pipelines.synthetic_store import SyntheticCRM
from streaming.events import EVENT_TYPES, CRMEvent
from streaming.replay import activity_frame, select_window, to_events

COLUMNS = [
    "event_id",
    "event_type",
    "contact_id",
    "occurred_at",
    "page",
    "duration_s",
    "platform",
    "engagement",
    "deal_id",
]


@pytest.fixture(scope="module")
def crm() -> SyntheticCRM:
    return generate_crm(n_contacts=40, seed=7, start="2026-01-01", days=45)


@pytest.fixture(scope="module")
def frame(crm: SyntheticCRM) -> pd.DataFrame:
    return activity_frame(crm)


def _sources(crm: SyntheticCRM) -> dict[str, int]:
    """Expected number of events per prefix (email types not replayed are dropped)."""
    email = crm.email_events["event_type"].isin(["sent", "open", "click", "reply"]).sum()
    meetings = (crm.activities["type"] == "meeting").sum()
    return {
        "email": int(email),
        "web": len(crm.web_events),
        "social": len(crm.social_events),
        "meeting": int(meetings),
    }


# --- activity_frame ----------------------------------------------------------------------------


def test_the_frame_has_the_documented_columns(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == COLUMNS
    assert isinstance(frame["occurred_at"].dtype, pd.DatetimeTZDtype)
    assert str(frame["occurred_at"].dt.tz) == "UTC"


def test_events_are_oldest_first_with_ties_broken_by_id(frame: pd.DataFrame) -> None:
    assert frame["occurred_at"].is_monotonic_increasing
    keys = list(zip(frame["occurred_at"], frame["event_id"], strict=True))
    assert keys == sorted(keys)
    assert list(frame.index) == list(range(len(frame)))


def test_every_source_row_becomes_one_event_with_a_prefixed_unique_id(
    crm: SyntheticCRM, frame: pd.DataFrame
) -> None:
    assert frame["event_id"].is_unique
    prefixes = frame["event_id"].str.split(":", n=1).str[0]
    assert prefixes.value_counts().to_dict() == _sources(crm)
    web = set("web:" + crm.web_events["event_id"].astype(str))
    assert web == set(frame.loc[prefixes == "web", "event_id"])


def test_source_types_are_mapped_to_event_types(crm: SyntheticCRM, frame: pd.DataFrame) -> None:
    assert set(frame["event_type"]) <= set(EVENT_TYPES)
    email = crm.email_events.set_index("event_id")["event_type"]
    mapping = {"sent": "email_sent", "open": "email_opened"}
    mapping |= {"click": "email_clicked", "reply": "email_replied"}
    for row in frame[frame["event_id"].str.startswith("email:")].itertuples():
        assert row.event_type == mapping[email[uuid.UUID(row.event_id[6:])]]
    web = frame[frame["event_id"].str.startswith("web:")]
    assert set(web["event_type"]) == {"page_view", "form_submitted"}
    assert web.loc[web["event_type"] == "form_submitted", "duration_s"].isna().all()
    assert web.loc[web["event_type"] == "page_view", "duration_s"].notna().all()
    social = frame[frame["event_type"] == "social_engagement"]
    assert set(social["platform"]) <= {"linkedin", "twitter", "other"}
    assert set(social["engagement"]) <= {"mention", "follow", "share"}
    assert (
        frame["event_id"].str.startswith("meeting:") == (frame["event_type"] == "meeting_booked")
    ).all()


def test_times_are_the_source_times_in_utc(crm: SyntheticCRM, frame: pd.DataFrame) -> None:
    source = crm.web_events.iloc[0]
    row = frame[frame["event_id"] == f"web:{source['event_id']}"].iloc[0]
    assert row["occurred_at"] == pd.Timestamp(source["occurred_at"]).tz_localize("UTC")


def test_other_social_platforms_are_replayed_as_other() -> None:
    crm = generate_crm(n_contacts=5, seed=1, start="2026-01-01", days=30)
    social = crm.social_events.copy()
    social.loc[social.index[:1], "platform"] = "facebook"
    events = activity_frame(_with(crm, social_events=social))
    first = events[events["event_id"] == f"social:{social['event_id'].iloc[0]}"].iloc[0]
    assert first["platform"] == "other"


def _with(crm: SyntheticCRM, **frames: pd.DataFrame) -> SyntheticCRM:
    return SyntheticCRM(**{**crm.tables(), **frames})


# --- to_events ---------------------------------------------------------------------------------


def test_every_row_is_a_valid_event(frame: pd.DataFrame) -> None:
    events = list(to_events(frame))
    assert len(events) == len(frame)
    assert all(isinstance(event, CRMEvent) for event in events)
    assert [e.event_id for e in events] == list(frame["event_id"])
    assert [e.occurred_at for e in events] == [t.to_pydatetime() for t in frame["occurred_at"]]
    assert {e.event_type for e in events} == set(frame["event_type"])
    views = [e for e in events if e.event_type == "page_view"]
    assert views and all(e.page and e.duration_s is not None for e in views)


def test_replayed_ids_are_stable(frame: pd.DataFrame) -> None:
    first = [e.event_id for e in to_events(frame.head(20))]
    again = [e.event_id for e in to_events(frame.head(20))]
    assert first == again


def test_fresh_events_get_new_unique_ids_and_now_as_their_time(frame: pd.DataFrame) -> None:
    before = dt.datetime.now(dt.UTC)
    one = list(to_events(frame.head(30), fresh=True))
    two = list(to_events(frame.head(30), fresh=True))
    after = dt.datetime.now(dt.UTC)
    ids = [e.event_id for e in one + two]
    assert len(set(ids)) == len(ids) == 60
    assert not set(ids) & set(frame["event_id"])
    assert all(before <= e.occurred_at <= after for e in one + two)
    originals = list(to_events(frame.head(30)))
    same = ("event_type", "contact_id", "page", "duration_s", "platform", "engagement", "deal_id")
    for new, old in zip(one, originals, strict=True):
        assert all(getattr(new, name) == getattr(old, name) for name in same)


# --- select_window -----------------------------------------------------------------------------


def test_select_window_keeps_since_inclusive_until_exclusive(frame: pd.DataFrame) -> None:
    times = frame["occurred_at"]
    since, until = times.iloc[len(frame) // 4], times.iloc[3 * len(frame) // 4]
    window = select_window(frame, since.to_pydatetime(), until.to_pydatetime())
    assert len(window) > 0
    assert (window["occurred_at"] >= since).all() and (window["occurred_at"] < until).all()
    inside = (times >= since) & (times < until)
    assert list(window["event_id"]) == list(frame.loc[inside, "event_id"])


def test_select_window_takes_naive_times_as_utc(frame: pd.DataFrame) -> None:
    since = frame["occurred_at"].iloc[10]
    aware = select_window(frame, since=since.to_pydatetime())
    naive = select_window(frame, since=since.tz_localize(None).to_pydatetime())
    assert list(aware["event_id"]) == list(naive["event_id"])


def test_select_window_without_bounds_is_everything_and_limit_keeps_the_oldest(
    frame: pd.DataFrame,
) -> None:
    assert select_window(frame).equals(frame)
    limited = select_window(frame, limit=7)
    assert list(limited["event_id"]) == list(frame["event_id"][:7])
    since = frame["occurred_at"].iloc[20]
    both = select_window(frame, since=since, limit=3)
    assert len(both) == 3 and (both["occurred_at"] >= since).all()
    assert select_window(frame, since=frame["occurred_at"].iloc[-1] + pd.Timedelta("1s")).empty


def test_select_window_converts_aware_times_of_other_zones_to_utc(frame: pd.DataFrame) -> None:
    since = frame["occurred_at"].iloc[len(frame) // 2].to_pydatetime()
    plus_two = since.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert plus_two == since  # the same instant
    expected = select_window(frame, since=since)
    assert list(select_window(frame, since=plus_two)["event_id"]) == list(expected["event_id"])
