"""Feed the real-time engine's events and band crossings to the workflow engine.

The consumers commit every processed event to ``stream_events`` and every band crossing to
``score_changes`` in the batch's transaction; this poller reads both tables past its cursor
(``workflow_cursors``: time + key, so ties are never skipped), runs the workflows on them
and only then advances the cursor. A crash between the two re-reads the same rows, and the
runs' unique key (workflow, occurrence, contact) keeps them from firing twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import Any

from sqlalchemy import and_, or_, select

from haste.db.models import as_utc, utcnow
from haste.db.session import session_scope
from haste.db.stream_tables import ScoreChange, StreamEvent
from haste.db.workflow_tables import WorkflowCursor
from workflows.config import WorkflowConfig, workflow_config
from workflows.engine import EngineReport, run_occurrences
from workflows.triggers import Occurrence

logger = logging.getLogger(__name__)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _cursor(session: Any, source: str) -> tuple[dt.datetime, str] | None:
    """Return a source's cursor; a new source starts now (history never fires workflows)."""
    row = session.get(WorkflowCursor, source)
    if row is None:
        session.add(WorkflowCursor(source=source, position=utcnow(), last_key=""))
        return None
    return as_utc(row.position), row.last_key


def _save_cursor(url: str, source: str, position: dt.datetime, key: str) -> None:
    with session_scope(url) as session:
        row = session.get(WorkflowCursor, source)
        if row is None:
            session.add(WorkflowCursor(source=source, position=position, last_key=key))
        else:
            row.position, row.last_key = position, key


def _read_past(
    session: Any, source: str, stamp: Any, key_column: Any, columns: list[Any], limit: int
) -> list[Any]:
    """Return the rows of ``source`` past its cursor, in (time, key) order.

    The time and the key are the last two columns of each row. A new cursor starts now and
    reads nothing (history never fires workflows).
    """
    cursor = _cursor(session, source)
    if cursor is None:
        return []
    at, key = cursor
    if source == "score_changes":
        key = uuid.UUID(key) if key else uuid.UUID(int=0)
    past = or_(stamp > at, and_(stamp == at, key_column > key))
    query = select(*columns, stamp, key_column).where(past).order_by(stamp, key_column)
    return list(session.execute(query.limit(limit)).all())


def read_new_occurrences(
    url: str, limit: int
) -> tuple[list[Occurrence], dict[str, tuple[dt.datetime, str]]]:
    """Return the occurrences past the cursors and where the cursors move to once run."""
    occurrences: list[Occurrence] = []
    moves: dict[str, tuple[dt.datetime, str]] = {}
    with session_scope(url) as session:
        events = _read_past(
            session,
            "stream_events",
            StreamEvent.processed_at,
            StreamEvent.event_id,
            [StreamEvent.contact_id, StreamEvent.event_type, StreamEvent.occurred_at],
            limit,
        )
        for contact_id, event_type, occurred_at, _at, event_id in events:
            occurrences.append(
                Occurrence(
                    f"event:{event_id}",
                    "event",
                    contact_id,
                    as_utc(occurred_at),
                    event_type=event_type,
                )
            )
        changes = _read_past(
            session,
            "score_changes",
            ScoreChange.created_at,
            ScoreChange.id,
            [
                ScoreChange.contact_id,
                ScoreChange.previous_band,
                ScoreChange.band,
                ScoreChange.band_crossed,
                ScoreChange.occurred_at,
            ],
            limit,
        )
        for contact_id, previous, band, crossed, occurred_at, _at, change_id in changes:
            if crossed:
                occurrences.append(
                    Occurrence(
                        f"change:{change_id}",
                        "score_band",
                        contact_id,
                        as_utc(occurred_at),
                        from_band=previous,
                        to_band=band,
                    )
                )
        for source, rows in (("stream_events", events), ("score_changes", changes)):
            if rows:
                moves[source] = (as_utc(rows[-1][-2]), str(rows[-1][-1]))
    return occurrences, moves


def poll_once(url: str, config: WorkflowConfig | None = None) -> EngineReport:
    """Run the workflows on what arrived since the last pass; return what they did."""
    config = config or workflow_config()
    occurrences, moves = read_new_occurrences(url, config.poll_batch)
    report = run_occurrences(url, occurrences, config=config) if occurrences else EngineReport()
    for source, (position, key) in moves.items():
        _save_cursor(url, source, position, key)
    if report.runs:
        logger.info("workflows: %s", report.to_dict())
    return report


async def run_poller(url: str, stop: asyncio.Event, config: WorkflowConfig | None = None) -> None:
    """Poll every ``poll_interval_s`` until ``stop`` is set (a failed pass is retried)."""
    config = config or workflow_config()
    while not stop.is_set():
        try:
            report = await asyncio.to_thread(poll_once, url, config)
        except Exception:
            logger.exception("workflow poll failed; retrying")
            report = EngineReport()
        if report.occurrences >= config.poll_batch:
            continue  # more waiting: no pause
        try:
            await asyncio.wait_for(stop.wait(), timeout=config.poll_interval_s)
        except TimeoutError:
            continue
