"""Load CRM records into the database: synthetic CRM tables and the real leads as contacts.

Inserts are idempotent (existing primary keys are skipped), run in one transaction per call
(nothing half-written), and work on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from haste.db.models import Base
from haste.db.session import session_scope
from pipelines.synthetic_store import DB_TABLES, SyntheticCRM

logger = logging.getLogger(__name__)


def to_db_value(value: Any) -> Any:
    """Convert pandas/numpy scalars (NaN, NaT, Timestamp, numpy numbers) to DB-ready values."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str | uuid.UUID | dt.date | dict | list | bool | int | float):
        return value
    return value


def frame_to_records(frame: pd.DataFrame, columns: Iterable[str]) -> list[dict[str, Any]]:
    """Return the rows of ``frame`` restricted to ``columns`` as DB-ready dicts."""
    keep = [column for column in columns if column in frame.columns]
    return [
        {column: to_db_value(value) for column, value in zip(keep, row, strict=True)}
        for row in frame[keep].itertuples(index=False, name=None)
    ]


def insert_ignoring_existing(session: Session, table: Table, records: list[dict[str, Any]]) -> int:
    """Insert records, skipping primary keys that already exist; return the rows inserted."""
    if not records:
        return 0
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table).on_conflict_do_nothing()
    before = _row_count(session, table)
    session.execute(statement, records)
    return _row_count(session, table) - before


def _row_count(session: Session, table: Table) -> int:
    """Count a table's rows (executemany rowcounts are unreliable across drivers)."""
    return int(session.scalar(select(func.count()).select_from(table)) or 0)


def store_crm(crm: SyntheticCRM, url: str | None = None) -> dict[str, int]:
    """Insert the synthetic CRM's database tables.

    Args:
        crm: Generated CRM.
        url: Database URL (defaults to the configured one).

    Returns:
        Table -> rows inserted (0 for rows already present).

    """
    frames = crm.tables()
    inserted: dict[str, int] = {}
    with session_scope(url) as session:
        for name in DB_TABLES:
            table = Base.metadata.tables[name]
            records = frame_to_records(frames[name], table.columns.keys())
            inserted[name] = insert_ignoring_existing(session, table, records)
    logger.info("stored synthetic CRM: %s", inserted)
    return inserted


def lead_contacts(leads: pd.DataFrame) -> pd.DataFrame:
    """Map Leads.csv rows to ``contacts`` rows (``Prospect ID`` is the contact id).

    Args:
        leads: The cleaned Leads.csv frame.

    Returns:
        Frame with id, lead_source, lifecycle_stage, ai_consent.

    """
    return pd.DataFrame(
        {
            "id": leads["Prospect ID"].map(uuid.UUID),
            "lead_source": leads["Lead Source"].where(leads["Lead Source"].notna(), None),
            "lifecycle_stage": np.where(leads["Converted"] == 1, "customer", "lead"),
            "ai_consent": True,
        }
    )


def store_lead_contacts(leads: pd.DataFrame, url: str | None = None) -> int:
    """Insert every lead of Leads.csv as a contact; return the number inserted."""
    table = Base.metadata.tables["contacts"]
    with session_scope(url) as session:
        count = insert_ignoring_existing(
            session, table, frame_to_records(lead_contacts(leads), table.columns.keys())
        )
    logger.info("stored %d lead contacts", count)
    return count
