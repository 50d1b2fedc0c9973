"""Encryption at rest of sensitive AI data, and a plain contact column for the audit trail.

* The JSON columns that hold sensitive data become ``TEXT`` (they now hold Fernet tokens, see
  :mod:`haste.db.encrypted`): ``ai_interactions.input_data``/``output_data``,
  ``conversation_insights.action_items``/``key_moments``, ``review_items.payload``,
  ``search_conversations.turns``, ``ai_jobs.result`` (PostgreSQL: ``USING col::text``).
* ``ai_interactions.contact_id`` (uuid, indexed) is added and backfilled from
  ``input_data->>'contact_id'``: the audit trail and the erasure filter on it, since the
  encrypted payload can no longer be queried.
* Every existing value of every encrypted column (those above, ``activities.body``,
  ``conversation_insights.transcript``/``summary``, ``idempotency_keys.response_body``) is
  encrypted in batches with the configured data keys (``HASTE_DATA_KEYS`` or the key file);
  a database without such rows never loads the keys. Downgrade decrypts them back.

Written by hand; types frozen here (never import the models in a migration).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 16:00:00
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

#: JSON columns that become encrypted TEXT: table -> columns.
JSON_TO_TEXT: dict[str, tuple[str, ...]] = {
    "ai_interactions": ("input_data", "output_data"),
    "conversation_insights": ("action_items", "key_moments"),
    "review_items": ("payload",),
    "search_conversations": ("turns",),
    "ai_jobs": ("result",),
}
#: Every encrypted column: table -> (primary key, columns).
ENCRYPTED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ai_interactions": (("id",), ("input_data", "output_data")),
    "activities": (("id",), ("body",)),
    "conversation_insights": (("id",), ("transcript", "summary", "action_items", "key_moments")),
    "review_items": (("id",), ("payload",)),
    "search_conversations": (("id",), ("turns",)),
    "ai_jobs": (("id",), ("result",)),
    "idempotency_keys": (("scope", "key"), ("response_body",)),
}


def _change_types(to_text: bool) -> None:
    """Switch the sensitive JSON columns to TEXT (or back to JSON/JSONB)."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, columns in JSON_TO_TEXT.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(
                    column,
                    existing_type=JSON_TYPE if to_text else sa.Text(),
                    type_=sa.Text() if to_text else JSON_TYPE,
                    postgresql_using=f"{column}::{'text' if to_text else 'jsonb'}"
                    if postgres
                    else None,
                )


def _contact_of(input_data: str | None) -> uuid.UUID | None:
    """Return the ``contact_id`` of a plaintext ``input_data`` document, if it is a UUID."""
    if not input_data:
        return None
    try:
        document = json.loads(input_data)
        return uuid.UUID(str(document["contact_id"]))
    except (ValueError, TypeError, KeyError):
        return None


def _rewrite_all(decrypt: bool) -> None:
    """Encrypt (or decrypt) every stored value, backfilling ``ai_interactions.contact_id``."""
    from haste.crypto import active_keyring
    from haste.crypto_rows import TableSpec, rewrite_rows

    connection = op.get_bind()
    for table, (pk, columns) in ENCRYPTED.items():
        backfill = table == "ai_interactions" and not decrypt
        spec = TableSpec(table, pk, columns, {"contact_id": sa.Uuid()} if backfill else {})

        def transform(row: Mapping[str, Any], columns: tuple[str, ...] = columns) -> dict:
            changes: dict[str, Any] = {}
            for column in columns:
                value = row[column]
                if value is None or value.startswith("enc1:") != decrypt:
                    continue
                keyring = active_keyring()  # loaded only when a row needs it
                changes[column] = keyring.decrypt(value) if decrypt else keyring.encrypt(value)
            return changes

        def transform_backfill(row: Mapping[str, Any]) -> dict[str, Any]:
            changes = transform(row)
            contact = _contact_of(row["input_data"])
            if contact is not None:
                changes["contact_id"] = contact
            return changes

        rewrite_rows(connection, spec, transform_backfill if backfill else transform)


def upgrade() -> None:
    """Add ``ai_interactions.contact_id``, switch the columns to TEXT and encrypt the rows."""
    with op.batch_alter_table("ai_interactions") as batch:
        batch.add_column(sa.Column("contact_id", sa.Uuid(), nullable=True))
        batch.create_index("ix_ai_interactions_contact_id", ["contact_id"])
    _change_types(to_text=True)
    _rewrite_all(decrypt=False)


def downgrade() -> None:
    """Decrypt the rows, switch the columns back to JSON and drop ``contact_id``."""
    _rewrite_all(decrypt=True)
    _change_types(to_text=False)
    with op.batch_alter_table("ai_interactions") as batch:
        batch.drop_index("ix_ai_interactions_contact_id")
        batch.drop_column("contact_id")
