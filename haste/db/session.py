"""Engines and sessions for the CRM database (SQLite locally, PostgreSQL in production).

Engines are cached per URL, so every caller sharing a URL shares one connection pool (and,
for ``sqlite://`` in-memory databases, one database). SQLite engines enforce foreign keys
(``PRAGMA foreign_keys=ON`` on every new connection) and use WAL journaling for file
databases, whose parent folder is created on demand.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

_ENGINES: dict[str, Engine] = {}
_FACTORIES: dict[int, sessionmaker[Session]] = {}
_LOCK = threading.RLock()


def default_database_url() -> str:
    """Return the configured database URL (``HASTE_DATABASE_URL`` or the SQLite default).

    Returns:
        The SQLAlchemy URL from :func:`haste.settings.get_settings`.

    """
    from haste.settings import get_settings

    return get_settings().database_url


def _sqlite_file(url: URL) -> Path | None:
    """Return the file of a SQLite URL, or ``None`` for in-memory/URI databases.

    Args:
        url: Parsed SQLAlchemy URL.

    Returns:
        The database file path, or ``None`` when there is no plain file.

    """
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    if url.query.get("mode") == "memory":
        return None
    return Path(database).expanduser()


def _install_sqlite_pragmas(engine: Engine, *, wal: bool) -> None:
    """Enable foreign keys (and WAL for file databases) on every new SQLite connection.

    Args:
        engine: A SQLite engine.
        wal: Whether to switch the database to WAL journal mode.

    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()


def _build_engine(url: str) -> Engine:
    """Create a new (uncached) engine configured for its backend.

    Args:
        url: SQLAlchemy database URL.

    Returns:
        A new engine.

    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db_file = _sqlite_file(parsed)
        if db_file is not None:
            db_file.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        _install_sqlite_pragmas(engine, wal=db_file is not None)
        return engine
    # Pre-ping drops connections a restarted server closed; a server that is down is reported
    # within seconds (never a hang past the gateway's time budget).
    connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": 3}
    return create_engine(parsed, pool_pre_ping=True, pool_timeout=10, connect_args=connect_args)


def create_db_engine(url: str) -> Engine:
    """Return the (cached) engine of a database URL.

    SQLite engines enforce foreign keys, use WAL journaling for file databases and create the
    database file's parent folder. Other backends get ``pool_pre_ping``, a 3 s connect timeout
    and a 10 s pool timeout.

    Args:
        url: SQLAlchemy database URL, e.g. ``sqlite:///.haste/haste.db`` or
            ``postgresql+psycopg://postgres@127.0.0.1:5432/haste``.

    Returns:
        The engine shared by every caller using the same URL.

    """
    key = str(url)
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _build_engine(key)
            _ENGINES[key] = engine
        return engine


def dispose_engine(url: str) -> None:
    """Close the pool of a cached engine and forget it (e.g. before ``DROP DATABASE``).

    Args:
        url: The URL the engine was created with.

    """
    with _LOCK:
        engine = _ENGINES.pop(str(url), None)
        if engine is not None:
            _FACTORIES.pop(id(engine), None)
            engine.dispose()


def dispose_all_engines() -> None:
    """Dispose every cached engine (test teardown, process shutdown)."""
    with _LOCK:
        for key in list(_ENGINES):
            dispose_engine(key)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory bound to an engine.

    Sessions do not expire objects on commit, so loaded rows stay readable after a
    :func:`session_scope` block ends.

    Args:
        engine: Engine to bind sessions to.

    Returns:
        A :class:`sqlalchemy.orm.sessionmaker` (cached per cached engine).

    """
    with _LOCK:
        factory = _FACTORIES.get(id(engine))
        if factory is None or factory.kw.get("bind") is not engine:
            factory = sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
            if engine in _ENGINES.values():
                _FACTORIES[id(engine)] = factory
        return factory


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """Open a transactional session: commit on success, roll back on any exception.

    Args:
        url: Database URL; defaults to the configured ``database_url`` setting.

    Yields:
        A session whose work is committed when the block exits normally; if the block raises,
        everything is rolled back (nothing half-written) and the exception propagates.

    """
    factory = make_session_factory(create_db_engine(url or default_database_url()))
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
