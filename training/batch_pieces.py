"""Pieces of a parquet dataset: the unit of work of a distributed scoring task.

A piece is one file's run of consecutive row groups holding about ``rows_per_piece`` rows
(planned from the files' footers on the driver: no data is read). A task reads only its
piece, ``chunk_rows`` rows at a time (``ParquetFile.iter_batches``), scores each chunk and
returns the piece's scored rows in one table. So:

* parallelism does not depend on how the dataset was split into files (one big file still
  gives many tasks; many small files are not merged into one task);
* a task's memory is bounded by the piece, whatever the dataset's size: nothing is collected;
* a task that fails (and is retried) has emitted nothing: it returns its rows all at once, so
  a retry can never deliver a piece's rows twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from training.batch_predict import (
    ID_COLUMN,
    SCORED_SCHEMA,
    ExplainSpec,
    ModelPayload,
    score_arrow_batch,
)

#: Rows a piece aims at (whole row groups: a piece can be larger when a row group is).
ROWS_PER_PIECE = 100_000


@dataclass(frozen=True)
class Piece:
    """Consecutive row groups of one parquet file.

    Attributes:
        path: The file (local path or a URI pyarrow understands).
        row_groups: Row group indices.
        rows: Rows in those row groups.
    """

    path: str
    row_groups: list[int]
    rows: int

    def to_dict(self) -> dict[str, Any]:
        """Return the piece as a plain row (what a Ray Dataset holds)."""
        return asdict(self)


def _open(path: str) -> pq.ParquetFile:
    """Open a parquet file (``scheme://`` URIs through pyarrow's file systems)."""
    if "://" in path:
        from pyarrow import fs

        filesystem, inner = fs.FileSystem.from_uri(path)
        return pq.ParquetFile(filesystem.open_input_file(inner))
    return pq.ParquetFile(path)


def plan_pieces(files: Sequence[str], rows_per_piece: int = ROWS_PER_PIECE) -> list[Piece]:
    """Split files into pieces of about ``rows_per_piece`` rows (footers only).

    Args:
        files: Parquet files.
        rows_per_piece: Target rows per piece (at least one row group each).

    Returns:
        The pieces, in file and row-group order; empty files give none.
    """
    pieces = []
    for path in files:
        metadata = _open(path).metadata
        groups: list[int] = []
        rows = 0
        for index in range(metadata.num_row_groups):
            count = metadata.row_group(index).num_rows
            if groups and rows + count > rows_per_piece:
                pieces.append(Piece(path, groups, rows))
                groups, rows = [], 0
            groups.append(index)
            rows += count
        if groups and rows:
            pieces.append(Piece(path, groups, rows))
    return pieces


def score_piece(
    piece: Piece,
    *,
    models: Sequence[ModelPayload],
    columns: Sequence[str],
    id_column: str = ID_COLUMN,
    explain: ExplainSpec | None = None,
    nthread: int = 1,
    chunk_rows: int = 50_000,
) -> pa.Table:
    """Read one piece ``chunk_rows`` at a time and score it; return all its scored rows."""
    reader = _open(piece.path)
    parts = [
        score_arrow_batch(
            pa.Table.from_batches([batch]),
            models=models,
            id_column=id_column,
            explain=explain,
            nthread=nthread,
        )
        for batch in reader.iter_batches(
            batch_size=chunk_rows, row_groups=piece.row_groups, columns=list(columns)
        )
        if batch.num_rows
    ]
    return pa.concat_tables(parts) if parts else SCORED_SCHEMA.empty_table()


def score_pieces(batch: pa.Table, **kwargs: Any) -> pa.Table:
    """Score every piece row of an Arrow batch (the function Ray Data maps; see ``score_piece``)."""
    tables = [
        score_piece(Piece(row["path"], list(row["row_groups"]), int(row["rows"])), **kwargs)
        for row in batch.to_pylist()
    ]
    return pa.concat_tables(tables)
