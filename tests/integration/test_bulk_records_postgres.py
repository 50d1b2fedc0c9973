"""The lean lead-score writer (:mod:`haste.bulk_records`) on PostgreSQL (a fresh database).

Same rows as the ORM writer, and ``ON CONFLICT DO NOTHING`` on the audit trail's
``(api_key_id, request_id)`` constraint; the SQLite twin is ``tests/unit/test_bulk_records.py``.
"""

from __future__ import annotations

from haste.db import upgrade_database
from tests.support.score_records import (
    check_recorded_request_is_skipped,
    check_same_rows_as_the_orm_writer,
)


def test_the_lean_writer_stores_what_the_orm_writer_stores_on_postgres(pg_url: str) -> None:
    upgrade_database(pg_url)
    check_same_rows_as_the_orm_writer(pg_url)


def test_a_request_already_recorded_is_skipped_on_postgres(pg_url: str) -> None:
    upgrade_database(pg_url)
    check_recorded_request_is_skipped(pg_url)
