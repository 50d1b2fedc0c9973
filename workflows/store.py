"""Workflows in the database: create, read, edit (a new version), enable/disable, delete.

Every write checks the definition against the other enabled workflows
(:func:`workflows.definition.find_workflow_cycle`) in the same transaction, so two workflows
that would fire each other forever are never both enabled.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from haste.db.models import as_utc, utcnow
from haste.db.session import session_scope
from haste.db.workflow_tables import Workflow, WorkflowAction, WorkflowRun, WorkflowVersion
from workflows.definition import WorkflowDefinition, find_workflow_cycle, parse_definition
from workflows.errors import WorkflowConflictError, WorkflowInvalidError, WorkflowNotFoundError


def parse_workflow_id(workflow_id: str) -> uuid.UUID:
    """Return ``workflow_id`` as a UUID.

    Raises:
        WorkflowNotFoundError: When it is not a UUID (no workflow can have that id).
    """
    try:
        return uuid.UUID(str(workflow_id))
    except ValueError as error:
        raise WorkflowNotFoundError(f"no workflow {workflow_id!r}") from error


def _require(session: Session, workflow_id: str, lock: bool = False) -> Workflow:
    """Return the workflow row (locked for update when asked).

    Raises:
        WorkflowNotFoundError: When there is no such workflow.
    """
    row = session.get(Workflow, parse_workflow_id(workflow_id), with_for_update=lock)
    if row is None:
        raise WorkflowNotFoundError(f"no workflow {workflow_id!r}")
    return row


def _check_cycles(
    session: Session, definition: WorkflowDefinition, exclude: uuid.UUID | None
) -> None:
    """Raise when ``definition`` would close a cycle with the enabled workflows."""
    rows = session.scalars(select(Workflow).where(Workflow.enabled.is_(True))).all()
    graph = {row.name: parse_definition(row.definition) for row in rows if row.id != exclude}
    graph[definition.name] = definition
    cycle = find_workflow_cycle(graph)
    if cycle:
        raise WorkflowInvalidError(
            "workflows would trigger each other forever: "
            + " -> ".join(cycle)
            + " (an update_field action fires a field_updated trigger that leads back)"
        )


def _to_dict(row: Workflow, runs: int = 0) -> dict[str, Any]:
    """Return a workflow row as JSON."""
    return {
        "id": str(row.id),
        "name": row.name,
        "version": row.version,
        "enabled": row.enabled,
        "definition": row.definition,
        "created_by": row.created_by,
        "created_at": as_utc(row.created_at).isoformat(),
        "updated_at": as_utc(row.updated_at).isoformat(),
        "runs": runs,
    }


def create_workflow(
    url: str, definition: WorkflowDefinition, created_by: str | None = None, enabled: bool = True
) -> dict[str, Any]:
    """Store a new workflow at version 1.

    Raises:
        WorkflowConflictError: When a workflow of that name exists.
        WorkflowInvalidError: When enabling it would close a cycle.
    """
    document = definition.model_dump(mode="json")
    try:
        with session_scope(url) as session:
            if session.scalar(select(Workflow.id).where(Workflow.name == definition.name)):
                raise WorkflowConflictError(f"a workflow named {definition.name!r} exists")
            if enabled:
                _check_cycles(session, definition, None)
            row = Workflow(
                name=definition.name,
                version=1,
                enabled=enabled,
                definition=document,
                created_by=created_by,
            )
            session.add(row)
            session.flush()
            session.add(
                WorkflowVersion(
                    workflow_id=row.id, version=1, definition=document, created_by=created_by
                )
            )
            session.flush()
            return _to_dict(row)
    except IntegrityError as error:  # a concurrent create of the same name
        raise WorkflowConflictError(f"a workflow named {definition.name!r} exists") from error


def list_workflows(url: str) -> list[dict[str, Any]]:
    """Return every workflow with its run count, newest first."""
    with session_scope(url) as session:
        counts = dict(
            session.execute(
                select(WorkflowRun.workflow_id, func.count()).group_by(WorkflowRun.workflow_id)
            ).all()
        )
        rows = session.scalars(select(Workflow).order_by(Workflow.created_at.desc())).all()
        return [_to_dict(row, counts.get(row.id, 0)) for row in rows]


def get_workflow(url: str, workflow_id: str) -> dict[str, Any]:
    """Return one workflow with its versions and its latest runs.

    Raises:
        WorkflowNotFoundError: When there is no such workflow.
    """
    with session_scope(url) as session:
        row = _require(session, workflow_id)
        key = row.id
        runs = session.scalars(
            select(WorkflowRun)
            .where(WorkflowRun.workflow_id == key)
            .order_by(WorkflowRun.created_at.desc())
            .limit(20)
        ).all()
        total = session.scalar(select(func.count()).where(WorkflowRun.workflow_id == key)) or 0
        out = _to_dict(row, int(total))
        out["versions"] = [
            {
                "version": v.version,
                "created_at": as_utc(v.created_at).isoformat(),
                "created_by": v.created_by,
            }
            for v in session.scalars(
                select(WorkflowVersion)
                .where(WorkflowVersion.workflow_id == key)
                .order_by(WorkflowVersion.version)
            )
        ]
        out["recent_runs"] = [_run_to_dict(session, run) for run in runs]
        return out


def _run_to_dict(session: Session, run: WorkflowRun) -> dict[str, Any]:
    """Return a run with its actions."""
    actions = session.scalars(select(WorkflowAction).where(WorkflowAction.run_id == run.id)).all()
    return {
        "id": str(run.id),
        "version": run.version,
        "contact_id": str(run.contact_id),
        "trigger": run.trigger,
        "status": run.status,
        "created_at": as_utc(run.created_at).isoformat(),
        "actions": [
            {
                "action_id": a.action_id,
                "type": a.action_type,
                "status": a.status,
                "risk": a.risk,
                "result": a.result,
                "error": a.error,
            }
            for a in actions
        ],
    }


def update_workflow(
    url: str, workflow_id: str, definition: WorkflowDefinition, updated_by: str | None = None
) -> dict[str, Any]:
    """Replace a workflow's definition: a new version (the old ones are kept).

    Raises:
        WorkflowNotFoundError: When there is no such workflow.
        WorkflowConflictError: When the new name belongs to another workflow.
        WorkflowInvalidError: When the new definition would close a cycle.
    """
    document = definition.model_dump(mode="json")
    with session_scope(url) as session:
        row = _require(session, workflow_id, lock=True)
        key = row.id
        other = session.scalar(select(Workflow.id).where(Workflow.name == definition.name))
        if other is not None and other != key:
            raise WorkflowConflictError(f"a workflow named {definition.name!r} exists")
        if row.enabled:
            _check_cycles(session, definition, key)
        row.version += 1
        row.name = definition.name
        row.definition = document
        row.updated_at = utcnow()
        session.add(
            WorkflowVersion(
                workflow_id=key, version=row.version, definition=document, created_by=updated_by
            )
        )
        session.flush()
        return _to_dict(row)


def set_workflow_enabled(url: str, workflow_id: str, enabled: bool) -> dict[str, Any]:
    """Enable or disable a workflow (enabling checks cycles again).

    Raises:
        WorkflowNotFoundError: When there is no such workflow.
        WorkflowInvalidError: When enabling it would close a cycle.
    """
    with session_scope(url) as session:
        row = _require(session, workflow_id, lock=True)
        if enabled and not row.enabled:
            _check_cycles(session, parse_definition(row.definition), row.id)
        row.enabled = enabled
        row.updated_at = utcnow()
        session.flush()
        return _to_dict(row)


def delete_workflow(url: str, workflow_id: str) -> None:
    """Delete a workflow with its versions and runs (the audit trail keeps each run).

    Raises:
        WorkflowNotFoundError: When there is no such workflow.
    """
    with session_scope(url) as session:
        session.delete(_require(session, workflow_id))


def enabled_workflows(session: Session) -> list[tuple[Workflow, WorkflowDefinition]]:
    """Return the enabled workflows with their parsed definitions."""
    rows = session.scalars(select(Workflow).where(Workflow.enabled.is_(True))).all()
    return [(row, parse_definition(row.definition)) for row in rows]
