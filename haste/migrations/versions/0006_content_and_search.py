"""Content intelligence and conversational search.

* ``content_items`` / ``content_sends``: the content library and each send with its outcome;
* ``search_conversations``: conversational-search sessions and their turns.

Written by hand; types frozen here (never import the models in a migration).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _stamp(name: str, nullable: bool = False) -> sa.Column:
    """Return a timezone-aware timestamp column."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the content library, its sends and the search conversations."""
    op.create_table(
        "content_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("slots", JSON_TYPE, nullable=True),
        sa.Column("sequence_name", sa.String(length=200), nullable=True),
        sa.Column("step_number", sa.Integer(), nullable=True),
        sa.Column("topic", sa.String(length=50), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _stamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_content_items"),
        sa.UniqueConstraint("name", name="uq_content_items_name"),
    )
    op.create_index("ix_content_items_kind", "content_items", ["kind"])
    op.create_table(
        "content_sends",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("content_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("deal_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        _stamp("sent_at"),
        _stamp("opened_at", nullable=True),
        _stamp("clicked_at", nullable=True),
        _stamp("replied_at", nullable=True),
        sa.Column("won", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["content_items.id"],
            name="fk_content_sends_content_id_content_items",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name="fk_content_sends_contact_id_contacts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name="fk_content_sends_deal_id_deals", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_content_sends_user_id_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_content_sends"),
    )
    op.create_index("ix_content_sends_content_id", "content_sends", ["content_id"])
    op.create_index("ix_content_sends_contact_id", "content_sends", ["contact_id"])
    op.create_index("ix_content_sends_sent_at", "content_sends", ["sent_at"])
    op.create_table(
        "search_conversations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("api_key_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("turns", JSON_TYPE, nullable=False),
        _stamp("created_at"),
        _stamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_search_conversations"),
    )
    op.create_index(
        "ix_search_conversations_api_key_id", "search_conversations", ["api_key_id"]
    )


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("search_conversations")
    op.drop_table("content_sends")
    op.drop_table("content_items")
