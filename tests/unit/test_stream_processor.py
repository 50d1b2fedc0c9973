"""EventProcessor.process with a small real model: dedupe, rescoring, score rows, atomicity.

The model (:mod:`tests.support.stream_scoring`) is a real encoder -> XGBoost pipeline over
columns the processor produces, rising with replies and pricing views; it is set on the
scorer directly (no MLflow), and the processor runs without a Feast store, so a known contact
starts from :func:`streaming.feature_updates.empty_history`.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sqlalchemy import delete, text
from sqlalchemy.exc import OperationalError

import streaming.processor as processing
from features.definitions import lead_engagement_rates
from haste.db.models import Contact, LeadScore
from haste.db.session import create_db_engine, session_scope
from haste.db.stream_tables import ScoreChange, StreamEvent
from streaming.config import load_streaming_config
from streaming.feature_updates import apply_event, empty_history
from streaming.processor import EventProcessor
from streaming.rescoring import LEAD_RATE_INPUTS, StreamScorer, model_inputs
from tests.support.stream_scoring import (
    MODEL_COLUMNS,
    MODEL_VERSION,
    STREAM_TABLES,
    RecordingWriter,
    add_contacts,
    crm_event,
    deliveries,
    json_ready,
    lead_scorer,
    replies,
    row_counts,
    rows_of,
    score_changes,
    stream_state,
    stream_states,
    train_lead_pipeline,
)

CONFIG = load_streaming_config(namespace="t")


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return train_lead_pipeline()


@pytest.fixture()
def scorer(db_url: str, pipeline: Pipeline) -> StreamScorer:
    return lead_scorer(db_url, pipeline)


@pytest.fixture()
def processor(db_url: str, scorer: StreamScorer) -> EventProcessor:
    return EventProcessor(db_url, None, scorer, CONFIG)


@pytest.fixture()
def contacts(db_url: str) -> list[uuid.UUID]:
    return add_contacts(db_url, 3)


def _initial_score(scorer: StreamScorer) -> int:
    return scorer.score("champion", model_inputs([empty_history()]))[0].score


# --- applying a batch --------------------------------------------------------------------------


def test_a_batch_is_applied_in_order_with_one_recorded_row_per_event(
    db_url: str, processor: EventProcessor, scorer: StreamScorer, contacts: list[uuid.UUID]
) -> None:
    a, b, _ = contacts
    r1, r2, r3 = replies(a, 3)
    meeting, social = crm_event("meeting_booked", a), crm_event("social_engagement", a)
    view = crm_event("page_view", b, duration_s=12.0)
    outcome = processor.process(deliveries(r1, view, r2, meeting, social, r3))

    assert (outcome.scored, outcome.unchanged, outcome.ignored) == (4, 1, 1)
    assert (outcome.duplicates, outcome.dead, outcome.applied) == (0, {}, 6)
    recorded = {row.event_id: row for row in rows_of(db_url, StreamEvent)}
    assert {k: v.outcome for k, v in recorded.items()} == {
        r1.event_id: "scored",
        r2.event_id: "scored",
        r3.event_id: "scored",
        view.event_id: "scored",
        meeting.event_id: "ignored",
        social.event_id: "unchanged",  # the model reads no social column
    }
    assert all(row.published_at is not None for row in recorded.values())
    assert recorded[view.event_id].contact_id == b

    changes = score_changes(db_url)
    assert changes[r1.event_id].previous_score == _initial_score(scorer)
    assert changes[r2.event_id].previous_score == changes[r1.event_id].score
    assert changes[r3.event_id].previous_score == changes[r2.event_id].score
    assert changes[view.event_id].previous_score == _initial_score(scorer)  # B is separate

    state = stream_state(db_url, a)
    expected = empty_history()
    for event in (r1, r2, meeting, social, r3):
        expected = apply_event(expected, event)
    assert state is not None and state.features == json_ready(expected)
    assert state.score == changes[r3.event_id].score
    assert state.band == CONFIG.scoring.band_of(state.score)
    assert (state.model_version, state.variant) == (MODEL_VERSION, "champion")


def test_a_replayed_batch_is_all_duplicates_and_changes_nothing(
    db_url: str, processor: EventProcessor, contacts: list[uuid.UUID]
) -> None:
    a, b, _ = contacts
    batch = deliveries(*replies(a, 3), crm_event("page_view", b), crm_event("meeting_booked", b))
    first = processor.process(batch)
    assert first.applied == 5 and first.scored > 0
    counts, states = row_counts(db_url), stream_states(db_url)

    again = processor.process(batch)
    assert (again.duplicates, again.applied) == (5, 0)
    assert again.changes == [] and again.crossings == []
    assert (row_counts(db_url), stream_states(db_url)) == (counts, states)

    mixed = processor.process([*batch[:2], *deliveries(crm_event("email_replied", a))])
    assert (mixed.duplicates, mixed.applied) == (2, 1)


def test_a_repeated_id_within_one_batch_counts_once(
    db_url: str, processor: EventProcessor, contacts: list[uuid.UUID]
) -> None:
    a = contacts[0]
    first = crm_event("email_replied", a, event_id="dup-1")
    repeat = crm_event("email_replied", a, event_id="dup-1")
    outcome = processor.process(deliveries(first, repeat, crm_event("email_replied", a)))
    assert (outcome.duplicates, outcome.applied) == (1, 2)
    assert row_counts(db_url)["stream_events"] == 2
    state = stream_state(db_url, a)
    assert state is not None
    assert (state.features["email_replies"], state.events_applied) == (2, 2)


def test_an_unknown_contact_is_dead_lettered_and_writes_nothing(
    db_url: str, processor: EventProcessor, contacts: list[uuid.UUID]
) -> None:
    a, stranger = contacts[0], uuid.uuid4()
    outcome = processor.process(
        deliveries(
            crm_event("email_replied", a), crm_event("email_replied", stranger), *replies(a, 1)
        )
    )
    assert outcome.dead == {1: "unknown contact: not in the CRM"}
    assert outcome.applied == 2
    assert all(row.contact_id != stranger for row in rows_of(db_url, StreamEvent))
    assert stream_state(db_url, stranger) is None
    assert all(row.contact_id == a for row in rows_of(db_url, LeadScore))
    assert all(row.contact_id == a for row in rows_of(db_url, ScoreChange))

    only_dead = processor.process(deliveries(crm_event("page_view", stranger)))
    assert only_dead.dead == {0: "unknown contact: not in the CRM"} and only_dead.applied == 0


# --- score rows --------------------------------------------------------------------------------


def test_score_rows_exist_only_for_events_that_moved_the_score(
    db_url: str, processor: EventProcessor, contacts: list[uuid.UUID]
) -> None:
    a, b, _ = contacts
    events = [*replies(a, 2), crm_event("social_engagement", a), crm_event("page_view", b)]
    events += [crm_event("email_clicked", b), crm_event("meeting_booked", b)]
    outcome = processor.process(deliveries(*events))
    moved = {r.event_id for r in rows_of(db_url, StreamEvent) if r.outcome == "scored"}
    assert len(moved) == outcome.scored >= 3

    scores = {row.id: row for row in rows_of(db_url, LeadScore)}
    changes = score_changes(db_url)
    assert set(changes) == moved
    assert {row.score_components["event_id"] for row in scores.values()} == moved
    for change in changes.values():
        row = scores[change.lead_score_id]
        components = row.score_components
        assert components["source"] == "stream"
        assert components["previous_score"] == change.previous_score != change.score == row.score
        assert components["changed_because"] == change.changed_because
        assert components["changed_because"], "a moved score says why"
        assert all({"feature", "points", "text"} <= set(r) for r in change.changed_because)
        assert row.model_version == change.model_version == MODEL_VERSION
        assert row.explanation.startswith(
            f"Score {change.previous_score} -> {change.score} ({change.band}) because "
        )
        assert (change.contact_id, change.variant) == (row.contact_id, "champion")
        assert change.published_at is not None and change.notified_at is None
    assert [m["change_id"] for m in outcome.changes] == [
        str(changes[m["event_id"]].id) for m in outcome.changes
    ]


def test_previous_score_chains_across_batches_through_the_stored_state(
    db_url: str, processor: EventProcessor, contacts: list[uuid.UUID]
) -> None:
    a = contacts[0]
    first, second = replies(a, 2), replies(a, 2)
    processor.process(deliveries(*first))
    stored = stream_state(db_url, a)
    assert stored is not None and stored.events_applied == 2
    assert stored.score == score_changes(db_url)[first[-1].event_id].score

    processor.process(deliveries(*second))
    changes = score_changes(db_url)
    assert changes[second[0].event_id].previous_score == stored.score
    assert changes[second[1].event_id].previous_score == changes[second[0].event_id].score
    state = stream_state(db_url, a)
    assert state is not None
    assert (state.events_applied, state.features["email_replies"]) == (4, 4)


def test_band_crossings_are_flagged_and_returned(
    db_url: str, processor: EventProcessor, contacts: list[uuid.UUID]
) -> None:
    a, b, _ = contacts
    outcome = processor.process(
        deliveries(*replies(a, 6), *[crm_event("page_view", b) for _ in range(6)])
    )
    rows = rows_of(db_url, ScoreChange)
    band_of = CONFIG.scoring.band_of
    for row in rows:
        assert row.previous_band == band_of(row.previous_score)
        assert row.band == band_of(row.score)
        assert row.band_crossed == (row.previous_band != row.band)
    crossed = {str(row.id) for row in rows if row.band_crossed}
    assert crossed and len(crossed) < len(rows), "the batch has crossings and plain moves"
    assert {m["change_id"] for m in outcome.crossings} == crossed
    assert outcome.crossings == [m for m in outcome.changes if m["band_crossed"]]
    assert {(m["previous_band"], m["band"]) for m in outcome.crossings} >= {("warm", "hot")}


# --- behaviour ---------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 5, 10])
def test_replies_never_lower_the_score(
    db_url: str, processor: EventProcessor, scorer: StreamScorer, contacts: list, count: int
) -> None:
    a = contacts[0]
    processor.process(deliveries(*replies(a, count)))
    state = stream_state(db_url, a)
    assert state is not None and state.score >= _initial_score(scorer)
    for change in rows_of(db_url, ScoreChange):
        assert change.score > change.previous_score


def test_replies_one_batch_at_a_time_never_lower_the_score(
    db_url: str, processor: EventProcessor, contacts: list[uuid.UUID]
) -> None:
    a, scores = contacts[0], []
    for reply in replies(a, 5):
        processor.process(deliveries(reply))
        state = stream_state(db_url, a)
        assert state is not None
        scores.append(state.score)
    assert scores == sorted(scores) and scores[-1] > scores[0]


@pytest.mark.parametrize(
    ("kind", "fields"),
    [("meeting_booked", {}), ("deal_stage_changed", {"deal_id": uuid.UUID(int=3), "stage": "won"})],
)
def test_events_without_a_lead_feature_are_ignored_and_leave_the_score(
    db_url: str, processor: EventProcessor, contacts: list, kind: str, fields: dict
) -> None:
    a = contacts[0]
    processor.process(deliveries(*replies(a, 2)))
    states, counts = stream_states(db_url), row_counts(db_url)
    event = crm_event(kind, a, **fields)
    outcome = processor.process(deliveries(event))
    assert (outcome.ignored, outcome.scored, outcome.unchanged) == (1, 0, 0)
    assert outcome.changes == []
    assert stream_states(db_url) == states  # same features, score and probability
    assert row_counts(db_url) == {**counts, "stream_events": counts["stream_events"] + 1}
    recorded = {r.event_id: r.outcome for r in rows_of(db_url, StreamEvent)}
    assert recorded[event.event_id] == "ignored"


def test_changed_because_only_names_features_whose_value_changed(
    db_url: str, processor: EventProcessor, contacts: list[uuid.UUID]
) -> None:
    a = contacts[0]
    processor.process(deliveries(*replies(a, 1)))
    processor.process(deliveries(*replies(a, 1)))  # from the stored (JSON) state
    for change in rows_of(db_url, ScoreChange):
        for reason in change.changed_because:
            if reason["feature"] != "_other":
                assert reason["before"] != reason["after"], reason["text"]


# --- atomicity ---------------------------------------------------------------------------------


def test_a_failing_write_leaves_nothing_of_the_batch(
    db_url: str, processor: EventProcessor, contacts: list[uuid.UUID]
) -> None:
    a, b, _ = contacts
    processor.process(deliveries(*replies(a, 1)))
    counts = row_counts(db_url)
    with create_db_engine(db_url).begin() as connection:  # the batch's last insert will fail
        connection.execute(text("DROP TABLE score_changes"))
    batch = deliveries(*replies(a, 2), crm_event("page_view", b))
    processor.writer = RecordingWriter()  # type: ignore[assignment]
    with pytest.raises(OperationalError, match="score_changes"):
        processor.process(batch)
    assert processor.writer.submitted == []  # type: ignore[union-attr]
    assert row_counts(db_url, STREAM_TABLES[:3]) == {
        k: v for k, v in counts.items() if k != "score_changes"
    }
    assert stream_state(db_url, b) is None
    assert not {d.event.event_id for d in batch} & {
        r.event_id for r in rows_of(db_url, StreamEvent)
    }


def test_an_unreachable_database_raises(
    tmp_path: Path, scorer: StreamScorer, contacts: list[uuid.UUID]
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    broken = EventProcessor(f"sqlite:///{blocker / 'db.sqlite'}", None, scorer, CONFIG)
    with pytest.raises((OSError, OperationalError)):
        broken.process(deliveries(crm_event("email_replied", contacts[0])))
    assert row_counts(scorer.database_url)["stream_events"] == 0


# --- online store ------------------------------------------------------------------------------


def test_a_first_streamed_contact_starts_from_its_online_features(
    db_url: str, scorer: StreamScorer, contacts: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = contacts
    base = empty_history() | {"email_sent": 8, "email_replies": 4, "company_industry": "retail"}
    reads: list[list[str]] = []
    writes: list[tuple[dict, dict]] = []

    def read(store: object, ids: list[str]) -> dict[str, dict]:
        reads.append(sorted(ids))
        return {str(a): dict(base)}

    monkeypatch.setattr(processing, "read_base_features", read)
    monkeypatch.setattr(
        processing,
        "write_stream_features",
        lambda store, states, views: writes.append((dict(states), dict(views))),
    )
    processor = EventProcessor(db_url, object(), scorer, CONFIG)  # type: ignore[arg-type]
    view = crm_event("page_view", b)
    processor.process(
        deliveries(crm_event("email_replied", a), view, crm_event("meeting_booked", c))
    )
    assert reads == [sorted(str(x) for x in (a, b, c))]
    state_a, state_b = stream_state(db_url, a), stream_state(db_url, b)
    assert state_a is not None and state_b is not None
    assert (state_a.features["email_replies"], state_a.features["email_reply_rate"]) == (5, 5 / 8)
    assert state_a.features["company_industry"] == "retail"
    assert state_b.features == json_ready(apply_event(empty_history(), view))  # no online row
    [(states, views)] = writes  # once, after the commit; c changed no feature
    assert set(states) == set(views) == {str(a), str(b)}
    assert views == {str(a): {"email_engagement"}, str(b): {"web_activity"}}
    assert states[str(a)]["email_replies"] == 5

    processor.process(deliveries(crm_event("email_replied", a)))
    assert len(reads) == 1, "a contact with a stream state is not read again"


def test_a_writer_gets_the_touched_contacts_instead_of_the_store(
    processor: EventProcessor, contacts: list[uuid.UUID]
) -> None:
    a, b, _ = contacts
    writer = processor.writer = RecordingWriter()  # type: ignore[assignment]
    processor.process(deliveries(crm_event("social_engagement", a), crm_event("meeting_booked", b)))
    processor.process(deliveries(crm_event("meeting_booked", b)))
    assert len(writer.submitted) == 1
    [touched] = writer.submitted
    assert set(touched) == {str(a)}
    features, views = touched[str(a)]
    assert features["social_total"] == 1 and views == {"social_signals"}


def test_a_contact_deleted_after_streaming_is_dead_lettered(
    db_url: str, processor: EventProcessor, contacts: list[uuid.UUID]
) -> None:
    a, b, _ = contacts
    processor.process(deliveries(crm_event("email_replied", a)))
    with session_scope(db_url) as session:
        session.execute(delete(Contact).where(Contact.id == a))
    outcome = processor.process(
        deliveries(crm_event("email_replied", a), crm_event("email_replied", b))
    )
    assert outcome.dead == {0: "unknown contact: not in the CRM"}
    assert outcome.scored == 1


# --- scorer and model inputs -------------------------------------------------------------------


def test_model_inputs_add_the_on_demand_columns_feast_computes() -> None:
    states = [
        empty_history(),
        apply_event(empty_history(), crm_event("email_replied", uuid.uuid4())),
    ]
    rows = model_inputs(states)
    frame = pd.DataFrame([{c: s.get(c) for c in LEAD_RATE_INPUTS} for s in states])
    expected = lead_engagement_rates(frame).to_dict("records")
    for state, row, rates in zip(states, rows, expected, strict=True):
        assert set(row) == set(state) | set(rates)
        assert {k: row[k] for k in state} == state
        pd.testing.assert_series_equal(pd.Series({k: row[k] for k in rates}), pd.Series(rates))
    assert model_inputs([]) == []
    assert set(MODEL_COLUMNS) <= set(rows[0])


def test_lead_rate_inputs_are_exactly_what_lead_engagement_rates_reads() -> None:
    frame = pd.DataFrame({column: [1.0, 0.0] for column in LEAD_RATE_INPUTS})
    assert len(lead_engagement_rates(frame)) == 2
    for column in LEAD_RATE_INPUTS:
        with pytest.raises(KeyError):
            lead_engagement_rates(frame.drop(columns=[column]))


def test_the_scorer_uses_the_champion_without_reading_the_registry(
    tmp_path: Path, pipeline: Pipeline
) -> None:
    never = tmp_path / "never" / "opened.db"
    scorer = lead_scorer(f"sqlite:///{never}", pipeline)
    scorer.refresh()  # returns at once: no A/B split read, no registry
    assert not never.parent.exists()
    assert scorer.variant(str(uuid.uuid4())) == "champion"
    assert scorer.model("challenger") is scorer.models["champion"]
    rows = model_inputs([empty_history(), {**empty_history(), "email_replies": 3}])
    scored = scorer.score("champion", rows)
    assert [s.score for s in scored] == [round(p * 100) for p in scorer.predict("champion", rows)]
    assert all(s.shap is not None and s.shap.shape == (len(MODEL_COLUMNS),) for s in scored)
    assert scorer.explain("champion", []).shape == (0, len(MODEL_COLUMNS))
