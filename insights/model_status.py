"""Model section of the dashboard: champion and challengers of each model, key metrics compared."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from haste.db.models import AIModel
from haste.db.session import session_scope
from insights.common import (
    KEY_METRICS,
    LOWER_IS_BETTER,
    SHOWN_STATUSES,
    _iso,
    _numeric_map,
)


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
