"""A PostgreSQL server of the tests' own (initdb in a temporary folder), stoppable at will.

The machine's PostgreSQL on :5432 is shared by every test; fault-injection tests stop and
start this one instead. As root, the server runs as the ``postgres`` user (``runuser``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import insert, select

from haste.db import Base, create_db_engine, upgrade_database
from haste.records import without_nul


def postgres_bin(name: str) -> str:
    """Return the path of a PostgreSQL server program (``initdb``, ``pg_ctl``)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise FileNotFoundError(f"{name} not found (install PostgreSQL's server package)")
    return found[-1]


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on ``port`` in a new folder under ``/tmp``.

    The folder is made directly under ``/tmp`` (world-traversable) so the ``postgres`` user can
    reach it; :meth:`remove` deletes it.

    Args:
        port: TCP port on 127.0.0.1.
    """

    def __init__(self, port: int) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="haste-pg-", dir="/tmp"))
        self.port = port
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"

    @property
    def url(self) -> str:
        """Return the SQLAlchemy URL of its ``postgres`` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres?connect_timeout=3"

    def _run(self, *command: str) -> None:
        """Run a server program as the ``postgres`` user when we are root."""
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stderr.strip() or done.stdout}")

    def init(self) -> None:
        """Create the cluster (trust authentication, no fsync: a test server)."""
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            postgres_bin("initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            postgres_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (``immediate``: as a crash would, open connections are cut)."""
        self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        """Stop the server if it runs and delete its folder."""
        with contextlib.suppress(RuntimeError):  # not running
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def copy_database(source_url: str, target_url: str) -> int:
    """Migrate ``target_url`` and copy every table of ``source_url`` into it; return rows."""
    upgrade_database(target_url)
    source, target = create_db_engine(source_url), create_db_engine(target_url)
    copied = 0
    with source.connect() as reader, target.begin() as writer:
        for table in Base.metadata.sorted_tables:
            rows = [without_nul(dict(row)) for row in reader.execute(select(table)).mappings()]
            for start in range(0, len(rows), 2000):
                writer.execute(insert(table), rows[start : start + 2000])
            copied += len(rows)
    return copied
