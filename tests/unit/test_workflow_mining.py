"""Sequence mining finds a planted pattern with exact figures; drafts are valid workflows."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pandas as pd
import pytest

from haste.db import Activity, Contact, Deal, session_scope
from haste.db.stream_tables import StreamEvent
from pipelines.synthetic import generate_crm
from workflows.builder import draft_workflow, draft_workflows, suggest_workflows
from workflows.definition import EventTrigger, ScheduleTrigger, parse_definition
from workflows.mining import (
    SequencePattern,
    build_sequences,
    mine_patterns,
    sequences_from_crm,
    sequences_from_db,
)

PLANTED = ("email_opened", "email_clicked", "meeting_booked")
# 4 positives all show the planted pattern; of 6 negatives only the first does (the last has
# the same items in another order).
SEQUENCES = [
    ["email_opened", "email_clicked", "meeting_booked"],
    ["email_opened", "page_view", "email_clicked", "call", "meeting_booked"],
    ["email_opened", "email_clicked", "meeting_booked", "call"],
    ["email_opened", "email_clicked", "page_view", "meeting_booked"],
    ["email_opened", "email_clicked", "meeting_booked"],
    ["email_opened"],
    ["page_view"],
    ["call", "email_opened"],
    [],
    ["meeting_booked", "email_opened", "email_clicked"],
]
OUTCOMES = [True] * 4 + [False] * 6


def _by_items(patterns: list[SequencePattern]) -> dict[tuple[str, ...], SequencePattern]:
    return {p.items: p for p in patterns}


def test_planted_pattern_has_exact_support_and_lift() -> None:
    patterns = mine_patterns(SEQUENCES, OUTCOMES, min_support=0.5, max_length=3)
    found = _by_items(patterns)[PLANTED]
    assert (found.positive_count, found.negative_count, found.count) == (4, 1, 5)
    assert found.support_positive == 1.0
    assert found.support_negative == pytest.approx(1 / 6)
    assert found.confidence == pytest.approx(0.8)
    assert found.lift == pytest.approx(0.8 / 0.4)
    assert all(p.lift > 1 and p.support_positive >= 0.5 for p in patterns)
    scores = [p.score for p in patterns]
    assert scores == sorted(scores, reverse=True)
    assert found.to_dict()["pattern"] == list(PLANTED)
    assert json.loads(json.dumps(found.to_dict()))["lift"] == 2.0


def test_closed_patterns_drop_sub_patterns_with_the_same_counts() -> None:
    # clicked -> meeting has the planted pattern's counts (4, 1): it adds nothing.
    sub = ("email_clicked", "meeting_booked")
    assert sub in _by_items(mine_patterns(SEQUENCES, OUTCOMES, 0.5, 3, closed=False))
    assert sub not in _by_items(mine_patterns(SEQUENCES, OUTCOMES, 0.5, 3))
    # opened -> clicked also shows up in the reversed negative (counts 4, 2): kept.
    assert ("email_opened", "email_clicked") in _by_items(mine_patterns(SEQUENCES, OUTCOMES, 0.5))


def test_mining_refuses_bad_input_and_needs_both_groups() -> None:
    with pytest.raises(ValueError, match="outcomes"):
        mine_patterns(SEQUENCES, OUTCOMES[:-1])
    with pytest.raises(ValueError, match="min_support"):
        mine_patterns(SEQUENCES, OUTCOMES, min_support=0)
    assert mine_patterns(SEQUENCES, [True] * len(SEQUENCES)) == []


def test_sequences_keep_only_the_window_before_the_outcome() -> None:
    day = pd.Timedelta(days=1)
    t0 = pd.Timestamp("2026-01-01")
    contacts = pd.DataFrame({"contact_id": ["won", "lost"], "created_at": [t0, t0 + 10 * day]})
    rows = [
        ("won", 5, "page_view"),  # 35 days before the outcome: outside the 30-day window
        ("won", 20, "email_opened"),
        ("won", 21, "email_opened"),  # a repeat collapses
        ("won", 39, "meeting_booked"),
        ("won", 41, "call"),  # after the outcome: never mined
        ("lost", 30, "email_opened"),
        ("lost", 49, "call"),
        ("lost", 51, "meeting_booked"),  # after the matched anchor (created + 40 days)
    ]
    events = pd.DataFrame(
        [(cid, t0 + d * day, item) for cid, d, item in rows], columns=["contact_id", "at", "item"]
    )
    anchors = pd.Series({"won": t0 + 40 * day})
    data = build_sequences(events, contacts, anchors, t0 + 90 * day, outcome="won")
    assert data.sequences == [["email_opened", "meeting_booked"], ["email_opened", "call"]]
    assert data.outcomes == [True, False]
    assert data.summary()["positives"] == 1


def test_drafts_from_the_planted_pattern_are_valid_workflows() -> None:
    patterns = mine_patterns(SEQUENCES, OUTCOMES, min_support=0.5)
    drafts = draft_workflows(patterns, top=3)
    assert 1 <= len(drafts) <= 3
    signatures = {json.dumps(d.to_dict()["definition"]["actions"]) + str(d.definition.trigger)
                  for d in drafts}  # fmt: skip
    assert len(signatures) == len(drafts)
    for draft in drafts:
        document = json.loads(json.dumps(draft.to_dict()))
        assert parse_definition(document["definition"]) == draft.definition
        assert document["evidence"]["lift"] > 1
        assert "lift" in draft.rationale
    planted = draft_workflow(_by_items(patterns)[PLANTED])
    assert planted.definition.trigger == EventTrigger(type="event", event_type="email_clicked")
    (action,) = planted.definition.actions
    assert (action.type, action.params["channel"]) == ("create_task", "meeting")
    assert planted.definition.conditions[0].field == "contact.days_since_last_contacted"
    assert "lift 2.00" in planted.rationale and "100%" in planted.rationale


def test_drafts_without_a_streamed_cue_or_with_a_page_are_honest() -> None:
    rep_only = SequencePattern.from_counts(("call", "meeting_booked"), 3, 1, 4, 6)
    schedule = draft_workflow(rep_only)
    assert isinstance(schedule.definition.trigger, ScheduleTrigger)
    assert schedule.notes
    pricing = SequencePattern.from_counts(("page_view:pricing",), 3, 1, 4, 6)
    reply = draft_workflow(pricing, outcome="replied")
    assert reply.definition.trigger == EventTrigger(type="event", event_type="page_view")
    assert reply.definition.actions[0].type == "send_email"
    assert "pricing" in reply.notes[0]


def test_synthetic_crm_never_mines_events_after_the_outcome() -> None:
    crm = generate_crm(n_contacts=300, seed=7)
    replied = sequences_from_crm(crm, "replied", window_days=30)
    positives = [s for s, o in zip(replied.sequences, replied.outcomes, strict=True) if o]
    assert positives and not any("email_replied" in s for s in positives)
    suggestions = suggest_workflows(sequences_from_crm(crm, "won"), top=2)
    assert suggestions.patterns and all(p.lift > 1 for p in suggestions.patterns)
    answer = json.loads(json.dumps(suggestions.to_dict()))
    assert answer["contacts"] == 300 and len(answer["workflows"]) == 2
    for workflow in answer["workflows"]:
        parse_definition(workflow["definition"])


def test_sequences_from_the_database(db_url: str) -> None:
    t0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    won, lost = uuid.uuid4(), uuid.uuid4()
    with session_scope(db_url) as session:
        session.add_all([Contact(id=cid, created_at=t0) for cid in (won, lost)])
        session.flush()
        for cid, day, kind, details in [
            (won, 30, "email", {"direction": "outbound"}),
            (won, 35, "meeting", None),
            (won, 45, "call", None),  # after the close
            (lost, 20, "note", None),  # notes are not items
            (lost, 25, "call", None),
        ]:
            at = t0 + dt.timedelta(days=day)
            session.add(Activity(contact_id=cid, type=kind, details=details, occurred_at=at))
        session.add(
            Deal(contact_id=won, name="d", stage="closed_won", is_won=True,
                 created_at=t0, closed_at=t0 + dt.timedelta(days=40))
        )  # fmt: skip
        session.add(
            StreamEvent(event_id="e1", contact_id=won, event_type="email_opened",
                        occurred_at=t0 + dt.timedelta(days=32), outcome="scored")
        )  # fmt: skip
    data = sequences_from_db(db_url, "won", window_days=30)
    by_contact = dict(zip(data.contact_ids, data.sequences, strict=True))
    assert by_contact[str(won)] == ["email_sent", "email_opened", "meeting_booked"]
    assert by_contact[str(lost)] == ["call"]
    assert dict(zip(data.contact_ids, data.outcomes, strict=True)) == {
        str(won): True,
        str(lost): False,
    }
