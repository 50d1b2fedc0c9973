"""Soak benchmark of the AI gateway: a steady mixed load for minutes, latency and memory drift.

Precondition: the models are trained (``haste demo`` or ``make demo`` ran); the ids the
requests use (contacts, accounts, deals) are read from the platform's data.

Phase 1 (``--probe`` s) is a closed loop: ``--concurrency`` clients each send the next request
as soon as the previous answers; the sustainable throughput is the number of answers below 500
per second. Phase 2 (``--duration`` s) is an open loop: requests are due at a constant rate of
``--load`` x that throughput on a fixed clock (slow answers do not lower the offered rate; at
most ``--max-in-flight`` are outstanding, requests due beyond that are dropped and counted).
Every request is recorded; the RSS of each Ray Serve replica is read at the start and end of
phase 2 (and once a minute). The mix of endpoints is weighted like a CRM front end (mostly
lead scores). Prints a table per minute and writes everything as JSON to ``--out``::

    HASTE_SERVE_PORT=8100 .venv/bin/python benchmarks/soak.py --duration 60 --probe 10 \\
        --out /tmp/soak.json
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import socket
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "soak.json"
DEPLOYMENTS = ("AIGateway", "ChampionModels", "ChallengerModels", "TextAI")
#: Endpoints that need a champion of these models (dropped from the mix otherwise).
ENDPOINT_MODELS = {"churn_risk": ("churn",), "deal": ("deal_velocity", "win_probability")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (see ``--help``)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--duration", type=float, default=600.0, help="phase 2 (open loop) seconds [600]")
    add("--probe", type=float, default=30.0, help="phase 1 (throughput probe) seconds [30]")
    add("--load", type=float, default=0.7, help="offered rate / measured throughput [0.7]")
    add("--concurrency", type=int, default=8, help="clients of the probe [8]")
    add("--max-in-flight", type=int, default=128, help="bound on outstanding requests [128]")
    add("--timeout", type=float, default=30.0, help="per-request timeout, seconds [30]")
    add(
        "--url",
        help="API base URL of a running server (default: start the app in-process on "
        "settings.serve_port, HASTE_SERVE_PORT, and stop it at the end)",
    )
    add("--api-key", help="X-API-Key (default: create an admin key in settings.database_url)")
    add("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results [{DEFAULT_OUT}]")
    add("--seed", type=int, default=0, help="seed of the ids and the request mix [0]")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.probe <= 0 or not 0 < args.load <= 10:
        parser.error("--duration and --probe must be > 0 and --load in (0, 10]")
    return args


def served_champions(settings: Any) -> dict[str, str]:
    """Return the champion versions of the served models; exit when lead_scoring has none."""
    from training.registry import CHAMPION, alias_versions, configure_mlflow

    configure_mlflow(settings)
    names = ["lead_scoring", "lead_scoring_crm", "churn", "deal_velocity", "win_probability"]
    champions = alias_versions(names, CHAMPION)
    if "lead_scoring" not in champions:
        sys.exit(
            f"soak: no lead_scoring champion in the model registry "
            f"({settings.mlflow_tracking_uri}): train the models first "
            "(`haste demo` or `make demo`)"
        )
    return champions


def port_in_use(host: str, port: int) -> None:
    """Exit when something already listens on the port the in-process app would take."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        if sock.connect_ex((host, port)) == 0:
            sys.exit(
                f"soak: {host}:{port} is in use (another server?): set HASTE_SERVE_PORT to a "
                "free port, or pass --url to load that server"
            )


def admin_key(settings: Any) -> str:
    """Create an admin API key (with a rate limit the load cannot reach) and return it."""
    from haste.api_keys import create_api_key, ensure_user

    user_id = ensure_user(settings.database_url, "soak@hastecrm.example", "admin", "Soak")
    key, _ = create_api_key(settings.database_url, user_id, "soak benchmark", "admin", 10**7)
    return key


def latency_stats(samples: Iterable[Any]) -> dict[str, Any]:
    """Return request count, 4xx/5xx/no-answer counts and p50/p99 latency (answered only).

    A request without an answer (timeout, connection error) has status 0.
    """
    import numpy as np

    samples = list(samples)
    latencies = [s.latency_ms for s in samples if s.status != 0]

    def pct(q: float) -> float | None:
        return round(float(np.percentile(latencies, q)), 2) if latencies else None

    return {
        "requests": len(samples),
        "errors_5xx": sum(1 for s in samples if s.status >= 500),
        "errors_4xx": sum(1 for s in samples if 400 <= s.status < 500),
        "no_answer": sum(1 for s in samples if s.status == 0),
        "p50_ms": pct(50),
        "p99_ms": pct(99),
    }


def rss_summary(
    start: dict[str, dict[str, Any]], end: dict[str, dict[str, Any]]
) -> tuple[float | None, dict[str, dict[str, Any]]]:
    """Return the largest RSS growth among the replicas and the figures of each process.

    The proxy is listed too but is not a replica: it does not count in the largest growth.
    """
    per: dict[str, dict[str, Any]] = {}
    for key in sorted(start.keys() | end.keys()):
        first, last = start.get(key), end.get(key)
        row = {**(first or last), "start_mb": None, "end_mb": None, "growth_mb": None}
        row.pop("rss_mb")
        row["start_mb"] = first["rss_mb"] if first else None
        row["end_mb"] = last["rss_mb"] if last else None
        if first and last:
            row["growth_mb"] = round(last["rss_mb"] - first["rss_mb"], 1)
        per[key] = row
    growths = [
        r["growth_mb"]
        for r in per.values()
        if r["growth_mb"] is not None and r["deployment"] != "ProxyActor"
    ]
    return (max(growths) if growths else None), per


def summarize(samples: list[Any], duration: float) -> dict[str, Any]:
    """Return totals, the first/last minute p99, per-endpoint and per-minute statistics."""
    window = min(60.0, duration)
    first = latency_stats(s for s in samples if s.t < window)
    last = latency_stats(s for s in samples if s.t >= duration - window)
    endpoints = sorted({s.endpoint for s in samples})
    minutes = int(-(-duration // 60))
    return {
        **latency_stats(samples),
        "p99_first_min_ms": first["p99_ms"],
        "p99_last_min_ms": last["p99_ms"],
        "status_counts": {
            str(code): sum(1 for s in samples if s.status == code)
            for code in sorted({s.status for s in samples})
        },
        "per_endpoint": {
            name: latency_stats(s for s in samples if s.endpoint == name) for name in endpoints
        },
        "per_minute": [
            {"minute": m + 1, **latency_stats(s for s in samples if int(s.t // 60) == m)}
            for m in range(minutes)
        ],
    }


class Progress:
    """A transient rich progress bar per phase (on stderr), fed by every finished request."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self.bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.counts = {"done": 0, "5xx": 0, "none": 0}

    def tick(self, sample: Any) -> None:
        """Count a finished request."""
        self.counts["done"] += 1
        self.counts["5xx"] += sample.status >= 500
        self.counts["none"] += sample.status == 0

    async def run(self, description: str, seconds: float, work: Any) -> Any:
        """Await ``work`` while the bar shows elapsed time and counts."""
        loop = asyncio.get_running_loop()
        self.counts = dict.fromkeys(self.counts, 0)
        started = loop.time()
        with self.bar:
            task = self.bar.add_task(description, total=seconds, stats="")
            future = asyncio.ensure_future(work)
            while not future.done():
                await asyncio.wait([future], timeout=0.5)
                c = self.counts
                self.bar.update(
                    task,
                    completed=min(seconds, loop.time() - started),
                    stats=f"{c['done']} answered, {c['5xx']} 5xx, {c['none']} no answer",
                )
            return future.result()


async def run_phases(
    args: argparse.Namespace, url: str, key: str, mix: Any, rss: Callable[[], dict]
) -> dict[str, Any]:
    """Warm up, probe the throughput, then hold the open-loop load; return the results."""
    import httpx
    from soak_load import closed_loop, open_loop

    limits = httpx.Limits(
        max_connections=max(args.max_in_flight, args.concurrency),
        max_keepalive_connections=max(args.max_in_flight, args.concurrency),
    )
    progress = Progress()
    async with httpx.AsyncClient(
        base_url=url, headers={"X-API-Key": key}, timeout=args.timeout, limits=limits
    ) as client:
        warnings = []
        for endpoint in mix.weights:  # warm-up (lazy model loads) and a check of the ids
            method, path, body = mix.build(endpoint)
            try:
                response = await client.request(method, path, json=body, timeout=300)
            except httpx.HTTPError as error:
                sys.exit(f"soak: {method} {url}{path} failed: {error!r}")
            if response.status_code != 200:
                warnings.append(f"{endpoint}: {response.status_code} {response.text[:200]}")
        probe, throughput = await progress.run(
            f"probe (closed loop, {args.concurrency} clients)",
            args.probe,
            closed_loop(client, mix, args.concurrency, args.probe, progress.tick),
        )
        if throughput <= 0:
            sys.exit(f"soak: the probe got no answer below 500 ({latency_stats(probe)})")
        rate = args.load * throughput
        timeline = [{"t": 0.0, "rss": await asyncio.to_thread(rss)}]
        loop = asyncio.get_running_loop()
        phase_start = loop.time()

        def sample_rss() -> None:
            timeline.append({"t": round(loop.time() - phase_start, 1), "rss": rss()})

        samples, dropped, lag_p99 = await progress.run(
            f"soak (open loop, {rate:.1f} req/s)",
            args.duration,
            open_loop(
                client, mix, rate, args.duration, args.max_in_flight, progress.tick, sample_rss
            ),
        )
        timeline.append({"t": round(loop.time() - phase_start, 1), "rss": rss()})
    growth, per_replica = rss_summary(timeline[0]["rss"], timeline[-1]["rss"])
    answered = sum(1 for s in samples if 0 < s.status < 500)
    return {
        "throughput_rps": round(throughput, 2),
        "offered_rps": round(rate, 2),
        "achieved_rps": round(answered / args.duration, 2),
        "dropped": dropped,
        "schedule_lag_p99_ms": round(lag_p99, 2),
        **summarize(samples, args.duration),
        "rss_growth_mb": growth,
        "per_replica_rss_mb": per_replica,
        "rss_timeline_mb": [
            {"t": point["t"], **{k: v["rss_mb"] for k, v in point["rss"].items()}}
            for point in timeline
        ],
        "probe": {**latency_stats(probe), "concurrency": args.concurrency},
        "warmup_warnings": warnings,
    }


def report(results: dict[str, Any]) -> None:
    """Print the per-minute table and the totals."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="soak: per minute (open loop)")
    for column in ("minute", "requests", "5xx", "4xx", "no answer", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right")
    for row in results["per_minute"]:
        table.add_row(
            *(
                str(row[k] if row[k] is not None else "-")
                for k in ("minute", "requests", "errors_5xx", "errors_4xx", "no_answer")
            ),
            *(f"{row[k]:.1f}" if row[k] is not None else "-" for k in ("p50_ms", "p99_ms")),
        )
    console = Console()
    console.print(table)
    growth = results["rss_growth_mb"]
    console.print(
        f"throughput (probe) {results['throughput_rps']} req/s; offered "
        f"{results['offered_rps']} req/s, answered <500 {results['achieved_rps']} req/s; "
        f"{results['requests']} requests, {results['errors_5xx']} 5xx, "
        f"{results['errors_4xx']} 4xx, {results['no_answer']} no answer, "
        f"{results['dropped']} dropped (in-flight bound)\n"
        f"p99 first minute {results['p99_first_min_ms']} ms, last minute "
        f"{results['p99_last_min_ms']} ms; largest replica RSS growth "
        f"{'n/a' if growth is None else f'{growth} MB'}"
    )
    if results["warmup_warnings"]:
        console.print(f"[yellow]warm-up answers not 200: {results['warmup_warnings']}")


def main(argv: list[str] | None = None) -> int:
    """Run the soak benchmark (see the module docstring)."""
    args = parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # soak_load, when run as a script
    from haste.runtime import NOISY_LOGGERS, configure_runtime_env, quiet_console

    configure_runtime_env()
    quiet_console()
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    from soak_load import ENDPOINT_WEIGHTS, RequestMix, load_targets, replica_rss_mb

    from haste.settings import get_settings
    from serving.runner import start_serving, stop_serving

    settings = get_settings()
    champions = served_champions(settings)
    weights = {
        endpoint: weight
        for endpoint, weight in ENDPOINT_WEIGHTS.items()
        if all(m in champions for m in ENDPOINT_MODELS.get(endpoint, ()))
    }
    targets = load_targets(settings, include_crm="lead_scoring_crm" in champions, seed=args.seed)
    mix = RequestMix(targets, weights, seed=args.seed)
    if "lead_score" not in mix.weights:
        sys.exit(f"soak: no contact ids under {settings.data_dir}: run `haste demo` first")
    if missing := sorted(set(ENDPOINT_WEIGHTS) - set(mix.weights)):
        print(f"soak: not in the mix (no champion model or no ids): {missing}")
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    url = args.url
    try:
        if url is None:
            port_in_use(settings.serve_host, settings.serve_port)
            print(f"soak: starting the app on port {settings.serve_port} ...", file=sys.stderr)
            url = start_serving(settings, log_level=logging.WARNING)
        # a given URL: its replicas are found by the local port of its proxy, if local
        parsed = urlsplit(url)
        local = parsed.hostname in ("127.0.0.1", "localhost", "0.0.0.0", "::1")
        port = (parsed.port or 80) if args.url is not None and local else None
        key = args.api_key or admin_key(settings)

        def rss() -> dict[str, dict[str, Any]]:
            if args.url is not None and port is None:
                return {}
            return replica_rss_mb(DEPLOYMENTS, port)

        results = asyncio.run(run_phases(args, url.rstrip("/"), key, mix, rss))
    finally:
        if args.url is None:
            stop_serving()
    results = {
        "started_at": started_at,
        "url": url,
        "in_process": args.url is None,
        "duration_s": args.duration,
        "probe_s": args.probe,
        "load": args.load,
        "concurrency": args.concurrency,
        "max_in_flight": args.max_in_flight,
        "mix": mix.weights,
        "targets": {
            "contacts": len(targets.contact_ids),
            "accounts": len(targets.account_ids),
            "deals": len(targets.deal_ids),
        },
        **results,
    }
    report(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
