"""The synthetic CRM's tables (SyntheticCRM) and their Parquet files (UUIDs and JSON kept exact)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipelines.synthetic_base import (
    _objects,
    _uuid_from_int,
)

#: Database tables in foreign-key order (parents first).
DB_TABLES: tuple[str, ...] = (
    "teams",
    "users",
    "companies",
    "contacts",
    "accounts",
    "deals",
    "activities",
)

if TYPE_CHECKING:
    import pyarrow as pa


#: Raw behavioural event streams (not database tables).
EVENT_TABLES: tuple[str, ...] = ("email_events", "web_events", "social_events")


#: Every frame of a :class:`SyntheticCRM`, in :meth:`SyntheticCRM.tables` order.
ALL_TABLES: tuple[str, ...] = (*DB_TABLES, *EVENT_TABLES, "labels")


_UUID_COLUMNS: dict[str, tuple[str, ...]] = {
    "teams": ("id",),
    "users": ("id", "team_id"),
    "companies": ("id",),
    "contacts": ("id", "company_id", "owner_id"),
    "accounts": ("id", "company_id"),
    "deals": ("id", "account_id", "contact_id", "owner_id"),
    "activities": ("id", "contact_id", "deal_id", "user_id"),
    "email_events": ("event_id", "contact_id"),
    "web_events": ("event_id", "contact_id"),
    "social_events": ("event_id", "contact_id"),
    "labels": ("contact_id",),
}


_JSON_COLUMNS: dict[str, tuple[str, ...]] = {"activities": ("details",)}


_DTYPES_KEY = "haste.synthetic.dtypes"


@dataclass(frozen=True)
class SyntheticCRM:
    """All frames of one synthetic CRM snapshot.

    Attributes:
        teams: Sales teams.
        users: CRM users (sales staff) with their team and role.
        companies: Companies the contacts work for.
        contacts: People in the CRM, with the protected ``gender`` attribute and ``ai_consent``.
        accounts: Customer and trial accounts, one per company at most.
        deals: Sales opportunities; converted contacts have a ``closed_won`` one.
        activities: Rep activities (emails, calls, meetings, notes, tasks).
        email_events: Marketing email sends and the opens, clicks and replies they cause.
        web_events: Website page views and form fills.
        social_events: Social media mentions, follows and shares.
        labels: One row per contact: ``converted``, ``converted_at`` and ``label_time``.

    """

    teams: pd.DataFrame
    users: pd.DataFrame
    companies: pd.DataFrame
    contacts: pd.DataFrame
    accounts: pd.DataFrame
    deals: pd.DataFrame
    activities: pd.DataFrame
    email_events: pd.DataFrame
    web_events: pd.DataFrame
    social_events: pd.DataFrame
    labels: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return every frame by name, database tables first in foreign-key order.

        Returns:
            Mapping of table name to frame, in :data:`ALL_TABLES` order.

        """
        return {name: getattr(self, name) for name in ALL_TABLES}


def _uuid_column(values: pd.Series) -> pa.ExtensionArray:
    """Convert a column of :class:`uuid.UUID` (or ``None``) to an Arrow ``uuid`` array."""
    import pyarrow as pa

    return pa.array([None if v is None else v.bytes for v in values.tolist()], type=pa.uuid())


def _uuid_objects(column: pa.ChunkedArray) -> np.ndarray:
    """Convert an Arrow ``uuid`` (or 16-byte binary) column back to :class:`uuid.UUID` objects.

    Repeated ids (``contact_id`` in event tables) are converted once each via a dictionary
    encoding.
    """
    import pyarrow as pa

    combined = column.combine_chunks()
    if isinstance(combined, pa.ExtensionArray):
        combined = combined.storage
    encoded = combined.dictionary_encode()
    from_bytes = int.from_bytes
    uniques = [_uuid_from_int(from_bytes(b, "big")) for b in encoded.dictionary.to_pylist()]
    lookup = _objects([*uniques, None])
    codes = encoded.indices.fill_null(len(uniques)).to_numpy(zero_copy_only=False)
    return lookup[codes]


def _to_arrow(name: str, frame: pd.DataFrame) -> pa.Table:
    """Convert a frame to Arrow: UUIDs as the ``uuid`` type, ``details`` dicts as JSON text."""
    import pyarrow as pa

    uuid_cols = _UUID_COLUMNS.get(name, ())
    plain = frame.drop(columns=list(uuid_cols))
    for col in _JSON_COLUMNS.get(name, ()):
        plain[col] = _objects([None if v is None else json.dumps(v) for v in plain[col].tolist()])
    table = pa.Table.from_pandas(plain, preserve_index=False)
    for col in uuid_cols:
        table = table.add_column(frame.columns.get_loc(col), col, _uuid_column(frame[col]))
    # Keep only the pandas dtypes (Arrow can't tell an all-True object column from a bool one).
    dtypes = {col: str(dtype) for col, dtype in frame.dtypes.items()}
    return table.replace_schema_metadata({_DTYPES_KEY: json.dumps(dtypes)})


def _from_arrow(name: str, table: pa.Table) -> pd.DataFrame:
    """Invert :func:`_to_arrow`."""
    uuid_cols = _UUID_COLUMNS.get(name, ())
    frame = table.drop_columns(list(uuid_cols)).to_pandas()
    metadata = table.schema.metadata or {}
    dtypes = json.loads(metadata.get(_DTYPES_KEY.encode(), b"{}"))
    for col, dtype in dtypes.items():
        if col in frame.columns and dtype == "object" and frame[col].dtype != object:
            frame[col] = frame[col].astype(object)
    for col in uuid_cols:
        frame.insert(table.column_names.index(col), col, _uuid_objects(table.column(col)))
    for col in _JSON_COLUMNS.get(name, ()):
        frame[col] = _objects([None if v is None else json.loads(v) for v in frame[col].tolist()])
    return frame


def write_crm(crm: SyntheticCRM, out_dir: Path) -> dict[str, Path]:
    """Write every frame of ``crm`` to ``out_dir/<name>.parquet``.

    UUID columns are stored with the Parquet ``UUID`` logical type (Arrow ``uuid`` extension)
    and ``activities.details`` as JSON text; :func:`read_crm` restores both.

    Args:
        crm: The synthetic CRM to write.
        out_dir: Destination folder (created when missing).

    Returns:
        Mapping of table name to the written parquet file.

    """
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, frame in crm.tables().items():
        path = out_dir / f"{name}.parquet"
        pq.write_table(_to_arrow(name, frame), path)
        paths[name] = path
    return paths


def read_crm(out_dir: Path) -> SyntheticCRM:
    """Read a CRM written by :func:`write_crm`.

    Args:
        out_dir: Folder holding one ``<name>.parquet`` per table.

    Returns:
        The :class:`SyntheticCRM`, with UUID and ``details`` columns restored.

    Raises:
        FileNotFoundError: When a table's parquet file is missing.

    """
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    frames: dict[str, pd.DataFrame] = {}
    for field in fields(SyntheticCRM):
        path = out_dir / f"{field.name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"missing synthetic CRM table {path}")
        frames[field.name] = _from_arrow(field.name, pq.read_table(path))
    return SyntheticCRM(**frames)
