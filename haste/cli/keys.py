"""`haste keys`: create, list and revoke API keys of the AI gateway."""

from __future__ import annotations

from typing import Annotated

import typer

from haste.cli.common import console, fail
from haste.settings import get_settings

app = typer.Typer(
    help="Create, list and revoke API keys of the AI gateway (X-API-Key header).",
    no_args_is_help=True,
)


@app.command("create")
def keys_create(
    email: Annotated[str, typer.Option(help="Owner's email (the user is created if new).")],
    role: Annotated[
        str, typer.Option(help="admin, manager, rep or service (what the key may call).")
    ] = "rep",
    team: Annotated[str | None, typer.Option(help="Team of a new user.")] = None,
    name: Annotated[str, typer.Option(help="Label of the key.")] = "default",
    rate_limit: Annotated[
        int | None, typer.Option(help="Requests per minute (default: settings).")
    ] = None,
) -> None:
    """Create an API key; the key is printed once and only its hash is stored."""
    from haste.api_keys import create_api_key, ensure_user
    from haste.db import upgrade_database

    settings = get_settings()
    settings.ensure_home()
    upgrade_database(settings.database_url)
    user_role = role if role in ("admin", "manager", "rep") else "rep"
    try:
        user_id = ensure_user(settings.database_url, email, user_role, team)
        key, key_id = create_api_key(settings.database_url, user_id, name, role, rate_limit)
    except ValueError as error:
        fail(str(error))
    console.print(f"API key {key_id} for {email} (role {role}); store it now, it is not kept:")
    console.print(key, highlight=False)


@app.command("list")
def keys_list() -> None:
    """List API keys (prefix, owner, role, limit, state); never the keys themselves."""
    from rich.table import Table
    from sqlalchemy import select

    from haste.db import APIKey, User, session_scope

    table = Table("id", "prefix", "owner", "role", "limit/min", "active", "created")
    with session_scope(get_settings().database_url) as session:
        rows = session.execute(
            select(APIKey, User.email).join(User).order_by(APIKey.created_at)
        ).all()
        for key, email in rows:
            table.add_row(
                str(key.id),
                key.key_prefix + "...",
                email,
                key.role,
                str(key.rate_limit_per_minute or "default"),
                "yes" if key.is_active else "revoked",
                key.created_at.isoformat(timespec="seconds"),
            )
    console.print(table)


@app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id from `haste keys list`.")],
) -> None:
    """Revoke a key (kept for the audit trail; refused by the gateway within 10 s)."""
    import uuid

    from haste.api_keys import revoke_api_key

    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        fail(f"not a key id: {key_id!r} (see `haste keys list`)")
    if not revoke_api_key(get_settings().database_url, parsed):
        fail(f"no active key {key_id}")
    console.print(f"revoked {key_id}")
