"""'Changed because': SHAP deltas of a score change as score points, and their sentences."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

import numpy as np
import pytest

from streaming.events import CRMEvent
from streaming.reasons import (
    MIN_POINTS,
    changed_because,
    describe_event,
    feature_label,
    format_value,
)

WHEN = dt.datetime(2026, 3, 2, 10, 30, tzinfo=dt.UTC)


def _event(event_type: str = "email_replied", **fields: Any) -> CRMEvent:
    return CRMEvent(
        event_id="e-1",
        event_type=event_type,
        contact_id=uuid.UUID(int=1),
        occurred_at=WHEN,
        **fields,
    )


def _reasons(
    deltas: list[float],
    probability_change: float,
    changed: list[str] | None = None,
    limit: int = 3,
    columns: list[str] | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    columns = columns or [f"f{i}" for i in range(len(deltas))]
    shap_before = np.linspace(-0.3, 0.4, len(deltas))  # any base: only deltas matter
    return changed_because(
        _event(),
        columns,
        before or {},
        after or {},
        shap_before,
        shap_before + np.asarray(deltas),
        probability_change,
        columns if changed is None else changed,
        limit,
    )


def _total(reasons: list[dict[str, Any]]) -> float:
    return sum(r["points"] for r in reasons)


# --- points ------------------------------------------------------------------------------------


def test_points_are_each_features_share_of_the_probability_change() -> None:
    reasons = _reasons([0.6, 0.3, 0.1], probability_change=0.2)
    assert [(r["feature"], r["points"]) for r in reasons] == [
        ("f0", 12.0),
        ("f1", 6.0),
        ("f2", 2.0),
    ]


@pytest.mark.parametrize("probability_change", [0.2, -0.13, 0.377])
def test_points_add_up_to_the_score_change_with_the_other_line(probability_change: float) -> None:
    # Unchanged features (f3, f4) move the margin too: their share is the "_other" line.
    deltas = [0.8, -0.3, 0.25, 0.4, 0.15]
    reasons = _reasons(deltas, probability_change, changed=["f0", "f1", "f2"])
    assert reasons[-1]["feature"] == "_other"
    assert reasons[-1]["label"] == "Other features"
    assert reasons[-1]["before"] is None and reasons[-1]["after"] is None
    assert _total(reasons) == pytest.approx(100 * probability_change, abs=0.02)


def test_points_of_named_features_and_the_rest_add_up_when_the_limit_drops_some() -> None:
    reasons = _reasons([0.5, 0.2, 0.2, 0.1], probability_change=0.3, limit=1)
    assert [r["feature"] for r in reasons] == ["f0", "_other"]
    assert reasons[1]["points"] == pytest.approx(15.0)
    assert reasons[1]["text"] == "+15: other features"
    assert _total(reasons) == pytest.approx(30.0)


def test_a_rest_under_one_point_gets_no_other_line() -> None:
    reasons = _reasons([0.97, 0.03], probability_change=0.2, changed=["f0"])
    assert [r["feature"] for r in reasons] == ["f0"]
    assert 20.0 - _total(reasons) == pytest.approx(0.6)


def test_the_largest_absolute_points_come_first() -> None:
    reasons = _reasons([0.2, -0.5, 1.0, 0.3], probability_change=0.1, limit=4)
    assert [(r["feature"], r["points"]) for r in reasons] == [
        ("f2", 10.0),
        ("f1", -5.0),
        ("f3", 3.0),
        ("f0", 2.0),
    ]


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_the_limit_of_named_features_is_respected(limit: int) -> None:
    reasons = _reasons([0.4, 0.3, 0.2, 0.1], probability_change=0.5, limit=limit)
    named = [r for r in reasons if r["feature"] != "_other"]
    assert [r["feature"] for r in named] == ["f0", "f1", "f2"][:limit]


def test_only_changed_model_columns_are_named() -> None:
    # f1 moves the score most but the event did not change it; "web_x" is no model column.
    reasons = _reasons([0.2, 0.7, 0.1], probability_change=0.1, changed=["f0", "f2", "web_x"])
    assert [r["feature"] for r in reasons] == ["f0", "f2", "_other"]
    assert reasons[-1]["points"] == pytest.approx(7.0)


def test_points_are_rounded_to_two_decimals() -> None:
    reasons = _reasons([1 / 3, 2 / 3], probability_change=0.1)
    assert [r["points"] for r in reasons] == [6.67, 3.33]


@pytest.mark.parametrize("deltas", [[0.0, 0.0], [0.5, -0.5], [math.nan, 0.1], [math.inf, 0.0]])
def test_no_reasons_without_a_finite_margin_change(deltas: list[float]) -> None:
    assert _reasons(deltas, probability_change=0.1) == []


def test_features_under_half_a_point_are_not_named() -> None:
    reasons = _reasons([0.8, 0.19, 0.01], probability_change=0.3, changed=["f0", "f2"])
    assert [r["feature"] for r in reasons if r["feature"] != "_other"] == ["f0"]
    assert all(abs(r["points"]) >= MIN_POINTS for r in reasons if r["feature"] != "_other")


# --- sentences ---------------------------------------------------------------------------------


def test_the_text_names_the_event_the_feature_and_its_values() -> None:
    reasons = _reasons(
        [0.6, 0.4],
        probability_change=0.2,
        columns=["email_replies_30d", "email_reply_rate"],
        before={"email_replies_30d": 0, "email_reply_rate": math.nan},
        after={"email_replies_30d": 1, "email_reply_rate": 0.3333},
    )
    assert reasons[0] == {
        "feature": "email_replies_30d",
        "label": "Email Replies 30d",
        "points": 12.0,
        "before": "0",
        "after": "1",
        "text": "+12: replied to email (Email Replies 30d 0 -> 1)",
    }
    assert reasons[1]["text"] == "+8: replied to email (Email Reply Rate none -> 0.33)"


def test_a_negative_share_is_signed() -> None:
    reasons = _reasons([1.0], probability_change=-0.07, columns=["web_avg_duration_s"])
    assert reasons[0]["text"].startswith("-7: replied to email (Web Avg. Duration (s) ")


@pytest.mark.parametrize(
    ("column", "label"),
    [
        ("email_replies_30d", "Email Replies 30d"),
        ("web_avg_duration_s", "Web Avg. Duration (s)"),
        ("account_mrr", "Account MRR"),
        ("lead_engagement_score", "Lead Engagement Score"),
        ("social_linkedin_shares", "Social Linkedin Shares"),
        ("web_views_7d", "Web Views 7d"),
    ],
)
def test_feature_label(column: str, label: str) -> None:
    assert feature_label(column) == label


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "none"), (math.nan, "none"), (3, "3"), (2.0, "2"), (0.6931, "0.69"), ("x", "x")],
)
def test_format_value(value: Any, text: str) -> None:
    assert format_value(value) == text


@pytest.mark.parametrize(
    ("event_type", "fields", "text"),
    [
        ("email_sent", {}, "was sent an email"),
        ("email_opened", {}, "opened an email"),
        ("email_clicked", {}, "clicked a link in an email"),
        ("email_replied", {}, "replied to email"),
        ("page_view", {"page": "/pricing"}, "viewed /pricing"),
        ("form_submitted", {"page": "/demo"}, "submitted the /demo form"),
        ("social_engagement", {"platform": "linkedin", "engagement": "share"}, "share on linkedin"),
        ("meeting_booked", {}, "booked a meeting"),
        (
            "deal_stage_changed",
            {"deal_id": uuid.UUID(int=9), "stage": "proposal"},
            "deal moved to proposal",
        ),
    ],
)
def test_describe_event(event_type: str, fields: dict[str, Any], text: str) -> None:
    assert describe_event(_event(event_type, **fields)) == text
