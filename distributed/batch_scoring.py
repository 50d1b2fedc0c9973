"""Batch scoring on Ray Data: every contact of a parquet snapshot, scored and written in bulk.

The job (:func:`score_batch`)::

    plan_pieces(files)                       # driver: footers only, ~100k rows per piece
      -> ray.data.from_items(pieces)
      -> map_batches(score_pieces)           # a task reads its row groups in 50k-row chunks,
                                             # scores them (booster fast path), returns them
      -> iter_batches() on the driver        # each scored block is written as it arrives,
      -> one transaction                     # COPY (PostgreSQL) / executemany (SQLite)

* **Kernel.** :func:`training.batch_pieces.score_pieces` and
  :func:`training.batch_predict.score_arrow_batch` (framework-free) read a piece of the
  parquet dataset, encode each chunk with Arrow compute and predict through the booster fast
  path (the generic path for the baseline family). The models are pickled once on the driver
  (:class:`training.batch_predict.ModelPayload`) and unpickled once per worker process, so
  workers never reach MLflow.
* **Streaming.** The dataset is never collected: a task holds one piece (bounded rows) and the
  driver writes each scored block as it arrives and keeps nothing, while Ray Data's streaming
  executor keeps the other CPUs scoring the next pieces. Scoring outruns a database write
  (~9M vs ~2M rows/min here), so the scored blocks waiting for the driver are capped
  (``buffer_mb`` of object store, the executor's ``resource_limits``): past it no new task
  starts. Memory does not grow with the row count. The work is planned from row groups rather than
  ``read_parquet``'s blocks so that parallelism and task size do not depend on how the
  snapshot was split into files.
* **All or nothing.** The driver writes through one connection inside one transaction
  (:class:`training.batch_sink.ScoreSink`), committed after the last block. Any failure (a task
  that still fails after its retries, a database error, Ctrl-C) rolls it back: no half-written
  run. Only the driver needs to reach the database; the workers only need the dataset path.
* **Retries.** A piece whose read or scoring raises is retried up to ``max_retries`` times
  (Ray Data's ``DataContext.max_map_retries`` with ``retried_map_errors``), and a task whose
  worker or node dies is resubmitted by Ray Core (Ray Data's task ``max_retries``, unlimited
  for system failures). A piece that still fails fails the run (``max_errored_blocks`` stays
  0), which then rolls back. Retries cannot duplicate rows: a task returns its piece's rows
  all at once, and only the driver writes, once per delivered block. (Retry arguments are not
  passed as task options: Ray Data deprecates them.)
* **Placement.** ``resources`` (e.g. ``{"worker": 0.1}``) is required by every scoring task,
  so a multi-node cluster can keep them on nodes advertising a custom resource; every node
  must see the dataset path (a shared file system or a ``scheme://`` URI).

Use :func:`score_batch` with a running cluster (``ray_address="auto"`` or ``ray://...``), in a
process where Ray is already initialised, or let it start (and stop) a local Ray.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.batch_pieces import ROWS_PER_PIECE, plan_pieces, score_pieces
from training.batch_predict import ID_COLUMN, BatchModel, ExplainSpec, needed_columns
from training.batch_run import (
    BatchScoringSummary,
    check_dataset,
    consume_scored,
    dataset_files,
    summarise,
)
from training.batch_sink import BatchRun, Target, new_run

logger = logging.getLogger(__name__)

#: Rows per scoring call (one chunk of a piece).
DEFAULT_BATCH_SIZE = 50_000
#: Retries of a piece whose read or scoring raised.
DEFAULT_MAX_RETRIES = 3
#: Object store memory the run's scored blocks may hold while the driver writes (backpressure).
DEFAULT_BUFFER_MB = 256


@dataclass(frozen=True)
class RayPlacement:
    """Where and how wide the scoring tasks run, and how often a failed piece is retried.

    Attributes:
        num_cpus: CPUs each task reserves (also its XGBoost thread count).
        resources: Custom resources each task needs, e.g. ``{"worker": 0.1}``.
        concurrency: Most tasks at once (None: as many as the CPUs allow).
        max_retries: Retries of a piece whose read/score raised (see the module doc).
        buffer_mb: Object store memory the scored blocks waiting for the driver may take:
            past it, no new task starts (the database sets the pace, memory stays flat).
    """

    num_cpus: float = 1.0
    resources: Mapping[str, float] | None = None
    concurrency: int | None = None
    max_retries: int = DEFAULT_MAX_RETRIES
    buffer_mb: int = DEFAULT_BUFFER_MB

    def task_args(self) -> dict[str, Any]:
        """Return the resource arguments of every scoring task."""
        return {
            "num_cpus": self.num_cpus,
            "resources": dict(self.resources) if self.resources else None,
            "concurrency": self.concurrency,
        }

    def context_settings(self) -> dict[str, Any]:
        """Return the ``DataContext`` retry settings of the run."""
        return {
            "max_map_retries": self.max_retries,
            "retried_map_errors": self.max_retries > 0,
        }


@contextlib.contextmanager
def data_context(placement: RayPlacement, progress: bool) -> Iterator[Any]:
    """Apply the run's ``DataContext`` settings for the block, then restore the previous ones."""
    from ray.data import DataContext

    context = DataContext.get_current()
    settings = {**placement.context_settings(), "enable_progress_bars": progress}
    previous = {name: getattr(context, name) for name in settings}
    options = context.execution_options
    order, limits = options.preserve_order, options.resource_limits
    for name, value in settings.items():
        setattr(context, name, value)
    options.preserve_order = False
    options.resource_limits = limits.copy(object_store_memory=placement.buffer_mb * 1024**2)
    try:
        yield context
    finally:
        for name, value in previous.items():
            setattr(context, name, value)
        options.preserve_order, options.resource_limits = order, limits


@contextlib.contextmanager
def connected_ray(
    address: str | None = None,
    num_cpus: int | None = None,
    object_store_mb: int | None = None,
    runtime_env: dict[str, Any] | None = None,
) -> Iterator[bool]:
    """Use this process's Ray connection, or connect (or start a local Ray) for the block.

    Args:
        address: Cluster address (``auto``, ``ray://host:10001``); None starts a local Ray.
        num_cpus: CPUs of a local Ray (None: every core).
        object_store_mb: Object store size of a local Ray (None: Ray's default).
        runtime_env: Runtime environment of the job (e.g. ``py_modules`` for remote nodes).

    Yields:
        Whether this call started the connection (it is shut down afterwards).
    """
    import ray

    if ray.is_initialized():
        yield False
        return
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "runtime_env": runtime_env,
    }
    if address:
        kwargs["address"] = address
    else:
        kwargs["num_cpus"] = num_cpus
        if object_store_mb:
            kwargs["object_store_memory"] = int(object_store_mb) * 1024 * 1024
    ray.init(**kwargs)
    try:
        yield True
    finally:
        ray.shutdown()


def resolve_models(models: BatchModel | str | Sequence[BatchModel | str]) -> list[BatchModel]:
    """Return loaded models; strings are registry URIs (``models:/name@alias``, ``.../3``)."""
    from training.batch_models import load_batch_model

    items = [models] if isinstance(models, BatchModel | str) else list(models)
    if not items:
        raise ValueError("score_batch needs at least one model")
    return [item if isinstance(item, BatchModel) else load_batch_model(item) for item in items]


def scored_blocks(
    files: Sequence[str],
    models: Sequence[BatchModel],
    *,
    batch_size: int,
    rows_per_task: int,
    placement: RayPlacement,
    explain: ExplainSpec | None,
    id_column: str,
    progress: bool,
) -> Iterator[Any]:
    """Stream the scored blocks of the dataset (Ray must be initialised)."""
    import ray

    pieces = [piece.to_dict() for piece in plan_pieces(files, rows_per_task)]
    if not pieces:
        return
    with data_context(placement, progress):
        work = ray.data.from_items(pieces, override_num_blocks=len(pieces))
        scored = work.map_batches(
            score_pieces,
            batch_size=1,  # one piece per call
            batch_format="pyarrow",
            fn_kwargs={
                "models": [model.payload() for model in models],
                "columns": needed_columns(models, id_column),
                "id_column": id_column,
                "explain": explain,
                "nthread": max(1, int(placement.num_cpus)),
                "chunk_rows": batch_size,
            },
            **placement.task_args(),
        )
        yield from scored.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=1)


def score_batch(
    dataset_path: str | Path | Sequence[str | Path],
    models: BatchModel | str | Sequence[BatchModel | str],
    sink_url: str | None = None,
    *,
    ray_address: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    rows_per_task: int = ROWS_PER_PIECE,
    resources: Mapping[str, float] | None = None,
    num_cpus: float = 1.0,
    concurrency: int | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    buffer_mb: int = DEFAULT_BUFFER_MB,
    explain: ExplainSpec | None = None,
    target: Target = "predictions",
    run: BatchRun | None = None,
    run_id: str | None = None,
    id_column: str = ID_COLUMN,
    local_cpus: int | None = None,
    object_store_mb: int | None = None,
    runtime_env: dict[str, Any] | None = None,
    progress: bool = True,
) -> BatchScoringSummary:
    """Score every row of a parquet dataset with Ray Data and write the predictions.

    Args:
        dataset_path: Parquet file(s) or folder (``id_column`` and every model input), e.g.
            the scoring snapshot (:func:`features.scoring_snapshot.write_scoring_snapshot`).
            On a multi-node cluster every node must see the same path.
        models: Champion first, then the challenger: loaded :class:`BatchModel` objects or
            registry URIs (``models:/lead_scoring_crm@champion``, ``models:/name/3``).
        sink_url: Database URL written by the driver (None: score only, a dry run).
        ray_address: Cluster to connect to when Ray is not initialised in this process
            (``auto``, ``ray://host:10001``); None starts a local Ray for the call.
        batch_size: Rows per scoring call (a chunk of a task's piece).
        rows_per_task: Rows of a task's piece (whole row groups).
        resources: Custom resources every task needs (e.g. ``{"worker": 0.1}``).
        num_cpus: CPUs per task (its XGBoost threads).
        concurrency: Most concurrent tasks (None: the cluster's CPUs).
        max_retries: Retries of a piece whose read or scoring raised.
        buffer_mb: Object store memory for scored blocks waiting to be written.
        explain: Which rows to explain (default: none).
        target: Table of the champion's rows: ``predictions`` or ``lead_scores``.
        run: The run (default: a new one with ``run_id`` and ``target``).
        run_id: Explicit run id: rows of an earlier run with this id are replaced.
        id_column: The contact id column.
        local_cpus: CPUs of a local Ray started here (None: every core).
        object_store_mb: Object store of a local Ray started here.
        runtime_env: Ray runtime environment when connecting here.
        progress: Show Ray Data's progress bars.

    Returns:
        The run's summary (rows, rows/min, model versions, where written).

    Raises:
        training.batch_run.DatasetError: When the dataset lacks columns the models need.
    """
    started = time.perf_counter()
    run = run or new_run(run_id, target)
    loaded = resolve_models(models)
    files = dataset_files(dataset_path)
    check_dataset(files, loaded, id_column)
    placement = RayPlacement(num_cpus, resources, concurrency, max_retries, buffer_mb)
    with connected_ray(ray_address, local_cpus, object_store_mb, runtime_env):
        blocks = scored_blocks(
            files,
            loaded,
            batch_size=batch_size,
            rows_per_task=rows_per_task,
            placement=placement,
            explain=explain,
            id_column=id_column,
            progress=progress,
        )
        stats, sink = consume_scored(blocks, sink_url, run, loaded)
    source = str(dataset_path) if isinstance(dataset_path, str | Path) else f"{len(files)} files"
    summary = summarise(stats, sink, run, "ray", source, sink_url, time.perf_counter() - started)
    logger.info(
        "batch run %s: %d contacts in %.1f s (%.0f rows/min)",
        run.run_id,
        summary.contacts,
        summary.seconds,
        summary.rows_per_min,
    )
    return summary
