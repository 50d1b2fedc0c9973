"""Deals, linked deal predictions, stream alerts and reviews around the current week.

:func:`seed_executive_data` adds (to a database already seeded by
:func:`tests.support.dashboard_seed.seed_dashboard_data`, which writes no deals) seven deals
placed relative to the week ending today, win-probability predictions linked to three of them
(one deal has an older and a newer prediction, and one prediction is dated after the week), four
stream alerts and three decided review items. It returns the figures worked out by hand.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from haste.db import Deal, Prediction, session_scope
from haste.db.stream_tables import StreamAlert
from haste.db.workflow_tables import ReviewItem


def _deal(name: str, amount: float, created: dt.datetime, **extra: Any) -> Deal:
    closed = extra.get("closed_at")
    won = extra.get("is_won")
    stage = "open" if closed is None else ("closed_won" if won else "closed_lost")
    return Deal(id=uuid.uuid4(), name=name, stage=stage, amount=amount, created_at=created, **extra)


def _win(deal: Deal, probability: float, created: dt.datetime) -> Prediction:
    return Prediction(
        entity_type="deal",
        entity_id=deal.id,
        prediction_type="deal_velocity",
        prediction_value={"deal_id": str(deal.id), "win_probability": probability},
        confidence_score=max(probability, 1 - probability),
        model_version="1",
        created_at=created,
    )


def seed_executive_data(url: str, today: dt.date | None = None) -> dict[str, Any]:
    """Write the rows described in the module docstring.

    Args:
        url: A migrated database URL.
        today: Last day of the week (default: today, UTC).

    Returns:
        The expected figures of the week ending ``today`` (``current``) and of the week before
        (``previous``), by query name.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    start = today - dt.timedelta(days=6)
    since = dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC)
    day = dt.timedelta(days=1)
    in_week = start + dt.timedelta(days=2)
    d1 = _deal("Open, due, scored", 10_000.0, since - 4 * day, expected_close_date=in_week)
    d2 = _deal("Won, due, scored", 5_000.0, since - 5 * day, expected_close_date=in_week,
               closed_at=since + 3 * day, is_won=True)  # fmt: skip
    d3 = _deal("Lost, due, scored", 7_000.0, since - 6 * day, expected_close_date=in_week,
               closed_at=since + 2 * day, is_won=False)  # fmt: skip
    d4 = _deal("New this week", 2_000.0, since + day + dt.timedelta(hours=5),
               expected_close_date=today)  # fmt: skip
    d5 = _deal("Won last week", 4_000.0, since - 30 * day, closed_at=since - 3 * day, is_won=True)
    d6 = _deal("Due, not scored", 3_000.0, since - 10 * day, expected_close_date=today)
    d7 = _deal("Won this week, new", 1_500.0, since + 2 * day, closed_at=since + 4 * day,
               is_won=True)  # fmt: skip
    predictions = [
        _win(d1, 0.2, since - 10 * day),  # older: replaced by the next one
        _win(d1, 0.6, since - day),
        _win(d2, 0.8, since - 2 * day),
        _win(d3, 0.3, since - 2 * day),
        _win(d6, 0.99, since + 8 * day),  # made after the week: not a forecast of it
    ]
    alerts = [
        StreamAlert(kind="score_drift", model_name="lead_scoring", value=0.3, threshold=0.2,
                    window_size=500, details={}, created_at=moment)
        for moment in (since + day, since + 2 * day, since + 3 * day, since - 2 * day)
    ]  # fmt: skip
    reviews = [
        ReviewItem(feature="workflow_action", summary=f"review {i}", payload={}, risk="external",
                   status=status, decided_at=since + (i + 1) * day, decided_by="manager")
        for i, status in enumerate(("approved", "approved", "rejected"))
    ]  # fmt: skip
    with session_scope(url) as session:
        session.add_all([d1, d2, d3, d4, d5, d6, d7])
        session.flush()
        session.add_all([*predictions, *alerts, *reviews])
    expected_value = 0.6 * 10_000 + 0.8 * 5_000 + 0.3 * 7_000
    return {
        "current": {
            "pipeline.open_value": 15_000.0,  # d1, d4, d6
            "pipeline.open_deals": 3,
            "pipeline.new_deals_week": 2,  # d4, d7
            "pipeline.new_value_week": 3_500.0,
            "deals.won_count_week": 2,  # d2, d7
            "deals.won_value_week": 6_500.0,
            "deals.win_rate_week": round(2 / 3, 4),
            "forecast.deals_due": 4,  # d1, d2, d3, d6
            "forecast.scored_deals": 3,
            "forecast.expected_value": expected_value,
            "forecast.actual_won": 5_000.0,
            "forecast.attainment": round(5_000 / expected_value, 4),
            "alerts.stream_week": 3,
        },
        "previous": {
            "pipeline.open_value": 25_000.0,  # d1, d2, d3, d6 open at the week's start
            "pipeline.open_deals": 4,
            "pipeline.new_deals_week": 3,  # d1, d2, d3
            "deals.won_count_week": 1,  # d5
            "deals.won_value_week": 4_000.0,
            "alerts.stream_week": 1,
        },
    }
