"""Lead-score serving benchmark: the Ray Serve gateway, its floor and ``mlflow models serve``.

Every server uses the same MLflow model version (``lead_scoring@champion``), on this machine, in
one run; the script prints latency percentiles, throughput and the ratios between them, and
writes ``benchmarks/results/serving.json``:

* **floor**: an in-process call of the booster fast path (:class:`training.booster.BoosterScorer`:
  one ``DMatrix``, the probability and XGBoost's exact TreeSHAP ``pred_contribs``) for one
  lead, with the model loaded as the gateway loads it (:func:`serving.lookup.load_served_model`);
  **model_step** adds what the gateway adds to it (calibration, conformal set, top factors,
  actions: :func:`serving.model_server.score_lead_rows`);
* **bare_fastapi**: a minimal FastAPI app over that same fast path (uvicorn, one worker, no
  access log) that receives the contact's feature row and answers the score with its SHAP
  factors: the floor plus one HTTP hop;
* **mlflow_serve**: ``mlflow models serve --env-manager local`` answering ``/invocations`` with
  the contact's feature row (prediction only: no look-up, no explanation, no writes);
* **ray_serve**: ``POST /api/ai/lead-score`` of the platform: API key check, rate limit, consent
  and feature look-ups, A/B routing (the champion is scored in the gateway replica), XGBoost +
  exact TreeSHAP explanation, and the score, prediction and audit record written in one
  transaction before the answer; HAProxy ingress (:mod:`serving.ingress`), dynamic batching
  under load (:mod:`serving.batching`).

The machine is shared (other jobs come and go), so the servers are measured *interleaved*, all
of them up at once: latency at concurrency 1 sends ``--requests`` sequential calls to each,
one server after the other in turn (the floor and the model step take their turns too);
throughput runs ``--concurrency`` client threads against one server for ``--slice`` seconds,
then the next, until each had ``--seconds``. Both see the same load, so the ratios hold even
when the absolute figures move. Run after ``make demo`` (it reuses the trained champion; it
trains one with the Prefect flow otherwise)::

    .venv/bin/python benchmarks/serving_bench.py --quick
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "serving.json"
Call = Callable[[int], Any]

#: The bare FastAPI app: the gateway's model step (same loader, same fast path), nothing else.
BARE_APP = textwrap.dedent(
    """
    import mlflow
    from fastapi import FastAPI
    from serving.lookup import load_served_model
    mlflow.set_tracking_uri({uri!r}); mlflow.set_registry_uri({uri!r})
    model = load_served_model("lead_scoring", "champion", 5)
    app = FastAPI()

    @app.post("/score")
    async def score(body: dict) -> dict:
        (features, scored), = model.score_rows([body["row"]], [body["contact_id"]])
        return scored.to_dict(include_explanation=True)
    """
)


def _wait(url: str, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not come up in {timeout_s}s")


def _percentiles(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples)
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p99_ms": float(np.percentile(values, 99)),
        "mean_ms": statistics.fmean(samples),
    }


def interleaved_latency(calls: dict[str, Call], n: int, warmup: int = 10) -> dict[str, dict]:
    """Time ``n`` sequential calls of each target, one target after the other in turn.

    Args:
        calls: Target name -> call of request ``i``.
        n: Timed calls per target (after ``warmup`` untimed ones).
        warmup: Untimed calls per target first.

    Returns:
        Target name -> ``p50_ms``, ``p99_ms``, ``mean_ms``.
    """
    names = list(calls)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(warmup + n):
        order = names if i % 2 else names[::-1]  # no target always first after another
        for name in order:
            started = time.perf_counter()
            calls[name](i)
            if i >= warmup:
                samples[name].append((time.perf_counter() - started) * 1000)
    return {name: _percentiles(values) for name, values in samples.items()}


def _load_slice(call: Call, threads: int, seconds: float, offset: int) -> tuple[int, float]:
    """Run ``threads`` closed-loop clients for ``seconds``; return (calls done, seconds)."""
    done = [0] * threads
    errors: list[Exception] = []
    stop = time.monotonic() + seconds

    def worker(slot: int) -> None:
        i = offset + slot
        while time.monotonic() < stop:
            try:
                call(i)
            except Exception as error:
                errors.append(error)
                return
            done[slot] += 1
            i += threads

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise RuntimeError(f"load failed: {errors[0]}")
    return sum(done), time.perf_counter() - started


def interleaved_throughput(
    calls: dict[str, Call], threads: int, seconds: float, slice_s: float
) -> dict[str, float]:
    """Load each target in turn, ``slice_s`` at a time, until each had ``seconds``.

    Returns:
        Target name -> requests per second over its slices.
    """
    names = list(calls)
    done = dict.fromkeys(names, 0)
    elapsed = dict.fromkeys(names, 0.0)
    rounds = max(1, round(seconds / slice_s))
    for r in range(rounds):
        for name in names if r % 2 else names[::-1]:
            count, took = _load_slice(calls[name], threads, slice_s, offset=r * 100_003)
            done[name] += count
            elapsed[name] += took
    return {name: done[name] / elapsed[name] for name in names}


@contextlib.contextmanager
def background(command: list[str], env: dict[str, str], cwd: str | None = None) -> Iterator[None]:
    """Run a server process for the block (stopped, then killed if need be, on the way out)."""
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _stop_quietly(stop: Callable[[], None]) -> None:
    """Stop Ray Serve, best effort (the run's results are already in hand)."""
    with contextlib.suppress(Exception):
        stop()


def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Measure every target (see the module); return their figures by name."""
    from haste.api_keys import create_api_key, ensure_user
    from haste.runtime import configure_runtime_env
    from haste.settings import get_settings
    from pipelines.stages import PipelinePaths
    from serving.ingress import free_port
    from serving.lookup import load_served_model
    from serving.model_server import score_lead_rows
    from serving.runner import start_serving, stop_serving
    from training.registry import NoChampionError, configure_mlflow, load_alias_model

    configure_runtime_env()
    settings = get_settings()
    configure_mlflow(settings)
    try:
        load_alias_model("lead_scoring")
    except NoChampionError:
        from flows.training import model_training

        print("no lead_scoring champion: training one with the Prefect flow first")
        model_training()
    model = load_served_model("lead_scoring", "champion", 5)
    columns = model.scorer.feature_columns
    table = pd.read_parquet(PipelinePaths(settings.data_dir).features("lead_scoring"))
    table = table.sample(n=min(len(table), 500), random_state=0).reset_index(drop=True)
    ids = table["Prospect ID"].astype(str).tolist()
    stored = table.astype(object).where(table.notna(), None).to_dict("records")
    values = [[row[column] for column in columns] for row in stored]
    frames = [{"dataframe_split": {"columns": columns, "data": [row]}} for row in values]
    bodies = [
        {"contact_id": contact, "row": dict(zip(columns, row, strict=True))}
        for contact, row in zip(ids, values, strict=True)
    ]
    count = len(ids)
    print(f"model lead_scoring v{model.version}; {count} contacts; {os.cpu_count()} CPUs")

    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        # mlflow models serve execs `uvicorn`: put the venv's bin first on PATH
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    bare_port, mlflow_port = free_port(), free_port()
    uvicorn = [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(bare_port)]
    mlflow_serve = [
        *(sys.executable, "-m", "mlflow", "models", "serve"),
        *("-m", "models:/lead_scoring@champion", "--env-manager", "local"),
        *("-p", str(mlflow_port), "-h", "127.0.0.1"),
    ]
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        Path(tmp, "bare_app.py").write_text(BARE_APP.format(uri=settings.mlflow_tracking_uri))
        stack.enter_context(
            background([*uvicorn, "--log-level", "warning", "--no-access-log"], env, cwd=tmp)
        )
        stack.enter_context(background(mlflow_serve, env))
        stack.callback(_stop_quietly, stop_serving)
        user_id = ensure_user(settings.database_url, "bench@hastecrm.example", "admin", "Bench")
        key, _ = create_api_key(settings.database_url, user_id, "bench", "admin", 10**6)
        url = start_serving(settings, user_config={"ab_rollout": {}, "models_generation": 1})
        _wait(f"http://127.0.0.1:{bare_port}/docs")
        _wait(f"http://127.0.0.1:{mlflow_port}/ping")
        bare = httpx.Client(base_url=f"http://127.0.0.1:{bare_port}", timeout=30)
        served = httpx.Client(base_url=f"http://127.0.0.1:{mlflow_port}", timeout=30)
        gateway = httpx.Client(base_url=url, timeout=30, headers={"X-API-Key": key})
        servers: dict[str, Call] = {
            "bare_fastapi": lambda i: bare.post(
                "/score", json=bodies[i % count]
            ).raise_for_status(),
            "mlflow_serve": lambda i: served.post(
                "/invocations", json=frames[i % count]
            ).raise_for_status(),
            "ray_serve": lambda i: gateway.post(
                "/api/ai/lead-score", json={"contact_id": ids[i % count]}
            ).raise_for_status(),
        }
        booster = model.scorer.booster
        in_process: dict[str, Call] = {
            "floor": lambda i: booster.predict_explain([values[i % count]]),
            "model_step": lambda i: score_lead_rows(model, [stored[i % count]], [ids[i % count]]),
        }
        results = interleaved_latency({**in_process, **servers}, args.requests)
        rates = interleaved_throughput(servers, args.concurrency, args.seconds, args.slice)
        for name, rate in rates.items():
            results[name]["throughput_rps"] = rate
    return results


def summarise(results: dict[str, dict[str, float]], args: argparse.Namespace) -> dict[str, Any]:
    """Return the figures of ``benchmarks/results/serving.json`` (headline keys first)."""
    ray, mlf = results["ray_serve"], results["mlflow_serve"]
    bare, floor = results["bare_fastapi"], results["floor"]
    return {
        "p50_ms": round(ray["p50_ms"], 2),
        "p99_ms": round(ray["p99_ms"], 2),
        "rps": round(ray["throughput_rps"], 1),
        "mlflow_rps": round(mlf["throughput_rps"], 1),
        "floor_p50_ms": round(floor["p50_ms"], 3),
        "floor_p99_ms": round(floor["p99_ms"], 3),
        "model_step_p50_ms": round(results["model_step"]["p50_ms"], 3),
        "bare_fastapi_p50_ms": round(bare["p50_ms"], 2),
        "bare_fastapi_p99_ms": round(bare["p99_ms"], 2),
        "bare_fastapi_rps": round(bare["throughput_rps"], 1),
        "mlflow_p50_ms": round(mlf["p50_ms"], 2),
        "mlflow_p99_ms": round(mlf["p99_ms"], 2),
        "ratios": {
            "rps_vs_mlflow": round(ray["throughput_rps"] / mlf["throughput_rps"], 2),
            "rps_vs_bare_fastapi": round(ray["throughput_rps"] / bare["throughput_rps"], 2),
            "p50_vs_floor": round(ray["p50_ms"] / floor["p50_ms"], 2),
            "p50_vs_bare_fastapi": round(ray["p50_ms"] / bare["p50_ms"], 2),
            "bare_fastapi_p50_vs_floor": round(bare["p50_ms"] / floor["p50_ms"], 2),
        },
        "targets": {"p50_ms": 10.0, "p99_ms": 25.0, "rps_vs_mlflow": 4.0},
        "run": {
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "requests": args.requests,
            "concurrency": args.concurrency,
            "seconds": args.seconds,
            "slice_s": args.slice,
            "load_average_before": args.load_before,
            "load_average_after": [round(value, 2) for value in os.getloadavg()],
        },
        "targets_measured": {
            name: {key: round(value, 3) for key, value in row.items()}
            for name, row in results.items()
        },
    }


def main() -> None:
    """Run the benchmark, print the table and ratios, write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="sequential calls (latency)")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads")
    parser.add_argument("--seconds", type=float, default=15.0, help="load per server")
    parser.add_argument("--slice", type=float, default=2.5, help="seconds per load turn")
    parser.add_argument("--quick", action="store_true", help="100 calls, 8 s of load")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.seconds = 100, 8.0
    args.load_before = [round(value, 2) for value in os.getloadavg()]
    results = run(args)
    print(f"\n{'target':<14}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}{'req/s':>10}")
    for name, row in results.items():
        rps = f"{row['throughput_rps']:>10.1f}" if "throughput_rps" in row else f"{'-':>10}"
        print(f"{name:<14}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}{row['mean_ms']:>10.2f}{rps}")
    summary = summarise(results, args)
    ratios = summary["ratios"]
    print(
        f"\nthroughput ray_serve/mlflow_serve = {ratios['rps_vs_mlflow']:.2f}x (target >= 4x); "
        f"ray_serve/bare_fastapi = {ratios['rps_vs_bare_fastapi']:.2f}x"
    )
    print(
        f"ray_serve at concurrency 1: p50 {summary['p50_ms']:.1f} ms (target <= 10), p99 "
        f"{summary['p99_ms']:.1f} ms (target <= 25); p50 / floor = {ratios['p50_vs_floor']:.1f}x, "
        f"p50 / bare FastAPI = {ratios['p50_vs_bare_fastapi']:.2f}x, bare FastAPI / floor = "
        f"{ratios['bare_fastapi_p50_vs_floor']:.1f}x"
    )
    print(
        "note: ray_serve does the full request (auth, rate limit, consent and feature look-ups, "
        "SHAP explanation, three database writes); bare_fastapi scores a posted feature row with "
        "the same fast path; mlflow_serve only predicts from a posted feature row. Load average "
        f"before the run: {args.load_before}."
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
