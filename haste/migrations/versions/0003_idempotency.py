"""Idempotent requests bound to their caller.

* ``idempotency_keys``: each ``X-Request-ID`` a caller sent, with the fingerprint of the
  request it named and the recorded answer (a replay is answered from it; a reuse for another
  request is refused);
* ``ai_jobs``: long AI tasks (analyses of long transcripts) run in the background, with their
  status and result;
* ``ai_interactions.request_id`` is unique per API key (it was unique across every caller, so
  two callers choosing the same id clashed) and indexed for feedback look-ups.

Written by hand; types frozen here (never import the models in a migration).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create idempotency_keys and ai_jobs; scope ai_interactions.request_id to its API key."""
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=300), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_idempotency_keys"),
    )
    op.create_index(
        "ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"], unique=False
    )
    op.create_table(
        "ai_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("result", JSON_TYPE, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ai_jobs"),
    )
    op.create_index("ix_ai_jobs_scope", "ai_jobs", ["scope"], unique=False)
    with op.batch_alter_table("ai_interactions") as batch:
        batch.drop_constraint("uq_ai_interactions_request_id", type_="unique")
        batch.create_unique_constraint(
            "uq_ai_interactions_api_key_request", ["api_key_id", "request_id"]
        )
        batch.create_index("ix_ai_interactions_request_id", ["request_id"], unique=False)


def downgrade() -> None:
    """Drop what :func:`upgrade` created (fails if two callers recorded the same request id)."""
    with op.batch_alter_table("ai_interactions") as batch:
        batch.drop_index("ix_ai_interactions_request_id")
        batch.drop_constraint("uq_ai_interactions_api_key_request", type_="unique")
        batch.create_unique_constraint("uq_ai_interactions_request_id", ["request_id"])
    op.drop_index("ix_ai_jobs_scope", table_name="ai_jobs")
    op.drop_table("ai_jobs")
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
