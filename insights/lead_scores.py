"""Lead-score section of the dashboard: latest score per contact with its trend, distribution."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select

from haste.db.models import Company, Contact, LeadScore
from haste.db.session import session_scope
from insights.common import (
    SCORE_BIN_WIDTH,
    TREND_THRESHOLD,
    _contributions,
    _full_name,
    _iso,
    _window_start,
    band_of_score,
    trend_of,
)


def _ranked_scores() -> Select[Any]:
    """Return lead scores numbered per contact, newest first (``rank`` 1 = latest)."""
    rank = (
        func.row_number()
        .over(
            partition_by=LeadScore.contact_id,
            order_by=(LeadScore.calculated_at.desc(), LeadScore.id.desc()),
        )
        .label("rank")
    )
    return select(
        LeadScore.contact_id,
        LeadScore.score,
        LeadScore.score_components,
        LeadScore.model_version,
        LeadScore.explanation,
        LeadScore.calculated_at,
        rank,
    )


def lead_score_overview(url: str, limit: int = 50) -> list[dict[str, Any]]:
    """Return the latest lead score of each contact with its trend and explanation.

    Args:
        url: Database URL.
        limit: Contacts returned (highest latest score first).

    Returns:
        One dict per contact: ``contact_id``, ``name``, ``email``, ``company``, ``industry``,
        ``lead_status`` (lifecycle stage), ``score``, ``band``, ``previous_score``, ``delta``,
        ``trend`` (``up``/``down``/``stable``/``new``, moves of at most 3 points are stable),
        ``model_version``, ``calculated_at``, ``explanation`` and ``contributions`` (largest
        absolute SHAP impact first: ``feature``, ``value``, ``impact``, ``abs_impact``,
        ``direction``).
    """
    current = _ranked_scores().subquery("current_score")
    previous = _ranked_scores().subquery("previous_score")
    query = (
        select(
            current.c.contact_id,
            current.c.score,
            current.c.score_components,
            current.c.model_version,
            current.c.explanation,
            current.c.calculated_at,
            previous.c.score.label("previous_score"),
            Contact.first_name,
            Contact.last_name,
            Contact.email,
            Contact.lifecycle_stage,
            Company.name.label("company"),
            Company.industry,
        )
        .join(Contact, Contact.id == current.c.contact_id)
        .outerjoin(Company, Company.id == Contact.company_id)
        .outerjoin(
            previous,
            (previous.c.contact_id == current.c.contact_id) & (previous.c.rank == 2),
        )
        .where(current.c.rank == 1)
        .order_by(current.c.score.desc(), current.c.calculated_at.desc(), current.c.contact_id)
        .limit(limit)
    )
    with session_scope(url) as session:
        rows = session.execute(query).all()
    out = []
    for row in rows:
        score = int(row.score)
        previous_score = None if row.previous_score is None else int(row.previous_score)
        out.append(
            {
                "contact_id": str(row.contact_id),
                "name": _full_name(row.first_name, row.last_name, row.email),
                "email": row.email,
                "company": row.company,
                "industry": row.industry,
                "lead_status": row.lifecycle_stage,
                "score": score,
                "band": band_of_score(score),
                "previous_score": previous_score,
                "delta": None if previous_score is None else score - previous_score,
                "trend": trend_of(score, previous_score, TREND_THRESHOLD),
                "model_version": row.model_version,
                "calculated_at": _iso(row.calculated_at),
                "explanation": row.explanation,
                "contributions": _contributions(row.score_components),
            }
        )
    return out


def score_distribution(url: str, *, trend_days: int = 90) -> dict[str, Any]:
    """Return the distribution of the latest score per contact and the daily mean score.

    Args:
        url: Database URL.
        trend_days: Days of history of the daily mean.

    Returns:
        ``count`` (contacts scored), ``mean`` and ``median`` of the latest scores (None when
        none), ``bands`` (contacts per band), ``bins`` (``low``, ``high``, ``count`` for
        0-10 ... 90-100, 100 falls in the last bin) and ``daily_mean`` (``date``, ``mean``,
        ``count`` over every score computed that day, oldest first).
    """
    latest = _ranked_scores().subquery("latest_score")
    per_score = (
        select(latest.c.score, func.count())
        .where(latest.c.rank == 1)
        .group_by(latest.c.score)
        .order_by(latest.c.score)
    )
    day = func.date(LeadScore.calculated_at)
    daily = (
        select(day, func.avg(LeadScore.score), func.count())
        .where(LeadScore.calculated_at >= _window_start(trend_days))
        .group_by(day)
        .order_by(day)
    )
    with session_scope(url) as session:
        counts = [(int(score), int(n)) for score, n in session.execute(per_score).all()]
        days = session.execute(daily).all()
    n_bins = 100 // SCORE_BIN_WIDTH
    bins = [
        {"low": i * SCORE_BIN_WIDTH, "high": (i + 1) * SCORE_BIN_WIDTH, "count": 0}
        for i in range(n_bins)
    ]
    bands = {"hot": 0, "warm": 0, "cold": 0}
    for score, n in counts:
        bins[min(max(score, 0) // SCORE_BIN_WIDTH, n_bins - 1)]["count"] += n
        bands[band_of_score(score)] += n
    total = sum(n for _, n in counts)
    mean = round(sum(score * n for score, n in counts) / total, 1) if total else None
    return {
        "count": total,
        "mean": mean,
        "median": _weighted_median(counts) if total else None,
        "bands": bands,
        "bins": bins,
        "daily_mean": [
            {"date": str(date)[:10], "mean": round(float(avg), 2), "count": int(n)}
            for date, avg, n in days
            if date is not None and avg is not None
        ],
    }


def _weighted_median(counts: list[tuple[int, int]]) -> float:
    """Return the median of ascending ``(value, count)`` pairs (at least one count)."""
    total = sum(n for _, n in counts)

    def nth(k: int) -> int:
        seen = 0
        for value, n in counts:
            seen += n
            if k < seen:
                return value
        return counts[-1][0]

    return (nth((total - 1) // 2) + nth(total // 2)) / 2


def empty_distribution() -> dict[str, Any]:
    """Return the distribution of an empty database."""
    return {
        "count": 0,
        "mean": None,
        "median": None,
        "bands": {"hot": 0, "warm": 0, "cold": 0},
        "bins": [
            {"low": low, "high": low + SCORE_BIN_WIDTH, "count": 0}
            for low in range(0, 100, SCORE_BIN_WIDTH)
        ],
        "daily_mean": [],
    }
