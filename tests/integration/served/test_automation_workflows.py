"""Workflow automation on the served platform: definitions over HTTP, workflows fired by the
real-time engine's events, nothing external before a manager approves, dry runs, the builder,
recommendations, anomalies, process bottlenecks, adoption and the dashboard sections."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from haste.db.models import Activity
from haste.db.session import session_scope
from haste.db.workflow_tables import WorkflowRun
from haste.settings import Settings
from pipelines.stages import PipelinePaths
from pipelines.synthetic_store import read_crm
from tests.support.platform import new_key

Platform = tuple[Settings, list[dict[str, Any]]]


def _definition(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "trigger": {"type": "event", "event_type": "email_replied"},
        "conditions": [{"field": "contact.ai_consent", "op": "eq", "value": True}],
        "actions": [
            {
                "id": "task",
                "type": "create_task",
                "params": {"title": "Call back after the reply", "channel": "call"},
            },
            {
                "id": "email",
                "type": "send_email",
                "params": {"purpose": "follow_up"},
                "after": ["task"],
            },
        ],
    }


def _replies(contacts: list[str]) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    return [
        {
            "event_id": f"wf-{uuid.uuid4().hex}",
            "contact_id": c,
            "event_type": "email_replied",
            "occurred_at": now.isoformat(),
        }
        for c in contacts
    ]


def _runs(settings: Settings, workflow_id: str, timeout_s: float = 90) -> list[WorkflowRun]:
    """Wait until the workflow has fired for the three contacts (the poller runs every 2 s)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with session_scope(settings.database_url) as session:
            runs = list(
                session.scalars(
                    select(WorkflowRun).where(WorkflowRun.workflow_id == uuid.UUID(workflow_id))
                )
            )
            session.expunge_all()
        if len(runs) >= 3 or time.monotonic() > deadline:
            return runs
        time.sleep(1.0)


def test_bad_definitions_are_422s_naming_the_field(api: httpx.Client) -> None:
    bad = _definition(f"bad-{uuid.uuid4().hex[:6]}")
    bad["conditions"] = [{"field": "contact.shoe_size", "op": "eq", "value": 1}]
    answer = api.post("/api/ai/workflows", json=bad)
    assert answer.status_code == 422
    assert "unknown field 'contact.shoe_size'" in answer.text
    cyclic = _definition(f"cyclic-{uuid.uuid4().hex[:6]}")
    cyclic["actions"][0]["after"] = ["email"]
    answer = api.post("/api/ai/workflows", json=cyclic)
    assert answer.status_code == 422 and "cycle" in answer.text
    missing = _definition(f"missing-{uuid.uuid4().hex[:6]}")
    missing["actions"][1]["params"] = {}
    answer = api.post("/api/ai/workflows", json=missing)
    assert answer.status_code == 422 and "needs purpose" in answer.text


def test_events_fire_workflows_and_external_actions_wait_for_approval(
    api: httpx.Client, platform: Platform
) -> None:
    settings, _ = platform
    created = api.post("/api/ai/workflows", json=_definition(f"replies-{uuid.uuid4().hex[:6]}"))
    assert created.status_code == 201, created.text
    workflow_id = created.json()["id"]
    crm = read_crm(PipelinePaths(settings.data_dir).crm_dir)
    consenting = crm.contacts[crm.contacts["ai_consent"]]
    contacts = [str(c) for c in consenting["id"].iloc[40:43]]
    assert api.post("/api/ai/events", json={"events": _replies(contacts)}).status_code == 202

    runs = _runs(settings, workflow_id)
    assert sorted(str(r.contact_id) for r in runs) == sorted(contacts)
    assert {r.status for r in runs} == {"pending_review"}
    with session_scope(settings.database_url) as session:
        made = session.scalars(
            select(Activity).where(
                Activity.contact_id.in_([uuid.UUID(c) for c in contacts]),
                Activity.occurred_at >= dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
            )
        ).all()
        tasks = [
            a for a in made if a.type == "task" and a.details.get("workflow_id") == workflow_id
        ]
        emails = [a for a in made if a.type == "email" and (a.details or {}).get("workflow_id")]
    assert len(tasks) == 3 and not emails  # internal done, nothing sent before approval

    queue = api.get("/api/ai/reviews", params={"limit": 500}).json()
    mine = [i for i in queue["items"] if i["payload"].get("workflow_id") == workflow_id]
    assert len(mine) == 3 and {i["risk"] for i in mine} == {"external"}
    rep = new_key(settings, "rep")
    assert api.get("/api/ai/reviews", headers={"X-API-Key": rep}).status_code == 403

    approved = api.post(f"/api/ai/reviews/{mine[0]['id']}", json={"decision": "approve"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["outcome"]["action_status"] == "done"
    assert (
        api.post(f"/api/ai/reviews/{mine[0]['id']}", json={"decision": "approve"}).status_code
        == 409
    )
    no_reason = api.post(f"/api/ai/reviews/{mine[1]['id']}", json={"decision": "reject"})
    assert no_reason.status_code == 422
    rejected = api.post(
        f"/api/ai/reviews/{mine[1]['id']}", json={"decision": "reject", "reason": "already spoke"}
    )
    assert rejected.json()["outcome"]["action_status"] == "rejected"
    with session_scope(settings.database_url) as session:
        sent = session.scalars(
            select(Activity).where(
                Activity.type == "email", Activity.contact_id == uuid.UUID(mine[0]["contact_id"])
            )
        ).all()
        composed = [e for e in sent if (e.details or {}).get("workflow_id") == workflow_id]
    assert len(composed) == 1 and len(composed[0].body.split()) >= 20  # composed by the LLM layer

    detail = api.get(f"/api/ai/workflows/{workflow_id}").json()
    assert detail["runs"] == 3 and detail["versions"][0]["version"] == 1
    dry = api.post(f"/api/ai/workflows/{workflow_id}/simulate", json={})
    assert dry.status_code == 200 and dry.json()["occurrences"] >= dry.json()["fires"] >= 3
    adoption = api.get("/api/ai/insights/adoption").json()
    review_rows = [r for r in adoption["per_feature"] if r["feature"] == "workflow"]
    assert review_rows and review_rows[0]["shown"] >= 2 and review_rows[0]["accepted"] >= 1

    update = _definition(detail["name"])
    update["conditions"] = []
    assert api.put(f"/api/ai/workflows/{workflow_id}", json=update).json()["version"] == 2
    assert api.delete(f"/api/ai/workflows/{workflow_id}").status_code == 204
    assert api.get(f"/api/ai/workflows/{workflow_id}").status_code == 404


def test_builder_recommendations_and_insights(api: httpx.Client, platform: Platform) -> None:
    settings, _ = platform
    drafted = api.post(
        "/api/ai/workflows/suggest",
        json={
            "description": "when a lead becomes hot and has not been contacted in 3 days, "
            "create a call task for the owner"
        },
    )
    assert drafted.status_code == 200, drafted.text
    definition = drafted.json()["workflows"][0]["definition"]
    assert definition["trigger"] == {"type": "score_band", "to_band": "hot", "from_band": None}
    assert definition["actions"][0]["type"] == "create_task"
    mined = api.post("/api/ai/workflows/suggest", json={"outcome": "won", "top": 2})
    assert mined.status_code == 200, mined.text
    assert all(w["evidence"]["lift"] > 1 for w in mined.json()["workflows"])

    contact = str(read_crm(PipelinePaths(settings.data_dir).crm_dir).contacts["id"].iloc[7])
    ranked = api.post("/api/ai/workflows/recommendations", json={"contact_id": contact})
    assert ranked.status_code == 200, ranked.text
    lifts = [a["lift"] for a in ranked.json()["actions"]]
    assert lifts == sorted(lifts, reverse=True)
    unknown = api.post("/api/ai/workflows/recommendations", json={"contact_id": str(uuid.uuid4())})
    assert unknown.status_code == 404

    anomalies = api.get("/api/ai/anomalies")
    assert anomalies.status_code == 200 and "anomalies" in anomalies.json()
    process = api.get("/api/ai/insights/process", params={"top": 3}).json()
    assert len(process["bottlenecks"]) == 3 and process["bottlenecks"][0]["impact"] > 0
    page = api.get("/dashboard")
    assert page.status_code == 200
    for section in ('id="anomalies"', 'id="automation"', 'id="process"', 'id="adoption"'):
        assert section in page.text
