"""Programmatic Alembic migrations of the CRM database (no ``alembic.ini`` needed).

Example:
    >>> from haste.db.migrate import upgrade_database
    >>> upgrade_database("sqlite:///.haste/haste.db")  # doctest: +SKIP

The same migrations run from the repository root with ``alembic upgrade head`` (the root
``alembic.ini`` points at ``haste/migrations``; the URL comes from ``HASTE_DATABASE_URL`` or
the settings file).

"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from haste.db.session import create_db_engine

#: Folder holding ``env.py``, ``script.py.mako`` and ``versions/``.
MIGRATIONS_DIR: Path = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    """Build an Alembic configuration in code for a database URL.

    Args:
        url: SQLAlchemy database URL to migrate.

    Returns:
        A :class:`alembic.config.Config` whose ``script_location`` is ``haste/migrations`` and
        whose ``sqlalchemy.url`` is ``url``.

    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolates "%": escape it (URL-encoded passwords contain "%xx").
    config.set_main_option("sqlalchemy.url", str(url).replace("%", "%%"))
    return config


def _run(url: str, action: str, revision: str) -> None:
    """Run an Alembic command on the cached engine of ``url`` (one connection, one transaction).

    Args:
        url: SQLAlchemy database URL.
        action: ``"upgrade"`` or ``"downgrade"``.
        revision: Target revision.

    """
    config = alembic_config(url)
    with create_db_engine(url).connect() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)
        if connection.in_transaction():
            connection.commit()


def upgrade_database(url: str, revision: str = "head") -> None:
    """Upgrade a database to ``revision`` (creating every table on a fresh database).

    Args:
        url: SQLAlchemy database URL.
        revision: Target revision, ``"head"`` by default.

    """
    _run(url, "upgrade", revision)


def downgrade_database(url: str, revision: str) -> None:
    """Downgrade a database to ``revision`` (``"base"`` drops every table).

    Args:
        url: SQLAlchemy database URL.
        revision: Target revision, e.g. ``"base"`` or ``"-1"``.

    """
    _run(url, "downgrade", revision)


def current_revision(url: str) -> str | None:
    """Return the revision a database is at.

    Args:
        url: SQLAlchemy database URL.

    Returns:
        The current revision id, or ``None`` for an unmigrated (or fully downgraded) database.

    """
    with create_db_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """Return the head revision of the migration scripts.

    Returns:
        The id of the newest migration.

    """
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
