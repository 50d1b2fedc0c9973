"""What the dashboard's queries share: windows, trends, score bands, number and time formats."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

T = TypeVar("T")

logger = logging.getLogger(__name__)


#: A score moving by at most this many points is ``stable``.
TREND_THRESHOLD = 3


#: Contributions kept per lead score (largest absolute impact first).
TOP_CONTRIBUTIONS = 6


#: Window of the prediction counts and the AI usage tables (days).
DEFAULT_WINDOW_DAYS = 30


#: Width of the score histogram bins (points).
SCORE_BIN_WIDTH = 10


#: Metrics shown for each model (those present, in this order).
KEY_METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "f1", "accuracy", "precision", "recall")


#: Metrics where lower is better.
LOWER_IS_BETTER: frozenset[str] = frozenset({"brier", "log_loss", "mae", "rmse"})


#: Deployment states shown in the models section.
SHOWN_STATUSES: tuple[str, ...] = ("champion", "challenger")


#: URL prefix under which the report files of ``reports_dir`` are served.
REPORTS_URL_PREFIX = "/dashboard/reports"


#: Label of AI calls without a team (system jobs, anonymous calls).
NO_TEAM = "(no team)"


#: Label of AI calls without a feature.
NO_FEATURE = "(unknown)"


def utcnow() -> dt.datetime:
    """Return the current time as an aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime | dt.date | None) -> str | None:
    """Return an ISO 8601 string (naive datetimes are taken as UTC, as SQLite returns them)."""
    if moment is None:
        return None
    if isinstance(moment, dt.datetime) and moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.isoformat()


def _number(value: Any) -> float | None:
    """Return ``value`` as a finite float, or None when it is not a finite number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _full_name(first: str | None, last: str | None, email: str | None = None) -> str:
    """Return a display name: first and last name, else the email, else a placeholder."""
    name = " ".join(part for part in (first, last) if part).strip()
    return name or email or "Unknown contact"


def trend_of(latest: int | float, previous: int | float | None, threshold: int = 3) -> str:
    """Return the trend of a score against the previous one.

    Args:
        latest: Latest score.
        previous: Score before it (None when the contact was scored once).
        threshold: Moves of at most this many points are ``stable``.

    Returns:
        ``up``, ``down``, ``stable`` or ``new`` (no previous score).
    """
    if previous is None:
        return "new"
    delta = latest - previous
    if delta > threshold:
        return "up"
    if delta < -threshold:
        return "down"
    return "stable"


def band_of_score(score: int | float) -> str:
    """Return the band of a 0-100 score: ``hot`` (>= 70), ``warm`` (>= 40) or ``cold``."""
    if score >= 70:
        return "hot"
    if score >= 40:
        return "warm"
    return "cold"


def _contributions(components: Any, top: int = TOP_CONTRIBUTIONS) -> list[dict[str, Any]]:
    """Return the largest contributions of ``score_components`` (absolute impact first)."""
    raw = components.get("contributions") if isinstance(components, Mapping) else components
    out: list[dict[str, Any]] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Mapping):
            continue
        impact = _number(item.get("impact"))
        if impact is None:
            continue
        direction = item.get("direction") or ("positive" if impact >= 0 else "negative")
        out.append(
            {
                "feature": str(item.get("feature", "?")),
                "value": item.get("value"),
                "impact": round(impact, 4),
                "abs_impact": round(abs(impact), 4),
                "direction": str(direction),
            }
        )
    out.sort(key=lambda c: -c["abs_impact"])
    return out[:top]


def _window_start(days: int) -> dt.datetime:
    """Return the start of a window of ``days`` days ending now."""
    return utcnow() - dt.timedelta(days=days)


def _safe(name: str, build: Callable[[], T], default: T) -> tuple[T, str | None]:
    """Run a section query; a database error (e.g. tables not migrated) gives ``default``."""
    try:
        return build(), None
    except SQLAlchemyError as exc:
        logger.warning("dashboard section %s unavailable: %s", name, exc)
        return default, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"


def _numeric_map(raw: Any) -> dict[str, float]:
    """Return the finite numeric entries of a mapping, rounded to 4 decimals."""
    if not isinstance(raw, Mapping):
        return {}
    out = {}
    for key, value in raw.items():
        number = _number(value)
        if number is not None:
            out[str(key)] = round(number, 4)
    return out
