"""AI usage and cost per team and per feature for the dashboard (from ai_interactions)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from haste.db.models import Team
from haste.db.session import session_scope
from insights.common import (
    DEFAULT_WINDOW_DAYS,
    NO_FEATURE,
    NO_TEAM,
    _window_start,
)
from textai.llm.usage import usage_rollup


def _team_names(url: str) -> dict[str, str]:
    """Return team id (string) -> team name."""
    with session_scope(url) as session:
        return {str(team_id): name for team_id, name in session.execute(select(Team.id, Team.name))}


def _usage_row(row: dict[str, Any]) -> dict[str, Any]:
    """Return the common usage fields, with the error rate."""
    calls = row["calls"]
    return {
        "calls": calls,
        "errors": row["errors"],
        "error_rate": round(row["errors"] / calls, 4) if calls else 0.0,
        "total_tokens": row["total_tokens"],
        "cost_usd": row["cost_usd"],
        "mean_latency_ms": row["mean_latency_ms"],
    }


def usage_by_team(url: str, days: int = DEFAULT_WINDOW_DAYS) -> list[dict[str, Any]]:
    """Return every AI call of the window grouped per team (LLM and model calls alike).

    Args:
        url: Database URL.
        days: Window (days up to now).

    Returns:
        ``team_id``, ``team`` (name, ``(no team)`` for calls without one), ``calls``,
        ``errors``, ``error_rate``, ``total_tokens``, ``cost_usd`` (exact Decimal) and
        ``mean_latency_ms``; most expensive first.
    """
    rows = usage_rollup(url, by="team", since=_window_start(days), interaction_type=None)
    names = _team_names(url) if rows else {}
    return [
        {
            "team_id": row["team"],
            "team": NO_TEAM if row["team"] is None else names.get(row["team"], row["team"]),
            **_usage_row(row),
        }
        for row in rows
    ]


def usage_by_feature(url: str, days: int = DEFAULT_WINDOW_DAYS) -> list[dict[str, Any]]:
    """Return every AI call of the window grouped per product feature.

    Args:
        url: Database URL.
        days: Window (days up to now).

    Returns:
        ``feature``, ``calls``, ``errors``, ``error_rate``, ``total_tokens``, ``cost_usd``
        (exact Decimal) and ``mean_latency_ms``; most expensive first.
    """
    rows = usage_rollup(url, by="feature", since=_window_start(days), interaction_type=None)
    return [{"feature": row["feature"] or NO_FEATURE, **_usage_row(row)} for row in rows]
