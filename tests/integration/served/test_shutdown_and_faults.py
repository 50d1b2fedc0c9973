"""Faults under load: PostgreSQL stopped and restarted, then SIGTERM to ``haste serve``.

``haste serve`` runs in a subprocess (as an operator starts it) on a private PostgreSQL holding
a copy of the platform's CRM, while threads send lead-score requests, each with its own
``X-Request-ID``. The client must only ever see 200 or 503 with ``Retry-After`` (never a 500,
never a hang past the time budget), the gateway must recover when the database returns, and
every request answered 200 must have its audit row. This module runs last in the package: it
stops the in-process server first (one Ray cluster at a time on a small machine).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from haste.api_keys import create_api_key, ensure_user
from haste.db import AIInteraction, session_scope
from haste.db.session import dispose_engine
from haste.settings import Settings
from tests.support.asgi_server import free_port
from tests.support.private_postgres import PrivatePostgres, copy_database

#: The gateway's interactive time budget (configs/serve.yaml) plus the client's slack.
MAX_ANSWER_S = 30 + 10


@dataclass
class Served:
    """The subprocess server and what the tests need of it."""

    url: str
    key: str
    key_id: uuid.UUID
    process: subprocess.Popen
    postgres: PrivatePostgres
    contacts: list[str]


@pytest.fixture(scope="module")
def served(platform: tuple[Settings, list[dict[str, Any]]], tmp_path_factory) -> Iterator[Served]:
    """``haste serve`` on a private PostgreSQL copy of the platform's CRM."""
    from serving.runner import stop_serving

    stop_serving()  # the package's in-process server: this module is the package's last
    settings, (first, *_) = platform
    postgres = PrivatePostgres(free_port())
    postgres.init()
    postgres.start()
    process = None
    try:
        copy_database(settings.database_url, postgres.url)
        user_id = ensure_user(postgres.url, "faults@hastecrm.example", "admin", "E2E")
        key, key_id = create_api_key(postgres.url, user_id, "faults", "admin", 100_000)
        port = free_port()
        env = {
            **os.environ,
            "HASTE_DATABASE_URL": postgres.url,
            "HASTE_SERVE_PORT": str(port),
            "HASTE_METRICS_PORT": str(free_port()),
        }
        log = (tmp_path_factory.mktemp("serve") / "serve.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "haste", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, process, timeout_s=300)
        contacts = list(first["held_out_contacts"])  # 20 held-out leads with profiles
        yield Served(url, key, key_id, process, postgres, contacts)
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        dispose_engine(postgres.url)
        postgres.remove()


def _wait_healthy(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "haste serve exited before it was healthy"
        try:
            if httpx.get(f"{url}/api/ai/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"haste serve at {url} not healthy after {timeout_s} s")


@dataclass(frozen=True)
class Answer:
    """One request of the load: when it started, what came back, how long it took."""

    started_s: float
    request_id: str
    status: int  # 0: no answer (connection refused: the server is gone)
    retry_after: str | None
    seconds: float


def _load(
    served: Served, duration_s: float, events: dict[float, Callable[[], None]], workers: int = 4
) -> list[Answer]:
    """Send lead-score requests from ``workers`` threads for ``duration_s``; run ``events``."""
    answers: list[Answer] = []
    lock = threading.Lock()
    origin = time.monotonic()
    stop = threading.Event()

    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            send(worker)
        except BaseException as error:  # surfaced by the caller, not lost in the thread
            errors.append(error)

    def send(worker: int) -> None:
        with httpx.Client(
            base_url=served.url, timeout=MAX_ANSWER_S + 20, headers={"X-API-Key": served.key}
        ) as client:
            n = worker
            while not stop.is_set():
                request_id = uuid.uuid4().hex
                started = time.monotonic()
                try:
                    response = client.post(
                        "/api/ai/lead-score",
                        json={"contact_id": served.contacts[n % len(served.contacts)]},
                        headers={"X-Request-ID": request_id},
                    )
                    status, retry = response.status_code, response.headers.get("Retry-After")
                except httpx.TransportError:
                    status, retry = 0, None
                    time.sleep(0.2)
                with lock:
                    answers.append(
                        Answer(
                            started - origin, request_id, status, retry, time.monotonic() - started
                        )
                    )
                n += workers

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    for at, action in sorted(events.items()):
        time.sleep(max(0.0, at - (time.monotonic() - origin)))
        action()
    time.sleep(max(0.0, duration_s - (time.monotonic() - origin)))
    stop.set()
    for thread in threads:
        thread.join(timeout=MAX_ANSWER_S + 30)
    assert not errors, errors
    assert answers, "the load sent nothing"
    return answers


def _summarise(name: str, answers: list[Answer], recorded: int) -> None:
    """Print what the client saw (``pytest -s`` shows it; the README quotes it)."""
    statuses: dict[int, int] = {}
    for answer in answers:
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
    slowest = max(answer.seconds for answer in answers)
    print(
        f"{name}: {len(answers)} requests, statuses {statuses}, slowest {slowest:.2f} s, "
        f"{recorded} of {statuses.get(200, 0)} accepted recorded"
    )


def _recorded(served: Served, request_ids: set[str]) -> set[str]:
    """Return which of these request ids have an audit row of the load's key."""
    found: set[str] = set()
    ids = sorted(request_ids)
    with session_scope(served.postgres.url) as session:
        for start in range(0, len(ids), 500):
            found |= set(
                session.scalars(
                    select(AIInteraction.request_id).where(
                        AIInteraction.api_key_id == served.key_id,
                        AIInteraction.request_id.in_(ids[start : start + 500]),
                    )
                )
            )
    return found


def test_postgres_stopped_mid_load_is_503_then_recovers_losing_no_record(
    served: Served,
) -> None:
    answers = _load(
        served,
        duration_s=45,
        events={10: served.postgres.stop, 22: served.postgres.start},
    )
    statuses = {answer.status for answer in answers}
    assert statuses <= {200, 503}, statuses  # never a 500, never a dropped connection
    refused = [answer for answer in answers if answer.status == 503]
    assert refused, "the outage was not seen: no 503"
    assert all(answer.retry_after for answer in refused)
    assert max(answer.seconds for answer in answers) < MAX_ANSWER_S
    recovered = [answer for answer in answers if answer.started_s > 32]
    assert recovered and all(answer.status == 200 for answer in recovered)
    accepted = {answer.request_id for answer in answers if answer.status == 200}
    recorded = _recorded(served, accepted)
    _summarise("postgres stopped 10-22 s", answers, len(recorded))
    assert recorded == accepted


def test_sigterm_under_load_drains_and_exits_losing_no_record(served: Served) -> None:
    sent_at: list[float] = []

    def terminate() -> None:
        sent_at.append(time.monotonic())
        os.kill(served.process.pid, signal.SIGTERM)

    answers = _load(served, duration_s=25, events={6: terminate})
    served.process.wait(timeout=60)
    exited_after = time.monotonic() - sent_at[0]
    assert served.process.returncode == 0
    assert exited_after < 20 + 25  # limits.shutdown_grace_s + slack
    # While the app is deleted the proxy may answer 404 (no such route) or 503; never a 500.
    assert {answer.status for answer in answers} <= {200, 404, 503, 0}
    accepted = {answer.request_id for answer in answers if answer.status == 200}
    assert len(accepted) > 10
    recorded = _recorded(served, accepted)
    _summarise(f"SIGTERM at 6 s, exit after {exited_after:.1f} s", answers, len(recorded))
    assert recorded == accepted
    assert answers[-1].status == 0  # it stopped taking requests
    assert Path("/proc", str(served.process.pid)).exists() is False
