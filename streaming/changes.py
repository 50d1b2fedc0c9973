"""A score change as it leaves the engine: the outbound message, the webhook body, the SSE data.

One JSON document, built from a ``score_changes`` row by :func:`change_message`, is published
to the outbound (fanout) exchange, POSTed to every registered webhook and pushed to the
dashboard's live feed. Its ``changed_because`` lists the largest SHAP deltas between the
previous and the new score, in score points, each with a sentence such as
``"+12: replied to email (Email Replies 30d 0 -> 1)"``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from haste.db.models import as_utc

#: ``type`` of every change message (receivers can ignore others).
CHANGE_MESSAGE_TYPE = "lead_score.changed"


def _iso(value: dt.datetime | None) -> str | None:
    """Return an ISO-8601 UTC timestamp (``None`` stays ``None``)."""
    return None if value is None else as_utc(value).isoformat()


def change_message(change: Any) -> dict[str, Any]:
    """Return the JSON document of a score change.

    Args:
        change: A ``score_changes`` row (or any object with its columns as attributes).

    Returns:
        ``{"type", "change_id", "contact_id", "event_id", "event_type", "previous_score",
        "score", "previous_band", "band", "band_crossed", "changed_because", "model_version",
        "variant", "occurred_at", "created_at"}``; ``changed_because`` items are
        ``{"feature", "label", "points", "before", "after", "text"}``.
    """
    return {
        "type": CHANGE_MESSAGE_TYPE,
        "change_id": str(change.id),
        "contact_id": str(change.contact_id),
        "event_id": change.event_id,
        "event_type": change.event_type,
        "previous_score": change.previous_score,
        "score": change.score,
        "previous_band": change.previous_band,
        "band": change.band,
        "band_crossed": bool(change.band_crossed),
        "changed_because": list(change.changed_because or []),
        "model_version": change.model_version,
        "variant": change.variant,
        "occurred_at": _iso(change.occurred_at),
        "created_at": _iso(change.created_at),
    }
