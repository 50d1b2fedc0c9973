"""Dynamic personalisation against PostgreSQL: slots resolved from real CRM rows, or refused."""

from __future__ import annotations

import uuid

import pytest

from content.personalise import MissingSlotsError, personalise_content
from content.slot_sources import load_slot_values
from haste.db import session_scope
from tests.support.content_seed import NOW, SeededCRM, seed_personalisation_crm


@pytest.fixture(scope="module")
def crm(module_pg_url: str) -> tuple[str, SeededCRM]:
    return module_pg_url, seed_personalisation_crm(module_pg_url)


def test_values_are_read_from_postgres_rows(crm: tuple[str, SeededCRM]) -> None:
    url, ids = crm
    with session_scope(url) as session:
        values = load_slot_values(session, str(ids.contact_id), now=NOW)
    assert values["company.news"] == "Acme opens a Berlin office"
    assert values["insights.pain_points"][0] == "the migration effort worries us"
    assert values["last_activity.date"].date().isoformat() == "2026-11-20"
    assert values["lead_score.band"] == "hot"


def test_a_library_item_is_filled_and_a_bare_contact_refused(crm: tuple[str, SeededCRM]) -> None:
    url, ids = crm
    result = personalise_content(url, ids.contact_id, content_id=ids.content_id, now=NOW)
    assert "stands at $50,000, valid until 4 December 2026." in result.body
    assert result.body.startswith("Hi Ada,")
    with pytest.raises(MissingSlotsError, match=r"\{first_name\} from contact.first_name"):
        personalise_content(url, ids.bare_contact_id, content_id=ids.content_id, now=NOW)
    with pytest.raises(LookupError):
        personalise_content(url, uuid.uuid4(), content_id=ids.content_id)
