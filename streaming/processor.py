"""One batch of CRM events: dedupe, update the features, rescore, store what changed.

Everything a batch changes in the database is written in ONE transaction: the processed
event ids (``stream_events``, primary key = ``event_id``), the contacts' new state, the
``lead_scores`` rows of scores that moved and their ``score_changes`` with "changed because".
So a batch is applied entirely or not at all, and an event id is applied once: a redelivered
or replayed event finds its id already there and changes nothing (a concurrent duplicate loses
on the primary key and its batch is retried, then seen as a duplicate).

After the commit the updated features are written to the Feast online store (absolute values,
so writing them twice is harmless), and the band crossings are returned for the consumer to
publish (their ``notified_at`` outbox mark is set once published).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select, update

from haste.db.models import Contact, LeadScore
from haste.db.session import session_scope
from haste.db.stream_tables import ContactStreamState, ScoreChange, StreamEvent
from streaming.bulk import insert_rows
from streaming.changes import change_message
from streaming.config import StreamingConfig
from streaming.events import CRMEvent
from streaming.feature_updates import (
    LEAD_EVENT_TYPES,
    apply_event,
    changed_columns,
    empty_history,
    view_of,
)
from streaming.online_state import (
    OnlineWriter,
    clean_value,
    read_base_features,
    write_stream_features,
)
from streaming.reasons import changed_because
from streaming.rescoring import StreamScorer, model_inputs
from training.scoring import probability_to_score

if TYPE_CHECKING:
    from feast import FeatureStore

logger = logging.getLogger("haste.streaming")


@dataclass(frozen=True)
class Delivery:
    """An event as the consumer received it."""

    event: CRMEvent
    published_at: dt.datetime | None = None


@dataclass
class BatchOutcome:
    """What a batch did.

    Attributes:
        scored: Events that moved a score (a ``lead_scores`` row each).
        unchanged: Events applied without moving the score.
        ignored: Events without a lead feature (recorded, nothing rescored).
        duplicates: Events already applied (or repeated in the batch).
        dead: Index in the batch -> reason, for events to dead-letter (unknown contact).
        crossings: Change messages of band crossings, to publish.
        changes: Every change message of the batch.
    """

    scored: int = 0
    unchanged: int = 0
    ignored: int = 0
    duplicates: int = 0
    dead: dict[int, str] = field(default_factory=dict)
    crossings: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def applied(self) -> int:
        """Return how many events were applied (scored, unchanged or ignored)."""
        return self.scored + self.unchanged + self.ignored


@dataclass
class _Contact:
    """A contact's working state during a batch."""

    features: dict[str, Any]
    known_state: bool
    events_applied: int
    variant: str
    events: list[tuple[int, Delivery]] = field(default_factory=list)
    chain: list[dict[str, Any]] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)
    shap: dict[int, np.ndarray] = field(default_factory=dict)


class EventProcessor:
    """Apply batches of events to the contacts' state and scores.

    Args:
        database_url: The CRM database.
        store: The Feast store (online reads of base features, writes of updated ones).
        scorer: The loaded rescoring models.
        config: The engine's configuration (bands, reasons kept).
        writer: Writes updated features to the online store (default: in line, after commit).
    """

    def __init__(
        self,
        database_url: str,
        store: FeatureStore | None,
        scorer: StreamScorer,
        config: StreamingConfig,
        writer: OnlineWriter | None = None,
    ) -> None:
        self.database_url = database_url
        self.store = store
        self.scorer = scorer
        self.config = config
        self.writer = writer

    def process(self, batch: list[Delivery]) -> BatchOutcome:
        """Apply a batch (in order) in one transaction; see the module docstring.

        Args:
            batch: Events in delivery order.

        Returns:
            What the batch did; dead-lettered events are listed by batch index.
        """
        self.scorer.refresh()
        outcome = BatchOutcome()
        with session_scope(self.database_url) as session:
            fresh = self._fresh(session, batch, outcome)
            contacts = self._contacts(session, fresh, outcome)
            self._score(contacts)
            touched = self._write(session, contacts, outcome)
        if touched and self.writer is not None:
            self.writer.submit(touched)
        elif touched and self.store is not None:
            write_stream_features(
                self.store,
                {c: features for c, (features, _) in touched.items()},
                views={c: views for c, (_, views) in touched.items()},
            )
        return outcome

    # ------------------------------------------------------------------ steps

    def _fresh(self, session: Any, batch: list[Delivery], outcome: BatchOutcome) -> list:
        """Return ``(index, delivery)`` of events not applied before (first of repeats)."""
        ids = list(dict.fromkeys(d.event.event_id for d in batch))
        seen = set(
            session.scalars(select(StreamEvent.event_id).where(StreamEvent.event_id.in_(ids)))
        )
        fresh = []
        for index, delivery in enumerate(batch):
            if delivery.event.event_id in seen:
                outcome.duplicates += 1
                continue
            seen.add(delivery.event.event_id)
            fresh.append((index, delivery))
        return fresh

    def _contacts(
        self, session: Any, fresh: list[tuple[int, Delivery]], outcome: BatchOutcome
    ) -> dict[uuid.UUID, _Contact]:
        """Load each contact's state (or its batch features); dead-letter unknown contacts."""
        ids = list(dict.fromkeys(d.event.contact_id for _, d in fresh))
        if not ids:
            return {}
        state = ContactStreamState
        states = {
            row.contact_id: row
            for row in session.execute(
                select(state.contact_id, state.features, state.variant, state.events_applied).where(
                    state.contact_id.in_(ids)
                )
            )
        }
        new = [c for c in ids if c not in states]
        # every contact is checked: a contact erased after it streamed keeps no state of use
        known = set(session.scalars(select(Contact.id).where(Contact.id.in_(ids))))
        base = {}
        if new and self.store is not None:
            base = read_base_features(self.store, [str(c) for c in new if c in known])
        contacts: dict[uuid.UUID, _Contact] = {}
        for contact_id in ids:
            row = states.get(contact_id)
            if contact_id not in known:
                continue
            if row is not None:
                contacts[contact_id] = _Contact(
                    dict(row.features), True, row.events_applied, row.variant
                )
            else:  # first streamed event: batch features, or no history
                features = base.get(str(contact_id)) or empty_history()
                variant = self.scorer.variant(str(contact_id))
                contacts[contact_id] = _Contact(features, False, 0, variant)
        for index, delivery in fresh:
            contact = contacts.get(delivery.event.contact_id)
            if contact is None:
                outcome.dead[index] = "unknown contact: not in the CRM"
            else:
                contact.events.append((index, delivery))
        return contacts

    def _score(self, contacts: dict[uuid.UUID, _Contact]) -> None:
        """Score every contact's chain of states; explain only the transitions that moved.

        Probabilities of all rows come from one call per variant; SHAP values (the costly
        part) only for the rows on either side of a score change.
        """
        rows: list[dict[str, Any]] = []
        for contact in contacts.values():
            contact.chain = [contact.features]
            for _, delivery in contact.events:
                if delivery.event.event_type in LEAD_EVENT_TYPES:
                    contact.chain.append(apply_event(contact.chain[-1], delivery.event))
            rows.extend(contact.chain)
        inputs = iter(model_inputs(rows))
        for contact in contacts.values():
            contact.inputs = [next(inputs) for _ in contact.chain]
        for variant in {c.variant for c in contacts.values()}:
            group = [c for c in contacts.values() if c.variant == variant]
            probabilities = iter(
                self.scorer.predict(variant, [row for c in group for row in c.inputs])
            )
            wanted: list[tuple[_Contact, int]] = []
            for contact in group:
                contact.probabilities = [float(next(probabilities)) for _ in contact.inputs]
                scores = [probability_to_score(p) for p in contact.probabilities]
                for step in range(1, len(scores)):
                    if scores[step] != scores[step - 1]:
                        wanted.extend([(contact, step - 1), (contact, step)])
            wanted = list({(id(c), s): (c, s) for c, s in wanted}.values())
            values = self.scorer.explain(variant, [c.inputs[s] for c, s in wanted])
            for (contact, step), shap in zip(wanted, values, strict=True):
                contact.shap[step] = shap

    def _write(
        self, session: Any, contacts: dict[uuid.UUID, _Contact], outcome: BatchOutcome
    ) -> dict[str, tuple[dict[str, Any], set[str]]]:
        """Insert the events, moved scores and changes, and upsert the states (bulk).

        Returns:
            Contact id -> (latest features, views its events changed), for the online store.
        """
        now = dt.datetime.now(dt.UTC)
        events, scores, changes, inserts, updates = [], [], [], [], []
        touched: dict[str, tuple[dict[str, Any], set[str]]] = {}
        for contact_id, contact in contacts.items():
            step = 0
            for _, delivery in contact.events:
                kind = "ignored"
                if delivery.event.event_type in LEAD_EVENT_TYPES:
                    step += 1
                    kind = self._change(contact, step, delivery, now, scores, changes, outcome)
                setattr(outcome, kind, getattr(outcome, kind) + 1)
                events.append(_event_row(delivery, kind, now))
            last = contact.probabilities[-1]
            score = probability_to_score(last)
            row = {
                "contact_id": contact_id,
                "features": _json_ready(contact.chain[-1]),
                "score": score,
                "probability": last,
                "band": self.config.scoring.band_of(score),
                "model_version": self.scorer.model(contact.variant).version,
                "variant": contact.variant,
                "events_applied": contact.events_applied + step,
                "updated_at": now,
            }
            (updates if contact.known_state else inserts).append(row)
            if step:
                views = {view_of(d.event.event_type) for _, d in contact.events}
                touched[str(contact_id)] = (contact.chain[-1], views - {None})
        # COPY on PostgreSQL (streaming.bulk), one upsert statement for the states
        insert_rows(session, StreamEvent.__table__, events)
        if inserts or updates:
            session.execute(upsert_states(session), inserts + updates)
        insert_rows(session, LeadScore.__table__, scores)
        insert_rows(session, ScoreChange.__table__, changes)
        return touched

    def _change(
        self,
        contact: _Contact,
        step: int,
        delivery: Delivery,
        now: dt.datetime,
        scores: list[dict[str, Any]],
        changes: list[dict[str, Any]],
        outcome: BatchOutcome,
    ) -> str:
        """Add the ``lead_scores`` and ``score_changes`` rows of a moved score."""
        old_p, new_p = contact.probabilities[step - 1], contact.probabilities[step]
        old, new = probability_to_score(old_p), probability_to_score(new_p)
        if old == new:
            return "unchanged"
        event = delivery.event
        model = self.scorer.model(contact.variant)
        before, after = contact.inputs[step - 1], contact.inputs[step]
        scoring = self.config.scoring
        reasons = changed_because(
            event,
            model.columns,
            before,
            after,
            contact.shap[step - 1],
            contact.shap[step],
            new_p - old_p,
            changed_columns(before, after),
            scoring.reasons,
        )
        old_band, band = scoring.band_of(old), scoring.band_of(new)
        summary = "; ".join(r["text"] for r in reasons) or "no single feature moved it"
        score_id = uuid.uuid4()
        scores.append(
            {
                "id": score_id,
                "contact_id": event.contact_id,
                "score": new,
                "score_components": {
                    "source": "stream",
                    "event_id": event.event_id,
                    "previous_score": old,
                    "changed_because": reasons,
                },
                "model_version": model.version,
                "explanation": f"Score {old} -> {new} ({band}) because {summary}.",
                "calculated_at": now,
            }
        )
        change = SimpleNamespace(
            id=uuid.uuid4(),
            contact_id=event.contact_id,
            event_id=event.event_id,
            event_type=event.event_type,
            previous_score=old,
            score=new,
            previous_band=old_band,
            band=band,
            band_crossed=old_band != band,
            changed_because=reasons,
            model_version=model.version,
            variant=contact.variant,
            lead_score_id=score_id,
            occurred_at=event.occurred_at,
            published_at=delivery.published_at,
            created_at=now,
        )
        changes.append(vars(change))
        message = change_message(change)
        outcome.changes.append(message)
        if change.band_crossed:
            outcome.crossings.append(message)
        return "scored"


def upsert_states(session: Any) -> Any:
    """Return an INSERT .. ON CONFLICT (contact_id) DO UPDATE of state rows (PostgreSQL, SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    statement = dialect_insert(ContactStreamState)
    columns = [c.name for c in ContactStreamState.__table__.columns if c.name != "contact_id"]
    return statement.on_conflict_do_update(
        index_elements=["contact_id"], set_={c: statement.excluded[c] for c in columns}
    )


def _event_row(delivery: Delivery, outcome: str, now: dt.datetime) -> dict[str, Any]:
    """Return the ``stream_events`` row of an applied event."""
    event = delivery.event
    return {
        "event_id": event.event_id,
        "contact_id": event.contact_id,
        "event_type": event.event_type,
        "occurred_at": event.occurred_at,
        "published_at": delivery.published_at,
        "processed_at": now,
        "outcome": outcome,
    }


def _json_ready(features: dict[str, Any]) -> dict[str, Any]:
    """Return the state JSON-ready (NaN as None: JSON has no NaN)."""
    return {key: clean_value(value) for key, value in features.items()}


def mark_notified(database_url: str, change_ids: list[str]) -> None:
    """Set the outbox mark of published score changes."""
    if not change_ids:
        return
    with session_scope(database_url) as session:
        session.execute(
            update(ScoreChange)
            .where(ScoreChange.id.in_([uuid.UUID(c) for c in change_ids]))
            .values(notified_at=dt.datetime.now(dt.UTC))
        )


def unnotified_crossings(database_url: str, limit: int = 500) -> list[dict[str, Any]]:
    """Return band crossings committed but not yet published (after a crash), oldest first."""
    with session_scope(database_url) as session:
        rows = session.scalars(
            select(ScoreChange)
            .where(ScoreChange.band_crossed.is_(True), ScoreChange.notified_at.is_(None))
            .order_by(ScoreChange.created_at)
            .limit(limit)
        ).all()
        return [change_message(row) for row in rows]
