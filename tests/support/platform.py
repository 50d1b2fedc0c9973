"""Helpers of the served-platform tests: API keys, audit rows, a private Redis server."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from sqlalchemy import select

from haste.api_keys import create_api_key, ensure_user
from haste.db.models import AIInteraction
from haste.db.session import session_scope
from haste.settings import Settings

#: The user_config of a deterministic platform: champions only, no A/B split.
NO_AB = {"ab_rollout": {}, "models_generation": 1}


def new_key(settings: Settings, role: str, rate_limit: int | None = None) -> str:
    """Create a user of ``role`` with a fresh API key and return the key."""
    user_id = ensure_user(
        settings.database_url, f"{role}-{uuid.uuid4().hex[:6]}@hastecrm.example", "rep", "Sales"
    )
    key, _ = create_api_key(settings.database_url, user_id, f"{role} key", role, rate_limit)
    return key


def interactions(settings: Settings, **where: Any) -> list[AIInteraction]:
    """Return the audit rows matching ``column=value`` filters."""
    with session_scope(settings.database_url) as session:
        query = select(AIInteraction)
        for column, value in where.items():
            query = query.where(getattr(AIInteraction, column) == value)
        return list(session.scalars(query))


class PrivateRedis:
    """A redis-server of the tests' own on ``port`` (nothing on disk), stoppable at will."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Return the server's URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        for _ in range(50):
            try:
                if client.ping():
                    return
            except redis.exceptions.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        """Kill the server (as a crash would)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@contextmanager
def private_redis(port: int) -> Iterator[PrivateRedis]:
    """Run a private redis-server for the block."""
    server = PrivateRedis(port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
