"""Feast online store benchmark: SQLite vs Redis lookup latency and materialisation throughput.

Run from the repository root (Redis on ``HASTE_REDIS_URL``, default 127.0.0.1:6379)::

    .venv/bin/python benchmarks/feature_store_bench.py --quick   # ~1-2 minutes
    .venv/bin/python benchmarks/feature_store_bench.py           # 1M-row materialisation

Latency: ``get_online_features`` of the ``lead_scoring_v1`` service (four views and the
on-demand view) and of its batch views alone (no on-demand transform), for 1 and 100
contacts, ``--requests`` timed calls each after a short warm-up, on the synthetic CRM's
weekly snapshots. Throughput: ``materialize`` of a one-view, 1M-entity parquet generated with
numpy (one row per entity, 6 features), in rows per second. Both stores run in the same
process on the same data, and the script prints Redis/SQLite ratios. Everything is written
to a temporary folder; the Redis keys of the benchmark's unique Feast project are deleted at
the end (never anything else).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64

from features.definitions import build_definitions
from features.store import (
    apply_definitions,
    compute_offline_features,
    get_store,
    materialize,
    purge_redis_project,
    save_offline_frames,
)
from haste.settings import Settings
from pipelines.synthetic import generate_crm

STORES = ("sqlite", "redis")


def _quiet(fn, *args, **kwargs):
    """Run ``fn`` with Feast's progress prints swallowed."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return fn(*args, **kwargs)


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    values = np.asarray(samples_ms)
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p99_ms": float(np.percentile(values, 99)),
        "mean_ms": float(values.mean()),
    }


def _time_lookups(
    store: FeatureStore, features, rows: list[dict[str, str]], requests: int, warmup: int = 5
) -> dict[str, float]:
    for _ in range(warmup):
        store.get_online_features(features=features, entity_rows=rows).to_dict()
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        store.get_online_features(features=features, entity_rows=rows).to_dict()
        samples.append((time.perf_counter() - start) * 1000)
    return _percentiles(samples)


def bench_latency(
    settings: Settings, project: str, n_contacts: int, requests: int, seed: int = 7
) -> list[dict]:
    crm = generate_crm(n_contacts, seed=seed)
    frames = compute_offline_features(crm)
    offline_dir = settings.data_dir / "offline"
    save_offline_frames(frames, offline_dir)
    defs = build_definitions(offline_dir)
    ids = frames["email_engagement"]["contact_id"].drop_duplicates().to_numpy()
    rng = np.random.default_rng(seed)
    results = []
    for kind in STORES:
        store = get_store(settings, kind, project=project)  # type: ignore[arg-type]
        _quiet(apply_definitions, store, defs)
        start = time.perf_counter()
        _quiet(materialize, store)
        print(f"  {kind}: materialised the CRM views in {time.perf_counter() - start:.1f} s")
        service = store.get_feature_service("lead_scoring_v1")
        batch_refs = [
            f"{view}:{feature.name}"
            for view in ("email_engagement", "web_activity", "social_signals", "company_enrichment")
            for feature in defs.views[view].features
        ]
        for n in (1, 100):
            rows = [{"contact_id": str(c)} for c in rng.choice(ids, size=n, replace=False)]
            for variant, features in (("service+odfv", service), ("views only", batch_refs)):
                stats = _time_lookups(store, features, rows, requests)
                results.append({"store": kind, "entities": n, "variant": variant, **stats})
                print(
                    f"  {kind:6s} n={n:<3d} {variant:12s} p50 {stats['p50_ms']:7.2f} ms"
                    f"  p99 {stats['p99_ms']:7.2f} ms"
                )
    return results


def _bench_parquet(path: Path, n_rows: int, seed: int = 11) -> None:
    """Write ``n_rows`` rows (one per entity) of 6 random features in the last day."""
    rng = np.random.default_rng(seed)
    now = pd.Timestamp.now(tz="UTC").floor("s")
    offsets = pd.to_timedelta(rng.integers(3_600, 86_400, n_rows), unit="s")
    frame = pd.DataFrame(
        {
            "entity_id": pd.Series(np.arange(n_rows)).map("e{:08d}".format),
            "event_timestamp": now - offsets,
            "f_int_0": rng.integers(0, 1_000, n_rows),
            "f_int_1": rng.integers(0, 100, n_rows),
            "f_int_2": rng.integers(0, 10, n_rows),
            "f_int_3": rng.poisson(3.0, n_rows),
            "f_float_0": rng.random(n_rows),
            "f_float_1": rng.normal(0.0, 1.0, n_rows),
        }
    )
    frame.to_parquet(path, index=False)


def bench_throughput(settings: Settings, project: str, n_rows: int) -> list[dict]:
    path = settings.data_dir / "bench_rows.parquet"
    start = time.perf_counter()
    _bench_parquet(path, n_rows)
    print(f"  generated {n_rows:,} rows in {time.perf_counter() - start:.1f} s")
    entity = Entity(name="bench_entity", join_keys=["entity_id"], value_type=ValueType.STRING)
    view = FeatureView(
        name="bench_view",
        entities=[entity],
        ttl=timedelta(days=2),
        schema=[
            *(Field(name=f"f_int_{i}", dtype=Int64) for i in range(4)),
            *(Field(name=f"f_float_{i}", dtype=Float64) for i in range(2)),
        ],
        source=FileSource(
            name="bench_source", path=str(path.resolve()), timestamp_field="event_timestamp"
        ),
        online=True,
    )
    results = []
    end = datetime.now(UTC)
    for kind in STORES:
        store = get_store(settings, kind, project=f"{project}_mat")  # type: ignore[arg-type]
        _quiet(store.apply, [entity, view])
        start = time.perf_counter()
        _quiet(
            store.materialize,
            start_date=end - timedelta(days=2),
            end_date=end,
            feature_views=["bench_view"],
        )
        seconds = time.perf_counter() - start
        check = store.get_online_features(
            features=["bench_view:f_int_0"], entity_rows=[{"entity_id": f"e{n_rows - 1:08d}"}]
        ).to_dict()
        assert check["f_int_0"][0] is not None, "last row was not materialised"
        results.append(
            {"store": kind, "rows": n_rows, "seconds": seconds, "rows_per_s": n_rows / seconds}
        )
        print(f"  {kind:6s} {n_rows:,} rows in {seconds:6.1f} s = {n_rows / seconds:9,.0f} rows/s")
    return results


def _ratios(latency: list[dict], throughput: list[dict]) -> list[str]:
    lines = []
    by_key = {(r["store"], r["entities"], r["variant"]): r for r in latency}
    for (kind, n, variant), redis_row in sorted(by_key.items()):
        if kind != "redis":
            continue
        sqlite_row = by_key[("sqlite", n, variant)]
        lines.append(
            f"  latency n={n:<3d} {variant:12s} Redis/SQLite p50 "
            f"{redis_row['p50_ms'] / sqlite_row['p50_ms']:.2f}x, "
            f"p99 {redis_row['p99_ms'] / sqlite_row['p99_ms']:.2f}x"
        )
    rates = {r["store"]: r["rows_per_s"] for r in throughput}
    if len(rates) == 2:
        lines.append(
            f"  materialisation Redis/SQLite rows/s {rates['redis'] / rates['sqlite']:.2f}x"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run (~1-2 minutes)")
    parser.add_argument("--requests", type=int, help="timed lookups per case (200; quick 50)")
    parser.add_argument("--rows", type=int, help="materialisation rows (1,000,000; quick 50,000)")
    parser.add_argument("--contacts", type=int, help="CRM contacts (2,000; quick 300)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()
    requests = args.requests or (50 if args.quick else 200)
    rows = args.rows or (50_000 if args.quick else 1_000_000)
    contacts = args.contacts or (300 if args.quick else 2_000)
    project = f"haste_bench_{uuid.uuid4().hex[:10]}"

    with tempfile.TemporaryDirectory(prefix="haste-feast-bench-") as tmp:
        settings = Settings(home=Path(tmp) / "home", data_dir=Path(tmp) / "data")
        settings.data_dir.mkdir(parents=True)
        try:
            print(f"online lookups ({requests} requests per case, {contacts} CRM contacts):")
            latency = bench_latency(settings, project, contacts, requests)
            print(f"materialisation ({rows:,} rows, one view, 6 features):")
            throughput = bench_throughput(settings, project, rows)
        finally:
            deleted = purge_redis_project(settings.redis_url, project)
            deleted += purge_redis_project(settings.redis_url, f"{project}_mat")
    print("ratios (same run, same machine):")
    for line in _ratios(latency, throughput):
        print(line)
    print(f"(deleted {deleted:,} benchmark keys from Redis)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "requests": requests,
                    "contacts": contacts,
                    "latency": latency,
                    "throughput": throughput,
                    "median_p50_ms": statistics.median(r["p50_ms"] for r in latency),
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
