"""`haste keys`: create, list and revoke API keys of the AI gateway."""

from __future__ import annotations

from collections.abc import Callable
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


@app.command("rotate-data-key")
def keys_rotate_data_key(
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Add no new key: finish re-encrypting under the current first key "
            "(after an interrupted rotation, or a key added to HASTE_DATA_KEYS).",
        ),
    ] = False,
    drop_old: Annotated[
        bool,
        typer.Option(
            "--drop-old", help="Then remove the old keys from the key file (once no row uses them)."
        ),
    ] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Rows per transaction.")
    ] = 500,
) -> None:
    """Rotate the data-encryption key: new key first, re-encrypt every row, servers keep running.

    Idempotent and resumable: rows already under the first key are skipped.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from haste.crypto import DataKeyError, Keyring, use_keyring
    from haste.db import upgrade_database
    from haste.key_rotation import (
        add_primary_key,
        drop_retired_keys,
        reencrypt_database,
        stored_key_usage,
    )

    settings = get_settings()
    path = settings.data_key_file
    from_env = bool(settings.data_keys.get_secret_value().strip())
    if from_env and not resume:
        fail(
            "the data keys come from HASTE_DATA_KEYS, which this command cannot change: put a "
            "new key first there (keep the old ones), restart, then run "
            "`haste keys rotate-data-key --resume`"
        )
    if from_env and drop_old:
        fail("with HASTE_DATA_KEYS, remove old keys there once `data-key-status` shows 0 rows")
    assert path is not None
    upgrade_database(settings.database_url)
    try:
        if not resume:
            key = add_primary_key(path)
            console.print(f"new data key [bold]{key.id}[/] is now first in {path}")
        keyring = Keyring.from_settings(settings)
        use_keyring(keyring)  # this process encrypts under the new key at once
        columns = (TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=console, transient=True) as progress:

            def track(table: str, total: int) -> Callable[[int], None]:
                task = progress.add_task(table, total=total)
                return lambda n: progress.advance(task, n)

            counts = reencrypt_database(settings.database_url, keyring, batch_size, track)
        dropped: list[str] = []
        if drop_old:
            console.print(f"waiting {settings.data_key_reload_s:g} s for servers to reload keys")
            dropped = drop_retired_keys(
                settings.database_url, keyring, path, settings.data_key_reload_s + 1, batch_size
            )
        usage = stored_key_usage(settings.database_url)
    except DataKeyError as error:
        fail(str(error))
    finally:
        use_keyring(None)
    from rich.table import Table

    table = Table("table", "rows", "re-encrypted", "changed meanwhile (kept)")
    for name, count in counts.items():
        table.add_row(name, str(count.rows), str(count.rewritten), str(count.skipped_changed))
    console.print(table)
    console.print(
        f"primary key {keyring.primary_id}; values per key: "
        + (", ".join(f"{k}={v}" for k, v in sorted(usage.items())) or "none")
    )
    if dropped:
        console.print(f"removed retired keys {', '.join(dropped)} from {path}")


@app.command("data-key-status")
def keys_data_key_status() -> None:
    """Show the data keys (ids, never the keys) and how many stored values each encrypts."""
    from rich.table import Table

    from haste.crypto import DataKeyError, Keyring
    from haste.key_rotation import stored_key_usage

    settings = get_settings()
    try:
        keyring = Keyring.from_settings(settings)
    except DataKeyError as error:
        fail(str(error))
    usage = stored_key_usage(settings.database_url)
    source = "HASTE_DATA_KEYS" if settings.data_keys.get_secret_value() else settings.data_key_file
    table = Table("key id", "role", "created", "values", title=f"data keys ({source})")
    for index, key in enumerate(keyring.keys):
        role = "encrypts + decrypts" if index == 0 else "decrypts (retired)"
        table.add_row(key.id, role, key.created_at or "", str(usage.pop(key.id, 0)))
    for key_id, count in sorted(usage.items()):
        label = "not encrypted (legacy)" if key_id == "plaintext" else "MISSING KEY"
        table.add_row(key_id, label, "", str(count))
    console.print(table)
