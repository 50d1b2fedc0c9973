"""`haste db`: create and migrate the CRM database (Alembic)."""

from __future__ import annotations

import typer

from haste.cli.common import console
from haste.settings import get_settings

app = typer.Typer(help="Create and migrate the CRM database (Alembic).", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target Alembic revision.")) -> None:
    """Migrate the database at HASTE_DATABASE_URL (default: SQLite under .haste/) up."""
    from haste.db.migrate import current_revision, upgrade_database

    url = get_settings().database_url
    upgrade_database(url, revision)
    console.print(f"database at revision [bold]{current_revision(url)}[/]")


@app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base.")) -> None:
    """Migrate the database down to REVISION."""
    from haste.db.migrate import current_revision, downgrade_database

    url = get_settings().database_url
    downgrade_database(url, revision)
    console.print(f"database at revision [bold]{current_revision(url)}[/]")


@app.command("current")
def db_current() -> None:
    """Print the database's current Alembic revision."""
    from haste.db.migrate import current_revision

    console.print(current_revision(get_settings().database_url) or "empty (no revision)")
