"""Tables of workflow automation (:mod:`workflows`) and the human review queue.

* ``workflows`` / ``workflow_versions``: each workflow's current definition and every version
  it had (an edit adds a version; runs name the version they ran);
* ``workflow_runs``: one workflow fired for one contact by one trigger occurrence (unique on
  the workflow and the occurrence key, so a replayed event never fires twice);
* ``workflow_actions``: each action of a run with its risk class and outcome (``done``,
  ``pending_review``, ``rejected``, ``failed``, ``skipped``);
* ``review_items``: what waits for a manager (an action of a run, or any AI suggestion that
  a feature sends for review), with the decision, who made it and why;
* ``workflow_cursors``: how far the event poller has read the real-time engine's tables.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from haste.db.encrypted import EncryptedJSON
from haste.db.models import Base, JSONType, utcnow

RUN_STATUSES: tuple[str, ...] = ("done", "pending_review", "partly_rejected", "failed")
ACTION_STATUSES: tuple[str, ...] = ("done", "pending_review", "rejected", "failed", "skipped")
REVIEW_STATUSES: tuple[str, ...] = ("pending", "approved", "rejected")


class Workflow(Base):
    """A workflow with its current definition.

    Attributes:
        id: Workflow id.
        name: Display name (unique among workflows).
        version: Current version (1 on creation, +1 on each edit).
        enabled: Whether the engine runs it.
        definition: The current :class:`workflows.definition.WorkflowDefinition` as JSON.
        created_by: API key id that created it.
        created_at: Creation time.
        updated_at: Last edit or enable/disable.
        last_scheduled_at: When a schedule or prediction trigger last ran it.
    """

    __tablename__ = "workflows"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow
    )
    last_scheduled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class WorkflowVersion(Base):
    """One version of a workflow's definition (kept forever: runs refer to it)."""

    __tablename__ = "workflow_versions"

    workflow_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow
    )


class WorkflowRun(Base):
    """A workflow fired for one contact by one trigger occurrence.

    Attributes:
        id: Run id.
        workflow_id: The workflow (``CASCADE`` on delete).
        version: The definition version that ran.
        occurrence_key: What fired it (``event:<id>``, ``change:<id>``, ``schedule:<slot>``...).
        contact_id: The contact it acted on.
        trigger: The trigger occurrence as JSON (type, event, bands, values).
        status: See :data:`RUN_STATUSES`.
        created_at: When it ran.
    """

    __tablename__ = "workflow_runs"
    __table_args__ = (UniqueConstraint("workflow_id", "occurrence_key", "contact_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    workflow_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("workflows.id", ondelete="CASCADE"), nullable=False, index=True
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    occurrence_key: Mapped[str] = mapped_column(String(120), nullable=False)
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False, index=True)
    trigger: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, index=True
    )


class WorkflowAction(Base):
    """One action of a run, with its risk class and what happened.

    Attributes:
        id: Action record id.
        run_id: The run (``CASCADE`` on delete).
        action_id: The action's id in the definition.
        action_type: ``create_task``, ``send_email``...
        params: The action's parameters.
        risk: Risk class from ``configs/workflows.yaml``.
        status: See :data:`ACTION_STATUSES`.
        result: What it did (task id, field and old/new value, email draft, HTTP status...).
        error: Why it failed.
        created_at: When it was planned.
        executed_at: When it was carried out (after approval for reviewed actions).
    """

    __tablename__ = "workflow_actions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("workflow_runs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    action_id: Mapped[str] = mapped_column(String(40), nullable=False)
    action_type: Mapped[str] = mapped_column(String(30), nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    risk: Mapped[str] = mapped_column(String(30), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow
    )
    executed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ReviewItem(Base):
    """An AI action or suggestion waiting for (or decided by) a manager.

    Attributes:
        id: Review id.
        feature: What asked for it (``workflow``, ``next_actions``, ``email_compose``...).
        action_record_id: The ``workflow_actions`` row it holds back, if any.
        contact_id: The contact concerned.
        team_id: Team of the contact's owner (managers see their team's items).
        summary: One line for the queue.
        payload: What would happen (the action, its parameters, the draft); encrypted at rest.
        risk: Risk class.
        status: ``pending``, ``approved`` or ``rejected``.
        requested_at: When it was queued.
        decided_at: When it was decided.
        decided_by: API key id of the manager who decided.
        reason: Why (required for a rejection).
    """

    __tablename__ = "review_items"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    feature: Mapped[str] = mapped_column(String(50), nullable=False, index=True)
    action_record_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("workflow_actions.id", ondelete="CASCADE"), unique=True
    )
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), index=True)
    team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), index=True)
    summary: Mapped[str] = mapped_column(String(500), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON(), nullable=False)
    risk: Mapped[str] = mapped_column(String(30), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending", index=True)
    requested_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, index=True
    )
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)


class WorkflowCursor(Base):
    """How far the event poller has read a source table (``stream_events``, ``score_changes``).

    Attributes:
        source: The table read.
        position: Last ``processed_at``/``created_at`` taken.
        last_key: Last primary key at that position (ties broken by key).
        updated_at: Last advance.
    """

    __tablename__ = "workflow_cursors"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_key: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow
    )
