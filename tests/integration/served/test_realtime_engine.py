"""The real-time engine in the served platform: events in over HTTP, scores out with why.

``POST /api/ai/events`` publishes to the real RabbitMQ; the ``EventConsumer`` replicas (Ray
Serve) update the contacts' online features, rescore them with the registered champion, store
the scores that moved with "changed because", and deliver band crossings to a registered
webhook, signed. A consumer replica killed under load loses and doubles nothing.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import threading
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from haste.db.models import LeadScore
from haste.db.session import session_scope
from haste.db.stream_tables import ContactStreamState, ScoreChange, StreamEvent
from haste.settings import Settings
from pipelines.stages import PipelinePaths
from pipelines.synthetic_store import read_crm
from streaming.webhooks import verify_signature
from tests.support.asgi_server import serve_in_thread

Platform = tuple[Settings, list[dict[str, Any]]]


def _crm_contacts(settings: Settings, count: int, offset: int = 0) -> list[str]:
    crm = read_crm(PipelinePaths(settings.data_dir).crm_dir)
    return [str(c) for c in crm.contacts["id"].iloc[offset : offset + count]]


def _burst(contacts: list[str], per_contact: int) -> list[dict[str, Any]]:
    """Strong buying signals: replies, pricing and demo views, a demo request."""
    now = dt.datetime.now(dt.UTC)
    kinds = [
        {"event_type": "email_replied"},
        {"event_type": "page_view", "page": "/pricing", "duration_s": 95.0},
        {"event_type": "page_view", "page": "/demo", "duration_s": 60.0},
        {"event_type": "form_submitted", "page": "/demo"},
        {"event_type": "email_opened"},
    ]
    events = []
    for step in range(per_contact):
        for contact in contacts:
            events.append(
                {
                    "event_id": f"e2e-{uuid.uuid4().hex}",
                    "contact_id": contact,
                    "occurred_at": (now - dt.timedelta(seconds=per_contact - step)).isoformat(),
                    **kinds[step % len(kinds)],
                }
            )
    return events


def _applied(settings: Settings, ids: set[str]) -> int:
    with session_scope(settings.database_url) as session:
        return session.scalar(
            select(func.count()).select_from(StreamEvent).where(StreamEvent.event_id.in_(ids))
        )


def _wait_applied(settings: Settings, ids: set[str], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while (done := _applied(settings, ids)) < len(ids):
        assert time.monotonic() < deadline, f"{done} of {len(ids)} events applied"
        time.sleep(0.5)


class Receiver:
    """A webhook receiver recording each delivery (body and headers)."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, dict[str, str]]] = []
        self.lock = threading.Lock()

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.calls.append((body, dict(request.headers)))
        return Response(status_code=204)


def test_events_rescore_contacts_and_tell_why(api: httpx.Client, platform: Platform) -> None:
    settings, _ = platform
    receiver = Receiver()
    app = Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])
    with serve_in_thread(app, "webhook receiver") as port:
        hook = api.post("/api/ai/webhooks", json={"url": f"http://127.0.0.1:{port}/hook"})
        assert hook.status_code == 201, hook.text
        secret = hook.json()["secret"]

        bad = api.post("/api/ai/events", json={"events": [{"event_id": "x", "event_type": "nope"}]})
        assert bad.status_code == 422
        contacts = _crm_contacts(settings, 25)
        events = _burst(contacts, per_contact=10)
        answer = api.post("/api/ai/events", json={"events": events})
        assert answer.status_code == 202, answer.text
        assert answer.json()["accepted"] == len(events)
        ids = {e["event_id"] for e in events}
        _wait_applied(settings, ids)

        again = api.post("/api/ai/events", json={"events": events[:20]})
        assert again.status_code == 202
        assert again.json()["accepted"] == 0 and len(again.json()["duplicates"]) == 20

        with session_scope(settings.database_url) as session:
            changes = session.scalars(
                select(ScoreChange).where(ScoreChange.event_id.in_(ids))
            ).all()
            assert changes, "a burst of buying signals moved no score"
            explained = [c for c in changes if c.changed_because]
            assert explained
            text = explained[0].changed_because[0]["text"]
            assert text[0] in "+-" and "->" in text
            score = session.get(LeadScore, explained[0].lead_score_id)
            assert score.score_components["source"] == "stream"
            assert score.score_components["changed_because"] == explained[0].changed_because
            crossings = [str(c.id) for c in changes if c.band_crossed]
        assert crossings, "no band crossing: the webhook test needs one"

        deadline = time.monotonic() + 60
        while len({json.loads(b)["change_id"] for b, _ in receiver.calls} & set(crossings)) < len(
            crossings
        ):
            assert time.monotonic() < deadline, f"{len(receiver.calls)} of {len(crossings)}"
            time.sleep(0.5)
        body, headers = receiver.calls[0]
        assert verify_signature(
            secret, headers["x-haste-timestamp"], body, headers["x-haste-signature"]
        )
        assert json.loads(body)["type"] == "lead_score.changed"
        listed = api.get("/api/ai/webhooks").json()["webhooks"]
        assert listed[0]["delivered"] >= len(crossings)

    status = api.get("/api/ai/events/status")
    assert status.status_code == 200, status.text
    assert status.json()["events_applied"] >= len(events)
    assert status.json()["consumers"] >= 1

    # the API's online features are the streamed ones: its score is the stream's
    contact = contacts[0]
    with session_scope(settings.database_url) as session:
        state = session.get(ContactStreamState, uuid.UUID(contact))
        assert state is not None
    deadline = time.monotonic() + 20
    while True:  # the online store follows within a second (coalesced writes)
        served = api.post("/api/ai/lead-score", json={"contact_id": contact}).json()
        if served["score"] == state.score or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert served["score"] == state.score


def test_a_consumer_replica_killed_under_load_loses_and_doubles_nothing(
    api: httpx.Client, platform: Platform
) -> None:
    import ray

    settings, _ = platform
    contacts = _crm_contacts(settings, 60, offset=100)
    events = _burst(contacts, per_contact=30)  # 1,800 events
    ids = {e["event_id"] for e in events}
    with session_scope(settings.database_url) as session:
        before = {
            s.contact_id: s.events_applied
            for s in session.scalars(
                select(ContactStreamState).where(
                    ContactStreamState.contact_id.in_([uuid.UUID(c) for c in contacts])
                )
            )
        }
    for start in range(0, len(events), 200):
        assert (
            api.post("/api/ai/events", json={"events": events[start : start + 200]}).status_code
            == 202
        )
        if start == 600:
            replicas = [
                actor
                for actor in ray.util.list_named_actors(all_namespaces=True)
                if "SERVE_REPLICA" in actor["name"] and "EventConsumer" in actor["name"]
            ]
            assert len(replicas) == 2, replicas
            ray.kill(ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"]))
    _wait_applied(settings, ids, timeout_s=240)
    time.sleep(2)
    sent = collections.Counter(uuid.UUID(e["contact_id"]) for e in events)
    with session_scope(settings.database_url) as session:
        assert _applied(settings, ids) == len(ids)
        for state in session.scalars(
            select(ContactStreamState).where(ContactStreamState.contact_id.in_(list(sent)))
        ):
            assert state.events_applied - before.get(state.contact_id, 0) == sent[state.contact_id]


def test_the_demo_step_prints_score_changes_with_reasons(
    api: httpx.Client, platform: Platform
) -> None:
    """``haste demo``'s real-time step, on the served platform: a burst, then changes printed."""
    from rich.console import Console

    from flows.demo_report import DemoReport
    from flows.demo_stream import BURST, stream_burst

    settings, _ = platform
    console = Console(record=True, width=140)
    report = DemoReport(console, 1)
    stream_burst(report, api, settings)
    output = console.export_text()
    assert f"{BURST} events" in output
    assert "Score changes, with why" in output
    assert "->" in output and ("+" in output or "-" in output)
    assert all(call.status == 202 for call in report.calls)
