"""Bulk writes of Arrow tables: PostgreSQL ``COPY`` (CSV), batched ``executemany`` elsewhere.

:mod:`streaming.bulk` writes lists of row dicts (hundreds of rows per consumer batch). Batch
scoring writes millions of rows, so this writer is columnar: an Arrow table goes to PostgreSQL
as one CSV stream (``COPY ... FROM STDIN``, formatted by Arrow's C++ CSV writer) and to SQLite
(or any other database) as ``executemany`` chunks of plain tuples, without building a dict or a
SQLAlchemy parameter set per row.

The writer works on the caller's :class:`~sqlalchemy.engine.Connection`, inside its
transaction: a caller that rolls back leaves nothing behind (all or nothing). On PostgreSQL
one ``COPY`` stream stays open across :meth:`BulkWriter.write` calls (the server inserts
while the caller prepares the next batch) until :meth:`BulkWriter.close`.

Stored format. Rows read back through the ORM exactly as if the ORM had written them:

* ``Uuid`` columns take canonical or 32-hex strings (SQLite stores the 32-hex form SQLAlchemy
  writes; PostgreSQL parses both);
* ``JSON`` / ``JSONB`` columns take JSON text;
* encrypted columns (:mod:`haste.db.encrypted`) are encrypted value by value with the column
  type itself (the active data key), on both paths: a ``COPY`` stores the same
  ``enc1:<key id>:<token>`` text as an ORM insert;
* constants (one value for every row, e.g. the run's timestamp) go through the column type's
  own bind processor once (SQLite) or are rendered as PostgreSQL input text;
* other columns are passed as Arrow / Python values (numbers, strings, booleans, timestamps).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import JSON, Table, Uuid
from sqlalchemy.engine import Connection

from haste.db.encrypted import ENCRYPTED_TYPES, EncryptedJSON

#: Rows per CSV chunk (COPY) or per executemany call.
CHUNK_ROWS = 50_000
_PLACEHOLDERS = {
    "qmark": lambda i, name: "?",
    "format": lambda i, name: "%s",
    "pyformat": lambda i, name: "%s",
    "numeric": lambda i, name: f":{i + 1}",
    "named": lambda i, name: f":p{i}",
}


def uses_copy(connection: Connection) -> bool:
    """Return whether the connection writes with ``COPY`` (PostgreSQL through psycopg 3)."""
    dialect = connection.dialect
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


def _is_json(column: Any) -> bool:
    return isinstance(column.type, JSON) or column.type.__class__.__name__ in ("JSON", "JSONB")


class BulkWriter:
    """Append Arrow tables to one database table through a connection.

    Args:
        connection: The connection (its transaction is the caller's).
        table: The SQLAlchemy table.
        columns: The columns each written Arrow table holds, in any order.
        constants: Column -> one Python value stored in every row.
        chunk_rows: Rows per ``COPY`` chunk / ``executemany`` call.

    Raises:
        ValueError: For an unknown column.
    """

    def __init__(
        self,
        connection: Connection,
        table: Table,
        columns: Sequence[str],
        constants: Mapping[str, Any] | None = None,
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        self.connection = connection
        self.table = table
        self.columns = list(columns)
        self.constants = dict(constants or {})
        self.chunk_rows = max(1, int(chunk_rows))
        unknown = [c for c in (*self.columns, *self.constants) if c not in table.columns]
        if unknown:
            raise ValueError(f"{table.name} has no column(s) {unknown}")
        self.copy = uses_copy(connection)
        self.written = 0
        self._stream: contextlib.ExitStack | None = None
        self._copy_stream: Any = None

    @property
    def method(self) -> str:
        """Return ``copy`` or ``executemany``."""
        return "copy" if self.copy else "executemany"

    def write(self, batch: pa.Table) -> int:
        """Append the rows of ``batch`` (which holds :attr:`columns`); return rows written.

        On PostgreSQL the rows go into one ``COPY`` stream that stays open across calls (the
        server inserts while the caller prepares the next batch): call :meth:`close` before
        running another statement on the connection (or writing another table).
        """
        if batch.num_rows == 0:
            return 0
        batch = batch.select(self.columns)
        for start in range(0, batch.num_rows, self.chunk_rows):
            chunk = batch.slice(start, self.chunk_rows)
            if self.copy:
                self._copy(chunk)
            else:
                self._executemany(chunk)
        self.written += batch.num_rows
        return batch.num_rows

    # -- encryption ------------------------------------------------------------------------

    def _encrypted(self, name: str, values: pa.ChunkedArray) -> pa.Array:
        """Encrypt a column value by value with its own type (the stored ciphertext)."""
        column_type = self.table.columns[name].type
        dialect = self.connection.dialect
        out = []
        for value in values.to_pylist():
            if value is not None and isinstance(column_type, EncryptedJSON):
                value = json.loads(value) if isinstance(value, str) else value
            out.append(column_type.process_bind_param(value, dialect))
        return pa.array(out, pa.string())

    def _is_encrypted(self, name: str) -> bool:
        return isinstance(self.table.columns[name].type, ENCRYPTED_TYPES)

    # -- PostgreSQL ------------------------------------------------------------------------

    @property
    def streaming(self) -> bool:
        """Return whether a ``COPY`` stream is open."""
        return self._stream is not None

    def close(self, error: BaseException | None = None) -> None:
        """End the open ``COPY`` stream: completed, or aborted with ``error`` (no-op if none)."""
        stream, self._stream, self._copy_stream = self._stream, None, None
        if stream is None:
            return
        if error is None:
            stream.close()
        else:
            stream.__exit__(type(error), error, error.__traceback__)

    def _open_stream(self) -> Any:
        if self._copy_stream is None:
            names = [*self.columns, *self.constants]
            quoted = ", ".join(f'"{name}"' for name in names)
            sql = f'COPY "{self.table.name}" ({quoted}) FROM STDIN WITH (FORMAT csv)'
            raw = self.connection.connection.driver_connection
            stream = contextlib.ExitStack()
            try:
                cursor = stream.enter_context(raw.cursor())
                self._copy_stream = stream.enter_context(cursor.copy(sql))
            except BaseException:
                stream.close()
                raise
            self._stream = stream
        return self._copy_stream

    def _copy(self, chunk: pa.Table) -> None:
        names = [*self.columns, *self.constants]
        arrays = []
        for name in self.columns:
            values = chunk.column(name)
            arrays.append(self._encrypted(name, values) if self._is_encrypted(name) else values)
        for name, value in self.constants.items():
            text = _pg_text(self.table.columns[name], value, self.connection)
            arrays.append(pa.repeat(pa.scalar(text, pa.string()), chunk.num_rows))
        frame = pa.table(arrays, names=[f"c{i}" for i in range(len(names))])
        buffer = io.BytesIO()
        pacsv.write_csv(frame, buffer, pacsv.WriteOptions(include_header=False))
        stream = self._open_stream()
        try:
            stream.write(buffer.getbuffer())
        except BaseException as error:
            self.close(error)
            raise

    # -- everything else -------------------------------------------------------------------

    def _stored(self, name: str, values: pa.ChunkedArray) -> list[Any]:
        """Return a column's values in the form the database stores (see the module doc)."""
        column = self.table.columns[name]
        dialect = self.connection.dialect
        if self._is_encrypted(name):
            return self._encrypted(name, values).to_pylist()
        if isinstance(column.type, Uuid) and not dialect.supports_native_uuid:
            strings = pc.cast(values, pa.string())
            return pc.utf8_lower(pc.replace_substring(strings, "-", "")).to_pylist()
        if _is_json(column) or isinstance(column.type, Uuid):
            return values.to_pylist()
        processor = column.type.dialect_impl(dialect).bind_processor(dialect)
        python = values.to_pylist()
        return python if processor is None else [processor(v) for v in python]

    def _constant(self, name: str, value: Any) -> Any:
        column = self.table.columns[name]
        dialect = self.connection.dialect
        if value is None:
            return None
        if isinstance(column.type, ENCRYPTED_TYPES):
            return column.type.process_bind_param(value, dialect)
        processor = column.type.dialect_impl(dialect).bind_processor(dialect)
        return value if processor is None else processor(value)

    def _executemany(self, chunk: pa.Table) -> None:
        names = [*self.columns, *self.constants]
        style = _PLACEHOLDERS.get(self.connection.dialect.paramstyle, _PLACEHOLDERS["qmark"])
        marks = ", ".join(style(i, name) for i, name in enumerate(names))
        quoted = ", ".join(f'"{name}"' for name in names)
        sql = f'INSERT INTO "{self.table.name}" ({quoted}) VALUES ({marks})'
        columns = [self._stored(name, chunk.column(name)) for name in self.columns]
        constants = [self._constant(name, value) for name, value in self.constants.items()]
        rows: list[Any] = [(*row, *constants) for row in zip(*columns, strict=True)]
        if self.connection.dialect.paramstyle == "named":
            rows = [{f"p{i}": v for i, v in enumerate(row)} for row in rows]
        self.connection.exec_driver_sql(sql, rows)


def _pg_text(column: Any, value: Any, connection: Connection) -> str | None:
    """Render a constant as PostgreSQL input text (None: SQL NULL)."""
    if value is None:
        return None
    if isinstance(column.type, ENCRYPTED_TYPES):
        return column.type.process_bind_param(value, connection.dialect)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list) or _is_json(column):
        return value if isinstance(value, str) else json.dumps(value)
    return str(value)
