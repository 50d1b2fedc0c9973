"""Where batch scores go: rows of ``predictions`` (and ``lead_scores``), written all or nothing.

Tables (neither has an encrypted column):

* ``predictions`` (default target; the format :func:`flows.training.store_batch_predictions`
  already uses for batch predictions): ``entity_type`` ``contact``, ``entity_id`` the contact,
  ``prediction_type`` the model name, ``model_version`` the registry version,
  ``confidence_score`` the API's confidence and ``prediction_value``
  ``{"probability", "score", "band", "variant", "run_id"}`` plus, for explained rows,
  ``contributions``, ``recommended_actions`` and ``explanation``. Every variant (champion and
  challenger) is written here, so an A/B comparison joins them on ``run_id``.
* ``lead_scores`` (target ``lead_scores``: the score the CRM shows): the rows of the run's
  first model (the champion) only,
  ``score_components`` ``{"source": "batch", "run_id", "variant", "model_name",
  "probability", "confidence", "band"}`` (plus the explanation's keys), ``explanation`` the
  sentence. The contacts must exist (foreign key). The challenger still goes to
  ``predictions`` (it must never become the score a rep sees).

All or nothing: :class:`ScoreSink` writes every batch of a run through one connection inside
one transaction, committed when the run ends and rolled back on any error, so a failed run
leaves no row. Idempotent: a run given an explicit id first deletes the rows an earlier run
with that id committed (same transaction), so re-running it replaces, never duplicates.
Rows are built with Arrow compute (ids, JSON text) and written by
:class:`pipelines.bulk_write.BulkWriter` (``COPY`` on PostgreSQL, ``executemany`` on SQLite).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import delete
from sqlalchemy.engine import Connection

from haste.db.models import LeadScore, Prediction
from haste.db.session import create_db_engine
from haste.records import entity_uuid
from pipelines.bulk_write import BulkWriter

Target = Literal["predictions", "lead_scores"]
TARGETS: tuple[str, ...] = ("predictions", "lead_scores")
_RUN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_UUID = r"^(?:[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12})$"


@dataclass(frozen=True)
class BatchRun:
    """One batch scoring run.

    Attributes:
        run_id: Tag stored with every row (letters, digits, ``_.-``).
        started_at: The rows' ``created_at`` / ``calculated_at``.
        target: ``predictions`` or ``lead_scores`` (the champion's table).
        replace: Delete the rows of an earlier run with the same id first (explicit ids).
        namespace: Namespace of the UUIDv5 of a non-UUID contact id
            (:func:`haste.records.entity_uuid`).
    """

    run_id: str
    started_at: dt.datetime
    target: Target = "predictions"
    replace: bool = False
    namespace: str = "contact"

    def __post_init__(self) -> None:
        if not _RUN_ID.match(self.run_id):
            raise ValueError(f"run id {self.run_id!r}: 1-64 letters, digits, '_', '.' or '-'")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, not {self.target!r}")


def new_run(run_id: str | None = None, target: Target = "predictions") -> BatchRun:
    """Return a run starting now; an explicit ``run_id`` replaces that run's earlier rows."""
    return BatchRun(
        run_id=run_id or f"batch-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}",
        started_at=dt.datetime.now(dt.UTC),
        target=target,
        replace=run_id is not None,
    )


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


def time_ordered_uuid_hex(count: int) -> pa.Array:
    """Return ``count`` new time-ordered UUIDs (version 7, RFC 9562) as 32-hex strings.

    48 bits of Unix milliseconds, then a 26-bit counter (the row's position: ids increase
    within a call, and from one call to the next as the clock moves), then 48 random bits.
    Row ids that increase keep the primary-key B-tree appending at its right edge: with
    random (version 4) ids a multi-million-row ``COPY`` slows down as the index outgrows the
    database's cache (measured: the third million rows 14.5 s instead of 23 s).
    """
    if count >= 1 << 26:
        raise ValueError("at most 67,108,863 ids per call")
    raw = np.frombuffer(os.urandom(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    now = np.array([time.time_ns() // 1_000_000], dtype=">u8").view(np.uint8)
    raw[:, :6] = now[2:]
    counter = np.arange(count, dtype=">u4").view(np.uint8).reshape(count, 4)
    raw[:, 6] = 0x70 | (counter[:, 0] & 0x03)  # version 7, counter bits 25-24
    raw[:, 7] = counter[:, 1]  # bits 23-16
    raw[:, 8] = 0x80 | (counter[:, 2] >> 2)  # variant 10, bits 15-10
    raw[:, 9] = ((counter[:, 2] & 0x03) << 6) | (counter[:, 3] >> 2)  # bits 9-2
    raw[:, 10] = (raw[:, 10] & 0x3F) | ((counter[:, 3] & 0x03) << 6)  # bits 1-0, then random
    hexed = np.frombuffer(raw.tobytes().hex().encode("ascii"), dtype="S32")
    return pa.array(hexed, pa.binary(32)).cast(pa.string())


def uuid_hex(ids: pa.Array | pa.ChunkedArray, namespace: str = "contact") -> pa.Array:
    """Return entity ids as 32-hex UUID strings (a non-UUID id: its stable UUIDv5).

    Args:
        ids: Canonical or 32-hex UUID strings (other ids are hashed like
            :func:`haste.records.entity_uuid`).
        namespace: Namespace of the UUIDv5 of non-UUID ids.
    """
    strings = pc.cast(ids, pa.string())
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    hexed = pc.utf8_lower(pc.replace_substring(strings, "-", ""))
    valid = pc.fill_null(pc.match_substring_regex(strings, _UUID), False)
    if pc.all(valid).as_py():
        return hexed
    python = strings.to_pylist()
    fixed = [
        h if ok else entity_uuid(namespace, raw).hex
        for h, ok, raw in zip(hexed.to_pylist(), valid.to_pylist(), python, strict=True)
    ]
    return pa.array(fixed, pa.string())


def _join(*parts: Any) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _text(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    return pc.cast(values, pa.string())


def _json_tail(details: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Return ``}`` for unexplained rows, ``,<details keys>}`` for explained ones."""
    keys = pc.utf8_slice_codeunits(details, 1)  # drop the details object's "{"
    return pc.coalesce(_join(",", keys), pa.scalar("}"))


def prediction_rows(scored: pa.Table, run: BatchRun) -> pa.Table:
    """Return ``predictions`` rows (wire format, see the module doc) of a scored batch."""
    value = _join(
        '{"probability":',
        _text(scored["probability"]),
        ',"score":',
        _text(scored["score"]),
        ',"band":"',
        scored["band"],
        '","variant":"',
        scored["variant"],
        f'","run_id":"{run.run_id}"',
        _json_tail(scored["details"]),
    )
    n = scored.num_rows
    return pa.table(
        {
            "id": time_ordered_uuid_hex(n),
            "entity_type": pa.repeat(pa.scalar("contact"), n),
            "entity_id": uuid_hex(scored["contact_id"], run.namespace),
            "prediction_type": scored["model_name"],
            "prediction_value": value,
            "confidence_score": scored["confidence"],
            "model_version": scored["model_version"],
        }
    )


def lead_score_rows(scored: pa.Table, run: BatchRun) -> pa.Table:
    """Return ``lead_scores`` rows (wire format, see the module doc) of a scored batch."""
    components = _join(
        f'{{"source":"batch","run_id":"{run.run_id}","variant":"',
        scored["variant"],
        '","model_name":"',
        scored["model_name"],
        '","probability":',
        _text(scored["probability"]),
        ',"confidence":',
        _text(scored["confidence"]),
        ',"band":"',
        scored["band"],
        '"',
        _json_tail(scored["details"]),
    )
    n = scored.num_rows
    return pa.table(
        {
            "id": time_ordered_uuid_hex(n),
            "contact_id": uuid_hex(scored["contact_id"], run.namespace),
            "score": scored["score"],
            "score_components": components,
            "model_version": scored["model_version"],
            "explanation": scored["explanation"],
        }
    )


PREDICTION_COLUMNS = (
    "id",
    "entity_type",
    "entity_id",
    "prediction_type",
    "prediction_value",
    "confidence_score",
    "model_version",
)
LEAD_SCORE_COLUMNS = (
    "id",
    "contact_id",
    "score",
    "score_components",
    "model_version",
    "explanation",
)


# --------------------------------------------------------------------------------------------
# The sink
# --------------------------------------------------------------------------------------------


@dataclass
class ScoreSink:
    """Write a run's scored batches in one transaction (commit on success, else rollback).

    Use as a context manager::

        with ScoreSink(url, run, ["lead_scoring_crm"]) as sink:
            for scored in batches:
                sink.write(scored)

    Args:
        url: SQLAlchemy database URL (migrated).
        run: The run.
        model_names: Models of the run (their earlier rows of the same run id are replaced).
        primary_variant: The variant written to ``lead_scores`` (the run's first model).
    """

    url: str
    run: BatchRun
    model_names: list[str]
    primary_variant: str = "champion"
    written: dict[str, int] = field(default_factory=dict)
    replaced: int = 0
    method: str = ""
    _connection: Connection | None = field(default=None, repr=False)
    _writers: dict[str, BulkWriter] = field(default_factory=dict, repr=False)
    _transaction: Any = field(default=None, repr=False)

    def __enter__(self) -> ScoreSink:
        engine = create_db_engine(self.url)
        self._connection = engine.connect()
        self._transaction = self._connection.begin()
        try:
            if self.run.replace:
                self.replaced = self._delete_previous(self._connection)
            self._writers["predictions"] = BulkWriter(
                self._connection,
                Prediction.__table__,
                PREDICTION_COLUMNS,
                {"created_at": self.run.started_at},
            )
            if self.run.target == "lead_scores":
                self._writers["lead_scores"] = BulkWriter(
                    self._connection,
                    LeadScore.__table__,
                    LEAD_SCORE_COLUMNS,
                    {"calculated_at": self.run.started_at},
                )
            self.method = self._writers["predictions"].method
        except BaseException:
            self._close(commit=False)
            raise
        return self

    def _delete_previous(self, connection: Connection) -> int:
        """Delete the rows an earlier run with this id committed (both tables); return how many.

        The run id lives in the JSON documents (no index): a scan, paid only by re-runs.
        """
        run_id = self.run.run_id
        done = connection.execute(
            delete(Prediction).where(
                Prediction.prediction_type.in_(self.model_names),
                Prediction.prediction_value["run_id"].as_string() == run_id,
            )
        ).rowcount
        done += connection.execute(
            delete(LeadScore).where(
                LeadScore.score_components["source"].as_string() == "batch",
                LeadScore.score_components["run_id"].as_string() == run_id,
            )
        ).rowcount
        return int(done or 0)

    def write(self, scored: pa.Table) -> int:
        """Write one scored batch (:data:`training.batch_predict.SCORED_SCHEMA`); return rows."""
        if scored.num_rows == 0:
            return 0
        total = 0
        if self.run.target == "lead_scores":
            is_champion = pc.equal(scored["variant"], self.primary_variant)
            total += self._write(
                "lead_scores", lead_score_rows(scored.filter(is_champion), self.run)
            )
            scored = scored.filter(pc.invert(is_champion))
        total += self._write("predictions", prediction_rows(scored, self.run))
        return total

    def _write(self, table: str, rows: pa.Table) -> int:
        for name, writer in self._writers.items():  # one COPY stream open at a time
            if name != table:
                writer.close()
        count = self._writers[table].write(rows)
        self.written[table] = self.written.get(table, 0) + count
        return count

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close(commit=kind is None, error=error)

    def _close(self, commit: bool, error: BaseException | None = None) -> None:
        connection, transaction = self._connection, self._transaction
        self._connection = self._transaction = None
        if connection is None:
            return
        try:
            if commit:
                for writer in self._writers.values():
                    writer.close()
                transaction.commit()
            else:
                self._rollback(transaction, error)
        except BaseException:
            if commit:  # ending a COPY stream or the commit failed: nothing was committed
                self._rollback(transaction, None)
            raise
        finally:
            self._writers = {}
            connection.close()

    def _rollback(self, transaction: Any, error: BaseException | None) -> None:
        """Abort the open COPY streams and roll back (a broken connection rolls back itself)."""
        reason = error or RuntimeError("batch run aborted")
        self.written = {}
        for writer in self._writers.values():
            with contextlib.suppress(Exception):
                writer.close(reason)
        with contextlib.suppress(Exception):
            transaction.rollback()
