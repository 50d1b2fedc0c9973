"""Rotation of the data-encryption keys without downtime (``haste keys rotate-data-key``).

1. :func:`add_primary_key` writes a fresh key *first* in the key file, keeping the old ones:
   running processes start encrypting with it within ``data_key_reload_s`` seconds and still
   read everything (they reload the file at once when they meet the new key id).
2. :func:`reencrypt_database` rewrites every encrypted column under the new key, a batch per
   short transaction, compare-and-set per row (a concurrent write is never overwritten);
   legacy plaintext rows are encrypted on the way. Rerunning it resumes where it stopped.
3. :func:`drop_retired_keys` (``--drop-old``) waits for the running processes to pick the new
   key up, runs a last pass for rows written meanwhile, and removes the old keys from the file
   only when no row is left under them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from haste.crypto import DataKey, DataKeyError, Keyring, read_key_file, write_key_file
from haste.crypto_rows import (
    RewriteCount,
    TableSpec,
    key_usage,
    rewrite_rows,
    rotate_transform,
    specs_from_metadata,
)

#: Per table: (table name, rows in it) -> callback advanced with each batch's row count.
ProgressFactory = Callable[[str, int], Callable[[int], None]]


@dataclass
class RotationReport:
    """What a rotation did."""

    primary_id: str
    tables: dict[str, RewriteCount] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


def encrypted_tables() -> list[TableSpec]:
    """Return the tables with encrypted columns, from the models' metadata."""
    from haste.db import Base

    return specs_from_metadata(Base.metadata)


def add_primary_key(path: Path) -> DataKey:
    """Put a fresh key first in the key file (the old keys stay, to decrypt); return it."""
    keys = read_key_file(path) if path.exists() else []
    key = DataKey.generate()
    write_key_file(path, [key, *keys])
    return key


def reencrypt_database(
    url: str,
    keyring: Keyring,
    batch_size: int = 500,
    progress: ProgressFactory | None = None,
) -> dict[str, RewriteCount]:
    """Re-encrypt every encrypted column of the database under the keyring's primary key.

    Args:
        url: Database URL.
        keyring: Keyring whose primary key encrypts (holding every key rows may be under).
        batch_size: Rows per transaction.
        progress: Progress callbacks per table (rich progress bars in the CLI).

    Returns:
        What each table's pass did.
    """
    from haste.db import create_db_engine

    engine = create_db_engine(url)
    counts: dict[str, RewriteCount] = {}
    for spec in encrypted_tables():
        with engine.connect() as connection:
            total = connection.execute(
                sa.select(sa.func.count()).select_from(sa.table(spec.name))
            ).scalar_one()
        advance = progress(spec.name, int(total)) if progress is not None else None
        transform = rotate_transform(keyring, spec.columns)
        counts[spec.name] = rewrite_rows(engine, spec, transform, batch_size, advance)
    return counts


def stored_key_usage(url: str) -> dict[str, int]:
    """Return how many stored values each key id encrypts (``plaintext``: not encrypted)."""
    from haste.db import create_db_engine

    return key_usage(create_db_engine(url), encrypted_tables())


def drop_retired_keys(
    url: str, keyring: Keyring, path: Path, wait_s: float, batch_size: int = 500
) -> list[str]:
    """Remove every key but the primary from the key file once no row is under them.

    Args:
        url: Database URL.
        keyring: The keyring (primary = the key that stays).
        path: The key file.
        wait_s: Seconds to wait first, so running processes switch to the new primary key.
        batch_size: Rows per transaction of the last pass.

    Returns:
        The ids of the keys removed.

    Raises:
        DataKeyError: When rows are still under an old key (nothing is removed).
    """
    time.sleep(wait_s)
    reencrypt_database(url, keyring, batch_size)  # rows written under an old key meanwhile
    usage = stored_key_usage(url)
    retired = [key for key in read_key_file(path) if key.id != keyring.primary_id]
    left = {key.id: usage[key.id] for key in retired if usage.get(key.id)}
    if left:
        raise DataKeyError(
            f"rows are still under old keys {left}; nothing removed: rerun "
            "`haste keys rotate-data-key --resume --drop-old`"
        )
    primary = [key for key in read_key_file(path) if key.id == keyring.primary_id]
    write_key_file(path, primary)
    return [key.id for key in retired]
