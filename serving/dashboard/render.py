"""Render the dashboard as one self-contained HTML page (Jinja2, autoescaped, no external assets).

The page (``templates/dashboard.html``) inlines its CSS, the SVG charts of
:mod:`insights.charts` and a few lines of vanilla JavaScript (the "Why?" toggles).
Stable element ids for tests and links: ``#kpis``, ``#lead-scores``, ``#stream-alerts``,
``#live-feed`` (its list ``#live-feed-list`` is filled from ``GET /dashboard/live``, see
:mod:`serving.dashboard.live`), ``#predictions``, ``#next-actions``, ``#models``,
``#monitoring`` and ``#usage``.

Every value coming from the database is escaped by the template engine; only the chart SVGs,
generated here by matplotlib (which escapes its text), are inserted as markup.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError

from insights.charts import build_charts, no_data_svg
from insights.common import TREND_THRESHOLD, band_of_score
from insights.data import build_dashboard
from streaming.live_feed import latest_stream_alerts

#: Folder of the Jinja2 templates.
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
#: Template of the page.
TEMPLATE_NAME = "dashboard.html"
#: Chart keys the template expects.
CHART_KEYS: tuple[str, ...] = (
    "score_histogram",
    "score_trend",
    "cost_per_team",
    "calls_per_feature",
    "model_comparison",
)
#: Arrow per trend.
TREND_ARROWS: dict[str, str] = {"up": "▲", "down": "▼", "stable": "▬", "new": "●"}


def format_usd(amount: Any) -> str:
    """Return a USD amount for display: cents above $1, four decimals below, ``$0`` for 0."""
    if amount is None:
        return "—"
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    return f"${value:.4f}"


def format_pct(value: Any) -> str:
    """Return a fraction in [0, 1] as a percentage (``—`` for None)."""
    return "—" if value is None else f"{100 * float(value):.1f}%"


def format_number(value: Any) -> str:
    """Return a metric with 3 decimals (``—`` for None)."""
    return "—" if value is None else f"{float(value):.3f}"


def format_ms(value: Any) -> str:
    """Return a latency in milliseconds (``—`` for None)."""
    return "—" if value is None else f"{float(value):,.0f} ms"


def format_thousands(value: Any) -> str:
    """Return an integer with thousands separators (``—`` for None)."""
    return "—" if value is None else f"{int(value):,}"


def format_when(value: Any) -> str:
    """Return an ISO timestamp as ``YYYY-MM-DD HH:MM UTC`` (``—`` for None)."""
    if not value:
        return "—"
    moment = value if isinstance(value, dt.datetime) else None
    if moment is None:
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """Return the (cached) Jinja2 environment, autoescape on, undefined names are errors."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        usd=format_usd,
        pct=format_pct,
        num=format_number,
        ms=format_ms,
        thousands=format_thousands,
        when=format_when,
    )
    env.globals.update(
        trend_arrows=TREND_ARROWS, trend_threshold=TREND_THRESHOLD, band_of=band_of_score
    )
    return env


def render_dashboard_html(
    data: Mapping[str, Any],
    charts: Mapping[str, str],
    *,
    generated_at: dt.datetime | str,
    stream_alerts: Sequence[Mapping[str, Any]] = (),
) -> str:
    """Render the dashboard page.

    Args:
        data: Output of :func:`insights.data.build_dashboard`.
        charts: Inline SVG per chart key (:func:`insights.charts.build_charts`); a
            missing key shows a "no data yet" placeholder.
        generated_at: When the data was read (shown in the header).
        stream_alerts: Latest alerts of the streaming monitor
            (:func:`streaming.live_feed.latest_stream_alerts`).

    Returns:
        The complete HTML document.
    """
    svgs = {
        key: Markup(charts.get(key) or no_data_svg(key.replace("_", " ").capitalize()))
        for key in CHART_KEYS
    }
    template = _environment().get_template(TEMPLATE_NAME)
    return template.render(
        data=data,
        charts=svgs,
        generated_at=format_when(generated_at),
        stream_alerts=list(stream_alerts),
    )


def read_stream_alerts(url: str, errors: dict[str, str]) -> list[dict[str, Any]]:
    """Return the latest streaming alerts; a database error is noted in ``errors`` instead.

    Args:
        url: Database URL.
        errors: The dashboard's section errors (``stream_alerts`` is added on failure).

    Returns:
        The alerts, newest first (empty when they cannot be read).
    """
    try:
        return latest_stream_alerts(url)
    except SQLAlchemyError as exc:
        errors["stream_alerts"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        return []


def render_dashboard(url: str, reports_dir: Path | str) -> str:
    """Read the dashboard data, draw the charts and render the page in one call.

    Args:
        url: Database URL.
        reports_dir: Reports folder of the monitoring and bias-audit flows
            (``settings.data_dir / "reports"``).

    Returns:
        The complete HTML document.
    """
    data = build_dashboard(url, reports_dir)
    alerts = read_stream_alerts(url, data["errors"])
    charts = build_charts(data)
    return render_dashboard_html(
        data, charts, generated_at=data["generated_at"], stream_alerts=alerts
    )
