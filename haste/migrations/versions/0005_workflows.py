"""Workflow automation and the human review queue.

* ``workflows`` / ``workflow_versions``: definitions and every version they had;
* ``workflow_runs`` / ``workflow_actions``: each firing and each action with its outcome;
* ``review_items``: what waits for a manager, with the decision;
* ``workflow_cursors``: how far the event poller has read the streaming tables.

Written by hand; types frozen here (never import the models in a migration).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _stamp(name: str, nullable: bool = False) -> sa.Column:
    """Return a timezone-aware timestamp column."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the six tables of workflow automation and review."""
    op.create_table(
        "workflows",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("definition", JSON_TYPE, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        _stamp("created_at"),
        _stamp("updated_at"),
        _stamp("last_scheduled_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_workflows"),
        sa.UniqueConstraint("name", name="uq_workflows_name"),
    )
    op.create_table(
        "workflow_versions",
        sa.Column("workflow_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", JSON_TYPE, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        _stamp("created_at"),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name="fk_workflow_versions_workflow_id_workflows",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workflow_id", "version", name="pk_workflow_versions"),
    )
    op.create_table(
        "workflow_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workflow_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("occurrence_key", sa.String(length=120), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("trigger", JSON_TYPE, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        _stamp("created_at"),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name="fk_workflow_runs_workflow_id_workflows",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_runs"),
        sa.UniqueConstraint(
            "workflow_id",
            "occurrence_key",
            "contact_id",
            name="uq_workflow_runs_workflow_id_occurrence_key_contact_id",
        ),
    )
    op.create_index("ix_workflow_runs_workflow_id", "workflow_runs", ["workflow_id"])
    op.create_index("ix_workflow_runs_contact_id", "workflow_runs", ["contact_id"])
    op.create_index("ix_workflow_runs_created_at", "workflow_runs", ["created_at"])
    op.create_table(
        "workflow_actions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("action_id", sa.String(length=40), nullable=False),
        sa.Column("action_type", sa.String(length=30), nullable=False),
        sa.Column("params", JSON_TYPE, nullable=False),
        sa.Column("risk", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("result", JSON_TYPE, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _stamp("created_at"),
        _stamp("executed_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["workflow_runs.id"],
            name="fk_workflow_actions_run_id_workflow_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_actions"),
    )
    op.create_index("ix_workflow_actions_run_id", "workflow_actions", ["run_id"])
    op.create_index("ix_workflow_actions_status", "workflow_actions", ["status"])
    op.create_table(
        "review_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("feature", sa.String(length=50), nullable=False),
        sa.Column("action_record_id", sa.Uuid(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("payload", JSON_TYPE, nullable=False),
        sa.Column("risk", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        _stamp("requested_at"),
        _stamp("decided_at", nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_record_id"],
            ["workflow_actions.id"],
            name="fk_review_items_action_record_id_workflow_actions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_review_items"),
        sa.UniqueConstraint("action_record_id", name="uq_review_items_action_record_id"),
    )
    op.create_index("ix_review_items_feature", "review_items", ["feature"])
    op.create_index("ix_review_items_contact_id", "review_items", ["contact_id"])
    op.create_index("ix_review_items_team_id", "review_items", ["team_id"])
    op.create_index("ix_review_items_status", "review_items", ["status"])
    op.create_index("ix_review_items_requested_at", "review_items", ["requested_at"])
    op.create_table(
        "workflow_cursors",
        sa.Column("source", sa.String(length=40), nullable=False),
        _stamp("position"),
        sa.Column("last_key", sa.String(length=64), nullable=False),
        _stamp("updated_at"),
        sa.PrimaryKeyConstraint("source", name="pk_workflow_cursors"),
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    op.drop_table("workflow_cursors")
    for name in ("requested_at", "status", "team_id", "contact_id", "feature"):
        op.drop_index(f"ix_review_items_{name}", table_name="review_items")
    op.drop_table("review_items")
    op.drop_index("ix_workflow_actions_status", table_name="workflow_actions")
    op.drop_index("ix_workflow_actions_run_id", table_name="workflow_actions")
    op.drop_table("workflow_actions")
    for name in ("created_at", "contact_id", "workflow_id"):
        op.drop_index(f"ix_workflow_runs_{name}", table_name="workflow_runs")
    op.drop_table("workflow_runs")
    op.drop_table("workflow_versions")
    op.drop_table("workflows")
