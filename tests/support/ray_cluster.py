"""A two-node Ray cluster for the tests, run by ``scripts/ray-cluster.sh`` on its own ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from haste.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "ray-cluster.sh"
STATE_ROOT = Path("/tmp/haste-ray")  # short: Ray's unix sockets live under it (107-char limit)

#: Faster node-death detection than Ray's defaults (about 30 s), for the node-loss test.
FAST_FAILURE_DETECTION = {
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


def ports_free(base: int, count: int = 100) -> bool:
    """Return whether every port of ``base .. base + count - 1`` can be bound now."""
    for port in range(base, base + count):
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                return False
    return True


def free_cluster_port(first: int = 6590, last: int = 7590) -> int:
    """Return a base port whose 100-port block (the cluster's) is free, stepping by 100."""
    for base in range(first, last, 100):
        running = [STATE_ROOT / str(base) / f"{node}.pid" for node in ("head", "worker")]
        if ports_free(base) and not any(path.exists() for path in running):
            return base
    raise RuntimeError(f"no free 100-port block for a Ray cluster in {first}..{last}")


@dataclass
class TwoNodeCluster:
    """A running head + worker cluster started by the script.

    Attributes:
        port: The GCS port (the cluster owns ``port .. port + 99``).
        env: The script's environment (its port, dashboard and failure detection).
        up_seconds: How long ``up`` took.
    """

    port: int
    env: dict[str, str] = field(default_factory=dict)
    up_seconds: float = 0.0

    @property
    def address(self) -> str:
        """Return the GCS address drivers connect to."""
        return f"127.0.0.1:{self.port}"

    @property
    def state_dir(self) -> Path:
        """Return the folder of the nodes' temp dirs, logs and pid files."""
        return STATE_ROOT / str(self.port)

    def run(self, command: str, timeout: float = 150.0) -> subprocess.CompletedProcess[str]:
        """Run ``scripts/ray-cluster.sh <command>`` and return its completed process."""
        return subprocess.run(
            ["bash", str(SCRIPT), command],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def up(self) -> None:
        """Start both nodes; raise with the script's output when it fails."""
        started = time.monotonic()
        result = self.run("up")
        self.up_seconds = time.monotonic() - started
        if result.returncode != 0:
            raise RuntimeError(f"ray-cluster.sh up failed:\n{result.stdout}\n{result.stderr}")

    def down(self) -> str:
        """Stop both nodes and remove their state; return the script's output.

        The driver process may still write a log file under the head's temp dir when it
        exits (an empty session skeleton stays behind then; a later cluster reuses the port).
        """
        result = self.run("down")
        shutil.rmtree(self.state_dir, ignore_errors=True)
        return result.stdout + result.stderr

    def kill_worker(self) -> None:
        """SIGKILL the worker node's whole process tree (a lost node)."""
        result = self.run("kill-worker")
        if result.returncode != 0:
            raise RuntimeError(f"kill-worker failed:\n{result.stdout}\n{result.stderr}")

    def node_pid(self, name: str) -> int | None:
        """Return the pid of a node's ``ray start`` process, or None when it is not running."""
        path = self.state_dir / f"{name}.pid"
        if not path.exists():
            return None
        pid = int(path.read_text().strip())
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid


def new_cluster(port: int, extra_env: dict[str, str] | None = None) -> TwoNodeCluster:
    """Return a (not yet started) cluster on ``port`` with the dashboard (state API) on."""
    env = {
        **os.environ,
        "RAY_CLUSTER_PORT": str(port),
        "RAY_CLUSTER_DIR": str(STATE_ROOT),
        "RAY_CLUSTER_DASHBOARD": "1",  # ray.util.state (actor placement) needs it
        "RAY_CLUSTER_GRACE_S": "1",  # nothing to flush: the test's cluster is thrown away
        # Ray reads the auth mode once per process (a pytest process may have fixed it to
        # "disabled" already), so the test cluster runs without token auth; the drill ends
        # with the test. `up` by hand keeps the token default.
        "RAY_AUTH_MODE": "disabled",
        **(extra_env or {}),
    }
    return TwoNodeCluster(port=port, env=env)


#: Real Leads.csv columns the small model is fitted on.
FEATURES = ["Total Time Spent on Website", "TotalVisits", "Lead Origin", "Do Not Email"]
ID_COLUMN = "Prospect ID"
LABEL = "Converted"


@dataclass
class ConnectedCluster:
    """The started cluster, connected as this process's Ray driver.

    Attributes:
        cluster: The script-run cluster.
        head_node_id: Node id of the head (the driver attaches to it).
        worker_node_id: Node id of the worker (the one with the ``worker`` resource).
    """

    cluster: TwoNodeCluster
    head_node_id: str
    worker_node_id: str


@dataclass
class LeadModel:
    """The served model and what the tests score with it.

    Attributes:
        settings: The platform settings naming its MLflow store and database.
        pipeline: The fitted ``encode -> XGBClassifier`` pipeline.
        leads: Leads.csv: id, model inputs, label.
        version: Its registry version (the ``champion``).
        batch: The champion loaded for batch scoring (``training.batch_predict.BatchModel``).
    """

    settings: Settings
    pipeline: Pipeline
    leads: pd.DataFrame
    version: str
    batch: Any


def write_snapshot(model: LeadModel, out_dir: Path, copies: int, files: int) -> pd.DataFrame:
    """Write ``copies`` x Leads.csv as a scoring snapshot of ``files`` parquet files.

    Every copy gets its own contact ids (UUID5 of the prospect id and the copy number).

    Returns:
        The snapshot's frame: ``contact_id`` and the model inputs.
    """
    from features.scoring_snapshot import write_snapshot_frame

    frames = []
    for copy in range(copies):
        ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{p}/{copy}")) for p in model.leads[ID_COLUMN]]
        frames.append(model.leads[FEATURES].assign(contact_id=ids))
    frame = pd.concat(frames, ignore_index=True)[["contact_id", *FEATURES]]
    write_snapshot_frame(frame, out_dir, rows_per_file=-(-len(frame) // files))
    return frame
