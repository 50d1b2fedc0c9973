"""The poller feeds committed stream events and band crossings to the workflows, once each."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from haste.db import Contact, ScoreChange, StreamEvent, WorkflowRun, session_scope
from haste.db.models import utcnow
from workflows.definition import parse_definition
from workflows.poller import poll_once
from workflows.store import create_workflow


def test_history_is_skipped_then_each_event_fires_once(db_url: str) -> None:
    contact = uuid.uuid4()
    with session_scope(db_url) as session:
        session.add(Contact(id=contact, first_name="Ada"))
    for name, trigger in (
        ("On reply", {"type": "event", "event_type": "email_replied"}),
        ("On hot", {"type": "score_band", "to_band": "hot"}),
    ):
        create_workflow(
            db_url,
            parse_definition(
                {
                    "name": name,
                    "trigger": trigger,
                    "actions": [{"id": "t", "type": "create_task", "params": {"title": name}}],
                }
            ),
        )

    def add_event(event_id: str) -> None:
        now = utcnow()
        with session_scope(db_url) as session:
            session.add(
                StreamEvent(
                    event_id=event_id,
                    contact_id=contact,
                    event_type="email_replied",
                    occurred_at=now,
                    processed_at=now,
                    outcome="scored",
                )
            )

    add_event("old")  # before the poller's first pass: history, never fires
    assert poll_once(db_url).occurrences == 0
    add_event("new-1")
    add_event("new-2")
    with session_scope(db_url) as session:
        session.add(
            ScoreChange(
                contact_id=contact,
                event_id="new-2",
                event_type="email_replied",
                previous_score=60,
                score=75,
                previous_band="warm",
                band="hot",
                band_crossed=True,
                changed_because=[],
                model_version="1",
                variant="champion",
                occurred_at=utcnow(),
            )
        )
    report = poll_once(db_url)
    assert (report.occurrences, report.runs, report.actions_done) == (3, 3, 3)
    assert poll_once(db_url).occurrences == 0  # the cursor moved past them
    with session_scope(db_url) as session:
        keys = sorted(session.scalars(select(WorkflowRun.occurrence_key)))
        assert keys[1:] == ["event:new-1", "event:new-2"] and keys[0].startswith("change:")
        assert session.scalar(select(func.count()).select_from(WorkflowRun)) == 3
