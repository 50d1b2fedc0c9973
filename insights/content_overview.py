"""The dashboard's content-performance section: top items, a segment table and two charts.

Reply rate per send of each item (empirical-Bayes posterior mean with its 95 % credible
interval, next to the raw rate), the funnel rates of the whole library, and the items x
seniority table of shrunk reply rates; charts are inline SVG (:mod:`insights.charts`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from insights.charts import COLORS, _figure, _labels, _title, _to_svg

#: Items shown in the table and the interval chart.
TOP_ITEMS = 10
#: Segment dimension of the dashboard's table and heatmap.
SEGMENT = "seniority"
#: Metric of the section.
METRIC = "reply"


def _interval_svg(items: pd.DataFrame) -> str:
    """Return the posterior means with 95 % intervals per item (raw rates as dots)."""
    title = "Reply rate: posterior, 95% interval"
    rows = items.iloc[::-1]
    fig, ax = _figure(6.4, 0.32 * len(rows) + 1.3)
    y = np.arange(len(rows))
    mean = rows["posterior_mean"].to_numpy()
    error = np.vstack([mean - rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy() - mean])
    ax.errorbar(mean, y, xerr=error, fmt="o", color=COLORS["accent"], ecolor=COLORS["accent_light"],
                elinewidth=3, capsize=0, label="posterior (shrunk)")  # fmt: skip
    ax.scatter(rows["rate"], y, marker="|", s=80, color=COLORS["ink"], label="raw rate", zorder=3)
    ax.set_yticks(y, [str(n)[:34] for n in rows["content_name"]], fontsize=8)
    ax.grid(axis="x", color=COLORS["grid"], linewidth=0.8)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    _title(ax, title)
    _labels(ax, "Replies per send", "")
    return _to_svg(fig, "content_intervals", title)


def _heatmap_svg(cells: pd.DataFrame, names: list[str]) -> str:
    """Return the items x segment heatmap of shrunk reply rates."""
    title = f"Shrunk reply rate by {SEGMENT}"
    grid = cells.pivot_table(index="content_name", columns="segment", values="posterior_mean")
    grid = grid.reindex([n for n in names if n in grid.index])
    fig, ax = _figure(6.4, 0.32 * len(grid) + 1.5)
    ax.grid(False)
    image = ax.imshow(grid.to_numpy(), aspect="auto", cmap="Purples")
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns], fontsize=8)
    ax.set_yticks(range(grid.shape[0]), [str(n)[:34] for n in grid.index], fontsize=8)
    values = grid.to_numpy()
    middle = np.nanmean(values)
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            color = "white" if value > middle else COLORS["ink"]
            ax.text(j, i, f"{value:.0%}", ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(image, ax=ax, format=lambda v, _: f"{v:.0%}", shrink=0.8)
    _title(ax, title)
    return _to_svg(fig, "content_segments", title)


def content_overview(url: str) -> dict[str, Any] | None:
    """Return the content-performance section (``None``: no content was sent yet).

    Args:
        url: Database URL.

    Returns:
        ``n_sends``, ``funnel`` (open, click, reply and win rates per send), ``prior``,
        ``items`` (the top items by posterior reply rate), ``segment`` (name and rows of the
        items x segment table) and ``charts`` (inline SVG strings).
    """
    from content.performance import item_table, load_sends, segment_table

    sends = load_sends(url)
    if sends.empty:
        return None
    items, prior = item_table(sends, METRIC)
    top = items.head(TOP_ITEMS)
    names = top["content_name"].tolist()
    cells = segment_table(sends, items, METRIC, SEGMENT)["cells"]
    cells = cells[cells["content_name"].isin(names)]
    segments = sorted(cells["segment"].astype(str).unique())
    table = []
    for name in names:
        row = cells[cells["content_name"] == name].set_index("segment")["posterior_mean"]
        table.append({"name": name, "values": [row.get(s) for s in segments]})
    return {
        "n_sends": len(sends),
        "metric": METRIC,
        "funnel": {m: float(sends[m].mean()) for m in ("open", "click", "reply", "win")},
        "prior": prior,
        "items": [
            {
                "name": r.content_name,
                "kind": r.kind,
                "sends": int(r.sends),
                "rate": float(r.rate),
                "posterior_mean": float(r.posterior_mean),
                "ci_low": float(r.ci_low),
                "ci_high": float(r.ci_high),
                "prob_best": float(r.prob_best),
            }
            for r in top.itertuples(index=False)
        ],
        "segment": {"name": SEGMENT, "columns": segments, "rows": table},
        "charts": {
            "intervals": _interval_svg(top),
            "segments": _heatmap_svg(cells, names),
        },
    }
