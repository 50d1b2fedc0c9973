"""A batch scoring run: consume scored batches, write them, summarise; the single-process engine.

Both engines end here: the Ray Data job (:func:`distributed.batch_scoring.score_batch`) hands
the scored blocks it streams back to :func:`consume_scored`, and :func:`score_locally` (one
process, no Ray: the fair baseline of ``benchmarks/batch_scoring_bench.py`` and ``haste
score-batch --engine local``) scores the chunks of a ``pyarrow.dataset`` scan itself. Either
way the dataset is read block by block and never collected: memory does not grow with rows.

The summary holds rows, rows per minute, the model versions, where the rows went, and, when a
challenger was scored, how it compares with the champion on the same contacts (mean scores,
band agreement, mean absolute score difference): the offline side of the A/B report.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from sqlalchemy.engine import make_url

from training.batch_predict import (
    ID_COLUMN,
    BatchModel,
    BatchScorer,
    ExplainSpec,
    missing_columns,
    needed_columns,
    score_table,
)
from training.batch_sink import BatchRun, ScoreSink


class DatasetError(ValueError):
    """The scoring dataset is missing, empty or lacks model input columns."""


@dataclass
class VariantTotals:
    """Running totals of one model of the run."""

    variant: str
    model_name: str
    model_version: str
    rows: int = 0
    score_sum: int = 0
    bands: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with the mean score."""
        out = asdict(self)
        out["mean_score"] = round(self.score_sum / self.rows, 2) if self.rows else None
        del out["score_sum"]
        return out


@dataclass
class RunStats:
    """Totals per model and, with two models, their agreement on the same contacts."""

    variants: dict[str, VariantTotals] = field(default_factory=dict)
    pairs: int = 0
    band_agreements: int = 0
    abs_diff_sum: int = 0
    challenger_higher: int = 0

    def add(self, scored: pa.Table) -> None:
        """Add one scored batch (:data:`training.batch_predict.SCORED_SCHEMA`)."""
        parts: list[tuple[str, pa.Table]] = []
        for variant in pc.unique(scored["variant"]).to_pylist():
            part = scored.filter(pc.equal(scored["variant"], variant))
            parts.append((variant, part))
            totals = self.variants.get(variant)
            if totals is None:
                totals = VariantTotals(
                    variant, part["model_name"][0].as_py(), part["model_version"][0].as_py()
                )
                self.variants[variant] = totals
            totals.rows += part.num_rows
            totals.score_sum += int(pc.sum(part["score"]).as_py() or 0)
            for row in pc.value_counts(part["band"]).to_pylist():
                totals.bands[row["values"]] = totals.bands.get(row["values"], 0) + row["counts"]
        if len(parts) == 2:
            self._pair(parts[0][1], parts[1][1])

    def _pair(self, first: pa.Table, second: pa.Table) -> None:
        """Compare two models on a batch's contacts (same ids in the same order)."""
        if first.num_rows != second.num_rows or not first["contact_id"].equals(
            second["contact_id"]
        ):
            return
        a, b = first["score"].to_numpy(), second["score"].to_numpy()
        self.pairs += len(a)
        self.band_agreements += int(np.sum(first["band"].to_numpy() == second["band"].to_numpy()))
        self.abs_diff_sum += int(np.abs(a - b).sum())
        self.challenger_higher += int(np.sum(b > a))

    @property
    def contacts(self) -> int:
        """Return the contacts scored (rows of the most-scored model)."""
        return max((v.rows for v in self.variants.values()), default=0)

    def comparison(self) -> dict[str, Any] | None:
        """Return the champion/challenger comparison, or None with a single model."""
        if not self.pairs:
            return None
        return {
            "contacts": self.pairs,
            "band_agreement": round(self.band_agreements / self.pairs, 4),
            "mean_abs_score_diff": round(self.abs_diff_sum / self.pairs, 3),
            "challenger_higher_share": round(self.challenger_higher / self.pairs, 4),
        }


@dataclass(frozen=True)
class BatchScoringSummary:
    """What a run did (printed by ``haste score-batch``, returned by the flow)."""

    run_id: str
    engine: str
    input: str
    contacts: int
    seconds: float
    models: list[dict[str, Any]]
    comparison: dict[str, Any] | None
    sink: str | None
    target: str
    written: dict[str, int]
    write_method: str
    replaced: int = 0

    @property
    def rows_per_min(self) -> float:
        """Return contacts scored and written per minute, end to end."""
        return self.contacts / self.seconds * 60.0 if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (with ``rows_per_min``)."""
        out = asdict(self)
        out["seconds"] = round(self.seconds, 3)
        out["rows_per_min"] = round(self.rows_per_min)
        return out


def redacted(url: str | None) -> str | None:
    """Return a database URL without its password."""
    if url is None:
        return None
    return make_url(url).render_as_string(hide_password=True)


def dataset_files(path: str | Path | Sequence[str | Path]) -> list[str]:
    """Return the parquet files of a file, a folder (recursively) or a list of them.

    Raises:
        DatasetError: When nothing is found.
    """
    paths = [path] if isinstance(path, str | Path) else list(path)
    files: list[str] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            files.extend(str(p) for p in sorted(entry.rglob("*.parquet")))
        elif entry.exists():
            files.append(str(entry))
    if not files:
        raise DatasetError(f"no parquet file under {', '.join(map(str, paths))}")
    return files


def check_dataset(
    files: Sequence[str], models: Sequence[BatchModel], id_column: str = ID_COLUMN
) -> int:
    """Check that the dataset holds the id and every model input; return its row count.

    Raises:
        DatasetError: When a column is missing.
    """
    dataset = pads.dataset(list(files), format="parquet")
    lacking = missing_columns(dataset.schema.names, models, id_column)
    if lacking:
        raise DatasetError(f"the scoring dataset lacks column(s) the models need: {lacking}")
    return int(dataset.count_rows())


def consume_scored(
    batches: Iterable[pa.Table],
    sink_url: str | None,
    run: BatchRun,
    models: Sequence[BatchModel],
    on_batch: Callable[[int], None] | None = None,
) -> tuple[RunStats, ScoreSink | None]:
    """Write scored batches in one transaction and total them.

    Args:
        batches: Scored batches (:data:`training.batch_predict.SCORED_SCHEMA`).
        sink_url: Database URL; None scores without writing (dry run).
        run: The run.
        models: The run's models.
        on_batch: Called with each batch's contact count (progress).

    Returns:
        The totals and the (closed, committed) sink, None on a dry run.
    """
    stats = RunStats()
    names = sorted({model.name for model in models})
    if sink_url is None:
        for scored in batches:
            stats.add(scored)
            if on_batch:
                on_batch(scored.num_rows // max(1, len(models)))
        return stats, None
    with ScoreSink(sink_url, run, names, models[0].variant) as sink:
        for scored in batches:
            stats.add(scored)
            sink.write(scored)
            if on_batch:
                on_batch(scored.num_rows // max(1, len(models)))
    return stats, sink


def summarise(
    stats: RunStats,
    sink: ScoreSink | None,
    run: BatchRun,
    engine: str,
    source: str,
    sink_url: str | None,
    seconds: float,
) -> BatchScoringSummary:
    """Return the summary of a finished run."""
    return BatchScoringSummary(
        run_id=run.run_id,
        engine=engine,
        input=source,
        contacts=stats.contacts,
        seconds=seconds,
        models=[totals.to_dict() for totals in stats.variants.values()],
        comparison=stats.comparison(),
        sink=redacted(sink_url),
        target=run.target if sink_url else "none (dry run)",
        written=dict(sink.written) if sink else {},
        write_method=sink.method if sink else "none",
        replaced=sink.replaced if sink else 0,
    )


def iter_dataset(
    files: Sequence[str], columns: Sequence[str], batch_size: int
) -> Iterator[pa.Table]:
    """Yield the dataset's columns in batches of at most ``batch_size`` rows (no read-ahead)."""
    for path in files:  # one file, one row group at a time (a dataset scan reads far ahead)
        reader = pq.ParquetFile(path)
        for record_batch in reader.iter_batches(batch_size=batch_size, columns=list(columns)):
            if record_batch.num_rows:
                yield pa.Table.from_batches([record_batch])


def score_locally(
    dataset: str | Path | Sequence[str | Path],
    models: Sequence[BatchModel],
    sink_url: str | None,
    run: BatchRun,
    *,
    batch_size: int = 50_000,
    explain: ExplainSpec | None = None,
    id_column: str = ID_COLUMN,
    nthread: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> BatchScoringSummary:
    """Score a parquet dataset in this process: vectorised chunks through the booster path.

    Args:
        dataset: Parquet file(s) or folder: ``id_column`` and the models' input columns.
        models: Champion first, then the challenger (if any).
        sink_url: Database URL (None: dry run).
        run: The run (id, target, timestamp).
        batch_size: Rows per chunk.
        explain: Which rows to explain.
        id_column: The contact id column.
        nthread: XGBoost threads (default: every core of the machine).
        on_batch: Progress callback (contacts per batch).

    Returns:
        The run's summary.
    """
    started = time.perf_counter()
    files = dataset_files(dataset)
    check_dataset(files, models, id_column)
    threads = nthread or os.cpu_count() or 1
    scorers = [(model, BatchScorer(model.pipeline, threads)) for model in models]
    columns = needed_columns(models, id_column)
    scored = (
        score_table(batch, scorers, id_column, explain)
        for batch in iter_dataset(files, columns, batch_size)
    )
    stats, sink = consume_scored(scored, sink_url, run, models, on_batch)
    source = str(dataset) if isinstance(dataset, str | Path) else f"{len(files)} file(s)"
    return summarise(stats, sink, run, "local", source, sink_url, time.perf_counter() - started)
