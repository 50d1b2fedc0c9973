"""The dashboard's section of the score-gaming flags (counts and the latest flagged contacts).

Reads the ``score_gaming`` predictions (written by ``haste gaming scan``, the
``score-gaming-scan`` flow and ``GET /api/ai/lead-score/{contact_id}/gaming``): the latest
result per contact of the last :data:`WINDOW_DAYS` days, counted per flag kind.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from haste.db.models import Prediction, as_utc, utcnow
from haste.db.session import session_scope

#: Days of stored results the section counts.
WINDOW_DAYS = 30
#: Flagged contacts listed.
LATEST = 10
#: Flag kinds, in the order they are shown (see monitoring.gaming_rules.FLAG_KINDS).
KINDS: tuple[str, ...] = ("burst", "bot_timing", "zero_dwell", "scanner")
#: Readable names of the kinds.
KIND_LABELS = {
    "burst": "Bursts of opens/clicks",
    "bot_timing": "Bot-like timing",
    "zero_dwell": "Page views without time on page",
    "scanner": "Mail-scanner opens",
}


def gaming_overview(url: str) -> dict[str, Any] | None:
    """Return the section's data (``None``: no gaming result stored in the window).

    Args:
        url: Database URL.

    Returns:
        ``days``, ``checked`` (contacts with a result), ``flagged`` (contacts flagged in their
        latest result), ``by_kind`` (kind, label, contacts), ``latest`` (the newest flagged
        contacts with their flags' messages and scores with and without) and
        ``mean_inflation`` (score points, over flagged contacts with both scores).
    """
    since = utcnow() - dt.timedelta(days=WINDOW_DAYS)
    with session_scope(url) as session:
        rows = session.execute(
            select(Prediction.entity_id, Prediction.prediction_value, Prediction.created_at)
            .where(Prediction.prediction_type == "score_gaming")
            .where(Prediction.created_at >= since)
            .order_by(Prediction.created_at.desc(), Prediction.id)
        ).all()
    if not rows:
        return None
    latest: dict[Any, tuple[dict[str, Any], dt.datetime]] = {}
    for entity, value, created in rows:
        latest.setdefault(entity, (value or {}, created))
    flagged = [(v, c) for v, c in latest.values() if v.get("flagged")]
    inflation = [
        v["score_with"] - v["score_without"]
        for v, _ in flagged
        if v.get("score_with") is not None and v.get("score_without") is not None
    ]
    return {
        "days": WINDOW_DAYS,
        "checked": len(latest),
        "flagged": len(flagged),
        "by_kind": [
            {
                "kind": kind,
                "label": KIND_LABELS[kind],
                "contacts": sum(kind in v.get("flag_kinds", []) for v, _ in flagged),
            }
            for kind in KINDS
        ],
        "mean_inflation": round(sum(inflation) / len(inflation), 1) if inflation else None,
        "latest": [
            {
                "contact_id": v.get("contact_id"),
                "flagged_at": as_utc(created).isoformat(timespec="minutes"),
                "kinds": v.get("flag_kinds", []),
                "messages": [f.get("message", "") for f in v.get("flags", [])],
                "suspicious_events": v.get("suspicious_events", 0),
                "score_with": v.get("score_with"),
                "score_without": v.get("score_without"),
                "score_note": v.get("score_note"),
            }
            for v, created in flagged[:LATEST]
        ],
    }
