"""Gateway and LLM layer: API keys, budgets, prompt versions and prompt test results.

* ``api_keys``: hashed API keys mapped to users (and so to teams and roles) with per-key rate
  limits;
* ``ai_budgets``: spending limits per user/team/feature/global and month, enforced atomically;
* ``ai_prompts.version`` (unique with ``name``) and ``prompt_test_results``;
* ``ai_interactions`` gains the columns needed for roll-ups and idempotent recording:
  ``team_id``, ``api_key_id``, ``feature``, ``provider``, ``variant``, ``request_id``.

Written by hand; types frozen here (never import the models in a migration).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    """Return a timezone-aware ``DEFAULT CURRENT_TIMESTAMP`` column."""
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=nullable)


def upgrade() -> None:
    """Create api_keys, ai_budgets, prompt_test_results and extend ai_prompts/ai_interactions."""
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        _timestamp("created_at"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('admin', 'manager', 'rep', 'service')", name="ck_api_keys_role"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_keys_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"], unique=False)

    op.create_table(
        "ai_budgets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scope_type", sa.String(length=20), nullable=False),
        sa.Column("scope_id", sa.String(length=100), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("limit_usd", sa.Numeric(precision=12, scale=6), nullable=False),
        sa.Column(
            "spent_usd",
            sa.Numeric(precision=12, scale=6),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.Column("alerts_sent", JSON_TYPE, nullable=True),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            "scope_type IN ('user', 'team', 'feature', 'global')",
            name="ck_ai_budgets_scope_type",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ai_budgets"),
        sa.UniqueConstraint(
            "scope_type", "scope_id", "period_start", name="uq_ai_budgets_scope"
        ),
    )

    with op.batch_alter_table("ai_prompts") as batch:
        batch.add_column(
            sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False)
        )
        batch.create_unique_constraint("uq_ai_prompts_name_version", ["name", "version"])

    op.create_table(
        "prompt_test_results",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("prompt_id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("case_name", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=50), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("assertions", JSON_TYPE, nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("tokens_used", sa.Integer(), nullable=True),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["ai_prompts.id"],
            name="fk_prompt_test_results_prompt_id_ai_prompts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_prompt_test_results"),
    )
    op.create_index(
        "ix_prompt_test_results_prompt_id", "prompt_test_results", ["prompt_id"], unique=False
    )
    op.create_index(
        "ix_prompt_test_results_run_id", "prompt_test_results", ["run_id"], unique=False
    )

    with op.batch_alter_table("ai_interactions") as batch:
        batch.add_column(sa.Column("team_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("api_key_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("feature", sa.String(length=50), nullable=True))
        batch.add_column(sa.Column("provider", sa.String(length=50), nullable=True))
        batch.add_column(sa.Column("variant", sa.String(length=50), nullable=True))
        batch.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))
        batch.create_foreign_key(
            "fk_ai_interactions_team_id_teams", "teams", ["team_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_foreign_key(
            "fk_ai_interactions_api_key_id_api_keys",
            "api_keys",
            ["api_key_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_unique_constraint("uq_ai_interactions_request_id", ["request_id"])
        batch.create_index("ix_ai_interactions_team_id", ["team_id"], unique=False)
        batch.create_index("ix_ai_interactions_feature", ["feature"], unique=False)


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    with op.batch_alter_table("ai_interactions") as batch:
        batch.drop_index("ix_ai_interactions_feature")
        batch.drop_index("ix_ai_interactions_team_id")
        batch.drop_constraint("uq_ai_interactions_request_id", type_="unique")
        batch.drop_constraint("fk_ai_interactions_api_key_id_api_keys", type_="foreignkey")
        batch.drop_constraint("fk_ai_interactions_team_id_teams", type_="foreignkey")
        for column in ("request_id", "variant", "provider", "feature", "api_key_id", "team_id"):
            batch.drop_column(column)
    op.drop_index("ix_prompt_test_results_run_id", table_name="prompt_test_results")
    op.drop_index("ix_prompt_test_results_prompt_id", table_name="prompt_test_results")
    op.drop_table("prompt_test_results")
    with op.batch_alter_table("ai_prompts") as batch:
        batch.drop_constraint("uq_ai_prompts_name_version", type_="unique")
        batch.drop_column("version")
    op.drop_table("ai_budgets")
    op.drop_index("ix_api_keys_user_id", table_name="api_keys")
    op.drop_table("api_keys")
