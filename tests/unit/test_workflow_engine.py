"""The workflow engine on a real (SQLite) CRM: firing, conditions, review before anything
external, approval and rejection, chained field updates, duplicates, bulk runs, cycles."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from haste.db import (
    Activity,
    AIInteraction,
    Company,
    Contact,
    Deal,
    LeadScore,
    ReviewItem,
    Team,
    User,
    WorkflowAction,
    WorkflowRun,
    session_scope,
)
from workflows.adoption import compute_adoption
from workflows.conditions import condition_holds
from workflows.config import load_workflow_config
from workflows.definition import Condition, parse_definition
from workflows.engine import run_occurrences, run_scheduled
from workflows.errors import WorkflowConflictError, WorkflowInvalidError, WorkflowNotFoundError
from workflows.reviews import decide_review, list_reviews
from workflows.store import (
    create_workflow,
    delete_workflow,
    get_workflow,
    list_workflows,
    set_workflow_enabled,
    update_workflow,
)
from workflows.triggers import Occurrence

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
CONFIG = load_workflow_config()


def _seed(url: str, n: int = 3) -> list[uuid.UUID]:
    """Contacts 0..n-1 owned by one rep of team "east"; contact 0 last called 5 days ago."""
    ids = [uuid.uuid4() for _ in range(n)]
    with session_scope(url) as session:
        team = Team(id=uuid.uuid4(), name="east")
        rep = User(id=uuid.uuid4(), email="rep@example.com", role="rep", team_id=team.id)
        company = Company(id=uuid.uuid4(), name="Acme", industry="healthcare", employee_count=800)
        session.add_all([team, rep, company])
        session.flush()
        for i, cid in enumerate(ids):
            session.add(
                Contact(
                    id=cid,
                    first_name=f"Ada{i}",
                    last_name="L",
                    owner_id=rep.id,
                    company_id=company.id,
                    lifecycle_stage="lead",
                    created_at=NOW - dt.timedelta(days=40),
                )
            )
        session.flush()
        session.add(
            Activity(
                contact_id=ids[0],
                user_id=rep.id,
                type="call",
                occurred_at=NOW - dt.timedelta(days=5),
            )
        )
        session.add(
            Activity(
                contact_id=ids[1],
                user_id=rep.id,
                type="call",
                occurred_at=NOW - dt.timedelta(days=1),
            )
        )
        session.add(
            LeadScore(contact_id=ids[0], score=82, calculated_at=NOW - dt.timedelta(hours=1))
        )
        session.add(
            Deal(
                contact_id=ids[0],
                name="Acme - Pro",
                stage="proposal",
                amount=60_000,
                created_at=NOW - dt.timedelta(days=20),
            )
        )
    return ids


def _hot_lead_call(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Call hot leads nobody called",
        "trigger": {"type": "score_band", "to_band": "hot"},
        "conditions": [{"field": "contact.days_since_last_contacted", "op": "gte", "value": 3}],
        "actions": [
            {
                "id": "call",
                "type": "create_task",
                "params": {"title": "Call this hot lead", "channel": "call", "due_in_days": 1},
            }
        ],
        **extra,
    }


def _crossing(contact: uuid.UUID, key: str = "change:1") -> Occurrence:
    return Occurrence(key, "score_band", contact, NOW, from_band="warm", to_band="hot")


def test_internal_action_runs_and_is_audited(db_url: str) -> None:
    ids = _seed(db_url)
    create_workflow(db_url, parse_definition(_hot_lead_call()))
    report = run_occurrences(
        db_url, [_crossing(ids[0]), _crossing(ids[1], "change:2")], config=CONFIG, now=NOW
    )
    # Contact 1 was called yesterday: the condition keeps it out.
    assert (report.runs, report.actions_done, report.pending_review) == (1, 1, 0)
    with session_scope(db_url) as session:
        task = session.scalars(select(Activity).where(Activity.type == "task")).one()
        assert task.contact_id == ids[0] and task.subject == "Call this hot lead"
        assert task.details["channel"] == "call"
        audit = session.scalars(
            select(AIInteraction).where(AIInteraction.feature == "workflow")
        ).one()
        assert audit.output_data["actions"] == [{"action": "call", "status": "done"}]
    again = run_occurrences(db_url, [_crossing(ids[0])], config=CONFIG, now=NOW)
    assert (again.runs, again.duplicates) == (0, 1)


def test_external_action_waits_for_a_manager(db_url: str) -> None:
    ids = _seed(db_url)
    definition = _hot_lead_call(name="Email then log")
    definition["actions"] = [
        {"id": "email", "type": "send_email", "params": {"purpose": "follow_up"}},
        {
            "id": "task",
            "type": "create_task",
            "params": {"title": "Check the reply"},
            "after": ["email"],
        },
    ]
    create_workflow(db_url, parse_definition(definition))
    report = run_occurrences(db_url, [_crossing(ids[0])], config=CONFIG, now=NOW)
    assert (report.runs, report.actions_done, report.pending_review) == (1, 0, 1)
    with session_scope(db_url) as session:  # nothing external happened, the task waits too
        assert (
            session.scalar(
                select(func.count()).select_from(Activity).where(Activity.type != "call")
            )
            == 0
        )
        statuses = dict(
            session.execute(select(WorkflowAction.action_id, WorkflowAction.status)).all()
        )
        assert statuses == {"email": "pending_review", "task": "blocked"}
    queue = list_reviews(db_url)
    assert queue["pending"] == 1 and "follow_up email to Ada0 L" in queue["items"][0]["summary"]
    item = queue["items"][0]["id"]
    with pytest.raises(ValueError, match="reason"):
        decide_review(db_url, item, "reject", decided_by="mgr", reason=" ")
    draft = {"subject": "Following up", "body": "Hi Ada, following up on our call."}
    answer = decide_review(db_url, item, "approve", decided_by="mgr", inputs={"draft": draft})
    assert answer["outcome"]["action_status"] == "done"
    assert answer["outcome"]["run_status"] == "done"
    with session_scope(db_url) as session:
        email = session.scalars(select(Activity).where(Activity.type == "email")).one()
        assert email.details["direction"] == "outbound" and email.subject == "Following up"
        assert session.scalars(select(Activity).where(Activity.type == "task")).one()
        decision = session.scalars(
            select(AIInteraction).where(AIInteraction.feature == "review")
        ).one()
        assert decision.output_data["decision"] == "approved"
    with pytest.raises(WorkflowConflictError):
        decide_review(db_url, item, "approve", decided_by="mgr", inputs={"draft": draft})


def test_rejection_skips_what_follows_and_counts_in_adoption(db_url: str) -> None:
    ids = _seed(db_url)
    definition = _hot_lead_call(name="Overwrite stage")
    definition["actions"] = [
        {
            "id": "stage",
            "type": "update_field",
            "params": {"field": "contact.lifecycle_stage", "value": "sql"},
        },
        {
            "id": "task",
            "type": "create_task",
            "params": {"title": "Work the SQL"},
            "after": ["stage"],
        },
    ]
    create_workflow(db_url, parse_definition(definition))
    run_occurrences(db_url, [_crossing(ids[0])], config=CONFIG, now=NOW)
    item = list_reviews(db_url)["items"][0]
    assert item["risk"] == "field_overwrite"
    answer = decide_review(db_url, item["id"], "reject", decided_by="mgr", reason="stage is manual")
    assert answer["outcome"]["run_status"] == "partly_rejected"
    with session_scope(db_url) as session:
        assert session.get(Contact, ids[0]).lifecycle_stage == "lead"
        statuses = dict(
            session.execute(select(WorkflowAction.action_id, WorkflowAction.status)).all()
        )
        assert statuses == {"stage": "rejected", "task": "skipped"}
    adoption = compute_adoption(db_url)
    assert adoption["overall"] == {"shown": 1, "accepted": 0, "rate": 0.0, "meets_target": False}
    with pytest.raises(WorkflowNotFoundError):
        decide_review(db_url, "not-a-uuid", "approve", decided_by="mgr")


def test_approved_field_update_chains_a_field_workflow(db_url: str) -> None:
    ids = _seed(db_url)
    first = _hot_lead_call(name="Promote to SQL")
    first["actions"] = [
        {
            "id": "stage",
            "type": "update_field",
            "params": {"field": "contact.lifecycle_stage", "value": "sql"},
        }
    ]
    second = {
        "name": "SQL gets a task",
        "trigger": {"type": "field_updated", "field": "contact.lifecycle_stage"},
        "conditions": [{"field": "contact.lifecycle_stage", "op": "eq", "value": "sql"}],
        "actions": [{"id": "t", "type": "create_task", "params": {"title": "Book a demo"}}],
    }
    create_workflow(db_url, parse_definition(first))
    create_workflow(db_url, parse_definition(second))
    run_occurrences(db_url, [_crossing(ids[0])], config=CONFIG, now=NOW)
    item = list_reviews(db_url)["items"][0]["id"]
    decide_review(db_url, item, "approve", decided_by="mgr")
    with session_scope(db_url) as session:
        assert session.get(Contact, ids[0]).lifecycle_stage == "sql"
        assert (
            session.scalars(select(Activity).where(Activity.type == "task")).one().subject
            == "Book a demo"
        )
        assert session.scalar(select(func.count()).select_from(WorkflowRun)) == 2


def test_cycles_across_workflows_are_refused(db_url: str) -> None:
    a = {
        "name": "A",
        "trigger": {"type": "field_updated", "field": "contact.lead_source"},
        "actions": [
            {
                "id": "x",
                "type": "update_field",
                "params": {"field": "contact.job_title", "value": "CEO"},
            }
        ],
    }
    b = {
        "name": "B",
        "trigger": {"type": "field_updated", "field": "contact.job_title"},
        "actions": [
            {
                "id": "x",
                "type": "update_field",
                "params": {"field": "contact.lead_source", "value": "web"},
            }
        ],
    }
    create_workflow(db_url, parse_definition(a))
    with pytest.raises(WorkflowInvalidError, match=r"A -> B -> A|B -> A -> B"):
        create_workflow(db_url, parse_definition(b))
    stored = create_workflow(db_url, parse_definition(b), enabled=False)  # disabled: allowed
    with pytest.raises(WorkflowInvalidError):
        set_workflow_enabled(db_url, stored["id"], True)
    with pytest.raises(WorkflowConflictError):
        create_workflow(db_url, parse_definition(a))


def test_versions_and_crud(db_url: str) -> None:
    stored = create_workflow(db_url, parse_definition(_hot_lead_call()), created_by="key1")
    changed = _hot_lead_call()
    changed["conditions"][0]["value"] = 5
    updated = update_workflow(db_url, stored["id"], parse_definition(changed), updated_by="key2")
    assert updated["version"] == 2
    detail = get_workflow(db_url, stored["id"])
    assert [v["version"] for v in detail["versions"]] == [1, 2]
    assert detail["definition"]["conditions"][0]["value"] == 5
    assert len(list_workflows(db_url)) == 1
    delete_workflow(db_url, stored["id"])
    with pytest.raises(WorkflowNotFoundError):
        get_workflow(db_url, stored["id"])


def test_bulk_schedule_run_waits_for_review(db_url: str) -> None:
    ids = _seed(db_url, n=5)
    schedule = {
        "name": "Daily check",
        "trigger": {"type": "schedule", "every": "day", "at_hour": 9},
        "actions": [{"id": "t", "type": "create_task", "params": {"title": "Daily check"}}],
    }
    create_workflow(db_url, parse_definition(schedule))
    small = CONFIG.model_copy(update={"bulk_threshold": 3})
    report = run_scheduled(db_url, now=NOW, config=small)
    assert (report.runs, report.actions_done, report.pending_review) == (len(ids), 0, len(ids))
    assert {i["risk"] for i in list_reviews(db_url)["items"]} == {"bulk"}
    assert (
        run_scheduled(db_url, now=NOW + dt.timedelta(hours=1), config=small).runs == 0
    )  # same slot
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(ReviewItem)) == len(ids)


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    [
        ({"field": "score.lead_score", "op": "gte", "value": 70}, {"score.lead_score": 82}, True),
        (
            {"field": "score.lead_score", "op": "gte", "value": 70},
            {"score.lead_score": None},
            False,
        ),
        (
            {"field": "company.industry", "op": "in", "value": ["Healthcare"]},
            {"company.industry": "healthcare"},
            True,
        ),
        ({"field": "deal.stage", "op": "ne", "value": "closed_won"}, {"deal.stage": None}, True),
        (
            {"field": "contact.job_title", "op": "contains", "value": "VP"},
            {"contact.job_title": "vp sales"},
            True,
        ),
        ({"field": "deal.amount", "op": "is_not_set"}, {"deal.amount": None}, True),
    ],
)
def test_conditions(condition: dict[str, Any], context: dict[str, Any], holds: bool) -> None:
    assert condition_holds(Condition(**condition), context) is holds


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"conditions": [{"field": "contact.shoe_size", "op": "eq", "value": 1}]}, "unknown field"),
        ({"conditions": [{"field": "score.band", "op": "gt", "value": 1}]}, "does not apply"),
        ({"conditions": [{"field": "deal.stage", "op": "eq", "value": "won"}]}, "not a value"),
        ({"actions": [{"id": "a", "type": "send_email", "params": {}}]}, "needs purpose"),
        ({"actions": [{"id": "a", "type": "teleport", "params": {}}]}, "unknown action type"),
        (
            {
                "actions": [
                    {
                        "id": "a",
                        "type": "update_field",
                        "params": {"field": "score.lead_score", "value": 99},
                    }
                ]
            },
            "computed",
        ),
        (
            {
                "actions": [
                    {"id": "a", "type": "create_task", "params": {"title": "x"}, "after": ["b"]},
                    {"id": "b", "type": "create_task", "params": {"title": "y"}, "after": ["a"]},
                ]
            },
            "cycle",
        ),
        ({"trigger": {"type": "event", "event_type": "fax_received"}}, "unknown event type"),
        (
            {"trigger": {"type": "prediction_threshold", "model": "lead_score", "threshold": 120}},
            "lie in",
        ),
    ],
)
def test_bad_definitions_name_the_problem(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_definition({**_hot_lead_call(), **patch})
