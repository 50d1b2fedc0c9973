"""Tables of the real-time scoring engine (:mod:`streaming`): events, state, changes, hooks.

* ``stream_events``: every CRM event a consumer processed, keyed by the sender's ``event_id``
  (the dedupe table: an event id already here changes nothing a second time);
* ``contact_stream_state``: each streamed contact's current online features and last score
  (the state the next event updates; written in the same transaction as the event);
* ``score_changes``: a score that moved, with its "changed because" (the SHAP deltas) and
  whether it crossed a band; ``notified_at`` is the outbox mark of the outbound exchange;
* ``webhooks`` / ``webhook_deliveries``: registered receivers of score changes and every
  delivery with its attempts (failures visible);
* ``stream_alerts``: alerts of the streaming monitor (score drift, group score gap).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from haste.db.models import Base, JSONType, utcnow


class StreamEvent(Base):
    """One processed CRM event (the consumers' dedupe record).

    Attributes:
        event_id: The sender's event id (unique: a redelivery or a replay changes nothing).
        contact_id: The contact it concerns.
        event_type: ``email_opened``, ``page_view``, ... (:data:`streaming.events.EVENT_TYPES`).
        occurred_at: When it happened (sender's clock).
        published_at: When the broker confirmed it (latency is measured from here).
        processed_at: When its effects were committed.
        outcome: ``scored`` (the score moved), ``unchanged`` or ``ignored`` (no lead feature).
    """

    __tablename__ = "stream_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False, index=True)
    event_type: Mapped[str] = mapped_column(String(40), nullable=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    processed_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, index=True
    )
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)


class ContactStreamState(Base):
    """A streamed contact's current online features and last score.

    Attributes:
        contact_id: The contact.
        features: The batch-view columns (``email_engagement``, ``web_activity``,
            ``social_signals``, ``company_enrichment``) after the last event.
        score: Last 0-100 score.
        probability: Its probability.
        band: Its band (``cold``, ``warm``, ``hot``).
        model_version: Version that scored it.
        variant: A/B variant (``champion`` or ``challenger``).
        events_applied: Events applied since the state was read from the batch features.
        updated_at: Last change.
    """

    __tablename__ = "contact_stream_state"

    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    features: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    probability: Mapped[float] = mapped_column(Float, nullable=False)
    band: Mapped[str] = mapped_column(String(10), nullable=False)
    model_version: Mapped[str] = mapped_column(String(50), nullable=False)
    variant: Mapped[str] = mapped_column(String(20), nullable=False)
    events_applied: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow
    )


class ScoreChange(Base):
    """A score moved by an event, with why.

    Attributes:
        id: Change id (also in the outbound message and the webhook payload).
        contact_id: The contact.
        event_id: The event that moved it.
        event_type: Its type.
        previous_score: Score before the event (from the contact's state, or its batch
            features for its first streamed event).
        score: Score after.
        previous_band: Band before.
        band: Band after.
        band_crossed: Whether the band changed (these are published and delivered).
        changed_because: Top SHAP deltas in score points, largest first.
        model_version: Version that scored both.
        variant: A/B variant.
        lead_score_id: The ``lead_scores`` row written with it.
        occurred_at: Event time.
        published_at: When the broker confirmed the event.
        created_at: When the change was committed.
        notified_at: When it was published to the outbound exchange (outbox mark).
    """

    __tablename__ = "score_changes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False, index=True)
    event_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    event_type: Mapped[str] = mapped_column(String(40), nullable=False)
    previous_score: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    previous_band: Mapped[str | None] = mapped_column(String(10))
    band: Mapped[str] = mapped_column(String(10), nullable=False)
    band_crossed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    changed_because: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False)
    model_version: Mapped[str] = mapped_column(String(50), nullable=False)
    variant: Mapped[str] = mapped_column(String(20), nullable=False)
    lead_score_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, index=True
    )
    notified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Webhook(Base):
    """A receiver of score changes (band crossings), registered by an API key.

    Attributes:
        id: Webhook id.
        scope: The registering API key id (only it lists or deletes the hook).
        url: Where changes are POSTed.
        secret: HMAC-SHA256 key of the ``X-Haste-Signature`` header.
        active: Whether deliveries are made.
        created_at: Registration time.
    """

    __tablename__ = "webhooks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    scope: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    secret: Mapped[str] = mapped_column(String(128), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow
    )


class WebhookDelivery(Base):
    """One score change to one webhook, with its attempts.

    Attributes:
        id: Delivery id (sent as ``X-Haste-Delivery``).
        webhook_id: The webhook (``CASCADE`` on delete).
        change_id: The score change delivered.
        payload: The JSON body sent.
        status: ``pending``, ``delivered`` or ``failed`` (gave up after the last attempt).
        attempts: Attempts made.
        next_attempt_at: When the next attempt is due (backoff).
        last_status_code: HTTP status of the last attempt (``None``: no answer).
        last_error: What went wrong last.
        created_at: When the change was queued for this hook.
        delivered_at: When a 2xx came back.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("webhook_id", "change_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    webhook_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False, index=True
    )
    change_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow
    )
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow
    )
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class StreamAlert(Base):
    """An alert of the streaming monitor.

    Attributes:
        id: Alert id.
        kind: ``score_drift`` (PSI of the streamed scores against the training reference) or
            ``group_gap`` (mean score gap between audited groups).
        model_name: The model whose scores were watched.
        value: The measured value.
        threshold: The threshold it passed (``configs/monitoring.yaml``).
        window_size: Scores in the window.
        details: Per-bin shares or per-group means.
        created_at: When it was raised.
    """

    __tablename__ = "stream_alerts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    model_name: Mapped[str] = mapped_column(String(100), nullable=False)
    value: Mapped[float] = mapped_column(Float, nullable=False)
    threshold: Mapped[float] = mapped_column(Float, nullable=False)
    window_size: Mapped[int] = mapped_column(Integer, nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, index=True
    )
