"""The forecast ledger (:mod:`monitoring.ledger`): every forecast with its horizon and its score.

``forecast_ledger`` holds one row per forecast the platform made: a month's revenue, a deal's
days-to-close or win probability, an account's churn risk. Each row carries what the naive
baseline forecast at the same moment, the interval and its nominal coverage when the model gave
one, and when the actual is due (``target_at``). The scheduled scoring flow fills ``actual``,
``resolved_at`` and ``errors`` once the actual has arrived. No sensitive text: plain columns.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from haste.db.models import Base, JSONType, utcnow

#: What a ledger entry forecasts.
LEDGER_KINDS: tuple[str, ...] = ("revenue_forecast", "deal_velocity", "win_probability", "churn")


class ForecastLedgerEntry(Base):
    """One forecast, its naive baseline and (once due and arrived) its actual and errors.

    Attributes:
        id: Primary key.
        kind: One of :data:`LEDGER_KINDS`.
        entity_type: ``period`` (revenue months), ``deal`` or ``account``.
        entity_id: The entity's id as text (``2017-06``, an opportunity id, an account UUID).
        model_name: Producing model (``deal_velocity``, ``churn``...).
        model_version: Its version (registry version, or ``backtest`` for replays).
        made_at: When the forecast was made (the data's "as of").
        horizon_days: Days from ``made_at`` to ``target_at``.
        target_at: When the actual is due (month end, expected close date, horizon end).
        predicted: Forecast value (revenue, days to close); None for pure probabilities.
        interval_low: Lower bound of the forecast interval, if any.
        interval_high: Upper bound of the forecast interval, if any.
        coverage: Nominal coverage of the interval (e.g. 0.9).
        probability: Forecast probability of the event (win, churn).
        naive: The naive baseline's forecast made at the same time (last month's actual,
            historical median days, base rate).
        actual: The realised value (revenue, days, 1/0 event), once resolved.
        resolved_at: When the scoring flow resolved the entry.
        errors: Per-entry scores: ``abs_error``, ``pct_error``, ``naive_abs_error``,
            ``naive_pct_error``, ``covered``, ``brier``, ``naive_brier``.
        created_at: When the row was recorded.
    """

    __tablename__ = "forecast_ledger"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('revenue_forecast', 'deal_velocity', 'win_probability', 'churn')",
            name="kind",
        ),
        UniqueConstraint("kind", "entity_id", "model_version", "made_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(30), nullable=False, index=True)
    entity_type: Mapped[str] = mapped_column(String(50), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(100), nullable=False)
    model_name: Mapped[str] = mapped_column(String(100), nullable=False)
    model_version: Mapped[str] = mapped_column(String(50), nullable=False)
    made_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    horizon_days: Mapped[int] = mapped_column(Integer, nullable=False)
    target_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, index=True
    )
    predicted: Mapped[float | None] = mapped_column(Float)
    interval_low: Mapped[float | None] = mapped_column(Float)
    interval_high: Mapped[float | None] = mapped_column(Float)
    coverage: Mapped[float | None] = mapped_column(Float)
    probability: Mapped[float | None] = mapped_column(Float)
    naive: Mapped[float | None] = mapped_column(Float)
    actual: Mapped[float | None] = mapped_column(Float)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    errors: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow
    )
