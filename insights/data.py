"""The dashboard's data: every section assembled (:func:`build_dashboard`) and made JSON-ready.

The sections' named queries live next to this module: :mod:`insights.lead_scores`,
:mod:`insights.predictions`, :mod:`insights.model_status`, :mod:`insights.usage` and
:mod:`insights.monitoring`; every one returns plain dicts and lists.

Every section is robust to an empty database (empty lists, ``None`` means, zero counts) and
the monitoring section to a missing reports folder. Timestamps are ISO 8601 strings, ids are
strings and costs are exact :class:`~decimal.Decimal` (see :func:`jsonable` for JSON).

Reports read by :func:`~insights.monitoring.monitoring_status` (written by the Prefect flows):

* drift: ``<reports_dir>/monitoring/<model>/<UTC stamp>/drift_summary.json`` and the Evidently
  ``drift_report.html`` next to it (:mod:`flows.monitoring`);
* fairness: ``<reports_dir>/bias_audit/<model>/bias_audit.json`` and ``bias_report.html``
  (:mod:`flows.bias_audit`).
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from insights.automation import (
    latest_anomalies,
    process_bottlenecks,
    review_queue,
    workflow_overview,
)
from insights.calibration_overview import calibration_overview
from insights.common import (
    DEFAULT_WINDOW_DAYS,
    T,
    _iso,
    _safe,
    utcnow,
)
from insights.content_overview import content_overview
from insights.executive import executive_section
from insights.gaming_overview import gaming_overview
from insights.lead_scores import empty_distribution, lead_score_overview, score_distribution
from insights.ledger_overview import ledger_overview
from insights.model_status import model_status
from insights.monitoring import monitoring_status
from insights.predictions import next_best_actions, prediction_summary
from insights.usage import usage_by_feature, usage_by_team
from insights.what_if_panel import what_if_panel
from textai.llm.usage import to_usd


def build_dashboard(url: str, reports_dir: Path | str) -> dict[str, Any]:
    """Return every section of the dashboard as plain data.

    Args:
        url: Database URL.
        reports_dir: Reports folder of the monitoring and bias-audit flows.

    Returns:
        ``generated_at``, ``window_days``, ``kpis`` (``contacts_scored``, ``mean_score``,
        ``predictions_30d``, ``ai_calls_30d``, ``ai_cost_30d`` Decimal), ``lead_scores``,
        ``score_distribution``, ``predictions``, ``next_actions``, ``models``, ``monitoring``,
        ``usage`` (``by_team``, ``by_feature``, ``total_cost_usd``, ``total_calls``),
        ``automation`` (``workflows``, ``reviews``, ``adoption``), ``anomalies``, ``process``
        (Maven CRM bottlenecks), ``content`` (content performance), ``executive`` (the
        weekly executive summary and the metrics' trends), ``trust`` (``calibration``,
        ``what_if``, ``gaming``, ``ledger``) and ``errors`` (section -> message
        for sections whose query failed, e.g. no schema).
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
    distribution = distribution or empty_distribution()
    empty_predictions = {"days": days, "total": 0, "by_type": [], "churn": [], "deals": []}
    predictions = section("predictions", lambda: prediction_summary(url, days), empty_predictions)
    actions = section("next_actions", lambda: next_best_actions(url), [])
    models = section("models", lambda: model_status(url), [])
    by_team = section("usage_by_team", lambda: usage_by_team(url, days), [])
    by_feature = section("usage_by_feature", lambda: usage_by_feature(url, days), [])
    monitoring = monitoring_status(reports_dir)
    automation = {
        "workflows": section("workflows", lambda: workflow_overview(url, days), []),
        "reviews": section("reviews", lambda: review_queue(url), {"pending": 0, "items": []}),
        "adoption": section("adoption", lambda: _adoption(url), None),
    }
    anomalies = section("anomalies", lambda: latest_anomalies(url), [])
    process = section("process", lambda: process_bottlenecks(_datasets_dir()), None)
    content = section("content", lambda: content_overview(url), None)
    executive = section("executive", lambda: executive_section(url), None)
    trust = {
        "calibration": section("calibration", lambda: calibration_overview(url, reports_dir), None),
        "what_if": section("what_if", lambda: what_if_panel(url), None),
        "gaming": section("gaming", lambda: gaming_overview(url), None),
        "ledger": section("ledger", lambda: ledger_overview(url), None),
    }
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
        "automation": automation,
        "anomalies": anomalies,
        "process": process,
        "content": content,
        "executive": executive,
        "trust": trust,
        "errors": errors,
    }


def _adoption(url: str) -> dict[str, Any]:
    """Return the adoption of AI suggestions vs the configured target."""
    from workflows.adoption import compute_adoption
    from workflows.config import workflow_config

    return compute_adoption(url, workflow_config().adoption_target)


def _datasets_dir() -> Path:
    """Return the real datasets folder (the process section reads Maven CRM there)."""
    from haste.settings import get_settings

    return get_settings().datasets_dir


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
