"""The human review queue: list, approve or reject, and carry out what was approved.

Nothing held here has happened: an approved workflow action is carried out in the same
transaction as the decision (an email is composed through the LLM layer by the caller and
passed in as ``inputs["draft"]``), a rejected one never is. Every decision is written to the
audit trail (``ai_interactions``, feature ``review``) with who decided and why. Other features
queue their suggestions with :func:`queue_suggestion`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import func, select

from haste.db.models import Contact, User, as_utc, utcnow
from haste.db.session import session_scope
from haste.db.workflow_tables import ReviewItem, Workflow, WorkflowAction, WorkflowRun
from haste.records import InteractionRecord
from workflows.config import WorkflowConfig, workflow_config
from workflows.engine import (
    EngineReport,
    advance_run,
    execute_record,
    load_run_definition,
    run_occurrences,
)
from workflows.errors import WorkflowConflictError, WorkflowNotFoundError
from workflows.triggers import Occurrence

Decision = Literal["approve", "reject"]


def _to_dict(item: ReviewItem) -> dict[str, Any]:
    """Return a review item as JSON."""
    return {
        "id": str(item.id),
        "feature": item.feature,
        "status": item.status,
        "risk": item.risk,
        "summary": item.summary,
        "contact_id": None if item.contact_id is None else str(item.contact_id),
        "team_id": None if item.team_id is None else str(item.team_id),
        "payload": item.payload,
        "requested_at": as_utc(item.requested_at).isoformat(),
        "decided_at": None if item.decided_at is None else as_utc(item.decided_at).isoformat(),
        "decided_by": item.decided_by,
        "reason": item.reason,
    }


def parse_review_id(review_id: str) -> uuid.UUID:
    """Return a review id as a UUID (a malformed one names no item: not found)."""
    try:
        return uuid.UUID(str(review_id))
    except ValueError as error:
        raise WorkflowNotFoundError(f"no review item {review_id!r}") from error


def list_reviews(
    url: str,
    *,
    status: str | None = "pending",
    team_id: uuid.UUID | None = None,
    feature: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Return review items, newest first, with the pending count.

    Args:
        url: Database URL.
        status: ``pending``, ``approved``, ``rejected`` or ``None`` for all.
        team_id: Only this team's items (a manager's view); ``None``: every team.
        feature: Only items of this feature.
        limit: At most this many items.
    """
    with session_scope(url) as session:
        query = select(ReviewItem)
        count = select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "pending")
        if status is not None:
            query = query.where(ReviewItem.status == status)
        if team_id is not None:
            query = query.where(ReviewItem.team_id == team_id)
            count = count.where(ReviewItem.team_id == team_id)
        if feature is not None:
            query = query.where(ReviewItem.feature == feature)
        items = session.scalars(query.order_by(ReviewItem.requested_at.desc()).limit(limit)).all()
        return {"pending": int(session.scalar(count) or 0), "items": [_to_dict(i) for i in items]}


def get_review(url: str, review_id: str) -> dict[str, Any]:
    """Return one review item (raises :class:`WorkflowNotFoundError`)."""
    key = parse_review_id(review_id)
    with session_scope(url) as session:
        item = session.get(ReviewItem, key)
        if item is None:
            raise WorkflowNotFoundError(f"no review item {review_id!r}")
        return _to_dict(item)


def decide_review(
    url: str,
    review_id: str,
    decision: Decision,
    *,
    decided_by: str | None,
    reason: str | None = None,
    team_id: uuid.UUID | None = None,
    inputs: Mapping[str, Any] | None = None,
    config: WorkflowConfig | None = None,
) -> dict[str, Any]:
    """Approve or reject one pending item; an approved action is carried out now.

    Args:
        url: Database URL.
        review_id: The item.
        decision: ``approve`` or ``reject``.
        decided_by: The deciding API key id (audited).
        reason: Why (required to reject).
        team_id: The manager's team: only that team's items may be decided (``None``: admin).
        inputs: What the action needs from the caller (``draft`` of a ``send_email``).
        config: Risk classes (default: ``configs/workflows.yaml``).

    Raises:
        WorkflowNotFoundError: No such item (or not the manager's team).
        WorkflowConflictError: The item was already decided.
        ValueError: A rejection without a reason.
    """
    if decision == "reject" and not (reason or "").strip():
        raise ValueError("a rejection needs a reason")
    config = config or workflow_config()
    key = parse_review_id(review_id)
    produced: list[Occurrence] = []
    now = utcnow()
    with session_scope(url) as session:
        item = session.get(ReviewItem, key, with_for_update=True)
        if item is None or (team_id is not None and item.team_id not in (None, team_id)):
            raise WorkflowNotFoundError(f"no review item {review_id!r}")
        if item.status != "pending":
            raise WorkflowConflictError(f"review item {review_id} was already {item.status}")
        item.status = "approved" if decision == "approve" else "rejected"
        item.decided_at, item.decided_by, item.reason = now, decided_by, (reason or None)
        outcome: dict[str, Any] = {"decision": item.status}
        if item.action_record_id is not None:
            produced, outcome = _apply_to_action(session, item, decision, config, now, inputs)
        session.add(
            InteractionRecord(
                interaction_type="review_decision",
                input_data={
                    "review_id": str(item.id),
                    "feature": item.feature,
                    "summary": item.summary,
                    "risk": item.risk,
                },
                output_data={**outcome, "reason": item.reason},
                model_used=None,
                feature="review",
                provider="human",
                team_id=item.team_id,
                request_id=f"review-{item.id}",
            ).to_row()
        )
        session.flush()
        answer = _to_dict(item)
        answer["outcome"] = outcome
    if produced:
        run_occurrences(url, produced, config=config, now=now)
    return answer


def _apply_to_action(
    session: Any,
    item: ReviewItem,
    decision: Decision,
    config: WorkflowConfig,
    now: Any,
    inputs: Mapping[str, Any] | None,
) -> tuple[list[Occurrence], dict[str, Any]]:
    """Carry out (or drop) the held action, then move the rest of its run on."""
    record = session.get(WorkflowAction, item.action_record_id)
    run = session.get(WorkflowRun, record.run_id)
    workflow = session.get(Workflow, run.workflow_id)
    definition = load_run_definition(session, run)
    owner_id, team_id = _owner(session, run.contact_id)
    name = item.payload.get("contact", str(run.contact_id))
    report = EngineReport()
    if decision == "approve":
        record.status = "approved"

        produced = execute_record(
            session, run, record, workflow.name, owner_id, now, report, inputs
        )
    else:
        record.status, produced = "rejected", []
    produced += advance_run(
        session,
        run,
        definition,
        (owner_id, team_id, name),
        workflow.name,
        config,
        now,
        report,
        inputs,
    )
    return produced, {
        "decision": item.status,
        "action_status": record.status,
        "action_result": record.result,
        "action_error": record.error,
        "run_status": run.status,
    }


def _owner(session: Any, contact_id: uuid.UUID) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """Return a contact's owner and the owner's team."""
    row = session.execute(
        select(Contact.owner_id, User.team_id)
        .outerjoin(User, User.id == Contact.owner_id)
        .where(Contact.id == contact_id)
    ).first()
    return (row[0], row[1]) if row else (None, None)


def queue_suggestion(
    url: str,
    feature: str,
    summary: str,
    payload: Mapping[str, Any],
    *,
    risk: str = "review",
    contact_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
) -> str:
    """Queue an AI suggestion of any feature for review; return the item's id."""
    item = ReviewItem(
        id=uuid.uuid4(),
        feature=feature,
        contact_id=contact_id,
        team_id=team_id,
        summary=summary[:500],
        payload=dict(payload),
        risk=risk,
        status="pending",
    )
    with session_scope(url) as session:
        session.add(item)
    return str(item.id)
