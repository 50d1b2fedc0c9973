"""Incremental online features: one CRM event applied to a contact's batch-view columns.

The batch extractors (:mod:`features.extractors`) aggregate a contact's whole history at a
snapshot time; an event adds one occurrence at "now". Applying it updates the same columns the
batch views hold, so batch and stream features stay one definition (the Feast views of
:mod:`features.definitions`):

* counts and recent-window counts (``email_replies_30d``, ``web_views_7d``...) gain one;
* rates are recomputed from their counts (``email_open_rate = opens / sent``, NaN without a
  send, as in the extractors);
* ``*_days_since_last*`` become 0 (the event just happened);
* ``web_distinct_pages`` is left alone (the pages seen before are not in the online store);
  recent windows are not decayed between snapshots: the next batch materialisation resets them.

Events without a lead feature (``meeting_booked``, ``deal_stage_changed``) change nothing here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from features.definitions import VIEW_SPECS
from features.extractors import HIGH_INTENT_PAGES, SALES_FORMS, SOCIAL_PLATFORMS
from streaming.events import EVENT_TYPES, CRMEvent

#: Batch views of the lead-scoring service whose columns events update (the state).
STREAM_VIEWS: tuple[str, ...] = ("email_engagement", "web_activity", "social_signals")
#: Batch views read once per contact and never changed by events.
STATIC_VIEWS: tuple[str, ...] = ("company_enrichment",)
#: Event types that change a lead feature (meetings and deal stages have none).
LEAD_EVENT_TYPES: frozenset[str] = frozenset(EVENT_TYPES) - {"meeting_booked", "deal_stage_changed"}


def view_of(event_type: str) -> str | None:
    """Return the stream view an event type changes (None: no lead feature)."""
    if event_type.startswith("email_"):
        return "email_engagement"
    if event_type in ("page_view", "form_submitted"):
        return "web_activity"
    if event_type == "social_engagement":
        return "social_signals"
    return None


def state_columns() -> list[str]:
    """Return every column of the state: the stream views' and the static views' columns."""
    return [c for view in (*STREAM_VIEWS, *STATIC_VIEWS) for c in VIEW_SPECS[view].columns]


def empty_history() -> dict[str, Any]:
    """Return the state of a contact with no activity yet (what the extractors give it).

    Counts are 0, rates and days-since are missing (undefined without an event), and the
    company columns are missing (the online store has no enrichment for the contact).
    """
    state: dict[str, Any] = {}
    for view in (*STREAM_VIEWS, *STATIC_VIEWS):
        for column, kind in VIEW_SPECS[view].columns.items():
            state[column] = 0 if str(kind) == "Int64" and view in STREAM_VIEWS else None
    for column in ("web_total_duration_s",):
        state[column] = 0.0
    return state


def _number(value: Any) -> float:
    """Return a stored value as a float (missing -> 0)."""
    if value is None:
        return 0.0
    number = float(value)
    return 0.0 if math.isnan(number) else number


def _ratio(numerator: float, denominator: float) -> float:
    """Return ``numerator / denominator``, NaN when the denominator is 0 (as the extractors)."""
    return numerator / denominator if denominator > 0 else math.nan


def _add(features: dict[str, Any], *columns: str) -> None:
    """Add one to count columns."""
    for column in columns:
        features[column] = int(_number(features.get(column))) + 1


def _apply_email(features: dict[str, Any], event_type: str) -> None:
    """Count an email event and recompute the rates."""
    if event_type == "email_sent":
        _add(features, "email_sent")
    elif event_type == "email_opened":
        _add(features, "email_opens")
        features["email_days_since_last_open"] = 0.0
    elif event_type == "email_clicked":
        _add(features, "email_clicks")
    elif event_type == "email_replied":
        _add(features, "email_replies", "email_replies_14d", "email_replies_30d")
        features["email_days_since_last_reply"] = 0.0
    sent = _number(features.get("email_sent"))
    for kind, column in (("opens", "open"), ("clicks", "click"), ("replies", "reply")):
        features[f"email_{column}_rate"] = _ratio(_number(features.get(f"email_{kind}")), sent)


def _apply_web(features: dict[str, Any], event: CRMEvent) -> None:
    """Count a page view or a form fill."""
    page = event.page or ""
    features["web_days_since_last_visit"] = 0.0
    if event.event_type == "form_submitted":
        _add(features, "web_form_fills")
        if page in SALES_FORMS:
            _add(features, "web_sales_form_fills")
        return
    _add(features, "web_page_views", "web_views_7d", "web_views_30d")
    features["web_total_duration_s"] = _number(features.get("web_total_duration_s")) + (
        event.duration_s or 0.0
    )
    features["web_avg_duration_s"] = _ratio(
        features["web_total_duration_s"], _number(features["web_page_views"])
    )
    if page == "/pricing":
        _add(features, "web_pricing_views")
    if page == "/demo":
        _add(features, "web_demo_views")
    if page in HIGH_INTENT_PAGES:
        _add(features, "web_high_intent_views")


def _apply_social(features: dict[str, Any], event: CRMEvent) -> None:
    """Count a social engagement (per platform when the platform has its own columns)."""
    kind = event.engagement or "mention"
    if event.platform in SOCIAL_PLATFORMS:
        _add(features, f"social_{event.platform}_{kind}s")
    _add(features, f"social_{kind}s", "social_total", "social_events_30d")
    features["social_days_since_last"] = 0.0


def apply_event(features: Mapping[str, Any], event: CRMEvent) -> dict[str, Any]:
    """Return the contact's state after ``event`` (the input is left unchanged).

    Args:
        features: The contact's state columns (:func:`state_columns`).
        event: The event.

    Returns:
        The updated columns (a new dict); unchanged for events without a lead feature.
    """
    updated = dict(features)
    if event.event_type.startswith("email_"):
        _apply_email(updated, event.event_type)
    elif event.event_type in ("page_view", "form_submitted"):
        _apply_web(updated, event)
    elif event.event_type == "social_engagement":
        _apply_social(updated, event)
    return updated


def changed_columns(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Return the columns whose value differs (missing: None and NaN are the same)."""

    def missing(value: Any) -> bool:
        return value is None or (isinstance(value, float) and math.isnan(value))

    def same(a: Any, b: Any) -> bool:
        return (missing(a) and missing(b)) or a == b

    return [column for column in after if not same(before.get(column), after[column])]
