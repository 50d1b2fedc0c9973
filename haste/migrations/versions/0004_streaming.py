"""The real-time scoring engine's tables.

* ``stream_events``: processed CRM events keyed by the sender's event id (dedupe);
* ``contact_stream_state``: each streamed contact's online features and last score;
* ``score_changes``: scores moved by events, with "changed because" and the outbox mark;
* ``webhooks`` / ``webhook_deliveries``: receivers of band crossings and each delivery;
* ``stream_alerts``: alerts of the streaming monitor.

Written by hand; types frozen here (never import the models in a migration).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _stamp(name: str, nullable: bool = False) -> sa.Column:
    """Return a timezone-aware timestamp column."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the six tables of the streaming engine."""
    op.create_table(
        "stream_events",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        _stamp("occurred_at"),
        _stamp("published_at", nullable=True),
        _stamp("processed_at"),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_stream_events"),
    )
    op.create_index("ix_stream_events_contact_id", "stream_events", ["contact_id"])
    op.create_index("ix_stream_events_processed_at", "stream_events", ["processed_at"])
    op.create_table(
        "contact_stream_state",
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("features", JSON_TYPE, nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("band", sa.String(length=10), nullable=False),
        sa.Column("model_version", sa.String(length=50), nullable=False),
        sa.Column("variant", sa.String(length=20), nullable=False),
        sa.Column("events_applied", sa.Integer(), nullable=False),
        _stamp("updated_at"),
        sa.PrimaryKeyConstraint("contact_id", name="pk_contact_stream_state"),
    )
    op.create_table(
        "score_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("previous_score", sa.Integer(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("previous_band", sa.String(length=10), nullable=True),
        sa.Column("band", sa.String(length=10), nullable=False),
        sa.Column("band_crossed", sa.Boolean(), nullable=False),
        sa.Column("changed_because", JSON_TYPE, nullable=False),
        sa.Column("model_version", sa.String(length=50), nullable=False),
        sa.Column("variant", sa.String(length=20), nullable=False),
        sa.Column("lead_score_id", sa.Uuid(), nullable=True),
        _stamp("occurred_at"),
        _stamp("published_at", nullable=True),
        _stamp("created_at"),
        _stamp("notified_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_score_changes"),
        sa.UniqueConstraint("event_id", name="uq_score_changes_event_id"),
    )
    op.create_index("ix_score_changes_contact_id", "score_changes", ["contact_id"])
    op.create_index("ix_score_changes_created_at", "score_changes", ["created_at"])
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _stamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
    )
    op.create_index("ix_webhooks_scope", "webhooks", ["scope"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("webhook_id", sa.Uuid(), nullable=False),
        sa.Column("change_id", sa.Uuid(), nullable=False),
        sa.Column("payload", JSON_TYPE, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _stamp("next_attempt_at"),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _stamp("created_at"),
        _stamp("delivered_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name="fk_webhook_deliveries_webhook_id_webhooks",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.UniqueConstraint(
            "webhook_id", "change_id", name="uq_webhook_deliveries_webhook_id_change_id"
        ),
    )
    op.create_index("ix_webhook_deliveries_webhook_id", "webhook_deliveries", ["webhook_id"])
    op.create_index("ix_webhook_deliveries_status", "webhook_deliveries", ["status"])
    op.create_table(
        "stream_alerts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("window_size", sa.Integer(), nullable=False),
        sa.Column("details", JSON_TYPE, nullable=False),
        _stamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_stream_alerts"),
    )
    op.create_index("ix_stream_alerts_created_at", "stream_alerts", ["created_at"])


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    op.drop_index("ix_stream_alerts_created_at", table_name="stream_alerts")
    op.drop_table("stream_alerts")
    op.drop_index("ix_webhook_deliveries_status", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_webhook_id", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhooks_scope", table_name="webhooks")
    op.drop_table("webhooks")
    op.drop_index("ix_score_changes_created_at", table_name="score_changes")
    op.drop_index("ix_score_changes_contact_id", table_name="score_changes")
    op.drop_table("score_changes")
    op.drop_table("contact_stream_state")
    op.drop_index("ix_stream_events_processed_at", table_name="stream_events")
    op.drop_index("ix_stream_events_contact_id", table_name="stream_events")
    op.drop_table("stream_events")
