"""Why a contact's score moved ("changed because"), as SHAP deltas in score points.

TreeSHAP values (XGBoost's ``pred_contribs``) add up, with the bias, to the model's margin
(log-odds). Between two rows of one contact scored by one model, the bias cancels, so the
per-feature SHAP deltas add up to the change of the margin. The score is ``100 * p``; each
feature gets the share of the probability change its delta has of the margin change:
``points_i = delta_i / sum(delta) * 100 * (p_after - p_before)``. The points of all features add
up to the score change (before rounding).

Features whose value the event changed are named with their before and after values, e.g.
``"+12: replied to email (Email Replies 30d 0 -> 1)"``; what the unchanged features add through
their interactions with them is summed into one "other features" line when it is a point or
more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from streaming.events import CRMEvent

#: Named features move the score by at least this many points (smaller ones join "other").
MIN_POINTS = 0.5

_ACRONYMS = {"s": "(s)", "mrr": "MRR", "avg": "Avg."}


def describe_event(event: CRMEvent) -> str:
    """Return what the contact did, in a few words (``"replied to email"``)."""
    match event.event_type:
        case "email_sent":
            return "was sent an email"
        case "email_opened":
            return "opened an email"
        case "email_clicked":
            return "clicked a link in an email"
        case "email_replied":
            return "replied to email"
        case "page_view":
            return f"viewed {event.page}"
        case "form_submitted":
            return f"submitted the {event.page} form"
        case "social_engagement":
            return f"{event.engagement} on {event.platform}"
        case "meeting_booked":
            return "booked a meeting"
        case _:
            return f"deal moved to {event.stage}"


def feature_label(column: str) -> str:
    """Return a readable feature name (``email_replies_30d`` -> ``Email Replies 30d``)."""
    words = []
    for word in column.split("_"):
        if word in _ACRONYMS:
            words.append(_ACRONYMS[word])
        elif word[:1].isdigit():
            words.append(word)
        else:
            words.append(word.capitalize())
    return " ".join(words)


def format_value(value: Any) -> str:
    """Return a feature value for a sentence (``none`` when missing, 2 decimals for floats)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "none"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.2f}"
    return str(value)


def changed_because(
    event: CRMEvent,
    columns: Sequence[str],
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    shap_before: np.ndarray,
    shap_after: np.ndarray,
    probability_change: float,
    changed: Sequence[str],
    limit: int = 3,
) -> list[dict[str, Any]]:
    """Return the largest SHAP deltas of a score change, in score points, largest first.

    Args:
        event: The event that moved the score.
        columns: The model's input columns (order of the SHAP vectors).
        before: Model inputs before the event.
        after: Model inputs after it.
        shap_before: SHAP values (log-odds) of ``before``.
        shap_after: SHAP values of ``after``.
        probability_change: ``p_after - p_before``.
        changed: Input columns whose value the event changed.
        limit: Named features kept.

    Returns:
        ``{"feature", "label", "points", "before", "after", "text"}`` per named feature, then
        possibly one ``{"feature": "_other", ...}`` for the unchanged features' share.
    """
    deltas = np.asarray(shap_after, dtype=float) - np.asarray(shap_before, dtype=float)
    total = float(deltas.sum())
    if total == 0.0 or not math.isfinite(total):
        return []
    points = deltas / total * 100.0 * probability_change
    index = {column: i for i, column in enumerate(columns)}
    moving = [c for c in changed if c in index and abs(points[index[c]]) >= MIN_POINTS]
    named = sorted(moving, key=lambda c: -abs(points[index[c]]))[:limit]
    what = describe_event(event)
    reasons = []
    for column in named:
        value = float(points[index[column]])
        label = feature_label(column)
        old, new = format_value(before.get(column)), format_value(after.get(column))
        reasons.append(
            {
                "feature": column,
                "label": label,
                "points": round(value, 2),
                "before": old,
                "after": new,
                "text": f"{value:+.0f}: {what} ({label} {old} -> {new})",
            }
        )
    rest = float(points.sum()) - sum(float(points[index[c]]) for c in named)
    if abs(rest) >= 1.0:
        reasons.append(
            {
                "feature": "_other",
                "label": "Other features",
                "points": round(rest, 2),
                "before": None,
                "after": None,
                "text": f"{rest:+.0f}: other features",
            }
        )
    return reasons
