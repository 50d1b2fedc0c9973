"""Sparklines of the dashboard's trends: matplotlib line charts rendered to small inline SVGs.

Like :mod:`insights.charts`: a :class:`~matplotlib.figure.Figure` on an Agg canvas (no pyplot),
saved as SVG without width/height (it scales through its ``viewBox``), with ``role="img"`` and
an ``aria-label``. Sparklines carry no text, so no fonts are embedded.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from insights.charts import COLORS

#: Line colour per tone (``good``, ``bad``, ``neutral``).
TONE_COLORS: dict[str, str] = {"good": COLORS["ok"], "bad": COLORS["error"], "neutral": "#4f46e5"}

_SVG_ROOT = re.compile(r"<svg\b[^>]*>", re.DOTALL)


def sparkline_svg(values: Sequence[float | int | None], label: str, tone: str = "neutral") -> str:
    """Return a sparkline of weekly values (missing weeks are gaps; the last point is marked).

    Args:
        values: One value per week, oldest first (``None``: no value that week).
        label: Accessible label (e.g. ``ai.calls_week, last 8 weeks``).
        tone: ``good``, ``bad`` or ``neutral`` (the line colour).

    Returns:
        An inline SVG string starting at ``<svg``.
    """
    color = TONE_COLORS.get(tone, TONE_COLORS["neutral"])
    points = [float("nan") if v is None else float(v) for v in values]
    fig = Figure(figsize=(1.6, 0.42), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.03, 0.12, 0.94, 0.76))
    ax.axis("off")
    xs = list(range(len(points)))
    ax.plot(xs, points, color=color, linewidth=1.6, solid_capstyle="round")
    finite = [(x, y) for x, y in zip(xs, points, strict=True) if y == y]
    if finite:
        ax.plot(*finite[-1], marker="o", markersize=3.2, color=color)
        low = min(y for _, y in finite)
        high = max(y for _, y in finite)
        pad = (high - low) * 0.12 or max(abs(high) * 0.12, 1.0)
        ax.set_ylim(low - pad, high + pad)
    ax.set_xlim(-0.3, max(len(points) - 1, 1) + 0.3)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, transparent=True)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    root = _SVG_ROOT.search(text)
    if root is None:  # pragma: no cover - matplotlib always writes a root element
        return ""
    tag = re.sub(r'\s(width|height)="[^"]*"', "", root.group(0))
    attributes = f'class="sparkline" role="img" aria-label="{html.escape(label, quote=True)}"'
    tag = tag[:-1].rstrip("/").rstrip() + f" {attributes}>"
    return text[: root.start()] + tag + text[root.end() :]
