"""Dashboard charts: matplotlib figures rendered to inline SVG strings (never to files).

Figures are built with :class:`matplotlib.figure.Figure` on an Agg canvas (no pyplot, no global
figure state) and saved as SVG with text kept as text (small, crisp, selectable). The returned
string starts at ``<svg`` (no XML prolog), has no fixed width/height (it scales to its container
through its ``viewBox``) and carries ``class="chart"``, ``role="img"`` and an ``aria-label``.
Every chart returns a short "no data yet" SVG when its data is empty.

Each function takes the matching section of :func:`insights.data.build_dashboard`;
:func:`build_charts` draws them all.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure

#: Colours shared with the page's CSS.
COLORS: dict[str, str] = {
    "ink": "#1f2937",
    "muted": "#6b7280",
    "grid": "#e5e7eb",
    "accent": "#4f46e5",
    "accent_light": "#a5b4fc",
    "hot": "#dc2626",
    "warm": "#f59e0b",
    "cold": "#3b82f6",
    "ok": "#16a34a",
    "error": "#dc2626",
    "champion": "#4f46e5",
    "challenger": "#f59e0b",
}
#: Metrics compared in the champion / challenger chart (higher is better, in [0, 1]).
COMPARED_METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "f1", "accuracy")
#: Most models drawn side by side in the comparison chart (full-width figure).
MAX_MODELS = 4

_RENDER_LOCK = threading.Lock()
_SVG_ROOT = re.compile(r"<svg\b[^>]*>", re.DOTALL)


def _plain(text: Any) -> str:
    """Return ``text`` safe for matplotlib labels (``$`` would start mathtext)."""
    return str(text).replace("$", r"\$")


def _usd(amount: Any) -> str:
    """Return a short USD label for an amount (already mathtext-safe)."""
    value = float(amount)
    if value == 0:
        return r"\$0"
    if abs(value) < 0.01:
        return rf"\${value:.4f}"
    return rf"\${value:,.2f}"


def _root_attributes(title: str, extra_class: str = "") -> str:
    """Return the attributes added to every chart's root ``<svg>`` element."""
    classes = f"chart {extra_class}".strip()
    label = html.escape(title, quote=True)
    return f'class="{classes}" role="img" aria-label="{label}"'


def no_data_svg(title: str, message: str = "No data yet") -> str:
    """Return a small placeholder SVG naming the chart and saying there is nothing to draw.

    Args:
        title: Chart title.
        message: Placeholder text.

    Returns:
        An inline SVG string.
    """
    t, m = html.escape(title), html.escape(message)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 480 140" '
        f"{_root_attributes(f'{title}: {message}', 'chart-empty')}>"
        f'<rect x="1" y="1" width="478" height="138" rx="10" fill="#f9fafb" '
        f'stroke="{COLORS["grid"]}" stroke-dasharray="6 4"/>'
        f'<text x="240" y="62" text-anchor="middle" font-family="sans-serif" font-size="16" '
        f'font-weight="600" fill="{COLORS["ink"]}">{t}</text>'
        f'<text x="240" y="90" text-anchor="middle" font-family="sans-serif" font-size="14" '
        f'fill="{COLORS["muted"]}">{m}</text></svg>'
    )


def _figure(width: float = 5.4, height: float = 3.0, ncols: int = 1) -> tuple[Figure, Any]:
    """Return a figure on an Agg canvas and its axes (an array when ``ncols`` > 1)."""
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=True)
    for ax in axes if ncols > 1 else [axes]:
        _style(ax)
    return fig, axes


def _style(ax: Any) -> None:
    """Apply the dashboard's light style to an axes."""
    ax.set_facecolor("white")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(COLORS["grid"])
    ax.tick_params(colors=COLORS["muted"], labelsize=9)
    ax.grid(axis="y", color=COLORS["grid"], linewidth=0.8)
    ax.set_axisbelow(True)


def _title(ax: Any, title: str) -> None:
    """Set a left-aligned, bold title."""
    ax.set_title(_plain(title), loc="left", fontsize=12, fontweight="bold", color=COLORS["ink"])


def _labels(ax: Any, xlabel: str, ylabel: str) -> None:
    """Set both axis labels."""
    ax.set_xlabel(_plain(xlabel), fontsize=10, color=COLORS["ink"])
    ax.set_ylabel(_plain(ylabel), fontsize=10, color=COLORS["ink"])


def _to_svg(fig: Figure, name: str, title: str) -> str:
    """Render a figure to an inline SVG string (text as text, ids salted per chart)."""
    buffer = io.StringIO()
    with _RENDER_LOCK, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        fig.savefig(buffer, format="svg", metadata={"Date": None}, facecolor="white")
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    root = _SVG_ROOT.search(text)
    if root is None:  # pragma: no cover - matplotlib always writes a root element
        return no_data_svg(title, "Chart unavailable")
    tag = re.sub(r'\s(width|height)="[^"]*"', "", root.group(0))
    tag = tag[:-1].rstrip("/").rstrip() + f' {_root_attributes(title)} data-chart="{name}">'
    return text[: root.start()] + tag + text[root.end() :]


# --- charts --------------------------------------------------------------------------------------


def _band_color(low: int) -> str:
    """Return the colour of the score band a histogram bin starting at ``low`` falls in."""
    if low >= 70:
        return COLORS["hot"]
    if low >= 40:
        return COLORS["warm"]
    return COLORS["cold"]


def score_histogram_svg(distribution: Mapping[str, Any]) -> str:
    """Return the histogram of the latest score per contact, coloured by band.

    Args:
        distribution: ``score_distribution`` section (``bins``, ``count``, ``mean``).

    Returns:
        Inline SVG.
    """
    title = "Lead score distribution (latest per contact)"
    bins = distribution.get("bins") or []
    if not distribution.get("count") or not bins:
        return no_data_svg(title)
    fig, ax = _figure()
    lows = [b["low"] for b in bins]
    counts = [b["count"] for b in bins]
    widths = [b["high"] - b["low"] for b in bins]
    bars = ax.bar(
        lows,
        counts,
        width=[w * 0.9 for w in widths],
        align="edge",
        color=[_band_color(low) for low in lows],
        edgecolor="white",
    )
    ax.bar_label(bars, labels=[str(c) if c else "" for c in counts], fontsize=8, padding=2)
    mean = distribution.get("mean")
    if mean is not None:
        ax.axvline(mean, color=COLORS["ink"], linestyle="--", linewidth=1.2)
        ax.text(
            mean + 1,
            max(counts) * 1.02 or 1,
            f"mean {mean:.1f}",
            fontsize=9,
            color=COLORS["ink"],
            va="bottom",
        )
    ax.set_xlim(0, 100)
    ax.set_xticks(range(0, 101, 10))
    ax.set_ylim(0, max(counts) * 1.25 + 0.5)
    ax.yaxis.get_major_locator().set_params(integer=True)
    _title(ax, title)
    _labels(ax, "Lead score (0-100): cold < 40 ≤ warm < 70 ≤ hot", "Contacts")
    return _to_svg(fig, "score_histogram", title)


def score_trend_svg(distribution: Mapping[str, Any]) -> str:
    """Return the daily mean lead score over time.

    Args:
        distribution: ``score_distribution`` section (``daily_mean``: ``date``, ``mean``).

    Returns:
        Inline SVG.
    """
    title = "Daily mean lead score"
    points = distribution.get("daily_mean") or []
    if not points:
        return no_data_svg(title)
    dates = [dt.date.fromisoformat(p["date"]) for p in points]
    means = [p["mean"] for p in points]
    fig, ax = _figure()
    ax.axhspan(70, 100, color=COLORS["hot"], alpha=0.06, linewidth=0)
    ax.axhspan(40, 70, color=COLORS["warm"], alpha=0.06, linewidth=0)
    ax.axhspan(0, 40, color=COLORS["cold"], alpha=0.06, linewidth=0)
    ax.plot(dates, means, color=COLORS["accent"], linewidth=2, marker="o", markersize=5)
    for x, y in zip(dates, means, strict=True):
        ax.annotate(
            f"{y:.0f}",
            (x, y),
            textcoords="offset points",
            xytext=(0, 7),
            ha="center",
            fontsize=8,
            color=COLORS["muted"],
        )
    ax.set_ylim(0, 100)
    if len(dates) == 1:
        ax.set_xlim(dates[0] - dt.timedelta(days=1), dates[0] + dt.timedelta(days=1))
    ax.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=8))
    ax.xaxis.set_major_formatter(DateFormatter("%b %d"))
    _title(ax, title)
    _labels(ax, "Date (UTC)", "Mean score (0-100)")
    return _to_svg(fig, "score_trend", title)


def _barh(
    ax: Any, labels: Sequence[str], values: Sequence[float], color: str, value_labels: list[str]
) -> Any:
    """Draw horizontal bars (largest on top) with value labels."""
    positions = list(range(len(labels)))[::-1]
    bars = ax.barh(positions, values, color=color, height=0.6)
    ax.set_yticks(positions, [_plain(label) for label in labels])
    ax.bar_label(bars, labels=value_labels, fontsize=8, padding=3, color=COLORS["ink"])
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color=COLORS["grid"], linewidth=0.8)
    return bars


def cost_per_team_svg(by_team: Sequence[Mapping[str, Any]]) -> str:
    """Return the AI cost per team (bar chart, most expensive on top).

    Args:
        by_team: ``usage.by_team`` rows (``team``, ``cost_usd``, ``calls``).

    Returns:
        Inline SVG.
    """
    title = "AI cost per team (last 30 days)"
    if not by_team:
        return no_data_svg(title)
    rows = sorted(by_team, key=lambda r: -float(r["cost_usd"]))
    costs = [float(r["cost_usd"]) for r in rows]
    height = 1.4 + 0.45 * len(rows)
    fig, ax = _figure(height=max(2.4, height))
    _barh(
        ax,
        [str(r["team"]) for r in rows],
        costs,
        COLORS["accent"],
        [f"{_usd(r['cost_usd'])}  ({r['calls']} calls)" for r in rows],
    )
    ax.set_xlim(0, (max(costs) or 1) * 1.45)
    _title(ax, title)
    _labels(ax, "Cost (USD)", "")
    return _to_svg(fig, "cost_per_team", title)


def calls_per_feature_svg(by_feature: Sequence[Mapping[str, Any]]) -> str:
    """Return the AI calls per feature, failed calls stacked in red.

    Args:
        by_feature: ``usage.by_feature`` rows (``feature``, ``calls``, ``errors``).

    Returns:
        Inline SVG.
    """
    title = "AI calls per feature (last 30 days)"
    if not by_feature:
        return no_data_svg(title)
    rows = sorted(by_feature, key=lambda r: (-r["calls"], str(r["feature"])))
    ok = [r["calls"] - r["errors"] for r in rows]
    errors = [r["errors"] for r in rows]
    fig, ax = _figure(height=max(2.6, 1.4 + 0.36 * len(rows)))
    positions = list(range(len(rows)))[::-1]
    ax.barh(positions, ok, color=COLORS["accent_light"], height=0.6, label="succeeded")
    bars = ax.barh(positions, errors, left=ok, color=COLORS["error"], height=0.6, label="failed")
    ax.bar_label(
        bars,
        labels=[
            f"{r['calls']}" + (f" ({r['errors']} failed)" if r["errors"] else "") for r in rows
        ],
        fontsize=8,
        padding=3,
        color=COLORS["ink"],
    )
    ax.set_yticks(positions, [_plain(r["feature"]) for r in rows])
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color=COLORS["grid"], linewidth=0.8)
    ax.set_xlim(0, max(r["calls"] for r in rows) * 1.4 + 1)
    ax.xaxis.get_major_locator().set_params(integer=True)
    fig.legend(loc="outside lower right", ncols=2, fontsize=8, frameon=False)
    _title(ax, title)
    _labels(ax, "Calls", "")
    return _to_svg(fig, "calls_per_feature", title)


def model_comparison_svg(models: Sequence[Mapping[str, Any]]) -> str:
    """Return champion vs latest challenger held-out metrics, one panel per model.

    Args:
        models: ``models`` section (``name``, ``champion``, ``challengers``).

    Returns:
        Inline SVG.
    """
    title = "Champion vs challenger: held-out metrics"
    shown = [
        m
        for m in models
        if any(
            entry and any(k in entry.get("metrics", {}) for k in COMPARED_METRICS)
            for entry in (m.get("champion"), *(m.get("challengers") or [])[:1])
        )
    ][:MAX_MODELS]
    if not shown:
        return no_data_svg(title)
    fig, axes = _figure(width=10.8, height=3.3, ncols=len(shown))
    axes = list(axes) if len(shown) > 1 else [axes]
    width = 0.38
    for ax, model in zip(axes, shown, strict=True):
        champion = model.get("champion")
        challenger = (model.get("challengers") or [None])[0]
        metrics = [
            k
            for k in COMPARED_METRICS
            if any(e and k in e.get("metrics", {}) for e in (champion, challenger))
        ]
        xs = list(range(len(metrics)))
        for offset, entry, role in (
            (-width / 2, champion, "champion"),
            (width / 2, challenger, "challenger"),
        ):
            if not entry:
                continue
            values = [entry["metrics"].get(k, 0.0) for k in metrics]
            bars = ax.bar(
                [x + offset for x in xs],
                values,
                width=width,
                color=COLORS[role],
                label=f"{role} v{entry.get('version')}",
            )
            ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=7, padding=1)
        ax.set_xticks(xs, [k.replace("_", " ").upper() for k in metrics], fontsize=8)
        ax.set_ylim(0, 1.25)
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.set_title(_plain(model["name"]), fontsize=10, fontweight="bold", color=COLORS["ink"])
        ax.legend(loc="upper center", fontsize=8, frameon=False, ncols=2)
    axes[0].set_ylabel("Score (higher is better)", fontsize=10, color=COLORS["ink"])
    fig.suptitle(title, x=0.01, ha="left", fontsize=12, fontweight="bold", color=COLORS["ink"])
    return _to_svg(fig, "model_comparison", title)


def build_charts(data: Mapping[str, Any]) -> dict[str, str]:
    """Draw every dashboard chart from :func:`~insights.data.build_dashboard` data.

    Args:
        data: The dashboard data.

    Returns:
        ``score_histogram``, ``score_trend``, ``cost_per_team``, ``calls_per_feature`` and
        ``model_comparison`` as inline SVG strings.
    """
    distribution = data.get("score_distribution") or {}
    usage = data.get("usage") or {}
    return {
        "score_histogram": score_histogram_svg(distribution),
        "score_trend": score_trend_svg(distribution),
        "cost_per_team": cost_per_team_svg(usage.get("by_team") or []),
        "calls_per_feature": calls_per_feature_svg(usage.get("by_feature") or []),
        "model_comparison": model_comparison_svg(data.get("models") or []),
    }
