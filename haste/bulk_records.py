"""Lean writes of a lead-score batch: one multi-row insert per table, one transaction.

:func:`insert_scoring_batch` stores the same rows as :func:`haste.records.record_scoring_batch`
(``lead_scores``, ``predictions`` and the ``ai_interactions`` audit records, minimised by
:meth:`~haste.records.InteractionRecord.to_row` and encrypted by the column types) without the
ORM unit of work: the ORM objects are only built, their column values are inserted with one
Core ``INSERT`` per table. An audit record whose (API key, request id) is already in the trail
is skipped by the database (``ON CONFLICT DO NOTHING`` on ``uq_ai_interactions_api_key_request``)
instead of by a look-up query first, so a batch costs three statements and one commit.

Measured on this 2-core machine (SQLite, one lead score: score, prediction, audit record),
the ORM writer takes about three times as long; see :mod:`benchmarks.serving_bench`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table, inspect
from sqlalchemy.dialects import postgresql, sqlite

from haste.db.models import AIInteraction, LeadScore, Prediction
from haste.db.session import create_db_engine
from haste.records import InteractionRecord, _lead_score_rows, record_scoring_batch

#: Dialects with ``INSERT ... ON CONFLICT DO NOTHING``; others use the ORM writer.
_UPSERT_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@cache
def _attributes(model: type) -> tuple[tuple[str, str, bool], ...]:
    """Return ``(column key, ORM attribute, has a Python default)`` of a model's columns."""
    mapper = inspect(model)
    return tuple(
        (column.key, mapper.get_property_by_column(column).key, column.default is not None)
        for column in mapper.local_table.columns
    )


def row_values(row: Any) -> dict[str, Any]:
    """Return the column values of a transient ORM row, for a Core insert.

    Columns the row leaves at ``None`` and that have a Python default (the ``id`` and the
    creation time) are left out, so the insert fills them as the ORM would.

    Args:
        row: An ORM object not yet added to a session.

    Returns:
        Column key -> value.
    """
    values = {}
    for column, attribute, has_default in _attributes(type(row)):
        value = getattr(row, attribute)
        if value is None and has_default:
            continue
        values[column] = value
    return values


def _grouped(rows: Iterable[Any]) -> list[list[dict[str, Any]]]:
    """Group rows' values by their set of columns (one executemany per group)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        values = row_values(row)
        groups.setdefault(tuple(values), []).append(values)
    return list(groups.values())


def insert_scoring_batch(
    url: str,
    scores: Sequence[tuple[dict[str, Any], str]],
    interactions: Sequence[InteractionRecord],
) -> int:
    """Store a batch of scores and calls in one transaction (see the module).

    Args:
        url: Database URL.
        scores: (score document, model version) pairs, as for ``record_scoring_batch``.
        interactions: Calls for the audit trail (one per request, refusals included).

    Returns:
        Number of scores stored.
    """
    engine = create_db_engine(url)
    make_insert = _UPSERT_INSERTS.get(engine.dialect.name)
    if make_insert is None:
        return record_scoring_batch(url, scores, interactions)
    score_rows: list[Any] = []
    prediction_rows: list[Any] = []
    for score, version in scores:
        lead_row, prediction_row = _lead_score_rows(score, version)
        score_rows.append(lead_row)
        prediction_rows.append(prediction_row)
    audit_rows = [interaction.to_row() for interaction in interactions]
    statements: list[tuple[Any, list[Any]]] = [
        (_table(LeadScore).insert(), score_rows),
        (_table(Prediction).insert(), prediction_rows),
        (make_insert(_table(AIInteraction)).on_conflict_do_nothing(), audit_rows),
    ]
    with engine.begin() as connection:
        for statement, rows in statements:
            for values in _grouped(rows):
                connection.execute(statement, values)
    return len(scores)


def _table(model: type) -> Table:
    """Return a model's table."""
    return model.__table__  # type: ignore[attr-defined,no-any-return]


__all__ = ["insert_scoring_batch", "row_values"]
