"""Prediction section of the dashboard: counts per type, latest churn and deal rows, actions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, func, select

from haste.db.models import Company, Contact, Prediction
from haste.db.session import session_scope
from insights.common import (
    DEFAULT_WINDOW_DAYS,
    _full_name,
    _iso,
    _number,
    _window_start,
)

#: How a binary conformal prediction set reads (1 = the account churns).
SET_LABELS = {(1,): "churns", (0,): "stays", (0, 1): "can't tell", (): "neither"}


def set_label(prediction_set: Any) -> str | None:
    """Return how a stored conformal prediction set reads (None: an uncalibrated model's)."""
    if not isinstance(prediction_set, list | tuple):
        return None
    try:
        key = tuple(sorted({int(label) for label in prediction_set}))
    except (TypeError, ValueError):
        return None
    return SET_LABELS.get(key)


def _interval(value: Any) -> tuple[float, float] | None:
    """Return a stored ``[low, high]`` interval as two floats (None when absent or malformed)."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    low, high = _number(value[0]), _number(value[1])
    return None if low is None or high is None else (low, high)


def _churn_row(row: Prediction) -> dict[str, Any]:
    """Return the display fields of a churn prediction."""
    value = row.prediction_value if isinstance(row.prediction_value, Mapping) else {}
    actions = value.get("recommended_actions") or []
    return {
        "entity_id": None if row.entity_id is None else str(row.entity_id),
        "account_id": value.get("account_id") or (str(row.entity_id) if row.entity_id else None),
        "score": _number(value.get("score")),
        "probability": _number(value.get("probability")),
        "risk_band": value.get("risk_band"),
        "top_action": actions[0] if isinstance(actions, list) and actions else None,
        "prediction_set": set_label(value.get("prediction_set")),
        "coverage": _number(value.get("coverage")),
        "confidence": _number(row.confidence_score),
        "model_version": row.model_version,
        "created_at": _iso(row.created_at),
    }


def _deal_row(row: Prediction) -> dict[str, Any]:
    """Return the display fields of a deal velocity / win probability prediction."""
    value = row.prediction_value if isinstance(row.prediction_value, Mapping) else {}
    return {
        "entity_id": None if row.entity_id is None else str(row.entity_id),
        "deal_id": value.get("deal_id") or (str(row.entity_id) if row.entity_id else None),
        "account": value.get("account"),
        "deal_stage": value.get("deal_stage"),
        "win_probability": _number(value.get("win_probability")),
        "days_to_close": _number(value.get("days_to_close")),
        "interval": _interval(value.get("days_to_close_interval")),
        "coverage": _number(value.get("coverage")),
        "expected_close_date": value.get("expected_close_date"),
        "overdue": value.get("overdue"),
        "confidence": _number(row.confidence_score),
        "model_version": row.model_version,
        "created_at": _iso(row.created_at),
    }


def prediction_summary(
    url: str, days: int = DEFAULT_WINDOW_DAYS, latest: int = 8
) -> dict[str, Any]:
    """Return prediction counts per type over the window and the latest churn/deal predictions.

    Args:
        url: Database URL.
        days: Window of the counts.
        latest: Latest churn and deal predictions returned.

    Returns:
        ``days``, ``total`` (predictions in the window), ``by_type`` (``prediction_type``,
        ``count``, ``mean_confidence``, most frequent first), ``churn`` and ``deals`` (latest
        predictions of type ``churn`` and ``deal_velocity``, newest first).
    """
    since = _window_start(days)
    counts = (
        select(Prediction.prediction_type, func.count(), func.avg(Prediction.confidence_score))
        .where(Prediction.created_at >= since)
        .group_by(Prediction.prediction_type)
    )

    def newest(kind: str) -> Select[Any]:
        return (
            select(Prediction)
            .where(Prediction.prediction_type == kind)
            .order_by(Prediction.created_at.desc(), Prediction.id)
            .limit(latest)
        )

    with session_scope(url) as session:
        by_type = [
            {
                "prediction_type": kind or "(unknown)",
                "count": int(n),
                "mean_confidence": None if conf is None else round(float(conf), 3),
            }
            for kind, n, conf in session.execute(counts).all()
        ]
        churn = [_churn_row(row) for row in session.scalars(newest("churn"))]
        deals = [_deal_row(row) for row in session.scalars(newest("deal_velocity"))]
    by_type.sort(key=lambda item: (-item["count"], item["prediction_type"]))
    return {
        "days": days,
        "total": sum(item["count"] for item in by_type),
        "by_type": by_type,
        "churn": churn,
        "deals": deals,
    }


def next_best_actions(url: str, limit: int = 20) -> list[dict[str, Any]]:
    """Return the latest next-best-actions prediction of each contact, newest first.

    Args:
        url: Database URL.
        limit: Contacts returned.

    Returns:
        ``contact_id``, ``name``, ``company``, ``lead_score``, ``created_at``,
        ``model_version`` and ``actions`` (``action``, ``reason``, ``priority``, ``source``,
        ``channel``; highest priority first).
    """
    rank = (
        func.row_number()
        .over(
            partition_by=Prediction.entity_id,
            order_by=(Prediction.created_at.desc(), Prediction.id.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(
            Prediction.entity_id,
            Prediction.prediction_value,
            Prediction.model_version,
            Prediction.created_at,
            rank,
        )
        .where(Prediction.prediction_type == "next_actions")
        .subquery("ranked_actions")
    )
    query = (
        select(
            ranked.c.entity_id,
            ranked.c.prediction_value,
            ranked.c.model_version,
            ranked.c.created_at,
            Contact.first_name,
            Contact.last_name,
            Contact.email,
            Company.name.label("company"),
        )
        .outerjoin(Contact, Contact.id == ranked.c.entity_id)
        .outerjoin(Company, Company.id == Contact.company_id)
        .where(ranked.c.rank == 1)
        .order_by(ranked.c.created_at.desc(), ranked.c.entity_id)
        .limit(limit)
    )
    with session_scope(url) as session:
        rows = session.execute(query).all()
    out = []
    for row in rows:
        value = row.prediction_value if isinstance(row.prediction_value, Mapping) else {}
        actions = []
        for item in value.get("actions") or []:
            if not isinstance(item, Mapping) or not item.get("action"):
                continue
            actions.append(
                {
                    "action": str(item["action"]),
                    "reason": item.get("reason"),
                    "priority": _number(item.get("priority")),
                    "source": item.get("source"),
                    "channel": item.get("channel"),
                }
            )
        actions.sort(key=lambda a: -(a["priority"] or 0.0))
        lead_score = _number(value.get("lead_score"))
        out.append(
            {
                "contact_id": None if row.entity_id is None else str(row.entity_id),
                "name": _full_name(row.first_name, row.last_name, row.email),
                "company": row.company,
                "lead_score": None if lead_score is None else int(lead_score),
                "model_version": row.model_version,
                "created_at": _iso(row.created_at),
                "actions": actions,
            }
        )
    return out
