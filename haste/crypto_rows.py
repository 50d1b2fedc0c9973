"""Rewriting encrypted columns in place: encrypt legacy rows, re-encrypt under a new data key.

Used by migration ``0007`` (encrypt the rows written before it) and by
``haste keys rotate-data-key`` (re-encrypt every row under the new primary key). Rows are read
raw (no decryption by the column types) in primary-key order, a batch at a time, each batch in
its own short transaction when given an engine; an update only lands if the value is still the
one read (compare-and-set), so a row a live server rewrote meanwhile is never overwritten.
Rerunning is harmless: rows already under the primary key are skipped (resumable).

Imports no models (migrations use it): tables are described by :class:`TableSpec`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from haste.crypto import Keyring

#: A row's values (raw) -> the columns to write (empty: leave the row alone).
RowTransform = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class TableSpec:
    """A table with encrypted columns.

    Attributes:
        name: Table name.
        pk: Primary-key column names (keyset pagination order).
        columns: The encrypted columns (``TEXT``).
        types: SQL types of other columns a transform writes (e.g. a backfilled ``Uuid``).
    """

    name: str
    pk: tuple[str, ...]
    columns: tuple[str, ...]
    types: Mapping[str, sa.types.TypeEngine[Any]] = field(default_factory=dict)

    def table(self) -> sa.TableClause:
        """Return a lightweight table whose encrypted columns are plain ``TEXT`` (raw values)."""
        names = [*self.pk, *self.columns]
        extra = [sa.column(name, kind) for name, kind in self.types.items() if name not in names]
        return sa.table(
            self.name,
            *[sa.column(name) for name in self.pk],
            *[sa.column(name, sa.Text()) for name in self.columns],
            *extra,
        )


def specs_from_metadata(metadata: sa.MetaData) -> list[TableSpec]:
    """Return the spec of every table of ``metadata`` with an encrypted column."""
    from haste.db.encrypted import encrypted_columns

    return [
        TableSpec(
            name,
            tuple(c.name for c in metadata.tables[name].primary_key.columns),
            tuple(c.name for c in columns),
        )
        for name, columns in encrypted_columns(metadata).items()
    ]


@dataclass
class RewriteCount:
    """What a pass over one table did."""

    rows: int = 0
    rewritten: int = 0
    skipped_changed: int = 0


def _batches(
    begin: Callable[[], contextlib.AbstractContextManager[Connection]],
    spec: TableSpec,
    batch_size: int,
) -> Iterator[tuple[Connection, list[Mapping[str, Any]]]]:
    """Yield (open transaction, rows) batches in primary-key order (keyset pagination)."""
    table = spec.table()
    pk = [table.c[name] for name in spec.pk]
    wanted = [table.c[name] for name in (*spec.pk, *spec.columns)]
    last: tuple[Any, ...] | None = None
    while True:
        with begin() as connection:
            query = sa.select(*wanted).order_by(*pk).limit(batch_size)
            if last is not None:
                query = query.where(
                    pk[0] > last[0] if len(pk) == 1 else sa.tuple_(*pk) > sa.tuple_(*last)
                )
            rows = [row._mapping for row in connection.execute(query)]
            if not rows:
                return
            yield connection, rows
        last = tuple(rows[-1][name] for name in spec.pk)


def _write_batch(
    connection: Connection, spec: TableSpec, changed: list[tuple[Mapping[str, Any], dict[str, Any]]]
) -> int:
    """Write the changes of a batch, one ``executemany`` per set of changed columns.

    Each row is updated only if its encrypted values are still those read (compare-and-set).

    Returns:
        Rows written.
    """
    table = spec.table()
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row, changes in changed:
        params = {f"pk_{name}": row[name] for name in spec.pk}
        params.update({f"old_{name}": row[name] for name in changes if name in spec.columns})
        params.update({f"new_{name}": value for name, value in changes.items()})
        groups.setdefault(tuple(sorted(changes)), []).append(params)
    written = 0
    for names, rows in groups.items():
        statement = (
            sa.update(table)
            .where(
                *[table.c[name] == sa.bindparam(f"pk_{name}") for name in spec.pk],
                *[
                    table.c[name] == sa.bindparam(f"old_{name}")
                    for name in names
                    if name in spec.columns
                ],
            )
            .values({name: sa.bindparam(f"new_{name}") for name in names})
        )
        written += connection.execute(statement, rows).rowcount
    return written


def rewrite_rows(
    target: Engine | Connection,
    spec: TableSpec,
    transform: RowTransform,
    batch_size: int = 500,
    on_batch: Callable[[int], None] | None = None,
) -> RewriteCount:
    """Rewrite the rows of one table with ``transform``, a batch at a time.

    Args:
        target: An engine (each batch commits in its own transaction) or an open connection
            (everything in the caller's transaction, as in a migration).
        spec: The table.
        transform: Row (raw values) -> columns to write.
        batch_size: Rows read per batch.
        on_batch: Called with the number of rows of each finished batch (progress bars).

    Returns:
        Rows read, rewritten, and left alone because a live writer changed them meanwhile.
    """

    @contextlib.contextmanager
    def begin() -> Iterator[Connection]:
        if isinstance(target, Engine):
            with target.begin() as connection:
                yield connection
        else:
            yield target

    count = RewriteCount()
    for connection, rows in _batches(begin, spec, batch_size):
        changed = [(row, changes) for row in rows if (changes := transform(row))]
        if changed:
            written = _write_batch(connection, spec, changed)
            count.rewritten += written
            count.skipped_changed += len(changed) - written
        count.rows += len(rows)
        if on_batch is not None:
            on_batch(len(rows))
    return count


def rotate_transform(keyring: Keyring, columns: Sequence[str]) -> RowTransform:
    """Return the transform that puts every value of ``columns`` under the primary key."""

    def transform(row: Mapping[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for name in columns:
            value = row[name]
            if value is not None:
                rotated = keyring.rotate(value)
                if rotated is not None:
                    changes[name] = rotated
        return changes

    return transform


def decrypt_transform(keyring: Keyring, columns: Sequence[str]) -> RowTransform:
    """Return the transform that stores every value of ``columns`` as plaintext again."""

    def transform(row: Mapping[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for name in columns:
            value = row[name]
            if value is not None:
                plain = keyring.decrypt(value)
                if plain != value:
                    changes[name] = plain
        return changes

    return transform


def key_usage(target: Engine | Connection, specs: Sequence[TableSpec]) -> dict[str, int]:
    """Count the stored values per data key id (``plaintext`` for legacy values), every table."""
    usage: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        connection = stack.enter_context(target.connect()) if isinstance(target, Engine) else target
        for spec in specs:
            table = spec.table()
            for name in spec.columns:
                column = table.c[name]
                key = sa.case(
                    (column.like("enc1:%"), sa.func.substr(column, 6, 8)), else_="plaintext"
                )
                query = sa.select(key, sa.func.count()).where(column.is_not(None)).group_by(key)
                for key_id, n in connection.execute(query):
                    usage[str(key_id)] = usage.get(str(key_id), 0) + int(n)
    return usage
