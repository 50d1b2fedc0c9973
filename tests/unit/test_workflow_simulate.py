"""Dry runs on a hand-built history give the known counts and outcomes."""

from __future__ import annotations

import datetime as dt
import uuid

from haste.db import Activity, Contact, Deal, LeadScore, session_scope
from workflows.definition import parse_definition
from workflows.simulate import simulate_workflow

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def _history(url: str) -> list[uuid.UUID]:
    """Three contacts: 0 replies twice and has an open proposal, 1 replies once and won a
    deal, 2 never replies; scores: 0 goes 50 -> 75 (warm -> hot), 1 stays at 30."""
    ids = [uuid.uuid4() for _ in range(3)]
    with session_scope(url) as session:
        for i, cid in enumerate(ids):
            session.add(Contact(id=cid, first_name=f"C{i}", created_at=T0))
        session.flush()
        replies = [(ids[0], 10), (ids[0], 20), (ids[1], 15)]
        for cid, day in replies:
            session.add(
                Activity(
                    contact_id=cid,
                    type="email",
                    details={"direction": "inbound"},
                    occurred_at=T0 + dt.timedelta(days=day),
                )
            )
        session.add(
            Activity(
                contact_id=ids[2],
                type="email",
                details={"direction": "outbound"},
                occurred_at=T0 + dt.timedelta(days=3),
            )
        )
        session.add(
            Deal(
                contact_id=ids[0],
                name="d0",
                stage="proposal",
                amount=10_000,
                created_at=T0 + dt.timedelta(days=5),
            )
        )
        session.add(
            Deal(
                contact_id=ids[1],
                name="d1",
                stage="closed_won",
                amount=5_000,
                is_won=True,
                created_at=T0 + dt.timedelta(days=16),
                closed_at=T0 + dt.timedelta(days=46),
            )
        )
        for cid, day, score in [(ids[0], 1, 50), (ids[0], 12, 75), (ids[1], 1, 30)]:
            session.add(
                LeadScore(contact_id=cid, score=score, calculated_at=T0 + dt.timedelta(days=day))
            )
    return ids


def test_event_workflow_replays_known_counts(db_url: str) -> None:
    ids = _history(db_url)
    definition = parse_definition(
        {
            "name": "Replies on proposals",
            "trigger": {"type": "event", "event_type": "email_replied"},
            "conditions": [{"field": "deal.stage", "op": "eq", "value": "proposal"}],
            "actions": [{"id": "t", "type": "create_task", "params": {"title": "Call back"}}],
        }
    )
    result = simulate_workflow(db_url, definition)
    assert (result["occurrences"], result["fires"], result["contacts_fired"]) == (3, 2, 1)
    assert result["sample"][0]["contact_id"] == str(ids[0])
    assert result["outcomes"]["touched"]["win_rate"] is None  # its deal is still open
    untouched = result["outcomes"]["untouched"]
    assert (untouched["contacts"], untouched["won_deals"], untouched["win_rate"]) == (2, 1, 1.0)
    assert untouched["median_days_to_close"] == 30.0


def test_band_and_threshold_triggers_replay(db_url: str) -> None:
    ids = _history(db_url)
    hot = parse_definition(
        {
            "name": "Hot",
            "trigger": {"type": "score_band", "to_band": "hot", "from_band": "warm"},
            "actions": [{"id": "t", "type": "create_task", "params": {"title": "Call"}}],
        }
    )
    result = simulate_workflow(db_url, hot)
    assert (result["fires"], result["sample"][0]["contact_id"]) == (1, str(ids[0]))
    threshold = parse_definition(
        {
            "name": "Score 25+",
            "trigger": {
                "type": "prediction_threshold",
                "model": "lead_score",
                "op": "gte",
                "threshold": 25,
            },
            "actions": [{"id": "t", "type": "create_task", "params": {"title": "Call"}}],
        }
    )
    assert simulate_workflow(db_url, threshold)["fires"] == 2  # once per contact: 0 and 1


def test_schedule_replays_every_slot_and_field_triggers_do_not(db_url: str) -> None:
    _history(db_url)
    weekly = parse_definition(
        {
            "name": "Weekly",
            "trigger": {"type": "schedule", "every": "week", "at_hour": 9},
            "actions": [{"id": "t", "type": "create_task", "params": {"title": "Review"}}],
        }
    )
    result = simulate_workflow(db_url, weekly, since=T0, until=T0 + dt.timedelta(days=27))
    # Mondays at 09:00 in [T0, T0 + 27 d]: T0 is a Sunday, so 4 slots x 3 contacts.
    assert result["fires"] == 12
    chained = parse_definition(
        {
            "name": "Chained",
            "trigger": {"type": "field_updated", "field": "deal.stage"},
            "actions": [{"id": "t", "type": "create_task", "params": {"title": "x"}}],
        }
    )
    assert simulate_workflow(db_url, chained)["replayable"] is False
