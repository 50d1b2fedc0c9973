"""Checks shared by the SQLite and PostgreSQL tests of :mod:`haste.bulk_records`."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from haste.api_keys import create_api_key, ensure_user
from haste.bulk_records import insert_scoring_batch
from haste.db import session_scope
from haste.db.models import AIInteraction, Contact, LeadScore, Prediction
from haste.records import InteractionRecord, record_scoring_batch

#: Columns that differ between two writes of the same records (drawn ids, clocks).
VOLATILE = {"id", "created_at", "calculated_at"}


def _score(contact: uuid.UUID, score: int) -> dict[str, Any]:
    return {
        "contact_id": str(contact),
        "score": score,
        "probability": score / 100,
        "confidence": 0.8,
        "band": "warm",
        "variant": "challenger",
        "contributions": [{"feature": "TotalVisits", "value": 3, "impact": -0.4}],
        "explanation": f"Score {score}/100 (warm).",
    }


def scoring_batch(url: str, size: int) -> tuple[list[tuple[dict, str]], list[InteractionRecord]]:
    """Create ``size`` contacts and an API key; return their scores and audit records."""
    user = ensure_user(url, f"bulk-{uuid.uuid4().hex[:6]}@hastecrm.example", "admin", "Bulk")
    _, key = create_api_key(url, user, "bulk", "admin")
    contacts = [uuid.uuid4() for _ in range(size)]
    with session_scope(url) as session:
        session.add_all(Contact(id=contact, ai_consent=True) for contact in contacts)
    scores = [(_score(contact, 40 + i), "3") for i, contact in enumerate(contacts)]
    records = [
        InteractionRecord(
            interaction_type="lead_score",
            feature="lead_score",
            input_data={
                "contact_id": str(contact),
                "features": {"TotalVisits": 3},
                "note": "minimised away",
            },
            output_data={"score": 40 + i},
            model_used="lead_scoring@v3",
            response_time_ms=4,
            user_id=user,
            api_key_id=key,
            provider="xgboost",
            variant="challenger",
            request_id=f"req-{uuid.uuid4().hex}",
        )
        for i, contact in enumerate(contacts)
    ]
    return scores, records


def stored_rows(url: str, contacts: list[uuid.UUID]) -> dict[str, list[dict[str, Any]]]:
    """Return the rows of the contacts in the three tables, without their volatile columns."""
    tables = {
        "lead_scores": (LeadScore, LeadScore.contact_id),
        "predictions": (Prediction, Prediction.entity_id),
        "ai_interactions": (AIInteraction, AIInteraction.contact_id),
    }
    out = {}
    with session_scope(url) as session:
        for name, (model, column) in tables.items():
            rows = session.scalars(select(model).where(column.in_(contacts)))
            out[name] = sorted(
                (
                    {
                        c.key: getattr(row, c.key)
                        for c in model.__table__.columns
                        if c.key not in VOLATILE
                    }
                    for row in rows
                ),
                key=repr,
            )
    return out


def check_same_rows_as_the_orm_writer(url: str) -> None:
    """The lean writer stores exactly what ``record_scoring_batch`` stores."""
    orm_scores, orm_records = scoring_batch(url, 3)
    lean_scores, lean_records = scoring_batch(url, 3)
    assert record_scoring_batch(url, orm_scores, orm_records) == 3
    assert insert_scoring_batch(url, lean_scores, lean_records) == 3
    orm = stored_rows(url, [uuid.UUID(score["contact_id"]) for score, _ in orm_scores])
    lean = stored_rows(url, [uuid.UUID(score["contact_id"]) for score, _ in lean_scores])
    for table in orm:
        assert len(orm[table]) == len(lean[table]) == 3, table
    # Same values, once the per-batch differences (contacts, keys, request ids) are aligned.
    renames = {}
    for (orm_score, _), (lean_score, _) in zip(orm_scores, lean_scores, strict=True):
        renames[lean_score["contact_id"]] = orm_score["contact_id"]
    for orm_record, lean_record in zip(orm_records, lean_records, strict=True):
        renames[str(lean_record.api_key_id)] = str(orm_record.api_key_id)
        renames[str(lean_record.user_id)] = str(orm_record.user_id)
        renames[lean_record.request_id] = orm_record.request_id
    translated = {
        table: sorted((_renamed(row, renames) for row in rows), key=repr)
        for table, rows in lean.items()
    }
    assert translated == orm
    audit = orm["ai_interactions"][0]
    assert "note" not in audit["input_data"]  # minimised (configs/privacy.yaml) as by the ORM


def _renamed(row: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    def rename(value: Any) -> Any:
        if isinstance(value, uuid.UUID) and str(value) in renames:
            return uuid.UUID(renames[str(value)])
        if isinstance(value, str) and value in renames:
            return renames[value]
        if isinstance(value, dict):
            return {key: rename(item) for key, item in value.items()}
        return value

    return {key: rename(value) for key, value in row.items()}


def check_recorded_request_is_skipped(url: str) -> None:
    """A record already in the trail is skipped by the database; the scores are stored."""
    scores, records = scoring_batch(url, 2)
    insert_scoring_batch(url, [], records[:1])
    assert insert_scoring_batch(url, scores, records) == 2
    with session_scope(url) as session:
        recorded = session.scalars(
            select(AIInteraction.request_id).where(
                AIInteraction.request_id.in_([r.request_id for r in records])
            )
        ).all()
    assert sorted(recorded) == sorted(r.request_id for r in records)  # once each
