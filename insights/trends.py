"""Week-over-week trends of the dashboard's metrics: change, direction and an 8-week history.

:func:`week_over_week` compares two numbers: the absolute change, the relative change in
percent (``None`` when the previous week is 0: a change from nothing has no percentage) and a
direction, ``up``, ``down`` or ``flat`` (within :data:`FLAT_PCT` percent of the previous week;
ratios within :data:`FLAT_POINTS` percentage points), or ``n/a`` when a week has no value.
:func:`build_trends` applies it to the named queries' weekly values
(:func:`insights.executive_queries.compute_weeks`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from insights.executive_queries import NamedQuery, Value, Week

#: A relative change under this many percent is ``flat``.
FLAT_PCT = 5.0
#: A ratio moving by less than this many percentage points is ``flat``.
FLAT_POINTS = 1.0
#: The dashboard's metrics shown with their trends, in order.
TREND_METRICS: tuple[str, ...] = (
    "ai.calls_week",
    "ai.cost_week",
    "ai.predictions_week",
    "leads.mean_score_week",
    "adoption.accept_rate_week",
    "pipeline.open_value",
    "pipeline.new_deals_week",
    "deals.won_value_week",
    "churn.high_risk_accounts",
    "anomalies.count_week",
    "alerts.stream_week",
)


def week_over_week(
    current: Value,
    previous: Value,
    *,
    ratio: bool = False,
    flat_pct: float = FLAT_PCT,
    flat_points: float = FLAT_POINTS,
) -> dict[str, Any]:
    """Return the change from ``previous`` to ``current`` and its direction.

    Args:
        current: This week's value (``None``: not defined this week).
        previous: The previous week's value.
        ratio: The values are ratios in [0, 1] (the flat band is in percentage points).
        flat_pct: Relative change (percent) under which the metric is ``flat``.
        flat_points: For ratios, change in percentage points under which it is ``flat``.

    Returns:
        ``change`` (current - previous), ``change_pct`` (percent of the previous value, ``None``
        when it is 0 or a value is missing) and ``direction`` (``up``, ``down``, ``flat`` or
        ``n/a``).
    """
    if current is None or previous is None:
        return {"change": None, "change_pct": None, "direction": "n/a"}
    change = round(float(current) - float(previous), 6)
    change_pct = None if previous == 0 else round(100.0 * change / abs(float(previous)), 1)
    if ratio:
        flat = abs(change) * 100 < flat_points
    elif change_pct is None:
        flat = change == 0
    else:
        flat = abs(change_pct) < flat_pct
    direction = "flat" if flat else ("up" if change > 0 else "down")
    if isinstance(current, int) and isinstance(previous, int):
        change = int(change)
    return {"change": change, "change_pct": change_pct, "direction": direction}


def tone_of(direction: str, higher_is_better: bool | None) -> str:
    """Return ``good``, ``bad`` or ``neutral`` for a direction (colours on the dashboard)."""
    if higher_is_better is None or direction not in ("up", "down"):
        return "neutral"
    return "good" if (direction == "up") == higher_is_better else "bad"


def build_trends(
    values: Mapping[str, Sequence[Value]],
    weeks: Sequence[Week],
    queries: Mapping[str, NamedQuery],
    names: Sequence[str] = TREND_METRICS,
) -> list[dict[str, Any]]:
    """Return the week-over-week trend of each metric with its weekly history.

    Args:
        values: Query name -> one value per week (oldest first), the last being this week.
        weeks: The weeks of ``values``.
        queries: The named queries (descriptions, units, whether higher is better).
        names: Metrics to return.

    Returns:
        One dict per metric: ``name``, ``description``, ``unit``, ``current``, ``previous``,
        ``change``, ``change_pct``, ``direction``, ``tone`` and ``history`` (``week_start``,
        ``week_end``, ``value`` per week, oldest first).
    """
    out = []
    for name in names:
        series = list(values.get(name) or [])
        if len(series) != len(weeks) or not series:
            continue
        query = queries[name]
        current = series[-1]
        previous = series[-2] if len(series) > 1 else None
        change = week_over_week(current, previous, ratio=query.unit == "ratio")
        out.append(
            {
                "name": name,
                "description": query.description,
                "unit": query.unit,
                "current": current,
                "previous": previous,
                **change,
                "tone": tone_of(change["direction"], query.higher_is_better),
                "history": [
                    {"week_start": w.start.isoformat(), "week_end": w.end.isoformat(), "value": v}
                    for w, v in zip(weeks, series, strict=True)
                ],
            }
        )
    return out
