"""Integration test of the Alembic migrations on a real PostgreSQL server.

A uniquely named database is created (and dropped at the end) through the admin URL
``HASTE_TEST_PG_ADMIN_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``).
When the server is unreachable the test is skipped, except under CI (``CI`` set), where it
fails instead.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, select, text

from haste.crypto import DataKey, Keyring, use_keyring
from haste.db import (
    TABLE_NAMES,
    Activity,
    AIInteraction,
    Base,
    Contact,
    LeadScore,
    Team,
    User,
    create_db_engine,
    current_revision,
    downgrade_database,
    head_revision,
    session_scope,
    upgrade_database,
)
from haste.db.encrypted import encrypted_columns


def _public_tables(url: str) -> set[str]:
    """Return the base tables of the ``public`` schema."""
    with create_db_engine(url).connect() as connection:
        rows = connection.execute(
            text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            )
        )
        return {row[0] for row in rows}


def test_upgrade_insert_and_downgrade_on_postgresql(pg_url: str) -> None:
    assert current_revision(pg_url) is None
    upgrade_database(pg_url)
    assert current_revision(pg_url) == head_revision() == "0008"
    assert _public_tables(pg_url) == set(TABLE_NAMES) | {"alembic_version"}

    # Column types: every JSON column is jsonb, ids are uuid, cost is numeric(10, 6).
    json_columns = {
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, JSON)
    }
    # 17 spec + 2 of 0002 + ai_jobs.result + 4 of 0004 + 6 of 0005 + 2 of 0006, less the 7
    # that 0007 turned into encrypted TEXT, + forecast_ledger.errors of 0008
    assert len(json_columns) == 26
    encrypted = {
        (table, column.name)
        for table, columns in encrypted_columns(Base.metadata).items()
        for column in columns
    }
    assert len(encrypted) == 11
    with create_db_engine(pg_url).connect() as connection:
        rows = connection.execute(
            text(
                "SELECT table_name, column_name, data_type, numeric_precision, numeric_scale "
                "FROM information_schema.columns WHERE table_schema = 'public'"
            )
        ).all()
        types = {(r.table_name, r.column_name): r for r in rows}
        for key in json_columns:
            assert types[key].data_type == "jsonb", key
        for key in encrypted:
            assert types[key].data_type == "text", key
        assert types[("ai_interactions", "contact_id")].data_type == "uuid"
        for table in TABLE_NAMES:
            if "id" in Base.metadata.tables[table].columns:  # idempotency_keys: (scope, key)
                assert types[(table, "id")].data_type == "uuid", table
        cost = types[("ai_interactions", "cost_usd")]
        assert (cost.data_type, cost.numeric_precision, cost.numeric_scale) == ("numeric", 10, 6)
        assert types[("contacts", "created_at")].data_type == "timestamp with time zone"

        # The migrated schema equals the models on PostgreSQL too.
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, Base.metadata) == []

    # Insert and read back.
    with session_scope(pg_url) as session:
        team = Team(name="NA")
        user = User(team=team, email="mgr@example.com", role="manager")
        contact = Contact(first_name="Grace", owner=user, gender=None)
        session.add_all([team, user, contact])
        session.flush()
        session.add_all(
            [
                LeadScore(contact=contact, score=64, score_components={"fit": [0.1, 0.2]}),
                Activity(
                    contact_id=contact.id,
                    type="email",
                    occurred_at=dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC),
                    details={"opened": True, "links": ["a", "b"]},
                ),
                AIInteraction(user_id=user.id, cost_usd=Decimal("1.234567"), input_data={"q": 1}),
            ]
        )
        contact_id = contact.id
    with session_scope(pg_url) as session:
        contact = session.get(Contact, contact_id)
        assert contact.owner.team.name == "NA"
        assert contact.ai_consent is True
        assert contact.lead_scores[0].score_components == {"fit": [0.1, 0.2]}
        activity = session.scalars(select(Activity)).one()
        assert activity.details == {"opened": True, "links": ["a", "b"]}
        assert activity.occurred_at == dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)
        assert session.scalars(select(AIInteraction.cost_usd)).one() == Decimal("1.234567")
        # JSONB operators work on the stored documents.
        opened = session.execute(
            text("SELECT details->>'opened' FROM activities WHERE details @> '{\"opened\": true}'")
        ).scalar_one()
        assert opened == "true"
        # ON DELETE CASCADE / SET NULL.
        session.delete(contact)
    with session_scope(pg_url) as session:
        assert session.scalars(select(LeadScore)).all() == []
        assert session.scalars(select(Activity.contact_id)).one() is None

    downgrade_database(pg_url, "base")
    assert current_revision(pg_url) is None
    assert _public_tables(pg_url) <= {"alembic_version"}


def test_0007_encrypts_legacy_rows_and_backfills_contact_ids(pg_url: str) -> None:
    """Rows written before 0007 are encrypted by it, keep reading, and come back on downgrade."""
    keyring = Keyring([DataKey.generate()])
    use_keyring(keyring)
    try:
        upgrade_database(pg_url, "0006")
        contact = uuid.uuid4()
        legacy = {"contact_id": str(contact), "to": "ada@example.com"}
        with create_db_engine(pg_url).begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO ai_interactions (id, input_data, output_data, created_at) "
                    "VALUES (:id, CAST(:i AS jsonb), CAST(:o AS jsonb), now()), "
                    "(:id2, CAST(:bad AS jsonb), NULL, now())"
                ),
                {
                    "id": uuid.uuid4(),
                    "i": json.dumps(legacy),
                    "o": json.dumps({"text": "Dear Ada"}),
                    "id2": uuid.uuid4(),
                    "bad": json.dumps({"contact_id": "not-a-uuid"}),
                },
            )
            connection.execute(
                text(
                    "INSERT INTO activities (id, type, body, occurred_at) "
                    "VALUES (:id, 'email', 'Hello ada@example.com', now())"
                ),
                {"id": uuid.uuid4()},
            )
        upgrade_database(pg_url)
        with create_db_engine(pg_url).connect() as connection:
            raw = connection.execute(
                text("SELECT input_data, output_data, contact_id FROM ai_interactions")
            ).all()
            body = connection.execute(text("SELECT body FROM activities")).scalar_one()
        assert all(row.input_data.startswith(f"enc1:{keyring.primary_id}:") for row in raw)
        assert "ada@example.com" not in body and body.startswith("enc1:")
        assert sorted(str(row.contact_id) for row in raw) == sorted([str(contact), "None"])
        with session_scope(pg_url) as session:
            row = session.scalars(
                select(AIInteraction).where(AIInteraction.contact_id == contact)
            ).one()
            assert row.input_data == legacy and row.output_data == {"text": "Dear Ada"}
            assert session.scalars(select(Activity.body)).one() == "Hello ada@example.com"

        downgrade_database(pg_url, "0006")
        with create_db_engine(pg_url).connect() as connection:
            back = connection.execute(
                text("SELECT input_data->>'to' FROM ai_interactions WHERE input_data ? 'to'")
            ).scalar_one()
            body = connection.execute(text("SELECT body FROM activities")).scalar_one()
        assert back == "ada@example.com" and body == "Hello ada@example.com"
    finally:
        use_keyring(None)
