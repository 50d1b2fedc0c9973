"""The demo's real-time step: a burst of CRM events through the API, score changes with why.

The synthetic CRM's most recent activity happens again "now" (fresh event ids): it goes to
``POST /api/ai/events``, the ``EventConsumer`` replicas rescore the contacts, and the step
prints a few score changes with their "changed because" (band crossings first).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from rich.table import Table
from sqlalchemy import select

from flows.demo_report import DemoReport
from haste.db.session import session_scope
from haste.db.stream_tables import ScoreChange
from pipelines.stages import PipelinePaths
from pipelines.synthetic_store import read_crm
from streaming.replay import activity_frame, to_events

#: Events in the demo burst (the CRM's latest lead activity, replayed as happening now).
BURST = 600


def publish_burst(report: DemoReport, client: httpx.Client, data_dir: Any) -> list[str]:
    """Send the burst in batches of 200; return the event ids."""
    frame = activity_frame(read_crm(PipelinePaths(data_dir).crm_dir))
    recent = frame[frame["event_type"] != "meeting_booked"].tail(BURST)
    events = [e.model_dump(mode="json", exclude_none=True) for e in to_events(recent, fresh=True)]
    for start in range(0, len(events), 200):
        report.call(
            client,
            "POST",
            "/api/ai/events",
            lambda b: f"{b['accepted']} events accepted (broker-confirmed)",
            json={"events": events[start : start + 200]},
        )
    return [e["event_id"] for e in events]


def wait_for_changes(database_url: str, ids: list[str], timeout_s: float = 60) -> list[ScoreChange]:
    """Wait until the burst is applied (or the timeout); return its score changes."""
    from haste.db.stream_tables import StreamEvent

    deadline = time.monotonic() + timeout_s
    while True:
        with session_scope(database_url) as session:
            done = session.scalars(
                select(StreamEvent.event_id).where(StreamEvent.event_id.in_(ids))
            ).all()
            if len(done) >= len(ids) or time.monotonic() > deadline:
                changes = session.scalars(
                    select(ScoreChange)
                    .where(ScoreChange.event_id.in_(ids))
                    .order_by(ScoreChange.band_crossed.desc(), ScoreChange.created_at)
                ).all()
                session.expunge_all()
                return list(changes)
        time.sleep(0.5)


def stream_burst(report: DemoReport, client: httpx.Client, settings: Any) -> None:
    """The step: publish the burst, print up to five changes with their reasons."""
    with report.step("real-time engine: CRM events -> RabbitMQ -> rescoring") as step:
        made = len(report.calls)
        ids = publish_burst(report, client, settings.data_dir)
        refused = [call for call in report.calls[made:] if call.status != 202]
        if refused:  # e.g. RabbitMQ down: said, not waited for
            step.detail = f"events refused ({refused[0].status}: {refused[0].summary})"
            return
        changes = wait_for_changes(settings.database_url, ids)
        crossings = sum(1 for c in changes if c.band_crossed)
        step.detail = f"{len(ids)} events, {len(changes)} scores moved, {crossings} band crossings"
    table = Table(title="Score changes, with why (lead_scores + score_changes)")
    for column in ("contact", "event", "score", "band", "changed because"):
        table.add_column(column, overflow="fold")
    for change in changes[:5]:
        table.add_row(
            str(change.contact_id)[:8],
            change.event_type,
            f"{change.previous_score} -> {change.score}",
            f"{change.previous_band} -> {change.band}" if change.band_crossed else change.band,
            "\n".join(r["text"] for r in change.changed_because) or "-",
        )
    report.console.print(table)
