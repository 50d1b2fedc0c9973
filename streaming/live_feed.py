"""The dashboard's live feed: score changes as server-sent events, and the streaming alerts.

The HTTP side (:mod:`serving.dashboard.live`) first sends the latest changes
(:func:`recent_changes`), then polls :func:`changes_after` with a :class:`FeedCursor` and
formats each change with :func:`format_sse` (``event: score_change``, ``data:`` the change
message of :func:`streaming.changes.change_message`), with a :data:`KEEPALIVE` comment when
nothing happened for a while.

Changes are read in ``(created_at, id)`` order. A change is stamped when its transaction
writes it but becomes visible when it commits, so a change may appear slightly "in the past";
the cursor therefore looks :data:`OVERLAP_S` seconds back and skips the changes it sent.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from haste.db.models import as_utc
from haste.db.session import session_scope
from haste.db.stream_tables import ScoreChange, StreamAlert
from streaming.changes import change_message

#: Changes sent when a viewer connects.
RECENT_CHANGES = 20
#: SSE event name of a score change.
SCORE_CHANGE_EVENT = "score_change"
#: Seconds between polls of ``score_changes``.
POLL_S = 0.5
#: Seconds of silence after which a keep-alive comment is sent.
KEEPALIVE_S = 15.0
#: The keep-alive comment (ignored by ``EventSource``).
KEEPALIVE = ": keep-alive\n\n"
#: How far back each poll looks for changes committed late.
OVERLAP_S = 2.0
#: Most changes read per poll.
MAX_CHANGES_PER_POLL = 200
#: Stream alerts shown on the dashboard.
RECENT_ALERTS = 10


@dataclass
class FeedCursor:
    """Where a viewer's feed is: the newest change sent and the changes sent recently.

    Attributes:
        since: ``created_at`` of the newest change sent (``None``: nothing sent yet).
        sent: Ids of the changes sent whose ``created_at`` is within :data:`OVERLAP_S` of
            ``since`` (skipped when a poll sees them again), with their ``created_at``.
    """

    since: dt.datetime | None = None
    sent: dict[uuid.UUID, dt.datetime] = field(default_factory=dict)

    def fresh(self, changes: list[ScoreChange], limit: int | None = None) -> list[ScoreChange]:
        """Return the changes not sent yet and remember them as sent.

        Args:
            changes: Changes read, in ``(created_at, id)`` order.
            limit: Most changes returned (the others are not marked sent).

        Returns:
            The ones this cursor had not sent, in the same order.
        """
        out = [change for change in changes if change.id not in self.sent][:limit]
        for change in out:
            created = as_utc(change.created_at)
            self.sent[change.id] = created
            if self.since is None or created > self.since:
                self.since = created
        if self.since is not None:
            horizon = self.since - dt.timedelta(seconds=OVERLAP_S)
            self.sent = {key: at for key, at in self.sent.items() if at >= horizon}
        return out


def recent_changes(
    db_url: str, cursor: FeedCursor, limit: int = RECENT_CHANGES
) -> list[dict[str, Any]]:
    """Return the latest score changes, oldest first, and move the cursor past them.

    Args:
        db_url: Database URL.
        cursor: The viewer's cursor (updated).
        limit: Most changes returned.

    Returns:
        Change messages (:func:`streaming.changes.change_message`).
    """
    with session_scope(db_url) as session:
        latest = session.scalars(
            select(ScoreChange)
            .order_by(ScoreChange.created_at.desc(), ScoreChange.id.desc())
            .limit(limit)
        ).all()
        return [change_message(change) for change in cursor.fresh(list(reversed(latest)))]


def changes_after(
    db_url: str, cursor: FeedCursor, limit: int = MAX_CHANGES_PER_POLL
) -> list[dict[str, Any]]:
    """Return the changes a viewer has not been sent yet, oldest first; move the cursor.

    Args:
        db_url: Database URL.
        cursor: The viewer's cursor (updated); a fresh one reads from the oldest change.
        limit: Most new changes returned (the rest come with the next poll).

    Returns:
        Change messages (:func:`streaming.changes.change_message`).
    """
    query = select(ScoreChange).order_by(ScoreChange.created_at, ScoreChange.id)
    if cursor.since is not None:
        query = query.where(
            ScoreChange.created_at >= cursor.since - dt.timedelta(seconds=OVERLAP_S)
        )
    with session_scope(db_url) as session:
        # the changes already sent inside the overlap come back too: read past them
        rows = session.scalars(query.limit(limit + len(cursor.sent))).all()
        return [change_message(change) for change in cursor.fresh(list(rows), limit)]


def format_sse(data: Any, event: str | None = None, event_id: str | None = None) -> str:
    """Return one server-sent event.

    Args:
        data: The payload: a string is sent as is, anything else as compact JSON.
        event: The event name (``event:`` line); ``None`` for a plain message.
        event_id: The event id (``id:`` line, ``Last-Event-ID`` of a reconnecting client).

    Returns:
        The event's text, ending with the blank line that dispatches it.
    """
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    lines = []
    if event_id is not None:
        lines.append(f"id: {_one_line(event_id)}")
    if event is not None:
        lines.append(f"event: {_one_line(event)}")
    lines.extend(f"data: {line}" for line in text.splitlines() or [""])
    return "\n".join(lines) + "\n\n"


def _one_line(value: str) -> str:
    """Return a field value without line breaks (they would end the field)."""
    return " ".join(value.splitlines())


def change_event(message: dict[str, Any]) -> str:
    """Return the server-sent event of a change message (``event: score_change``)."""
    return format_sse(message, event=SCORE_CHANGE_EVENT, event_id=str(message.get("change_id")))


def latest_stream_alerts(db_url: str, limit: int = RECENT_ALERTS) -> list[dict[str, Any]]:
    """Return the latest alerts of the streaming monitor, newest first.

    Args:
        db_url: Database URL.
        limit: Most alerts returned.

    Returns:
        ``id``, ``kind``, ``model_name``, ``value``, ``threshold``, ``window_size`` and
        ``created_at`` (ISO 8601 UTC) per alert.
    """
    with session_scope(db_url) as session:
        alerts = session.scalars(
            select(StreamAlert)
            .order_by(StreamAlert.created_at.desc(), StreamAlert.id.desc())
            .limit(limit)
        ).all()
        return [
            {
                "id": str(alert.id),
                "kind": alert.kind,
                "model_name": alert.model_name,
                "value": alert.value,
                "threshold": alert.threshold,
                "window_size": alert.window_size,
                "created_at": as_utc(alert.created_at).isoformat(),
            }
            for alert in alerts
        ]
