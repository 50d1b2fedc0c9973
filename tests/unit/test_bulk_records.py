"""The lean lead-score writer (:mod:`haste.bulk_records`) on SQLite: same rows, one transaction.

The PostgreSQL twin is ``tests/integration/test_bulk_records_postgres.py``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from haste import bulk_records
from haste.db import upgrade_database
from haste.db.models import AIInteraction
from tests.support.score_records import (
    check_recorded_request_is_skipped,
    check_same_rows_as_the_orm_writer,
    scoring_batch,
)


@pytest.fixture()
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    upgrade_database(url)
    return url


def test_the_lean_writer_stores_what_the_orm_writer_stores(url: str) -> None:
    check_same_rows_as_the_orm_writer(url)


def test_a_request_already_recorded_is_skipped_not_an_error(url: str) -> None:
    check_recorded_request_is_skipped(url)


def test_row_values_leave_drawn_columns_to_their_defaults() -> None:
    row = AIInteraction(interaction_type="lead_score", request_id="r-1")
    values = bulk_records.row_values(row)
    assert "id" not in values and "created_at" not in values  # drawn by the insert
    assert values["request_id"] == "r-1" and values["feedback_score"] is None


def test_other_databases_use_the_orm_writer(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    scores, records = scoring_batch(url, 1)
    calls = []
    monkeypatch.setattr(
        bulk_records,
        "create_db_engine",
        lambda _: SimpleNamespace(dialect=SimpleNamespace(name="mysql")),
    )
    monkeypatch.setattr(
        bulk_records, "record_scoring_batch", lambda *args: calls.append(args) or len(args[1])
    )
    assert bulk_records.insert_scoring_batch(url, scores, records) == 1
    assert calls == [(url, scores, records)]
