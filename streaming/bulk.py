"""Bulk inserts for the consumers: PostgreSQL ``COPY``, an executemany elsewhere.

A batch writes hundreds of rows per table; ``COPY`` sends them as one stream instead of one
statement per row (psycopg's executemany), several times faster. The rows go through the
session's own connection, so they are part of the batch's transaction (all or nothing).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows (dicts with the same keys) into ``table`` within the session's transaction."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "psycopg":
        session.execute(insert(table), rows)
        return
    from psycopg.types.json import Jsonb

    columns = list(rows[0])
    json_columns = {
        name for name in columns if table.columns[name].type.__class__.__name__ in ("JSON", "JSONB")
    }
    raw = connection.connection.driver_connection
    names = ", ".join(f'"{name}"' for name in columns)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([Jsonb(row[c]) if c in json_columns else row[c] for c in columns])
