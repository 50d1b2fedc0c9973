"""Incremental online features: one event applied to a contact's batch-view columns.

The consistency tests compare :func:`apply_event` with the batch extractors: the extractors
on a history ``H`` at cut-off ``T``, plus one event applied incrementally, must equal the
extractors on ``H`` + that event at the same ``T`` (the event happening just before ``T``).
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import types
import uuid
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.definitions import VIEW_SPECS
from features.extractors import (
    extract_email_engagement,
    extract_social_signals,
    extract_web_activity,
)
from streaming.events import CRMEvent
from streaming.feature_updates import (
    LEAD_EVENT_TYPES,
    STATIC_VIEWS,
    STREAM_VIEWS,
    apply_event,
    changed_columns,
    empty_history,
    state_columns,
    view_of,
)

T = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
A, B, C = (uuid.UUID(int=n) for n in (101, 202, 303))
DAYS_SINCE = (
    "email_days_since_last_open",
    "email_days_since_last_reply",
    "web_days_since_last_visit",
    "social_days_since_last",
)
_EMAIL_KIND = {f"email_{k}": v for k, v in [("sent", "sent"), ("opened", "open")]}
_EMAIL_KIND |= {"email_clicked": "click", "email_replied": "reply"}


def _event(event_type: str, contact: uuid.UUID = A, **fields: Any) -> CRMEvent:
    return CRMEvent(
        event_id=f"e-{uuid.uuid4().hex}",
        event_type=event_type,
        contact_id=contact,
        occurred_at=fields.pop("occurred_at", T - dt.timedelta(seconds=1)),
        **fields,
    )


def _after(event_type: str, before: dict[str, Any] | None = None, **fields: Any) -> dict:
    return apply_event(before or empty_history(), _event(event_type, **fields))


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {c: (before.get(c), after[c]) for c in changed_columns(before, after)}


# --- shape -------------------------------------------------------------------------------------


def test_empty_history_has_every_stream_and_static_column() -> None:
    state = empty_history()
    expected = [c for v in (*STREAM_VIEWS, *STATIC_VIEWS) for c in VIEW_SPECS[v].columns]
    assert list(state) == expected == state_columns()
    for view in STREAM_VIEWS:
        for column, kind in VIEW_SPECS[view].columns.items():
            if column == "web_total_duration_s":
                assert state[column] == 0.0
            elif str(kind) == "Int64":
                assert state[column] == 0 and isinstance(state[column], int), column
            else:
                assert state[column] is None, column
    assert all(state[c] is None for c in VIEW_SPECS["company_enrichment"].columns)


def test_empty_history_is_what_the_extractors_give_a_contact_without_events() -> None:
    batch = _batch(_History(), pd.Series({C: pd.Timestamp(T)}))[C]
    state = empty_history()
    for column, value in batch.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            assert state[column] is None, column
        else:
            assert state[column] == value, column


@pytest.mark.parametrize(
    ("event_type", "view"),
    [
        ("email_sent", "email_engagement"),
        ("email_replied", "email_engagement"),
        ("page_view", "web_activity"),
        ("form_submitted", "web_activity"),
        ("social_engagement", "social_signals"),
        ("meeting_booked", None),
        ("deal_stage_changed", None),
    ],
)
def test_view_of_names_the_view_an_event_changes(event_type: str, view: str | None) -> None:
    assert view_of(event_type) == view
    assert (event_type in LEAD_EVENT_TYPES) == (view is not None)


# --- each event type ---------------------------------------------------------------------------


def test_email_sent_counts_a_send_and_recomputes_the_rates() -> None:
    before = {**empty_history(), "email_sent": 3, "email_opens": 2, "email_replies": 1}
    assert _diff(before, _after("email_sent", before)) == {
        "email_sent": (3, 4),
        "email_open_rate": (None, 0.5),
        "email_click_rate": (None, 0.0),
        "email_reply_rate": (None, 0.25),
    }


def test_email_opened_counts_an_open_and_resets_its_recency() -> None:
    before = {**empty_history(), "email_sent": 4, "email_days_since_last_open": 9.5}
    diff = _diff(before, _after("email_opened", before))
    assert diff.pop("email_opens") == (0, 1)
    assert diff.pop("email_days_since_last_open") == (9.5, 0.0)
    assert diff.pop("email_open_rate") == (None, 0.25)
    assert set(diff) == {"email_click_rate", "email_reply_rate"}  # recomputed: 0 / 4
    assert all(after == 0.0 for _, after in diff.values())


def test_email_clicked_counts_a_click_only() -> None:
    before = {**empty_history(), "email_sent": 2, "email_clicks": 1}
    after = _after("email_clicked", before)
    assert after["email_clicks"] == 2
    assert after["email_click_rate"] == 1.0
    assert after["email_days_since_last_open"] is None
    assert after["email_days_since_last_reply"] is None


def test_email_replied_counts_a_reply_in_every_window() -> None:
    before = {**empty_history(), "email_sent": 5, "email_replies": 2, "email_replies_30d": 1}
    after = _after("email_replied", before)
    assert (after["email_replies"], after["email_replies_14d"], after["email_replies_30d"]) == (
        3,
        1,
        2,
    )
    assert after["email_reply_rate"] == pytest.approx(3 / 5)
    assert after["email_days_since_last_reply"] == 0.0


def test_rates_stay_missing_without_a_send_as_in_the_extractors() -> None:
    after = _after("email_opened")
    assert after["email_opens"] == 1
    assert all(math.isnan(after[f"email_{r}_rate"]) for r in ("open", "click", "reply"))


@pytest.mark.parametrize(
    ("page", "pricing", "demo", "high_intent"),
    [
        ("/pricing", 1, 0, 1),
        ("/demo", 0, 1, 1),
        ("/security", 0, 0, 1),
        ("/blog/lead-scoring-101", 0, 0, 0),
    ],
)
def test_a_page_view_counts_the_view_and_its_intent(
    page: str, pricing: int, demo: int, high_intent: int
) -> None:
    before = {**empty_history(), "web_page_views": 1, "web_total_duration_s": 10.0}
    before |= {"web_views_7d": 1, "web_views_30d": 1, "web_distinct_pages": 1}
    after = _after("page_view", before, page=page, duration_s=30.0)
    assert after["web_page_views"] == 2
    assert (after["web_views_7d"], after["web_views_30d"]) == (2, 2)
    assert after["web_total_duration_s"] == 40.0
    assert after["web_avg_duration_s"] == 20.0
    assert after["web_pricing_views"] == pricing
    assert after["web_demo_views"] == demo
    assert after["web_high_intent_views"] == high_intent
    assert after["web_days_since_last_visit"] == 0.0
    assert after["web_form_fills"] == 0
    assert after["web_distinct_pages"] == 1  # documented: not updated online


def test_a_page_view_without_a_duration_adds_no_time() -> None:
    after = _after("page_view", page="/")
    assert (after["web_page_views"], after["web_total_duration_s"]) == (1, 0.0)
    assert after["web_avg_duration_s"] == 0.0


@pytest.mark.parametrize(("page", "sales"), [("/demo", 1), ("/trial", 1), ("/newsletter", 0)])
def test_a_form_fill_counts_sales_forms_apart(page: str, sales: int) -> None:
    before = empty_history()
    diff = _diff(before, _after("form_submitted", before, page=page))
    expected = {"web_form_fills": (0, 1), "web_days_since_last_visit": (None, 0.0)}
    if sales:
        expected["web_sales_form_fills"] = (0, 1)
    assert diff == expected  # no page view, no intent view, no duration


@pytest.mark.parametrize("platform", ["linkedin", "twitter"])
@pytest.mark.parametrize("engagement", ["mention", "follow", "share"])
def test_a_social_engagement_counts_per_platform_and_in_totals(
    platform: str, engagement: str
) -> None:
    before = empty_history()
    after = _after("social_engagement", before, platform=platform, engagement=engagement)
    assert _diff(before, after) == {
        f"social_{platform}_{engagement}s": (0, 1),
        f"social_{engagement}s": (0, 1),
        "social_total": (0, 1),
        "social_events_30d": (0, 1),
        "social_days_since_last": (None, 0.0),
    }


def test_an_other_platform_only_counts_in_the_totals() -> None:
    before = empty_history()
    after = _after("social_engagement", before, platform="other", engagement="share")
    assert set(changed_columns(before, after)) == {
        "social_shares",
        "social_total",
        "social_events_30d",
        "social_days_since_last",
    }


@pytest.mark.parametrize(
    ("event_type", "fields"),
    [("meeting_booked", {}), ("deal_stage_changed", {"deal_id": uuid.UUID(int=5), "stage": "won"})],
)
def test_events_without_a_lead_feature_change_nothing(
    event_type: str, fields: dict[str, Any]
) -> None:
    before = {**empty_history(), "email_replies": 4, "email_open_rate": 0.5}
    after = _after(event_type, before, **fields)
    assert after == before and after is not before
    assert changed_columns(before, after) == []


@pytest.mark.parametrize(
    ("event_type", "fields"),
    [
        ("email_replied", {}),
        ("page_view", {"page": "/pricing", "duration_s": 5.0}),
        ("form_submitted", {"page": "/demo"}),
        ("social_engagement", {"platform": "linkedin", "engagement": "follow"}),
    ],
)
def test_the_input_is_never_mutated(event_type: str, fields: dict[str, Any]) -> None:
    before = {**empty_history(), "email_sent": 2, "web_page_views": 3}
    frozen = types.MappingProxyType(before)  # any read-only mapping is accepted
    snapshot = copy.deepcopy(before)
    after = apply_event(frozen, _event(event_type, **fields))
    assert before == snapshot
    assert after != before


def test_changed_columns_treats_nan_as_equal_to_nan() -> None:
    before = {"a": math.nan, "b": 1, "c": 2.0}
    after = {"a": math.nan, "b": 2, "c": 2.0, "d": 0}
    assert changed_columns(before, after) == ["b", "d"]


def test_changed_columns_treats_none_and_nan_as_the_same_missing_value() -> None:
    before = empty_history()
    after = _after("email_opened", before)  # still no send: every rate stays missing
    assert "email_open_rate" not in changed_columns(before, after)


# --- consistency with the batch extractors -----------------------------------------------------


class _History:
    """Raw event frames in the extractors' input format, built from CRM events."""

    def __init__(self) -> None:
        self.email: list[dict[str, Any]] = []
        self.web: list[dict[str, Any]] = []
        self.social: list[dict[str, Any]] = []

    def add(self, event: CRMEvent) -> _History:
        row = {"contact_id": event.contact_id, "occurred_at": pd.Timestamp(event.occurred_at)}
        if event.event_type in _EMAIL_KIND:
            self.email.append({**row, "event_type": _EMAIL_KIND[event.event_type]})
        elif event.event_type in ("page_view", "form_submitted"):
            kind = "page_view" if event.event_type == "page_view" else "form_fill"
            self.web.append(
                {**row, "event_type": kind, "page": event.page, "duration_s": event.duration_s}
            )
        elif event.event_type == "social_engagement":
            self.social.append({**row, "platform": event.platform, "event_type": event.engagement})
        return self

    def plus(self, event: CRMEvent) -> _History:
        copied = _History()
        copied.email, copied.web, copied.social = [*self.email], [*self.web], [*self.social]
        return copied.add(event)

    @staticmethod
    def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
        frame = pd.DataFrame(rows, columns=["contact_id", "occurred_at", *columns])
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
        if "duration_s" in frame:
            frame["duration_s"] = pd.to_numeric(frame["duration_s"]).astype(float)
        return frame


def _batch(history: _History, as_of: pd.Series) -> dict[uuid.UUID, dict[str, Any]]:
    parts = [
        extract_email_engagement(history._frame(history.email, ["event_type"]), as_of),
        extract_web_activity(
            history._frame(history.web, ["event_type", "page", "duration_s"]), as_of
        ),
        extract_social_signals(history._frame(history.social, ["platform", "event_type"]), as_of),
    ]
    frame = pd.concat(parts, axis=1)
    return {
        contact: {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        for contact, row in frame.to_dict("index").items()
    }


#: (days before the cut-off, type, fields): some fall outside the 7/14/30-day windows.
_PAST: list[tuple[float, str, dict[str, Any]]] = [
    (45, "email_sent", {}),
    (20, "email_sent", {}),
    (3, "email_sent", {}),
    (19, "email_opened", {}),
    (40, "email_replied", {}),
    (20, "email_replied", {}),
    (2, "email_clicked", {}),
    (35, "page_view", {"page": "/pricing", "duration_s": 12.5}),
    (10, "page_view", {"page": "/blog/x", "duration_s": 60.0}),
    (2, "page_view", {"page": "/demo", "duration_s": 5.25}),
    (8, "form_submitted", {"page": "/newsletter"}),
    (50, "social_engagement", {"platform": "twitter", "engagement": "mention"}),
    (5, "social_engagement", {"platform": "other", "engagement": "follow"}),
]


def _history() -> _History:
    """Contacts A and B with old and recent activity (B a little more); C has none."""
    history = _History()
    for contact in (A, B):
        for days, kind, fields in _PAST:
            history.add(_event(kind, contact, occurred_at=T - dt.timedelta(days=days), **fields))
    return history.add(_event("email_opened", B, occurred_at=T - dt.timedelta(days=1)))


NEW_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("email_sent", {}),
    ("email_opened", {}),
    ("email_clicked", {}),
    ("email_replied", {}),
    ("page_view", {"page": "/pricing", "duration_s": 30.0}),
    ("page_view", {"page": "/demo", "duration_s": 0.5}),
    ("page_view", {"page": "/case-studies"}),
    ("page_view", {"page": "/careers", "duration_s": 7.75}),
    ("form_submitted", {"page": "/contact-sales"}),
    ("form_submitted", {"page": "/ebook"}),
    ("social_engagement", {"platform": "linkedin", "engagement": "share"}),
    ("social_engagement", {"platform": "twitter", "engagement": "mention"}),
    ("social_engagement", {"platform": "other", "engagement": "follow"}),
]


@pytest.mark.parametrize("contact", [A, B, C], ids=["A", "B", "no-history"])
@pytest.mark.parametrize(("event_type", "fields"), NEW_EVENTS, ids=lambda x: str(x))
def test_one_incremental_event_agrees_with_the_batch_extractors(
    contact: uuid.UUID, event_type: str, fields: dict[str, Any]
) -> None:
    as_of = pd.Series({c: pd.Timestamp(T) for c in (A, B, C)})
    history = _history()
    event = _event(event_type, contact, **fields)  # one second before the cut-off
    # The online state: the batch columns plus the (static) company columns; a contact without
    # history starts from empty_history(), as the processor does.
    before = empty_history() | ({} if contact == C else _batch(history, as_of)[contact])
    incremental = apply_event(before, event)
    batch = _batch(history.plus(event), as_of)[contact]

    for column, expected in batch.items():
        got = incremental[column]
        if column in DAYS_SINCE and column in changed_columns(before, incremental):
            # Documented difference: online the event just happened (0 days); the batch
            # extractors give its true age at the cut-off (here one second).
            assert got == 0.0
            assert expected == pytest.approx(1 / 86_400)
        elif column == "web_distinct_pages":
            # Documented: the pages seen before are not online, the column is left alone.
            assert got == before[column]
            if event_type == "page_view" and contact == C:
                assert expected == before[column] + 1
        elif isinstance(expected, float) and math.isnan(expected):
            assert got is None or math.isnan(got), column
        else:
            assert got == expected, column  # counts, rates and windows: exactly equal
    assert set(incremental) - set(batch) == set(VIEW_SPECS["company_enrichment"].columns)


def test_a_sequence_of_events_agrees_with_the_extractors() -> None:
    as_of = pd.Series({A: pd.Timestamp(T)})
    history, state = _History(), empty_history()
    for offset, (event_type, fields) in enumerate(NEW_EVENTS * 2):
        event = _event(event_type, A, occurred_at=T - dt.timedelta(minutes=60 - offset), **fields)
        history.add(event)
        state = apply_event(state, event)
    batch = _batch(history, as_of)[A]
    for column, expected in batch.items():
        if column in DAYS_SINCE or column == "web_distinct_pages":
            continue
        assert state[column] == expected, column
