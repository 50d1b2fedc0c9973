import datetime as dt
import uuid

import pytest
from typer.testing import CliRunner

from haste.audit import query_audit_trail
from haste.cli import app
from haste.db.migrate import upgrade_database
from haste.records import InteractionRecord, record_lead_scores, record_prediction
from haste.settings import Settings


@pytest.fixture()
def db(isolated_settings: Settings) -> str:
    upgrade_database(isolated_settings.database_url)
    return isolated_settings.database_url


def _store_contact(url: str, contact_id: uuid.UUID) -> None:
    from haste.db.models import Contact
    from haste.db.session import session_scope

    with session_scope(url) as session:
        session.add(Contact(id=contact_id))


def _score(contact_id: uuid.UUID, score: int = 72) -> dict:
    return {
        "contact_id": str(contact_id),
        "score": score,
        "probability": score / 100,
        "confidence": 0.72,
        "band": "hot",
        "contributions": [{"feature": "TotalVisits", "value": 5, "impact": 0.4}],
        "explanation": "Score 72/100 (hot).",
    }


def test_score_and_its_audit_entry_are_written_together(db: str) -> None:
    contact = uuid.uuid4()
    _store_contact(db, contact)
    audit = InteractionRecord(
        "lead_score",
        {"contact_id": str(contact), "features": {"TotalVisits": 5}},
        _score(contact),
        "lead_scoring@v3",
        12,
    )
    record_lead_scores(db, [_score(contact)], "3", audit)
    (entry,) = query_audit_trail(db, contact_id=contact)
    assert entry.model_used == "lead_scoring@v3"
    assert entry.inputs["features"] == {"TotalVisits": 5}
    assert entry.summary() == "score 72 (hot)"


def test_failed_write_leaves_no_audit_entry(db: str) -> None:
    missing_contact = uuid.uuid4()  # FK violation: the contact does not exist
    audit = InteractionRecord("lead_score", {"contact_id": str(missing_contact)}, {}, "m@v1")
    with pytest.raises(Exception):  # noqa: B017 - IntegrityError from the driver
        record_lead_scores(db, [_score(missing_contact)], "1", audit)
    assert query_audit_trail(db, contact_id=missing_contact) == []


def test_filters_by_model_and_time(db: str) -> None:
    contact = uuid.uuid4()
    for model in ("lead_scoring@v1", "lead_scoring@v2", "churn@v1"):
        record_prediction(
            db,
            "contact",
            contact,
            "x",
            {"score": 1},
            0.6,
            model.split("@v")[1],
            InteractionRecord("x", {"contact_id": str(contact)}, {"score": 1}, model),
        )
    assert len(query_audit_trail(db, model="lead_scoring")) == 2
    assert len(query_audit_trail(db, model="lead_scoring@v2")) == 1
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert query_audit_trail(db, since=future) == []


def test_cli_audit_lists_decisions_and_rejects_bad_ids(db: str) -> None:
    contact = uuid.uuid4()
    record_prediction(
        db,
        "contact",
        contact,
        "next_actions",
        {"actions": []},
        None,
        None,
        InteractionRecord("next_actions", {"contact_id": str(contact)}, {"actions": []}, "rules"),
    )
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "--contact", str(contact), "--json"])
    assert result.exit_code == 0, result.output
    assert str(contact) in result.output and "next_actions" in result.output
    bad = runner.invoke(app, ["audit", "--contact", "not-a-uuid"])
    assert bad.exit_code == 1
    assert "invalid option" in bad.output
