"""Real-time scoring benchmark: CRM events -> RabbitMQ -> rescoring consumers -> stored scores.

One run, on this machine, against the real RabbitMQ and PostgreSQL (a fresh database; the
champion ``lead_scoring_crm`` and the Feast store of ``make demo``, the store copied so the
demo's online features are left alone):

1. **throughput**: ``--events`` (>= 100,000) fresh events from the synthetic CRM's activity are
   published as fast as the broker confirms them, while ``--consumers`` consumer processes
   (``haste events consume``: the loop the ``EventConsumer`` deployment runs) apply them:
   sustained events/s = events / (last commit - first publish);
2. **latency**: events published at ``--latency-rate`` (default 1,000/s, half the 2,000/s
   target) for ``--latency-seconds``: publish -> commit latency of each event, p50 / p99;
3. **exactly once**: ``lost`` = published events with no ``stream_events`` row;
   ``duplicated_effects`` = rows added by re-publishing 10,000 applied events (should be 0);
4. **baseline, the batch path**: the same events in micro-batches of the consumers' batch size,
   each rescored the way the nightly path does it (the batch extractors over the contacts'
   whole history, the on-demand transformation, the booster with TreeSHAP), in process with no
   broker and no database writes: the fastest honest way to turn each micro-batch of events
   into explained scores without incremental state.

Writes ``benchmarks/results/streaming.json`` (events_per_s, p50_ms, p99_ms, lost,
duplicated_effects, and the baseline figures)::

    .venv/bin/python benchmarks/streaming_bench.py            # full: 100,000 events
    .venv/bin/python benchmarks/streaming_bench.py --quick    # 20,000 events, shorter phases
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "streaming.json"
ADMIN_URL = os.environ.get(
    "HASTE_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TARGET_EVENTS_PER_S = 2000.0


def _say(message: str) -> None:
    print(message, flush=True)


def fresh_database() -> str:
    """Create a PostgreSQL database for the run and return its URL."""
    name = f"haste_stream_bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str) -> None:
    """Drop the run's database."""
    from haste.db import dispose_all_engines

    dispose_all_engines()
    engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    engine.dispose()


def applied(url: str) -> int:
    """Return the number of applied events."""
    from haste.db.session import session_scope
    from haste.db.stream_tables import StreamEvent

    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(StreamEvent)) or 0


def wait_applied(url: str, count: int, timeout_s: float, label: str) -> float:
    """Wait until ``count`` events are applied; return when (monotonic)."""
    deadline = time.monotonic() + timeout_s
    last = -1
    while True:
        done = applied(url)
        if done >= count:
            return time.monotonic()
        if done != last:
            print(f"\r  {label}: {done:,}/{count:,} applied", end="", flush=True)
            last = done
        if time.monotonic() > deadline:
            raise TimeoutError(f"{label}: only {done:,} of {count:,} applied in {timeout_s:.0f}s")
        time.sleep(0.5)


def lags_ms(url: str, event_ids: set[str]) -> np.ndarray:
    """Return publish -> commit latencies (ms) of the given events."""
    from haste.db.session import session_scope
    from haste.db.stream_tables import StreamEvent

    with session_scope(url) as session:
        rows = session.execute(
            select(StreamEvent.event_id, StreamEvent.published_at, StreamEvent.processed_at)
        ).all()
    return np.array(
        [
            (done - sent).total_seconds() * 1000
            for event_id, sent, done in rows
            if event_id in event_ids and sent is not None
        ]
    )


def effect_counts(url: str) -> dict[str, int]:
    """Return the rows the engine writes (to compare before and after duplicates)."""
    from haste.db.session import session_scope

    with session_scope(url) as session:
        return {
            table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("stream_events", "lead_scores", "score_changes")
        } | {
            "events_applied": session.execute(
                text("SELECT coalesce(sum(events_applied), 0) FROM contact_stream_state")
            ).scalar_one()
        }


async def publish(config: Any, events: list, rate: float = 0.0, batch: int = 500) -> float:
    """Publish events (paced at ``rate``/s when > 0); return the first publish time."""
    from streaming.broker import RabbitBroker
    from streaming.replay import replay_events

    broker = RabbitBroker(os.environ.get("HASTE_BROKER_URL", _broker_url()), config)
    await broker.ensure_connected()
    started = time.monotonic()
    try:
        await replay_events(broker, events, rate, batch_size=batch)
    finally:
        await broker.close()
    return started


def _broker_url() -> str:
    from haste.settings import get_settings

    return get_settings().broker_url


def make_events(frame: pd.DataFrame, count: int) -> list:
    """Return ``count`` fresh events cycling through the CRM's lead activity."""
    from streaming.replay import to_events

    lead = frame[frame["event_type"] != "meeting_booked"]
    repeats = -(-count // len(lead))
    return list(to_events(pd.concat([lead] * repeats).head(count), fresh=True))


def batch_baseline(crm: Any, frame: pd.DataFrame, events: list, batch: int) -> dict[str, float]:
    """Rescore micro-batches of events the batch way: extractors over the whole history."""
    import mlflow

    from features.definitions import lead_engagement_rates
    from features.extractors import (
        extract_company_data,
        extract_email_engagement,
        extract_social_signals,
        extract_web_activity,
    )
    from haste.settings import get_settings
    from training.booster import BoosterScorer
    from training.registry import load_alias_model

    mlflow.set_tracking_uri(get_settings().mlflow_tracking_uri)
    pipeline, _ = load_alias_model("lead_scoring_crm", "champion")
    booster = BoosterScorer(pipeline)
    columns = list(pipeline[0].columns)
    company = extract_company_data(crm.contacts.set_index("id", drop=False), crm.companies)
    email = crm.email_events[["contact_id", "event_type", "occurred_at"]].copy()
    web = crm.web_events[["contact_id", "event_type", "page", "duration_s", "occurred_at"]].copy()
    social = crm.social_events[["contact_id", "platform", "event_type", "occurred_at"]].copy()
    email_kind = {
        "email_sent": "sent",
        "email_opened": "open",
        "email_clicked": "click",
        "email_replied": "reply",
    }
    started = time.perf_counter()
    for start in range(0, len(events), batch):
        chunk = events[start : start + batch]
        stamp = pd.Timestamp.now()
        new = pd.DataFrame([e.model_dump() for e in chunk])
        new["occurred_at"] = stamp - pd.Timedelta(seconds=1)
        mask = new["event_type"].isin(list(email_kind))
        email = pd.concat(
            [
                email,
                new.loc[mask, ["contact_id", "occurred_at"]].assign(
                    event_type=new.loc[mask, "event_type"].map(email_kind)
                ),
            ],
            ignore_index=True,
        )
        mask = new["event_type"].isin(["page_view", "form_submitted"])
        web = pd.concat(
            [
                web,
                new.loc[mask, ["contact_id", "page", "duration_s", "occurred_at"]].assign(
                    event_type=new.loc[mask, "event_type"].map(
                        {"page_view": "page_view", "form_submitted": "form_fill"}
                    )
                ),
            ],
            ignore_index=True,
        )
        mask = new["event_type"] == "social_engagement"
        social = pd.concat(
            [
                social,
                new.loc[mask, ["contact_id", "platform", "occurred_at"]].assign(
                    event_type=new.loc[mask, "engagement"]
                ),
            ],
            ignore_index=True,
        )
        contacts = pd.Index(new["contact_id"].unique())
        as_of = pd.Series(stamp, index=contacts)
        table = pd.concat(
            [
                extract_email_engagement(email, as_of),
                extract_web_activity(web, as_of),
                extract_social_signals(social, as_of),
            ],
            axis=1,
        )
        table = table.join(company.reindex(contacts).drop(columns=["contact_id"], errors="ignore"))
        table = pd.concat([table, lead_engagement_rates(table)], axis=1)
        booster.predict_explain(table.reindex(columns=columns).to_numpy(dtype=object))
    seconds = time.perf_counter() - started
    return {
        "events": len(events),
        "seconds": round(seconds, 2),
        "events_per_s": round(len(events) / seconds, 1),
    }


def start_consumers(count: int, env: dict[str, str], log_dir: Path) -> list[subprocess.Popen]:
    """Start ``count`` consumer processes (``haste events consume``)."""
    return [
        subprocess.Popen(
            [
                str(ROOT / ".venv/bin/haste"),
                "events",
                "consume",
                "--rank",
                str(rank),
                "--world-size",
                str(count),
            ],
            cwd=ROOT,
            env=env,
            stdout=(log_dir / f"consumer-{rank}.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        for rank in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--latency-rate", type=float, default=TARGET_EVENTS_PER_S / 2)
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--quick", action="store_true", help="20,000 events, 10 s of latency")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.events, args.latency_seconds = 20_000, 10.0

    from haste.db import upgrade_database
    from haste.settings import get_settings
    from pipelines.crm_store import store_crm
    from pipelines.stages import PipelinePaths
    from pipelines.synthetic_store import read_crm
    from streaming.broker import delete_topology
    from streaming.config import load_streaming_config
    from streaming.replay import activity_frame

    settings = get_settings()
    crm_dir = PipelinePaths(settings.data_dir).crm_dir
    if not (settings.home / "feast").exists() or not crm_dir.exists():
        sys.exit("run `make demo` first (it trains lead_scoring_crm and fills the Feast store)")
    crm = read_crm(crm_dir)
    frame = activity_frame(crm)
    namespace = f"bench{uuid.uuid4().hex[:6]}"
    config = load_streaming_config(namespace=namespace)
    work = Path(tempfile.mkdtemp(prefix="stream-bench-"))
    shutil.copytree(settings.home / "feast", work / "feast")
    url = fresh_database()
    consumers: list[subprocess.Popen] = []
    try:
        _say(f"database {url.rsplit('/', 1)[1]}: migrating, loading the CRM ...")
        upgrade_database(url)
        store_crm(crm, url)
        env = {
            **os.environ,
            "HASTE_HOME": str(work),
            "HASTE_DATABASE_URL": url,
            "HASTE_MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
            "HASTE_DATA_DIR": str(settings.data_dir),
            "HASTE_STREAM_NAMESPACE": namespace,
            "HASTE_LOG_LEVEL": "WARNING",
        }
        consumers = start_consumers(args.consumers, env, work)
        warm = make_events(frame, 2000)
        asyncio.run(publish(config, warm))
        wait_applied(url, len(warm), 300, "warm-up")
        _say(f"\n{args.consumers} consumers warm; throughput phase: {args.events:,} events")

        events = make_events(frame, args.events)
        started = asyncio.run(publish(config, events))
        published_s = time.monotonic() - started
        finished = wait_applied(url, len(warm) + len(events), 1800, "throughput")
        seconds = finished - started
        rate = len(events) / seconds
        _say(
            f"\n  {rate:,.0f} events/s sustained (published at {len(events) / published_s:,.0f}/s)"
        )

        count = int(args.latency_rate * args.latency_seconds)
        paced = make_events(frame, count)
        _say(f"latency phase: {count:,} events at {args.latency_rate:,.0f}/s")
        asyncio.run(publish(config, paced, rate=args.latency_rate, batch=50))
        wait_applied(url, len(warm) + len(events) + count, 600, "latency")
        lags = lags_ms(url, {e.event_id for e in paced})
        p50, p99 = float(np.percentile(lags, 50)), float(np.percentile(lags, 99))
        _say(f"\n  publish -> commit: p50 {p50:.1f} ms, p99 {p99:.1f} ms")

        before = effect_counts(url)
        asyncio.run(publish(config, events[:10_000]))  # duplicates of applied events
        time.sleep(5)
        asyncio.run(asyncio.sleep(0))
        after = effect_counts(url)
        duplicated = sum(after[k] - before[k] for k in before)
        published_ids = {e.event_id for e in [*warm, *events, *paced]}
        lost = len(published_ids) - applied(url)
        _say(f"exactly once: lost {lost}, duplicated effects {duplicated}")
    finally:
        for process in consumers:
            process.terminate()
        for process in consumers:
            process.wait(timeout=60)
        asyncio.run(delete_topology(_broker_url(), config))
        drop_database(url)
        shutil.rmtree(work, ignore_errors=True)

    _say(
        "baseline: the batch path on the same events (micro-batches of "
        f"{config.consumers.max_batch}) ..."
    )
    baseline = batch_baseline(
        crm, frame, events[: min(len(events), 20_000)], config.consumers.max_batch
    )
    _say(f"  {baseline['events_per_s']:,.0f} events/s")
    result = {
        "run_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores",
        "database": "postgresql",
        "consumers": args.consumers,
        "partitions": config.broker.partitions,
        "max_batch": config.consumers.max_batch,
        "events": len(events),
        "events_per_s": round(rate, 1),
        "published_per_s": round(len(events) / published_s, 1),
        "latency_rate_per_s": args.latency_rate,
        "latency_events": count,
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "lost": lost,
        "duplicated_effects": duplicated,
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "batch_baseline": baseline,
        "ratio_vs_batch_path": round(rate / baseline["events_per_s"], 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    _say(
        f"\nstreaming {rate:,.0f} events/s vs batch path {baseline['events_per_s']:,.0f} "
        f"events/s: {result['ratio_vs_batch_path']}x; p99 {p99:.0f} ms at "
        f"{args.latency_rate:,.0f}/s; lost {lost}, duplicated effects {duplicated}\n"
        f"-> {args.out}"
    )


if __name__ == "__main__":
    main()
