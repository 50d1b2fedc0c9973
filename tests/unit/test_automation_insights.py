"""The dashboard's automation sections: the anomaly window, workflows, reviews, adoption."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from haste.db import Activity, Contact, session_scope
from haste.db.models import utcnow
from insights.automation import anomaly_window_end, review_queue, workflow_overview
from serving.dashboard.render import render_dashboard
from workflows.definition import parse_definition
from workflows.engine import run_occurrences
from workflows.reviews import decide_review
from workflows.store import create_workflow
from workflows.triggers import Occurrence

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _activities(url: str, times: list[dt.datetime]) -> uuid.UUID:
    contact = uuid.uuid4()
    with session_scope(url) as session:
        session.add(Contact(id=contact, first_name="Ada"))
        session.flush()
        for moment in times:
            session.add(Activity(contact_id=contact, type="call", occurred_at=moment))
    return contact


def test_window_ends_where_a_stopped_history_ends(db_url: str) -> None:
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    assert anomaly_window_end(db_url) == today  # no activity: today
    history = [T0 + dt.timedelta(hours=12 * i) for i in range(300)]  # Jan 1 .. May 30
    _activities(db_url, [*history, utcnow() - dt.timedelta(hours=1)])  # one new today
    end = anomaly_window_end(db_url)
    assert dt.datetime(2026, 5, 29, tzinfo=dt.UTC) <= end <= dt.datetime(2026, 5, 31, tzinfo=dt.UTC)
    _activities(db_url, [utcnow() - dt.timedelta(days=d % 80, hours=1) for d in range(200)])
    assert anomaly_window_end(db_url) == today  # a live CRM: the window ends today


def test_dashboard_shows_workflows_reviews_and_adoption(db_url: str, tmp_path: Path) -> None:
    contact = _activities(db_url, [utcnow() - dt.timedelta(days=5)])
    stored = create_workflow(
        db_url,
        parse_definition(
            {
                "name": "Email on reply",
                "trigger": {"type": "event", "event_type": "email_replied"},
                "actions": [{"id": "e", "type": "send_email", "params": {"purpose": "follow_up"}}],
            }
        ),
    )
    run_occurrences(
        db_url, [Occurrence("event:1", "event", contact, utcnow(), event_type="email_replied")]
    )
    rows = workflow_overview(db_url)
    assert [(r["id"], r["runs"], r["pending_review"]) for r in rows] == [(stored["id"], 1, 1)]
    assert review_queue(db_url)["pending"] == 1
    html = render_dashboard(db_url, tmp_path / "reports")
    for section in ("anomalies", "automation", "workflow-table", "review-list", "adoption"):
        assert f'id="{section}"' in html
    assert "1 pending" in html and "Email on reply" in html
    assert 'id="no-adoption"' in html  # nothing decided or rated yet
    item = review_queue(db_url)["items"][0]["id"]
    decide_review(db_url, item, "reject", decided_by="manager", reason="not now")
    html = render_dashboard(db_url, tmp_path / "reports")
    assert 'id="adoption-team-table"' in html and "workflow · unassigned" in html
    assert 'id="adoption-rate"' in html and "below target" in html
