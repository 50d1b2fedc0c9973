"""Lead-score serving benchmark: Ray Serve gateway vs ``mlflow models serve`` vs bare FastAPI.

All three serve the same MLflow model version (``lead_scoring@champion``) on this machine, in
one run, and the script prints latency percentiles, throughput and the ratios between them:

* **ray_serve**: ``POST /api/ai/lead-score`` of the platform (API key check, rate limit, feature
  lookup, A/B routing to the ``ChampionModels`` deployment, XGBoost + exact TreeSHAP
  explanation, database writes of the score, the prediction and the audit record), with
  dynamic batching (greedy batches in the gateway, ``@serve.batch`` in the model deployment);
* **mlflow_serve**: ``mlflow models serve --env-manager local`` answering ``/invocations`` with
  the contact's feature row (prediction only: no lookup, no explanation, no writes);
* **bare_fastapi**: a minimal FastAPI + XGBoost app (uvicorn, one worker) that receives the
  feature row and returns the probability (the floor).

Latency is measured at concurrency 1 (``--requests`` sequential calls); throughput with
``--concurrency`` client threads for ``--seconds``. Run after ``make demo`` (it reuses the
trained champion; it trains one with the Prefect flow otherwise)::

    .venv/bin/python benchmarks/serving_bench.py --quick
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not come up in {timeout_s}s")


def _latency(call: Callable[[int], None], n: int) -> dict[str, float]:
    for i in range(min(10, n)):  # warm-up
        call(i)
    samples = []
    for i in range(n):
        started = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - started) * 1000)
    values = np.asarray(samples)
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p99_ms": float(np.percentile(values, 99)),
        "mean_ms": statistics.fmean(samples),
    }


def _throughput(call: Callable[[int], None], threads: int, seconds: float) -> float:
    done = [0] * threads
    errors: list[Exception] = []
    stop = time.monotonic() + seconds

    def worker(slot: int) -> None:
        i = slot
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
    return sum(done) / (time.perf_counter() - started)


BARE_APP = textwrap.dedent(
    """
    import mlflow, pandas as pd
    from fastapi import FastAPI
    mlflow.set_tracking_uri({uri!r}); mlflow.set_registry_uri({uri!r})
    model = mlflow.sklearn.load_model("models:/lead_scoring@champion")
    app = FastAPI()

    @app.post("/predict")
    def predict(body: dict) -> dict:
        frame = pd.DataFrame(body["dataframe_split"]["data"],
                             columns=body["dataframe_split"]["columns"])
        return {{"probability": float(model.predict_proba(frame)[0, 1])}}
    """
)


def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    from haste.api_keys import create_api_key, ensure_user
    from haste.runtime import configure_runtime_env
    from haste.settings import get_settings
    from pipelines.stages import PipelinePaths
    from serving.runner import start_serving, stop_serving
    from training.registry import NoChampionError, configure_mlflow, load_alias_model
    from training.scoring import LeadScorer

    configure_runtime_env()
    settings = get_settings()
    configure_mlflow(settings)
    try:
        model, version = load_alias_model("lead_scoring")
    except NoChampionError:
        from flows.training import model_training

        print("no lead_scoring champion: training one with the Prefect flow first")
        model_training()
        model, version = load_alias_model("lead_scoring")
    columns = LeadScorer(model, 5).feature_columns
    table = pd.read_parquet(PipelinePaths(settings.data_dir).features("lead_scoring"))
    table = table.sample(n=min(len(table), 500), random_state=0).reset_index(drop=True)
    ids = table["Prospect ID"].astype(str).tolist()
    rows = [
        {"dataframe_split": {"columns": columns, "data": [row]}}
        for row in table[columns].astype(object).where(table[columns].notna(), None).values.tolist()
    ]
    print(f"model lead_scoring v{version.version}; {len(ids)} contacts; {os.cpu_count()} CPUs")

    results: dict[str, dict[str, float]] = {}
    procs: list[subprocess.Popen] = []
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        # mlflow models serve execs `uvicorn`: put the venv's bin first on PATH
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    try:
        # ---------------------------------------------------------------- bare FastAPI
        bare_port = _free_port()
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "bare_app.py").write_text(BARE_APP.format(uri=settings.mlflow_tracking_uri))
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "bare_app:app",
                        "--port",
                        str(bare_port),
                        "--log-level",
                        "warning",
                    ],
                    cwd=tmp,
                    env=env,
                )
            )
            _wait(f"http://127.0.0.1:{bare_port}/docs")
        bare = httpx.Client(base_url=f"http://127.0.0.1:{bare_port}", timeout=30)
        results["bare_fastapi"] = _measure(
            lambda i: bare.post("/predict", json=rows[i % len(rows)]).raise_for_status(), args
        )
        # ---------------------------------------------------------------- mlflow models serve
        mlflow_port = _free_port()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "models",
                    "serve",
                    "-m",
                    "models:/lead_scoring@champion",
                    "--env-manager",
                    "local",
                    "-p",
                    str(mlflow_port),
                    "-h",
                    "127.0.0.1",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        _wait(f"http://127.0.0.1:{mlflow_port}/ping", timeout_s=180)
        served = httpx.Client(base_url=f"http://127.0.0.1:{mlflow_port}", timeout=30)
        results["mlflow_serve"] = _measure(
            lambda i: served.post("/invocations", json=rows[i % len(rows)]).raise_for_status(),
            args,
        )
        # ---------------------------------------------------------------- Ray Serve gateway
        user_id = ensure_user(settings.database_url, "bench@hastecrm.example", "admin", "Bench")
        key, _ = create_api_key(settings.database_url, user_id, "bench", "admin", 10**6)
        url = start_serving(settings, user_config={"ab_rollout": {}, "models_generation": 1})
        gateway = httpx.Client(base_url=url, timeout=30, headers={"X-API-Key": key})
        results["ray_serve"] = _measure(
            lambda i: gateway.post(
                "/api/ai/lead-score", json={"contact_id": ids[i % len(ids)]}
            ).raise_for_status(),
            args,
        )
    finally:
        for proc in procs:
            proc.terminate()
        with contextlib.suppress(Exception):  # best effort on the way out
            stop_serving()
    return results


def _measure(call: Callable[[int], Any], args: argparse.Namespace) -> dict[str, float]:
    out = _latency(call, args.requests)
    out["throughput_rps"] = _throughput(call, args.concurrency, args.seconds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="sequential calls (latency)")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads")
    parser.add_argument("--seconds", type=float, default=15.0, help="throughput duration")
    parser.add_argument("--quick", action="store_true", help="100 calls, 8 s of load")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.seconds = 100, 8.0
    results = run(args)
    print(f"\n{'server':<14}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}{'req/s':>10}")
    for name, row in results.items():
        print(
            f"{name:<14}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}{row['mean_ms']:>10.2f}"
            f"{row['throughput_rps']:>10.1f}"
        )
    ray, mlf, bare = results["ray_serve"], results["mlflow_serve"], results["bare_fastapi"]
    print(
        f"\nthroughput ratio ray_serve/mlflow_serve = "
        f"{ray['throughput_rps'] / mlf['throughput_rps']:.2f}x (target >= 1.5x); "
        f"ray_serve/bare_fastapi = {ray['throughput_rps'] / bare['throughput_rps']:.2f}x"
    )
    print(
        f"p99 ratio ray_serve/mlflow_serve = {ray['p99_ms'] / mlf['p99_ms']:.2f}x; "
        f"ray_serve p99 at concurrency 1 = {ray['p99_ms']:.1f} ms (target < 50 ms)"
    )
    print(
        "note: ray_serve does the full request (auth, feature lookup, SHAP explanation and "
        "three database writes); the other two only predict from a posted feature row."
    )


if __name__ == "__main__":
    main()
