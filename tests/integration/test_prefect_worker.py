"""``scripts/prefect-server.sh``: a real Prefect server, ``prefect deploy --all``, a process worker.

The stack runs on its own port with its own Prefect home and SQLite database, and the flow runs
use a temporary CRM database and data folder: nothing touches a user's server or data. The
scheduler service is off, so the cron schedules of ``prefect.yaml`` create no runs here; the one
run is triggered through the API like the UI's "Custom run". ``tests/unit/test_prefect_yaml.py``
checks the file itself; this module checks what the server holds and that a worker runs it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from haste.db import Deal, session_scope, upgrade_database
from haste.db.session import dispose_all_engines
from haste.settings import PROJECT_ROOT
from monitoring.ledger import LedgerEntry, record_forecasts

SCRIPT = PROJECT_ROOT / "scripts" / "prefect-server.sh"
PREFECT_FILE = Path(os.environ.get("HASTE_TEST_PREFECT_FILE", PROJECT_ROOT / "prefect.yaml"))
PORT = int(os.environ.get("HASTE_TEST_PREFECT_PORT", "4310"))
POOL = "local-process"
QUICK = "forecast-ledger-scoring/forecast-ledger-scoring-daily"  # ~10 s on an empty ledger
UP_TIMEOUT_S = 420
RUN_TIMEOUT_S = 240
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
UTC = dt.UTC


@dataclass(frozen=True)
class Stack:
    """A started server + worker and the private state of its flow runs."""

    env: dict[str, str]
    state_dir: Path
    api_url: str
    database_url: str
    data_dir: Path

    def logs(self, lines: int = 30) -> str:
        """Return the end of the worker, server and deploy logs (for failure messages)."""
        parts = []
        for name in ("worker.log", "server.log", "deploy.log"):
            path = self.state_dir / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def pids(self) -> dict[str, int]:
        """Return the recorded pids of the server and the worker."""
        return {
            name: int((self.state_dir / f"{name}.pid").read_text())
            for name in ("server", "worker")
            if (self.state_dir / f"{name}.pid").exists()
        }


def run_script(stack_env: dict[str, str], *args: str, timeout: float = 120) -> Any:
    """Run ``scripts/prefect-server.sh`` with the stack's environment."""
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env=stack_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def port_is_free(port: int) -> bool:
    """Return whether nothing listens on 127.0.0.1:port."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def stack_environment(state: Path) -> dict[str, str]:
    """Return the script's environment: private Prefect home, port, CRM database and data dir."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "HASTE_PREFECT_")) and k != "HASTE_REPO_DIR"
    }
    env.update(
        HASTE_PREFECT_HOME=str(state),
        HASTE_PREFECT_PORT=str(PORT),
        HASTE_PREFECT_FILE=str(PREFECT_FILE),
        HASTE_PREFECT_TIMEOUT="240",
        PREFECT_HOME=str(state / "home"),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{state / 'prefect.db'}",
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
        PREFECT_WORKER_QUERY_SECONDS="2",
        HASTE_HOME=str(state / "haste"),
        HASTE_DATA_DIR=str(state / "data"),
        HASTE_DATABASE_URL=f"sqlite:///{state / 'haste' / 'haste.db'}",
        HASTE_MLFLOW_TRACKING_URI=f"sqlite:///{state / 'haste' / 'mlflow.db'}",
    )
    return env


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """``prefect-server.sh up --deploy`` on a private port; ``down`` afterwards, even on failure."""
    if not port_is_free(PORT):
        pytest.fail(
            f"127.0.0.1:{PORT} is in use: stop what listens there or set HASTE_TEST_PREFECT_PORT"
        )
    state = tmp_path_factory.mktemp("prefect-stack")
    (state / "haste").mkdir()
    env = stack_environment(state)
    stack = Stack(
        env=env,
        state_dir=state,
        api_url=f"http://127.0.0.1:{PORT}/api",
        database_url=env["HASTE_DATABASE_URL"],
        data_dir=state / "data",
    )
    try:
        started = time.monotonic()
        up = run_script(env, "up", "--deploy", timeout=UP_TIMEOUT_S)
        assert up.returncode == 0, (
            f"`prefect-server.sh up --deploy` failed ({up.returncode}):\n{up.stderr}\n"
            f"{stack.logs()}"
        )
        print(f"up --deploy took {time.monotonic() - started:.1f}s")
        yield stack
    finally:
        down = run_script(env, "down", timeout=120)
        for name, pid in stack.pids().items():  # pid files remain only if `down` failed
            if running(pid):
                psutil.Process(pid).kill()
                print(f"killed the leftover {name} (pid {pid}): {down.stderr}")


def prefect_client(api_url: str) -> Any:
    """Return a sync Prefect client of the stack's API (not the profile's, not ephemeral)."""
    from prefect.client.orchestration import SyncPrefectClient

    return SyncPrefectClient(api_url)


def running(pid: int) -> bool:
    """Return whether a process runs (a zombie waiting for its reaper does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def seed_two_deal_forecasts(url: str) -> None:
    """Record win-probability forecasts of a deal won on 3 March and one lost on 12 March 2025."""
    upgrade_database(url)
    made = dt.datetime(2025, 2, 15, tzinfo=UTC)
    with session_scope(url) as session:
        won = Deal(
            name="won",
            stage="closed_won",
            amount=1000.0,
            is_won=True,
            created_at=dt.datetime(2025, 2, 1, tzinfo=UTC),
            closed_at=dt.datetime(2025, 3, 3, tzinfo=UTC),
        )
        lost = Deal(
            name="lost",
            stage="closed_lost",
            amount=500.0,
            is_won=False,
            created_at=dt.datetime(2025, 2, 10, tzinfo=UTC),
            closed_at=dt.datetime(2025, 3, 12, tzinfo=UTC),
        )
        session.add_all([won, lost])
        session.flush()
        ids = [str(won.id), str(lost.id)]
    entries = [
        LedgerEntry(
            "win_probability",
            entity_type="deal",
            entity_id=deal_id,
            model_name="wp",
            model_version="1",
            made_at=made,
            target_at=made + dt.timedelta(days=20),
            probability=probability,
            naive=0.5,
        )
        for deal_id, probability in zip(ids, (0.8, 0.3), strict=True)
    ]
    assert record_forecasts(url, entries) == 2
    dispose_all_engines()


def test_deploy_all_registers_every_deployment(stack: Stack) -> None:
    declared = {d["name"]: d for d in yaml.safe_load(PREFECT_FILE.read_text())["deployments"]}
    with prefect_client(stack.api_url) as client:
        registered = {d.name: d for d in client.read_deployments()}
        pool = client.read_work_pool(POOL)
        flow_runs = client.read_flow_runs()
    assert set(registered) == set(declared)
    assert pool.type == "process"
    assert not flow_runs, "the scheduler is off: no run may exist before the test triggers one"
    for name, deployment in registered.items():
        spec = declared[name]
        assert deployment.entrypoint == spec["entrypoint"], name
        assert deployment.work_pool_name == POOL, name
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT_ROOT)}}
        ], name
        crons = sorted(s.schedule.cron for s in deployment.schedules)
        assert crons == sorted(s["cron"] for s in spec["schedules"]), name
        assert deployment.parameters == spec.get("parameters", {}), name


def test_custom_run_completes_on_the_worker(stack: Stack) -> None:
    user_report = PROJECT_ROOT / "data" / "reports" / "forecast_ledger" / "ledger_report.json"
    user_mtime = user_report.stat().st_mtime if user_report.exists() else None
    seed_two_deal_forecasts(stack.database_url)
    started = time.monotonic()
    with prefect_client(stack.api_url) as client:
        deployment = client.read_deployment_by_name(QUICK)
        # as_of between the two closes: the won deal resolves, the lost one stays pending.
        run = client.create_flow_run_from_deployment(
            deployment.id, parameters={"as_of": "2025-03-05T00:00:00+00:00"}
        )
        while True:
            run = client.read_flow_run(run.id)
            if run.state is not None and run.state.type.value in FINAL:
                break
            if time.monotonic() - started > RUN_TIMEOUT_S:
                pytest.fail(
                    f"flow run {run.id} still {run.state} after {RUN_TIMEOUT_S}s\n{stack.logs()}"
                )
            time.sleep(1)
        elapsed = time.monotonic() - started
        assert run.state.type.value == "COMPLETED", (
            f"flow run {run.id} ended {run.state}: {run.state.message}\n{stack.logs()}"
        )
        assert run.parameters == {"as_of": "2025-03-05T00:00:00+00:00"}
        artifacts = {a.key: a for a in client.read_artifacts() if a.flow_run_id == run.id}
    print(f"flow run completed {elapsed:.1f}s after it was created")

    assert set(artifacts) == {"forecast-ledger", "forecast-ledger-report"}
    table = json.loads(artifacts["forecast-ledger"].data)
    assert [row["kind"] for row in table] == ["win_probability"]
    report = json.loads(
        (stack.data_dir / "reports" / "forecast_ledger" / "ledger_report.json").read_text()
    )
    assert (report["entries"], report["resolved"]) == (2, 1)
    summary = report["kinds"]["win_probability"]
    assert summary["brier"] == pytest.approx((0.8 - 1.0) ** 2)  # the won deal only
    assert summary["naive_brier"] == pytest.approx(0.25)
    if user_mtime is None:
        assert not user_report.exists(), "the flow run wrote into the repo's data/"
    else:
        assert user_report.stat().st_mtime == user_mtime, "the flow run wrote into data/"


def test_up_again_keeps_the_running_processes(stack: Stack) -> None:
    before = stack.pids()
    again = run_script(stack.env, "up", timeout=120)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stderr
    assert stack.pids() == before
    status = run_script(stack.env, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"API {stack.api_url} healthy" in status.stdout
    assert f"pool '{POOL}' ready" in status.stdout


def test_down_stops_worker_then_server(stack: Stack) -> None:
    pids = stack.pids()
    assert set(pids) == {"server", "worker"}
    down = run_script(stack.env, "down", timeout=120)
    assert down.returncode == 0, down.stderr
    lines = down.stderr.splitlines()
    worker_line = next(i for i, line in enumerate(lines) if "worker stopped" in line)
    server_line = next(i for i, line in enumerate(lines) if "server stopped" in line)
    assert worker_line < server_line
    assert not any(running(pid) for pid in pids.values())
    assert port_is_free(PORT)
    status = run_script(stack.env, "status")
    assert status.returncode == 3, status.stdout
