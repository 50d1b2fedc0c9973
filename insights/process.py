"""Process optimisation: where the sales funnel leaks or stalls, and what fixing it is worth.

:func:`analyse_process` takes a Maven-CRM-shaped pipeline snapshot and returns a
:class:`ProcessReport`: the overall funnel (:mod:`insights.process_funnel`), per-dimension
tables (product, agent, manager, regional office, account sector) and the bottlenecks ranked by
estimated revenue impact, each with its formula and a concrete suggestion
(:mod:`insights.process_bottlenecks`). :func:`plot_bottlenecks` draws the ranking as an inline
SVG in the dashboard's chart style.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.ticker import FuncFormatter

from insights.charts import COLORS, _figure, _labels, _title, _to_svg, no_data_svg
from insights.process_bottlenecks import (
    ANNUAL_COST_OF_DELAY,
    FORMULAS,
    Bottleneck,
    find_bottlenecks,
)
from insights.process_funnel import (
    ALPHA,
    DIMENSIONS,
    prepare_deals,
    summarise_funnel,
    summarise_segments,
)
from insights.process_suggestions import format_money
from pipelines.datasets import load_maven_crm

#: Notes shipped with every report: what the figures can and cannot say.
NOTES: tuple[str, ...] = (
    "Prospecting → Engaging is inferred from one snapshot (deals with an engage date over all "
    "deals): a lower bound, and time spent prospecting is unknown.",
    "Win rate = Won / (Won + Lost), Wilson 95 % interval; each segment is tested against the "
    "rest of its dimension (two-proportion z-test, Fisher's exact test for small counts); "
    "q-values are Benjamini-Hochberg within the dimension.",
    "Time in Engaging = close date − engage date; open deals are right-censored at the "
    "snapshot date (Kaplan-Meier median and p75, statsmodels; log-rank test against the rest). "
    "Closed-deal medians are given too and are shorter: they ignore deals still open.",
    f"Bottlenecks: p < {ALPHA} against the rest and worse than overall; segments with fewer "
    "closed deals than min_deals, and missing labels, are never bottlenecks.",
    f"Cycle impact uses a cost of delay of {ANNUAL_COST_OF_DELAY:.0%} a year of the expected "
    "open value (list price × win rate): a proxy for the time value of later revenue.",
)


@dataclass(frozen=True)
class ProcessReport:
    """The funnel, the per-dimension tables and the ranked bottlenecks of a pipeline."""

    funnel: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    bottlenecks: list[Bottleneck]
    min_deals: int
    notes: tuple[str, ...] = NOTES
    formulas: dict[str, str] = field(default_factory=lambda: dict(FORMULAS))

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (no NaN, no numpy or pandas types)."""
        return {
            "funnel": _jsonable(self.funnel),
            "dimensions": {
                column: _jsonable(table.to_dict("records")) for column, table in self.tables.items()
            },
            "bottlenecks": [
                {"rank": rank, **_jsonable(b.to_dict())}
                for rank, b in enumerate(self.bottlenecks, start=1)
            ],
            "formulas": dict(self.formulas),
            "min_deals": self.min_deals,
            "alpha": ALPHA,
            "annual_cost_of_delay": ANNUAL_COST_OF_DELAY,
            "notes": list(self.notes),
        }


def analyse_process(
    pipeline: pd.DataFrame,
    teams: pd.DataFrame,
    products: pd.DataFrame | None = None,
    accounts: pd.DataFrame | None = None,
    *,
    top: int = 10,
    min_deals: int = 30,
) -> ProcessReport:
    """Return the funnel, per-segment conversion and time in stage, and ranked bottlenecks.

    Args:
        pipeline: Deals (``sales_pipeline.csv`` layout); row order does not matter.
        teams: Sales teams (``sales_agent``, ``manager``, ``regional_office``).
        products: Products (``product``, ``sales_price``): list value of open deals, for the
            cycle impact (without it, each product's mean won value).
        accounts: Accounts (``account``, ``sector``): without it there is no sector table.
        top: Most bottlenecks returned.
        min_deals: Fewest closed deals for a segment to be tested, a bottleneck or a peer.

    Returns:
        The process report.

    """
    deals, snapshot = prepare_deals(pipeline, teams, products, accounts)
    funnel = summarise_funnel(deals, snapshot)
    columns = [c for c in DIMENSIONS if c != "sector" or accounts is not None]
    tables = {column: summarise_segments(deals, column, min_deals) for column in columns}
    bottlenecks = find_bottlenecks(deals, tables, funnel, min_deals=min_deals, top=top)
    return ProcessReport(funnel=funnel, tables=tables, bottlenecks=bottlenecks, min_deals=min_deals)


def analyse_maven_process(datasets_dir: Path, top: int = 10) -> ProcessReport:
    """Return the process report of the Maven CRM sales dataset.

    Args:
        datasets_dir: The shared datasets folder (``Settings().datasets_dir``).
        top: Most bottlenecks returned.

    Returns:
        The process report of ``maven_crm_sales``.

    """
    crm = load_maven_crm(datasets_dir)
    return analyse_process(crm.pipeline, crm.teams, crm.products, crm.accounts, top=top)


def plot_bottlenecks(report: ProcessReport) -> str:
    """Return the ranked bottlenecks as an inline SVG bar chart of their impact.

    Args:
        report: A report of :func:`analyse_process`.

    Returns:
        Inline SVG (``no data`` placeholder when there is no bottleneck).

    """
    title = "Process bottlenecks by estimated revenue impact"
    if not report.bottlenecks:
        return no_data_svg(title, "No significant bottleneck")
    items = list(reversed(report.bottlenecks))
    fig, ax = _figure(width=7.2, height=1.2 + 0.42 * len(items))
    kinds = {"win_rate": ("Win rate", COLORS["hot"]), "cycle": ("Time in stage", COLORS["warm"])}
    labels = [f"{DIMENSIONS[b.dimension]}: {b.segment}" for b in items]
    bars = ax.barh(
        labels, [b.impact for b in items], color=[kinds[b.kind][1] for b in items], height=0.6
    )
    ax.bar_label(
        bars, labels=[format_money(b.impact).replace("$", r"\$") for b in items], fontsize=8
    )
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color=COLORS["grid"], linewidth=0.8)
    ax.set_xlim(0, max(b.impact for b in items) * 1.2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_money(v).replace("$", r"\$")))
    for kind, (name, color) in kinds.items():
        if any(b.kind == kind for b in items):
            ax.barh([labels[0]], [0], color=color, label=name)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    _title(ax, title)
    _labels(ax, "Estimated impact (USD)", "")
    return _to_svg(fig, "process_bottlenecks", title)


def _jsonable(value: Any) -> Any:
    """Return ``value`` with numpy/pandas scalars as Python ones and NaN as ``None``."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | bool):
        return value
    if hasattr(value, "item"):  # numpy / pandas scalar
        value = value.item()
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    if value is pd.NaT:
        return None
    return value
