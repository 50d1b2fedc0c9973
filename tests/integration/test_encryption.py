"""Encryption at rest on a real PostgreSQL: raw bytes, key rotation under load, erasure.

The raw bytes are read with a plain psycopg connection (no SQLAlchemy types in between), as an
attacker holding a database dump would.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from haste.audit import query_audit_trail
from haste.crypto import Keyring, stored_key_id, use_keyring
from haste.crypto_rows import TableSpec, rewrite_rows, rotate_transform
from haste.db import (
    Activity,
    AIInteraction,
    Contact,
    ReviewItem,
    SearchConversation,
    create_db_engine,
    session_scope,
    upgrade_database,
)
from haste.key_rotation import (
    add_primary_key,
    drop_retired_keys,
    reencrypt_database,
    stored_key_usage,
)
from haste.records import InteractionRecord, record_interactions
from pipelines.erasure import forget_in_database, remaining_in_database

EMAIL = "ada.lovelace@example.com"
BODY = "Hi Ada, following up on the analytical engine pricing we discussed."


@pytest.fixture()
def url(pg_url: str) -> str:
    upgrade_database(pg_url)
    return pg_url


@pytest.fixture()
def running(tmp_path: Path) -> Iterator[Keyring]:
    """The keyring of a server started before any rotation (checks its file hourly)."""
    keyring = Keyring.from_file(tmp_path / "data_keys.json", reload_s=3600)
    use_keyring(keyring)
    yield keyring
    use_keyring(None)


def _raw_dump(url: str) -> str:
    """Return every row of the sensitive tables as text, read with plain psycopg."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    tables = ("ai_interactions", "activities", "review_items", "search_conversations")
    with psycopg.connect(conninfo) as connection:
        return "\n".join(
            str(row[0])
            for table in tables
            for row in connection.execute(f"SELECT t::text FROM {table} t")
        )


def _seed(url: str) -> uuid.UUID:
    """Write a contact, an email, a call about it, a draft waiting for review, a search."""
    with session_scope(url) as session:
        contact = Contact(first_name="Ada", email=EMAIL)
        session.add(contact)
        session.flush()
        contact_id = contact.id
        session.add_all(
            [
                Activity(
                    contact_id=contact_id,
                    type="email",
                    subject="Pricing",
                    body=f"{BODY} Reply to {EMAIL}",
                    occurred_at=dt.datetime.now(dt.UTC),
                ),
                ReviewItem(
                    feature="email_compose",
                    contact_id=contact_id,
                    summary="Draft email",
                    payload={"draft": {"to": EMAIL, "body": BODY}},
                    risk="external",
                ),
                SearchConversation(turns=[{"question": f"emails from {EMAIL}"}]),
            ]
        )
    record = InteractionRecord(
        "llm",
        {"contact_id": str(contact_id), "prompt": "compose_email", "variables": {"to": EMAIL}},
        {"text": BODY},
        "offline",
        feature="email_compose",
    )
    record_interactions(url, [record])
    return contact_id


def test_raw_database_bytes_hold_no_plaintext(url: str, running: Keyring) -> None:
    contact_id = _seed(url)
    dump = _raw_dump(url)
    assert str(contact_id) in dump  # the dump is real: plain columns are there
    assert EMAIL not in dump
    assert "analytical engine" not in dump
    assert f"enc1:{running.primary_id}:" in dump
    with session_scope(url) as session:
        assert EMAIL in session.scalars(select(Activity.body)).one()
        draft = session.scalars(select(ReviewItem.payload)).one()["draft"]
        assert draft == {"to": EMAIL, "body": BODY}
    (entry,) = query_audit_trail(url, contact_id=contact_id)
    assert entry.inputs["variables"] == {"to": EMAIL} and entry.outputs == {"text": BODY}
    assert query_audit_trail(url, contact_id=contact_id, feature="email_compose") != []
    assert query_audit_trail(url, contact_id=contact_id, feature="lead_score") == []


def test_rotation_without_downtime(url: str, running: Keyring, tmp_path: Path) -> None:
    """Old rows read before and after; new rows use the new key; a stale server keeps up."""
    path = tmp_path / "data_keys.json"
    contact_id = _seed(url)
    old_id = running.primary_id

    new_key = add_primary_key(path)
    rotator = Keyring.from_file(path)  # the CLI's process
    counts = reencrypt_database(url, rotator, batch_size=2)
    assert counts["ai_interactions"].rewritten == 1 and counts["activities"].rewritten == 1
    assert stored_key_usage(url) == {new_key.id: 5}  # input, output, body, payload, turns
    assert reencrypt_database(url, rotator)["activities"].rewritten == 0  # idempotent

    # The running server (old keyring in memory) reads the re-encrypted rows: it reloads.
    (entry,) = query_audit_trail(url, contact_id=contact_id)
    assert entry.inputs["variables"] == {"to": EMAIL}
    assert running.primary_id == new_key.id
    _seed(url)  # and writes new rows under the new key
    assert set(stored_key_usage(url)) == {new_key.id}

    dropped = drop_retired_keys(url, rotator, path, wait_s=0)
    assert dropped == [old_id] and running.decrypt(running.encrypt("x")) == "x"
    assert EMAIL not in _raw_dump(url)


def test_a_concurrent_write_is_never_overwritten(
    url: str, running: Keyring, tmp_path: Path
) -> None:
    """Compare-and-set: a row a live server rewrote during the pass keeps the server's value."""
    _seed(url)
    add_primary_key(tmp_path / "data_keys.json")
    rotator = Keyring.from_file(tmp_path / "data_keys.json")
    spec = TableSpec("activities", ("id",), ("body",))
    rotate = rotate_transform(rotator, spec.columns)

    def concurrent(
        row: Mapping[str, Any],
    ) -> dict[str, Any]:  # a server edits the row between the pass's read and write
        with session_scope(url) as session:
            session.execute(update(Activity).values(body="edited by a server"))
        return rotate(row)

    count = rewrite_rows(create_db_engine(url), spec, concurrent)
    assert (count.rows, count.rewritten, count.skipped_changed) == (1, 0, 1)
    with session_scope(url) as session:
        assert session.scalars(select(Activity.body)).one() == "edited by a server"


def test_erasure_finds_the_calls_by_the_plain_contact_column(url: str, running: Keyring) -> None:
    victim, bystander = _seed(url), _seed(url)
    removed = forget_in_database(url, victim)
    assert removed["ai_interactions"] == 1 and removed["activities"] == 1
    assert set(remaining_in_database(url, victim).values()) == {0}
    with session_scope(url) as session:
        left = session.scalars(select(AIInteraction.contact_id)).all()
    assert left == [bystander]
    assert stored_key_id(running.encrypt("x")) == running.primary_id
