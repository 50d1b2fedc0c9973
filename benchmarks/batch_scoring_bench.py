"""Batch scoring benchmark: Ray Data vs a single-process pandas loop (read, score, write).

For each size (1,000,000 and 5,000,000 synthetic contacts by default), on this machine:

1. **Ray Data** (:func:`distributed.batch_scoring.score_batch`): a local Ray with 2 CPUs; 2
   tasks at a time (1 XGBoost thread each) read ~100,000-row pieces of the parquet snapshot in
   50,000-row chunks and score them through the booster fast path; the driver writes every
   scored block as it arrives, in one transaction (``COPY`` on PostgreSQL, ``executemany`` on
   SQLite);
2. **pandas, single process** (:func:`training.batch_run.score_locally`): the fastest honest
   single-process way: the same parquet read in 50,000-row chunks (``ParquetFile.iter_batches``,
   a row group at a time), the same vectorised kernel and booster fast path (XGBoost using
   every core), the same writer and transaction. Not a per-row loop.

Both are timed from the scoring call to the commit, with warm processes: the pandas process
has imported its libraries, and Ray's two workers have been started and have imported the
kernel by a 2,000-row warm-up (``worker_warmup_s``; ``cold_rows_per_min`` adds it back: a
``haste score-batch`` on a fresh local Ray pays it once).

Each run is a fresh subprocess writing into a fresh database (PostgreSQL when it is reachable
at 127.0.0.1:5432, else SQLite; ``--sink``); it is checked afterwards (rows stored, both engines
give the same mean score). Ray's own start-up is measured apart (``ray_init_s``). Memory:
peak RSS sampled every 0.2 s, of the driver plus the Ray worker processes (task workers and
Ray Data's actors: ``peak_rss_mb``; ``peak_rss_all_ray_mb`` adds the raylet, GCS and agents),
or of the pandas process; ``peak_uss_mb`` is their private memory (RSS also counts the object
store's shared pages in every process that touched them). Memory that does not grow from 1M
to 5M rows shows the run streams (``memory_growth``: peak RSS at 5M / at 1M).

The model: ``lead_scoring_crm`` as training serves it (configs/models/lead_scoring_crm.yaml,
hand-set hyper-parameters, 300 trees of depth 3, isotonic calibration + conformal confidence),
trained on a 3,000-contact synthetic CRM; the rows are that CRM's lead features resampled with
jitter and fresh contact ids. Data and model are cached under ``--cache-dir``.

Writes ``benchmarks/results/batch_scoring.json`` (``--quick``: ``batch_scoring_quick.json``)::

    .venv/bin/python benchmarks/batch_scoring_bench.py            # 1M and 5M rows (~10 min)
    .venv/bin/python benchmarks/batch_scoring_bench.py --quick    # 200k rows (~1 min)
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository's packages
    sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "batch_scoring.json"
QUICK_RESULTS = ROOT / "benchmarks" / "results" / "batch_scoring_quick.json"
ADMIN_URL = os.environ.get(
    "HASTE_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TARGET_ROWS_PER_MIN = 1_000_000
ROWS_PER_FILE = 250_000
ROW_GROUP = 50_000


def _say(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# Model and data (cached)
# --------------------------------------------------------------------------------------------


def lead_model(cache: Path) -> tuple[Path, Path]:
    """Train (once) the served lead model and keep a sample of its feature rows."""
    model_path, sample_path = cache / "lead_scoring_crm.pkl", cache / "lead_rows.parquet"
    if model_path.exists() and sample_path.exists():
        return model_path, sample_path
    from features.extractors import build_lead_table
    from pipelines.synthetic import generate_crm
    from training.config import load_training_config
    from training.train import calibrate_candidate, fit_models

    _say("training lead_scoring_crm on a 3,000-contact synthetic CRM (cached afterwards)...")
    table = build_lead_table(generate_crm(3000, seed=1))
    config = load_training_config("lead_scoring_crm")
    config = config.model_copy(update={"tune": config.tune.model_copy(update={"enabled": False})})
    fitted = fit_models(table, config)
    model, _ = calibrate_candidate(fitted)
    cache.mkdir(parents=True, exist_ok=True)
    model_path.write_bytes(pickle.dumps(model))
    table.to_parquet(sample_path, index=False)
    return model_path, sample_path


def synthetic_rows(cache: Path, sample_path: Path, rows: int, seed: int = 0) -> Path:
    """Write (once) ``rows`` resampled lead rows as ``part-*.parquet`` files; return the folder."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = cache / f"rows_{rows}"
    done = folder / "_COMPLETE"
    if done.exists():
        return folder
    _say(f"writing {rows:,} synthetic contacts to {folder} (cached afterwards)...")
    folder.mkdir(parents=True, exist_ok=True)
    sample = pd.read_parquet(sample_path).drop(columns=["gender", "converted"])
    floats = [c for c in sample.columns if sample[c].dtype.kind == "f"]
    rng = np.random.default_rng(seed)
    for number, start in enumerate(range(0, rows, ROWS_PER_FILE)):
        count = min(ROWS_PER_FILE, rows - start)
        part = sample.iloc[rng.integers(0, len(sample), count)].reset_index(drop=True)
        for column in floats:
            part[column] = part[column] * rng.lognormal(0.0, 0.1, count)
        raw = np.frombuffer(rng.bytes(16 * count), dtype=np.uint8).reshape(count, 16)
        part["contact_id"] = [str(uuid.UUID(bytes=bytes(r), version=4)) for r in raw]
        table = pa.Table.from_pandas(part, preserve_index=False)
        pq.write_table(table, folder / f"part-{number:05d}.parquet", row_group_size=ROW_GROUP)
    done.write_text(str(rows))
    return folder


def warmup_rows(data: Path) -> Path:
    """Return (writing it once) a 2 x 1,000-row dataset next to ``data`` for the warm-up."""
    import pyarrow.parquet as pq

    folder = data.parent / "warmup"
    if not (folder / "part-00001.parquet").exists():
        folder.mkdir(parents=True, exist_ok=True)
        first = pq.ParquetFile(sorted(data.glob("part-*.parquet"))[0])
        table = first.read_row_group(0).slice(0, 2000)
        pq.write_table(table.slice(0, 1000), folder / "part-00000.parquet")
        pq.write_table(table.slice(1000, 1000), folder / "part-00001.parquet")
    return folder


# --------------------------------------------------------------------------------------------
# Sinks
# --------------------------------------------------------------------------------------------


def postgres_reachable() -> bool:
    """Return whether the benchmark PostgreSQL answers."""
    from sqlalchemy import create_engine, text

    engine = create_engine(ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means: use SQLite
        return False
    finally:
        engine.dispose()


def fresh_sink(kind: str, cache: Path) -> str:
    """Create a migrated database for one run and return its URL."""
    from sqlalchemy import create_engine, text

    from haste.db import upgrade_database

    if kind == "postgres":
        name = f"haste_batch_bench_{uuid.uuid4().hex[:8]}"
        engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{cache / f'sink_{uuid.uuid4().hex[:8]}.db'}"
    upgrade_database(url)
    return url


def sink_figures(url: str, model_name: str) -> dict[str, Any]:
    """Return the stored rows and their mean score."""
    from sqlalchemy import func, select

    from haste.db import session_scope
    from haste.db.models import Prediction

    with session_scope(url) as session:
        count, mean = session.execute(
            select(func.count(), func.avg(Prediction.prediction_value["score"].as_float())).where(
                Prediction.prediction_type == model_name
            )
        ).one()
    return {"stored_rows": int(count), "stored_mean_score": round(float(mean or 0.0), 4)}


def drop_sink(url: str) -> None:
    """Drop the run's database (or delete its SQLite file)."""
    from sqlalchemy import create_engine, text

    from haste.db import dispose_all_engines

    dispose_all_engines()
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    engine.dispose()


# --------------------------------------------------------------------------------------------
# One run (in its own process)
# --------------------------------------------------------------------------------------------


class MemorySampler:
    """Peak RSS (and USS) of this process and its Ray worker processes, sampled in a thread.

    RSS counts the object store's shared pages in every process that touched them; USS (the
    private memory, read every 5th sample: it costs more) does not.
    """

    def __init__(self, interval_s: float = 0.2) -> None:
        import psutil

        self.process = psutil.Process()
        self.interval_s = interval_s
        self.peak_workers_mb = 0.0
        self.peak_all_mb = 0.0
        self.peak_uss_mb = 0.0
        self._samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        import psutil

        private = self._samples % 5 == 0
        self._samples += 1
        processes = [(self.process, True)]
        for child in self.process.children(recursive=True):
            try:
                name, line = child.name(), " ".join(child.cmdline())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            # workers: the processes running tasks and Ray Data's actors (not the agents)
            worker = (
                "default_worker.py" in line or name.startswith("ray::")
            ) and "Agent" not in name
            processes.append((child, worker))
        workers = others = uss = 0
        for process, worker in processes:
            try:
                info = process.memory_full_info() if private and worker else process.memory_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if worker:
                workers += info.rss
                uss += getattr(info, "uss", 0)
            else:
                others += info.rss
        mb = 1024 * 1024
        self.peak_workers_mb = max(self.peak_workers_mb, workers / mb)
        self.peak_all_mb = max(self.peak_all_mb, (workers + others) / mb)
        if private:
            self.peak_uss_mb = max(self.peak_uss_mb, uss / mb)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> MemorySampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def run_engine(engine: str, data: Path, model_path: Path, url: str, batch_size: int) -> dict:
    """Score ``data`` once with ``engine`` (``ray`` or ``local``) and return the figures."""
    from haste.runtime import configure_runtime_env

    configure_runtime_env()
    from training.batch_predict import BatchModel
    from training.batch_sink import new_run

    model = BatchModel("lead_scoring_crm", "1", "champion", pickle.loads(model_path.read_bytes()))
    figures: dict[str, Any] = {}
    if engine == "ray":
        import ray

        from distributed.batch_scoring import score_batch

        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        figures["ray_init_s"] = round(time.perf_counter() - started, 2)
        # start and import the two workers (what a long-lived cluster has already done)
        started = time.perf_counter()
        score_batch(warmup_rows(data), [model], None, progress=False, rows_per_task=1000)
        figures["worker_warmup_s"] = round(time.perf_counter() - started, 2)
        with MemorySampler() as memory:
            summary = score_batch(data, [model], url, batch_size=batch_size, progress=False)
        ray.shutdown()
        cold = summary.seconds + figures["worker_warmup_s"]
        figures["cold_rows_per_min"] = round(summary.contacts / cold * 60)
        figures["peak_rss_all_ray_mb"] = round(memory.peak_all_mb, 1)
    else:
        from training.batch_run import score_locally

        with MemorySampler() as memory:
            summary = score_locally(data, [model], url, new_run(), batch_size=batch_size)
    figures.update(
        rows=summary.contacts,
        seconds=round(summary.seconds, 2),
        rows_per_min=round(summary.rows_per_min),
        peak_rss_mb=round(memory.peak_workers_mb, 1),
        peak_uss_mb=round(memory.peak_uss_mb, 1),
        write_method=summary.write_method,
        mean_score=summary.models[0]["mean_score"],
    )
    return figures


def measure(engine: str, data: Path, model_path: Path, sink: str, cache: Path, batch: int) -> dict:
    """Run one engine in a fresh subprocess against a fresh database; check what it stored."""
    url = fresh_sink(sink, cache)
    try:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--run-engine",
            engine,
            "--data",
            str(data),
            "--model-path",
            str(model_path),
            "--sink-url",
            url,
            "--batch-size",
            str(batch),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"{engine} run failed:\n{done.stderr[-4000:]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        figures.update(sink_figures(url, "lead_scoring_crm"))
        if figures["stored_rows"] != figures["rows"]:
            raise RuntimeError(
                f"{engine}: {figures['stored_rows']} rows stored, not {figures['rows']}"
            )
        return figures
    finally:
        drop_sink(url)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def main() -> None:
    """Run the benchmark and write its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one size, 200,000 rows (~1 min)")
    parser.add_argument("--sizes", default="1000000,5000000", help="comma-separated row counts")
    parser.add_argument("--sink", choices=("auto", "postgres", "sqlite"), default="auto")
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/haste-batch-bench"))
    parser.add_argument("--out", type=Path, help="results file (default by mode)")
    parser.add_argument("--run-engine", choices=("ray", "local"), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model-path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sink-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_engine:  # child process: one measured run
        figures = run_engine(
            args.run_engine, args.data, args.model_path, args.sink_url, args.batch_size
        )
        print(json.dumps(figures), flush=True)
        return
    sizes = [200_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    sink = args.sink
    if sink == "auto":
        sink = "postgres" if postgres_reachable() else "sqlite"
    cache = args.cache_dir
    cache.mkdir(parents=True, exist_ok=True)
    model_path, sample_path = lead_model(cache)
    load_before = os.getloadavg()
    per_size: dict[str, Any] = {}
    for rows in sizes:
        data = synthetic_rows(cache, sample_path, rows)
        _say(f"{rows:,} rows -> {sink}: Ray Data...")
        ray_figures = measure("ray", data, model_path, sink, cache, args.batch_size)
        _say(
            f"  ray   {ray_figures['rows_per_min']:>12,} rows/min, {ray_figures['peak_rss_mb']} MB"
        )
        _say(f"{rows:,} rows -> {sink}: pandas, single process...")
        local = measure("local", data, model_path, sink, cache, args.batch_size)
        _say(f"  local {local['rows_per_min']:>12,} rows/min, {local['peak_rss_mb']} MB")
        if abs(ray_figures["stored_mean_score"] - local["stored_mean_score"]) > 1e-6:
            raise RuntimeError("the engines stored different scores")
        ratio = ray_figures["rows_per_min"] / local["rows_per_min"]
        _say(f"  ratio Ray Data / pandas: {ratio:.2f}x")
        per_size[str(rows)] = {"ray": ray_figures, "pandas": local, "ratio": round(ratio, 3)}
    largest = per_size[str(max(sizes))]
    peaks = [entry["ray"]["peak_rss_mb"] for entry in per_size.values()]
    private = [entry["ray"]["peak_uss_mb"] for entry in per_size.values()]
    pandas_peaks = [entry["pandas"]["peak_rss_mb"] for entry in per_size.values()]
    result = {
        "rows_per_min": largest["ray"]["rows_per_min"],
        "pandas_rows_per_min": largest["pandas"]["rows_per_min"],
        "cold_rows_per_min": largest["ray"]["cold_rows_per_min"],
        "ratio": largest["ratio"],
        "peak_rss_mb": max(peaks),
        "peak_uss_mb": max(entry["ray"]["peak_uss_mb"] for entry in per_size.values()),
        "pandas_peak_rss_mb": max(entry["pandas"]["peak_rss_mb"] for entry in per_size.values()),
        "target_rows_per_min": TARGET_ROWS_PER_MIN,
        "meets_target": all(
            entry["ray"]["rows_per_min"] >= TARGET_ROWS_PER_MIN for entry in per_size.values()
        ),
        "memory_growth": round(peaks[-1] / peaks[0], 3) if len(peaks) > 1 else None,
        "memory_growth_uss": round(private[-1] / private[0], 3) if len(private) > 1 else None,
        "pandas_memory_growth": (
            round(pandas_peaks[-1] / pandas_peaks[0], 3) if len(pandas_peaks) > 1 else None
        ),
        "sizes": per_size,
        "sink": f"{sink} ({largest['ray']['write_method']})",
        "model": "lead_scoring_crm: XGBoost 300 trees depth 3, isotonic calibration",
        "batch_size": args.batch_size,
        "machine": {
            "cpus": os.cpu_count(),
            "ray_cpus": 2,
            # other work on the machine (1-minute load average) before and after the runs
            "load_average_before": round(load_before[0], 2),
            "load_average_after": round(os.getloadavg()[0], 2),
        },
        "quick": args.quick,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = args.out or (QUICK_RESULTS if args.quick else RESULTS)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    _say(
        f"Ray Data {result['rows_per_min']:,} rows/min vs pandas "
        f"{result['pandas_rows_per_min']:,} rows/min: ratio {result['ratio']:.2f}x; "
        f"peak RSS {result['peak_rss_mb']} MB (driver + workers); written {out}"
    )


if __name__ == "__main__":
    main()
