"""Framework-free queries behind the dashboard; every function returns plain dicts and lists.

Every section is robust to an empty database (empty lists, ``None`` means, zero counts) and
the monitoring section to a missing reports folder. Timestamps are ISO 8601 strings, ids are
strings and costs are exact :class:`~decimal.Decimal` (see :func:`jsonable` for JSON).

Reports read by :func:`monitoring_status` (written by the Prefect flows):

* drift: ``<reports_dir>/monitoring/<model>/<UTC stamp>/drift_summary.json`` and the Evidently
  ``drift_report.html`` next to it (:mod:`flows.monitoring`);
* fairness: ``<reports_dir>/bias_audit/<model>/bias_audit.json`` and ``bias_report.html``
  (:mod:`flows.bias_audit`).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, select

from haste.db.models import AIModel, Company, Contact, LeadScore, Prediction
from haste.db.session import session_scope
from insights.common import (
    DEFAULT_WINDOW_DAYS,
    KEY_METRICS,
    LOWER_IS_BETTER,
    SCORE_BIN_WIDTH,
    SHOWN_STATUSES,
    TREND_THRESHOLD,
    T,
    _contributions,
    _full_name,
    _iso,
    _number,
    _numeric_map,
    _safe,
    _window_start,
    band_of_score,
    trend_of,
    utcnow,
)
from insights.monitoring import monitoring_status
from insights.usage import usage_by_feature, usage_by_team
from textai.llm.usage import to_usd

logger = logging.getLogger(__name__)


# --- helpers -----------------------------------------------------------------------------------


# --- lead scores ---------------------------------------------------------------------------------


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


# --- predictions ---------------------------------------------------------------------------------


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


# --- models ------------------------------------------------------------------------------------


def _model_entry(row: AIModel) -> dict[str, Any]:
    """Return the display fields of an ``ai_models`` row."""
    perf = row.performance_metrics if isinstance(row.performance_metrics, Mapping) else {}
    metrics = _numeric_map(perf.get("metrics", perf))
    fairness_raw = perf.get("fairness")
    if isinstance(fairness_raw, Mapping) and isinstance(fairness_raw.get("disparities"), Mapping):
        passed = fairness_raw.get("passed")
        fairness_raw = fairness_raw["disparities"]
    else:
        passed = None
    return {
        "version": row.version,
        "status": row.deployment_status,
        "type": row.type,
        "key_metrics": {key: metrics[key] for key in KEY_METRICS if key in metrics},
        "metrics": metrics,
        "fairness": _numeric_map(fairness_raw),
        "fairness_passed": passed if isinstance(passed, bool) else None,
        "created_at": _iso(row.created_at),
        "deployed_at": _iso(row.deployed_at),
    }


def model_status(url: str) -> list[dict[str, Any]]:
    """Return the champion and challengers of every model with key metrics and disparities.

    Args:
        url: Database URL.

    Returns:
        One dict per model name (sorted): ``name``, ``champion`` (entry or None),
        ``challengers`` (newest first) and ``comparison`` (per key metric the champion and
        latest challenger values, ``delta`` = challenger - champion and ``better``: whether the
        challenger is better, lower being better for losses). Each entry has ``version``,
        ``status``, ``key_metrics``, ``metrics``, ``fairness`` (disparity -> value),
        ``created_at`` and ``deployed_at``.
    """
    query = (
        select(AIModel)
        .where(AIModel.deployment_status.in_(SHOWN_STATUSES))
        .order_by(AIModel.name, AIModel.created_at.desc(), AIModel.version.desc())
    )
    with session_scope(url) as session:
        rows = list(session.scalars(query))
    models: dict[str, dict[str, Any]] = {}
    for row in rows:
        model = models.setdefault(row.name, {"name": row.name, "champion": None, "challengers": []})
        entry = _model_entry(row)
        if row.deployment_status == "champion" and model["champion"] is None:
            model["champion"] = entry
        elif row.deployment_status == "challenger":
            model["challengers"].append(entry)
    for model in models.values():
        model["comparison"] = _comparison(model["champion"], model["challengers"])
    return [models[name] for name in sorted(models)]


def _comparison(
    champion: dict[str, Any] | None, challengers: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Return champion vs latest challenger per metric (key metrics first)."""
    challenger = challengers[0] if challengers else None
    champ_metrics = champion["metrics"] if champion else {}
    chall_metrics = challenger["metrics"] if challenger else {}
    names = [m for m in KEY_METRICS if m in champ_metrics or m in chall_metrics]
    out = []
    for name in names:
        a, b = champ_metrics.get(name), chall_metrics.get(name)
        delta = None if a is None or b is None else round(b - a, 4)
        better = None
        if delta is not None and delta != 0:
            better = delta < 0 if name in LOWER_IS_BETTER else delta > 0
        out.append(
            {"metric": name, "champion": a, "challenger": b, "delta": delta, "better": better}
        )
    return out


# --- monitoring reports -------------------------------------------------------------------------


# --- AI usage ----------------------------------------------------------------------------------


# --- everything --------------------------------------------------------------------------------


def _empty_distribution() -> dict[str, Any]:
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


def build_dashboard(url: str, reports_dir: Path | str) -> dict[str, Any]:
    """Return every section of the dashboard as plain data.

    Args:
        url: Database URL.
        reports_dir: Reports folder of the monitoring and bias-audit flows.

    Returns:
        ``generated_at``, ``window_days``, ``kpis`` (``contacts_scored``, ``mean_score``,
        ``predictions_30d``, ``ai_calls_30d``, ``ai_cost_30d`` Decimal), ``lead_scores``,
        ``score_distribution``, ``predictions``, ``next_actions``, ``models``, ``monitoring``,
        ``usage`` (``by_team``, ``by_feature``, ``total_cost_usd``, ``total_calls``) and
        ``errors`` (section -> message for sections whose query failed, e.g. no schema).
    """
    days = DEFAULT_WINDOW_DAYS
    errors: dict[str, str] = {}

    def section(name: str, build: Callable[[], T], default: T) -> T:
        value, error = _safe(name, build, default)
        if error:
            errors[name] = error
        return value

    leads = section("lead_scores", lambda: lead_score_overview(url), [])
    distribution = section("score_distribution", lambda: score_distribution(url), None)
    distribution = distribution or _empty_distribution()
    empty_predictions = {"days": days, "total": 0, "by_type": [], "churn": [], "deals": []}
    predictions = section("predictions", lambda: prediction_summary(url, days), empty_predictions)
    actions = section("next_actions", lambda: next_best_actions(url), [])
    models = section("models", lambda: model_status(url), [])
    by_team = section("usage_by_team", lambda: usage_by_team(url, days), [])
    by_feature = section("usage_by_feature", lambda: usage_by_feature(url, days), [])
    monitoring = monitoring_status(reports_dir)
    total_cost = to_usd(sum((row["cost_usd"] for row in by_team), Decimal(0)))
    total_calls = sum(row["calls"] for row in by_team)
    return {
        "generated_at": utcnow().isoformat(timespec="seconds"),
        "window_days": days,
        "kpis": {
            "contacts_scored": distribution["count"],
            "mean_score": distribution["mean"],
            "predictions_30d": predictions["total"],
            "ai_calls_30d": total_calls,
            "ai_cost_30d": total_cost,
        },
        "lead_scores": leads,
        "score_distribution": distribution,
        "predictions": predictions,
        "next_actions": actions,
        "models": models,
        "monitoring": monitoring,
        "usage": {
            "days": days,
            "by_team": by_team,
            "by_feature": by_feature,
            "total_cost_usd": total_cost,
            "total_calls": total_calls,
        },
        "errors": errors,
    }


def jsonable(value: Any) -> Any:
    """Return ``value`` ready for ``json.dumps``: Decimals as strings, times ISO, ids strings.

    Args:
        value: Output of :func:`build_dashboard` (or any part of it).

    Returns:
        The same structure with JSON types only (non-finite floats become None).
    """
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return _iso(value)
    if isinstance(value, uuid.UUID | Path):
        return str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(item) for item in value]
    return value
