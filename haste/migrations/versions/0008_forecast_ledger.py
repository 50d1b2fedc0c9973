"""The forecast ledger: every forecast with its horizon, naive baseline, actual and errors.

* ``forecast_ledger``: one row per revenue forecast, deal-velocity / win-probability prediction
  and churn prediction; the scheduled ``forecast-ledger-scoring`` flow resolves it when the
  actual arrives. Plain columns (no sensitive text, nothing encrypted).

Written by hand; types frozen here (never import the models in a migration).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _stamp(name: str, nullable: bool = False) -> sa.Column:
    """Return a timezone-aware timestamp column."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create ``forecast_ledger``."""
    op.create_table(
        "forecast_ledger",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("entity_type", sa.String(length=50), nullable=False),
        sa.Column("entity_id", sa.String(length=100), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=50), nullable=False),
        _stamp("made_at"),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        _stamp("target_at"),
        sa.Column("predicted", sa.Float(), nullable=True),
        sa.Column("interval_low", sa.Float(), nullable=True),
        sa.Column("interval_high", sa.Float(), nullable=True),
        sa.Column("coverage", sa.Float(), nullable=True),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("naive", sa.Float(), nullable=True),
        sa.Column("actual", sa.Float(), nullable=True),
        _stamp("resolved_at", nullable=True),
        sa.Column("errors", JSON_TYPE, nullable=True),
        _stamp("created_at"),
        sa.CheckConstraint(
            "kind IN ('revenue_forecast', 'deal_velocity', 'win_probability', 'churn')",
            name="ck_forecast_ledger_kind",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_forecast_ledger"),
        sa.UniqueConstraint(
            "kind",
            "entity_id",
            "model_version",
            "made_at",
            name="uq_forecast_ledger_kind_entity_id_model_version_made_at",
        ),
    )
    op.create_index("ix_forecast_ledger_kind", "forecast_ledger", ["kind"])
    op.create_index("ix_forecast_ledger_target_at", "forecast_ledger", ["target_at"])
    op.create_index("ix_forecast_ledger_resolved_at", "forecast_ledger", ["resolved_at"])


def downgrade() -> None:
    """Drop ``forecast_ledger``."""
    op.drop_table("forecast_ledger")
