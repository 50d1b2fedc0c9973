"""Loading the CRM into the real PostgreSQL: idempotent, typed, all-or-nothing."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select

from haste.db import Contact, Deal, session_scope, upgrade_database
from pipelines.crm_store import store_crm, store_lead_contacts
from pipelines.synthetic import generate_crm


def test_store_crm_on_postgres_is_idempotent(pg_url: str) -> None:
    upgrade_database(pg_url)
    crm = generate_crm(n_contacts=300, seed=7)
    first = store_crm(crm, pg_url)
    assert first["contacts"] == 300
    second = store_crm(crm, pg_url)
    assert set(second.values()) == {0}
    with session_scope(pg_url) as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 300
        assert session.scalar(select(func.count()).select_from(Deal)) == len(crm.deals)


def test_failed_load_writes_nothing(pg_url: str) -> None:
    upgrade_database(pg_url)
    leads = pd.DataFrame(
        {
            "Prospect ID": ["7927b2df-8bba-4d29-b9a2-b6e0beafe620", "not-a-uuid"],
            "Lead Source": ["Google", "Olark Chat"],
            "Converted": [0, 1],
        }
    )
    with pytest.raises(ValueError):
        store_lead_contacts(leads, pg_url)
    with session_scope(pg_url) as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 0
