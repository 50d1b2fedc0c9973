"""A real two-node Ray cluster: placement on the worker node, and losing that node.

``scripts/ray-cluster.sh`` starts a head (1 CPU, ``head`` resource) and a worker node
(1 CPU, ``worker: 4``) on this machine; the driver attaches to the head. The tests:

1. two alive nodes, each with its own resources;
2. batch scoring (:func:`distributed.batch_scoring.score_batch`, Ray Data) pinned to the
   worker with ``resources={"worker": 1}``: every read/score task ran there and every stored
   probability equals the local model's;
3. a training run (:func:`distributed.ray_train.fit_xgboost_on_ray`) whose Ray Train workers
   ran on both nodes, as good as the local fit;
4. the platform's ``ChampionModels`` deployment (:class:`serving.model_server.ModelServer`)
   pinned to the worker with ``ray_actor_options={"resources": {"worker": 1}}`` behind a
   head-pinned HTTP ingress: its replica runs on the worker and HTTP scores are exact;
5. the worker node SIGKILLed while a Ray Data batch run and a job of plain tasks run and
   ``ChampionModels`` has one replica per node (``max_replicas_per_node: 1``): HTTP keeps
   answering from the head's replica, the tasks lost with the node are retried on the head,
   and both jobs complete with every row and the in-process figures.

Remote code of this module travels by value (workers cannot import ``tests``).
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import ray
from ray import cloudpickle, serve
from sklearn.metrics import roc_auc_score

from serving.app import pin_version
from serving.config import serve_config_from_settings
from serving.model_server import CHAMPION_DEPLOYMENT, ModelServer
from tests.support.ray_cluster import (
    FEATURES,
    ID_COLUMN,
    LABEL,
    ConnectedCluster,
    LeadModel,
    write_snapshot,
)
from training.batch_run import score_locally
from training.batch_sink import new_run
from training.registry import CHAMPION
from training.scoring import LeadScorer

pytestmark = [pytest.mark.timeout(420), pytest.mark.cluster]

APP = "cluster-scoring"

cloudpickle.register_pickle_by_value(sys.modules[__name__])


@serve.deployment(
    name="ClusterIngress", ray_actor_options={"num_cpus": 0, "resources": {"head": 0.01}}
)
class ClusterIngress:
    """HTTP in front of ``ChampionModels``, on the head beside the proxy (never on the worker)."""

    def __init__(self, champion: Any) -> None:
        self.champion = champion

    async def __call__(self, request: Any) -> list[dict[str, Any]]:
        body = await request.json()
        return await self.champion.score_leads.remote(
            "lead_scoring", body["rows"], body["contact_ids"]
        )


def score_chunk(
    pipeline: Any, chunk: pd.DataFrame, index: int, job: BatchJob, pause_s: float
) -> pd.DataFrame:
    """Score one chunk of leads on whichever node runs it; leave a marker per attempt.

    Args:
        pipeline: The fitted lead model.
        chunk: Leads (id and model inputs).
        index: The chunk's number.
        job: Columns and the attempts folder (both nodes share this machine's disk).
        pause_s: Extra seconds per chunk, so the job is still running when a node dies.
    """
    node = ray.get_runtime_context().get_node_id()
    (job.attempts_dir / f"{index}.{node}.{time.time_ns()}").touch()
    time.sleep(pause_s)
    return pd.DataFrame(
        {
            job.id_column: chunk[job.id_column].to_numpy(),
            "probability": pipeline.predict_proba(chunk[job.features])[:, 1],
            "chunk": index,
            "node_id": node,
            "finished": time.time(),
        }
    )


@dataclass(frozen=True)
class BatchJob:
    """What every chunk task needs besides its rows."""

    features: list[str]
    id_column: str
    attempts_dir: Path

    def attempts(self) -> pd.DataFrame:
        """Return one row per started attempt: chunk, node."""
        names = [path.name.split(".") for path in self.attempts_dir.iterdir()]
        return pd.DataFrame([(int(c), node) for c, node, _ in names], columns=["chunk", "node"])


def submit_batch_job(
    model: LeadModel, job: BatchJob, chunks: int, pause_s: float, **options: Any
) -> list[ray.ObjectRef]:
    """Submit the scoring of every lead in ``chunks`` tasks (retried 3 times on failure)."""
    pipeline = ray.put(model.pipeline)
    task = ray.remote(score_chunk).options(num_cpus=1, max_retries=3, **options)
    parts = np.array_split(model.leads, chunks)
    return [task.remote(pipeline, part, i, job, pause_s) for i, part in enumerate(parts)]


def deploy_champion(model: LeadModel, champion_options: dict[str, Any]) -> None:
    """Deploy (or update) the ingress and ``ChampionModels`` (the platform's class).

    A second call updates the app in place: the ingress keeps its pinned version, only
    ``ChampionModels`` is replaced with the new options.
    """
    config = serve_config_from_settings(model.settings)
    champion = ModelServer.options(name=CHAMPION_DEPLOYMENT, **champion_options)
    ingress = pin_version(ClusterIngress, "cluster-test")  # the platform's in-place updates
    serve.run(ingress.bind(champion.bind(config, CHAMPION)), name=APP, route_prefix="/")


def replica_nodes(cluster: ConnectedCluster, deployment: str) -> list[str]:
    """Return the node id of every alive replica of ``deployment`` (``ray.util.state``)."""
    from ray.util.state import list_actors

    actors = list_actors(
        address=cluster.cluster.address, filters=[("state", "=", "ALIVE")], limit=10_000
    )
    prefix = f"SERVE_REPLICA::{APP}#{deployment}#"
    return sorted(a.node_id for a in actors if (a.name or "").startswith(prefix))


def http_sample(model: LeadModel, size: int = 25) -> tuple[dict[str, Any], list[Any]]:
    """Return a scoring request for ``size`` complete leads and the local model's answers."""
    sample = model.leads.dropna(subset=FEATURES).sample(size, random_state=3)
    rows = sample[FEATURES].to_dict("records")
    ids = sample[ID_COLUMN].str.lower().tolist()
    local = LeadScorer(model.pipeline).score_rows([[row[c] for c in FEATURES] for row in rows], ids)
    return {"rows": rows, "contact_ids": ids}, answers([score.to_dict() for score in local])


def answers(payloads: list[dict[str, Any]]) -> list[Any]:
    """Return what must match between served and local scores: id, score, probability."""
    return [(p["contact_id"], p["score"], p["probability"]) for p in payloads]


def test_two_nodes_join_with_their_own_resources(ray_cluster: ConnectedCluster) -> None:
    nodes = {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}
    assert set(nodes) == {ray_cluster.head_node_id, ray_cluster.worker_node_id}
    head, worker = nodes[ray_cluster.head_node_id], nodes[ray_cluster.worker_node_id]
    assert (head["CPU"], head["head"], "worker" in head) == (1.0, 1.0, False)
    assert (worker["CPU"], worker["worker"], "head" in worker) == (1.0, 4.0, False)
    assert ray.get_runtime_context().get_node_id() == ray_cluster.head_node_id  # the driver
    assert ray_cluster.cluster.up_seconds < 120


def test_batch_scoring_pinned_to_the_worker(
    ray_cluster: ConnectedCluster, lead_model: LeadModel, tmp_path: Path
) -> None:
    from sqlalchemy import select

    from distributed.batch_scoring import score_batch
    from haste.db import session_scope
    from haste.db.models import Prediction

    frame = write_snapshot(lead_model, tmp_path / "snapshot", copies=1, files=4)
    url = lead_model.settings.database_url
    summary = score_batch(
        tmp_path / "snapshot",
        [lead_model.batch],
        url,
        resources={"worker": 1},  # every read/score task on the worker node
        run_id="cluster-pinned",
        progress=False,
    )
    assert summary.contacts == len(frame) and summary.written == {"predictions": len(frame)}
    tasks = settled_tasks(ray_cluster)
    assert tasks and {t.node_id for t in tasks} == {ray_cluster.worker_node_id}, tasks
    with session_scope(url) as session:
        rows = session.scalars(
            select(Prediction).where(Prediction.prediction_type == "lead_scoring")
        )
        stored = {
            uuid.UUID(str(row.entity_id)): row.prediction_value["probability"]
            for row in rows
            if row.prediction_value["run_id"] == "cluster-pinned"
        }
    local = LeadScorer(lead_model.pipeline).probabilities(frame)
    assert stored == {uuid.UUID(c): p for c, p in zip(frame["contact_id"], local, strict=True)}
    auc = roc_auc_score(lead_model.leads[LABEL], local)
    assert auc > 0.8, f"AUC of the cluster-scored leads: {auc:.3f}"
    print(
        f"\nscore_batch on the worker: {summary.contacts} rows in {summary.seconds:.1f}s, "
        f"{len(tasks)} tasks, AUC {auc:.4f}"
    )


def settled_tasks(
    cluster: ConnectedCluster, exclude: set[str] | None = None, timeout_s: float = 15
) -> list[Any]:
    """Return :func:`read_tasks` once every attempt reached FINISHED or FAILED.

    Task states reach the state API in periodic batches (about every second), so the last
    attempts of a run that just returned may still show as running or be missing.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        tasks = read_tasks(cluster, exclude)
        settled = tasks and all(t.state in ("FINISHED", "FAILED") for t in tasks)
        if settled or time.monotonic() > deadline:
            return tasks
        time.sleep(0.5)


def read_tasks(cluster: ConnectedCluster, exclude: set[str] | None = None) -> list[Any]:
    """Return this driver's Ray Data map (scoring) task attempts (``ray.util.state``)."""
    from ray.util.state import list_tasks

    job = ray.get_runtime_context().get_job_id()
    tasks = list_tasks(
        address=cluster.cluster.address,
        filters=[("job_id", "=", job)],
        limit=10_000,
        raise_on_missing_output=False,
    )
    return [
        task
        for task in tasks
        if "MapBatches(" in task.name and task.task_id not in (exclude or set())
    ]


def test_training_runs_on_both_nodes(
    ray_cluster: ConnectedCluster, lead_model: LeadModel, tmp_path: Path
) -> None:
    from ray.util.state import list_actors

    from distributed.ray_train import fit_xgboost_on_ray
    from training.estimators import build_xgboost_pipeline

    params = {"n_estimators": 10, "max_depth": 3, "learning_rate": 0.2, "random_state": 0}
    leads = lead_model.leads
    train, test = leads.iloc[: int(len(leads) * 0.8)], leads.iloc[int(len(leads) * 0.8) :]
    fitted = fit_xgboost_on_ray(
        build_xgboost_pipeline(FEATURES, params),
        train[FEATURES],
        train[LABEL],
        num_workers=2,
        cpus_per_worker=1,
        storage_path=str(tmp_path / "ray-train"),
    )
    workers = list_actors(
        address=ray_cluster.cluster.address,
        filters=[("class_name", "=", "RayTrainWorker")],
        limit=10_000,
    )
    job = ray.get_runtime_context().get_job_id()
    nodes = {a.node_id for a in workers if a.job_id == job}
    assert nodes == {ray_cluster.head_node_id, ray_cluster.worker_node_id}
    local = build_xgboost_pipeline(FEATURES, params).fit(train[FEATURES], train[LABEL])
    ray_auc = roc_auc_score(test[LABEL], fitted.predict_proba(test[FEATURES])[:, 1])
    local_auc = roc_auc_score(test[LABEL], local.predict_proba(test[FEATURES])[:, 1])
    assert ray_auc > 0.8 and abs(ray_auc - local_auc) < 0.02, (ray_auc, local_auc)
    print(f"\nRay Train on both nodes: test AUC {ray_auc:.4f} (local fit {local_auc:.4f})")


def test_champion_replicas_pinned_to_the_worker(
    ray_cluster: ConnectedCluster, lead_model: LeadModel, serve_url: str
) -> None:
    url = serve_url
    deploy_champion(
        lead_model,
        {"num_replicas": 1, "ray_actor_options": {"num_cpus": 0, "resources": {"worker": 1}}},
    )
    assert replica_nodes(ray_cluster, CHAMPION_DEPLOYMENT) == [ray_cluster.worker_node_id]
    assert replica_nodes(ray_cluster, "ClusterIngress") == [ray_cluster.head_node_id]
    request, expected = http_sample(lead_model)
    response = httpx.post(url, json=request, timeout=60)
    assert response.status_code == 200, response.text
    payloads = response.json()
    assert answers(payloads) == expected  # the local model's scores, exactly
    assert {p["model_version"] for p in payloads} == {lead_model.version}


def test_losing_the_worker_keeps_serving_and_finishes_the_batch(
    ray_cluster: ConnectedCluster, lead_model: LeadModel, serve_url: str, tmp_path: Path
) -> None:
    head, worker = ray_cluster.head_node_id, ray_cluster.worker_node_id
    deploy_champion(
        lead_model,
        {
            "num_replicas": 2,
            "max_replicas_per_node": 1,  # one replica per node
            "ray_actor_options": {"num_cpus": 0},
        },
    )
    assert replica_nodes(ray_cluster, CHAMPION_DEPLOYMENT) == sorted([head, worker])
    request, expected = http_sample(lead_model)
    assert httpx.post(serve_url, json=request, timeout=60).status_code == 200

    # Two jobs running when the worker dies: the Ray Data batch run (any node, retries)
    # and plain tasks that record where each attempt ran.
    snapshot = tmp_path / "snapshot"
    frame = write_snapshot(lead_model, snapshot, copies=8, files=24)
    earlier = {task.task_id for task in read_tasks(ray_cluster)}
    data_run = BackgroundRun(snapshot, lead_model.batch)
    data_run.start()
    job = BatchJob(FEATURES, ID_COLUMN, tmp_path / "attempts")
    job.attempts_dir.mkdir()
    refs = submit_batch_job(lead_model, job, chunks=12, pause_s=1.0, scheduling_strategy="SPREAD")
    done_on_worker = wait_for_a_worker_chunk(refs, worker)
    data_mid_run = data_run.is_alive()
    ray_cluster.cluster.kill_worker()
    killed_at = time.time()

    outage = serve_through_the_loss(serve_url, request, expected, worker)
    scored = pd.concat(ray.get(refs, timeout=180), ignore_index=True)
    summary = data_run.result(timeout_s=180)
    finished_s = time.time() - killed_at

    # The plain job: every lead exactly once, the local model's scores, lost work on the head.
    assert ray_cluster.cluster.node_pid("worker") is None
    assert len(scored) == len(lead_model.leads)
    assert set(scored[ID_COLUMN]) == set(lead_model.leads[ID_COLUMN])
    local = lead_model.pipeline.predict_proba(lead_model.leads[FEATURES])[:, 1]
    np.testing.assert_allclose(scored["probability"].to_numpy(), local, atol=1e-6)
    chunks = scored.groupby("chunk").agg(node=("node_id", "first"), finished=("finished", "max"))
    assert set(chunks.loc[chunks["finished"] > killed_at, "node"]) == {head}
    attempts = job.attempts()
    started_on_worker = set(attempts.loc[attempts["node"] == worker, "chunk"])
    retried = sorted(started_on_worker & set(chunks.index[chunks["node"] == head]))
    # The Ray Data run: running at the kill, complete, equal to the in-process path.
    assert data_mid_run, "the Ray Data run ended before the worker was killed"
    in_process = score_locally(snapshot, [lead_model.batch], None, new_run(None), nthread=1)
    assert summary.contacts == len(frame) == in_process.contacts
    assert summary.models == in_process.models  # rows, bands and mean score
    data_tasks = settled_tasks(ray_cluster, exclude=earlier)
    data_retries = [t for t in data_tasks if t.attempt_number and t.node_id == head]
    # Whatever ran on the worker when it died (a chunk, a Ray Data task) ran again on the head.
    assert retried or data_retries, f"nothing was retried: {attempts}, {data_tasks}"
    # Serving: the head's replica answered throughout; the worker's is gone with its node.
    assert outage["recovered_s"] < 60, outage
    assert replica_nodes(ray_cluster, CHAMPION_DEPLOYMENT) == [head]
    print(
        f"\nworker killed: HTTP {outage}; jobs done {finished_s:.1f}s after the kill. Tasks: "
        f"{done_on_worker} chunks finished on the worker before it, chunks {retried} retried "
        f"on the head, {len(attempts)} attempts for {len(chunks)} chunks. Ray Data: "
        f"{summary.contacts} rows in {summary.seconds:.1f}s, task attempts by node and state "
        f"{attempt_counts(data_tasks, head, worker)}"
    )


class BackgroundRun:
    """``score_batch`` (Ray Data, dry run) in a thread of this driver."""

    def __init__(self, snapshot: Path, model: Any) -> None:
        self.snapshot, self.model = snapshot, model
        self.outcome: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from distributed.batch_scoring import score_batch

        try:
            self.outcome["summary"] = score_batch(
                self.snapshot, [self.model], None, max_retries=3, progress=False
            )
        except BaseException as error:  # re-raised in the test's thread
            self.outcome["error"] = error

    def start(self) -> None:
        """Start the run."""
        self.thread.start()

    def is_alive(self) -> bool:
        """Return whether the run is still going."""
        return self.thread.is_alive()

    def result(self, timeout_s: float) -> Any:
        """Wait for the run; return its summary or raise its error."""
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), f"the Ray Data run took over {timeout_s}s"
        if "error" in self.outcome:
            raise self.outcome["error"]
        return self.outcome["summary"]


def attempt_counts(tasks: list[Any], head: str, worker: str) -> dict[str, int]:
    """Count task attempts by ``node/state`` (``retry`` marks attempts after the first)."""
    names = {head: "head", worker: "worker"}
    counts: dict[str, int] = {}
    for task in tasks:
        key = f"{names.get(task.node_id, 'none')}/{task.state}"
        key += "/retry" if task.attempt_number else ""
        counts[key] = counts.get(key, 0) + 1
    return counts


def wait_for_a_worker_chunk(refs: list[ray.ObjectRef], worker: str, timeout_s: float = 90) -> int:
    """Wait until a chunk finished on the worker node (with chunks left); return how many."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, pending = ray.wait(refs, num_returns=len(refs), timeout=0.2)
        on_worker = sum(1 for frame in ray.get(ready) if frame["node_id"].iloc[0] == worker)
        if on_worker and pending:
            return on_worker
        if not pending:
            break
    raise AssertionError("no chunk finished on the worker while the job still ran")


def serve_through_the_loss(
    url: str, request: dict[str, Any], expected: list[Any], worker: str, timeout_s: float = 90
) -> dict[str, Any]:
    """Send requests until the worker is marked dead and 10 in a row answered exactly.

    Returns:
        Requests sent, failed ones, seconds until the GCS marked the node dead and until
        the last failure was followed by 10 exact answers.
    """
    started = time.monotonic()
    failures, streak, sent, dead_s = 0, 0, 0, None
    while streak < 10 or dead_s is None:
        elapsed = time.monotonic() - started
        if elapsed > timeout_s:
            raise AssertionError(f"no recovery in {timeout_s}s: {failures} of {sent} failed")
        if dead_s is None and not any(n["NodeID"] == worker and n["Alive"] for n in ray.nodes()):
            dead_s = round(elapsed, 1)
        sent += 1
        try:
            response = httpx.post(url, json=request, timeout=10)
            ok = response.status_code == 200 and answers(response.json()) == expected
        except httpx.HTTPError:
            ok = False
        streak = streak + 1 if ok else 0
        failures += 0 if ok else 1
        time.sleep(0.1)
    recovered = round(time.monotonic() - started, 1)
    return {"requests": sent, "failed": failures, "node_dead_s": dead_s, "recovered_s": recovered}
