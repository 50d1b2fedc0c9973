"""Carry out one workflow action inside the caller's transaction.

Internal actions run when the workflow fires; external ones (emails, sequences, webhooks) and
field overwrites run only when a manager approves them (:mod:`workflows.reviews`). Each
executor returns the result stored on the action record; an ``update_field`` also returns
the field it set, which fires ``field_updated`` workflows.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from haste.db.models import Activity, Contact, Deal

WEBHOOK_TIMEOUT_S = 5.0


@dataclass
class ActionContext:
    """What an executor knows about the run it belongs to."""

    workflow_id: uuid.UUID
    workflow_name: str
    run_id: uuid.UUID
    contact_id: uuid.UUID
    owner_id: uuid.UUID | None
    now: dt.datetime
    inputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class ActionResult:
    """What an action did (``updated_field``: the field it set, for chained workflows)."""

    result: dict[str, Any]
    updated_field: str | None = None


class ActionFailedError(Exception):
    """The action could not be carried out (recorded as ``failed`` with this message)."""


def _create_task(session: Session, params: Mapping[str, Any], ctx: ActionContext) -> ActionResult:
    due = ctx.now + dt.timedelta(days=int(params.get("due_in_days", 1)))
    task = Activity(
        id=uuid.uuid4(),
        contact_id=ctx.contact_id,
        user_id=ctx.owner_id,
        type="task",
        subject=str(params["title"])[:500],
        body=f"Created by workflow {ctx.workflow_name!r}.",
        occurred_at=ctx.now,
        details={
            "due_at": due.isoformat(),
            "channel": params.get("channel", "task"),
            "completed": False,
            "workflow_id": str(ctx.workflow_id),
            "run_id": str(ctx.run_id),
        },
    )
    session.add(task)
    return ActionResult(
        {
            "task_id": str(task.id),
            "due_at": due.isoformat(),
            "owner_id": None if ctx.owner_id is None else str(ctx.owner_id),
        }
    )


def _enrol_sequence(
    session: Session, params: Mapping[str, Any], ctx: ActionContext
) -> ActionResult:
    note = Activity(
        id=uuid.uuid4(),
        contact_id=ctx.contact_id,
        user_id=ctx.owner_id,
        type="note",
        subject=f"Enrolled in sequence {params['sequence']}",
        body=f"Enrolled by workflow {ctx.workflow_name!r} after approval.",
        occurred_at=ctx.now,
        details={
            "sequence": params["sequence"],
            "workflow_id": str(ctx.workflow_id),
            "run_id": str(ctx.run_id),
        },
    )
    session.add(note)
    return ActionResult({"sequence": params["sequence"], "note_id": str(note.id)})


def _send_email(session: Session, params: Mapping[str, Any], ctx: ActionContext) -> ActionResult:
    draft = ctx.inputs.get("draft")
    if not isinstance(draft, Mapping) or not draft.get("body"):
        raise ActionFailedError(
            "no composed draft to send (compose it through the LLM layer first)"
        )
    email = Activity(
        id=uuid.uuid4(),
        contact_id=ctx.contact_id,
        user_id=ctx.owner_id,
        type="email",
        subject=str(draft.get("subject", ""))[:500],
        body=str(draft["body"]),
        occurred_at=ctx.now,
        details={
            "direction": "outbound",
            "purpose": params["purpose"],
            "outbox": "queued",
            "workflow_id": str(ctx.workflow_id),
            "run_id": str(ctx.run_id),
        },
    )
    session.add(email)
    return ActionResult({"email_id": str(email.id), "subject": email.subject, "outbox": "queued"})


def _latest_deal(session: Session, contact_id: uuid.UUID) -> Deal | None:
    return session.scalars(
        select(Deal).where(Deal.contact_id == contact_id).order_by(Deal.created_at.desc()).limit(1)
    ).first()


def _update_field(session: Session, params: Mapping[str, Any], ctx: ActionContext) -> ActionResult:
    name = str(params["field"])
    entity, attribute = name.split(".", 1)
    target: Contact | Deal | None
    if entity == "contact":
        target = session.get(Contact, ctx.contact_id)
    else:
        target = _latest_deal(session, ctx.contact_id)
    if target is None:
        raise ActionFailedError(f"the contact has no {entity} to set {name} on")
    old = getattr(target, attribute)
    setattr(target, attribute, params["value"])
    return ActionResult({"field": name, "old": old, "new": params["value"]}, updated_field=name)


def _notify_webhook(
    session: Session, params: Mapping[str, Any], ctx: ActionContext
) -> ActionResult:
    body = json.dumps(
        {
            "workflow_id": str(ctx.workflow_id),
            "workflow": ctx.workflow_name,
            "run_id": str(ctx.run_id),
            "contact_id": str(ctx.contact_id),
            "at": ctx.now.isoformat(),
        },
        sort_keys=True,
    ).encode()
    headers = {"Content-Type": "application/json"}
    try:
        response = httpx.post(
            str(params["url"]), content=body, headers=headers, timeout=WEBHOOK_TIMEOUT_S
        )
    except httpx.HTTPError as error:
        raise ActionFailedError(f"webhook {params['url']} unreachable: {error}") from error
    if response.status_code >= 300:
        raise ActionFailedError(f"webhook {params['url']} answered {response.status_code}")
    return ActionResult({"url": params["url"], "status_code": response.status_code})


def _acknowledge_review(
    session: Session, params: Mapping[str, Any], ctx: ActionContext
) -> ActionResult:
    return ActionResult({"reviewed": True, "reason": params["reason"]})


EXECUTORS: dict[str, Callable[[Session, Mapping[str, Any], ActionContext], ActionResult]] = {
    "create_task": _create_task,
    "enrol_sequence": _enrol_sequence,
    "send_email": _send_email,
    "update_field": _update_field,
    "notify_webhook": _notify_webhook,
    "request_review": _acknowledge_review,
}


def execute_action(
    session: Session, action_type: str, params: Mapping[str, Any], ctx: ActionContext
) -> ActionResult:
    """Carry out one action in ``session`` (raises :class:`ActionFailedError` on failure)."""
    return EXECUTORS[action_type](session, params, ctx)
