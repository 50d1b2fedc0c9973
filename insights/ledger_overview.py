"""The dashboard's section of the forecast ledger (accuracy over time against the naive baseline).

One card per kind of forecast (revenue, days to close, win probability, churn) with its resolved
and pending counts, the model's error next to the naive baseline's (MAPE or Brier), the interval
coverage next to the nominal one, and a verdict; an inline SVG of accuracy per month (model
solid, naive dashed) and the per-month table. Hidden (``None``) while the ledger is empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from insights.charts import COLORS, _figure, _labels, _title, _to_svg, no_data_svg

#: Display names of the ledger kinds.
KIND_LABELS: dict[str, str] = {
    "revenue_forecast": "Revenue forecast",
    "deal_velocity": "Days to close",
    "win_probability": "Win probability",
    "churn": "Churn",
}
#: Colours of the kinds in the charts.
KIND_COLORS: dict[str, str] = {
    "revenue_forecast": COLORS["accent"],
    "deal_velocity": COLORS["warm"],
    "win_probability": COLORS["ok"],
    "churn": COLORS["hot"],
}
#: Most months drawn / listed (the latest).
MAX_MONTHS = 12


def _verdict(model: float | None, naive: float | None) -> str:
    """Return ``beats naive``, ``loses to naive`` or ``not scored yet`` (lower is better)."""
    if model is None or naive is None:
        return "not scored yet"
    return "beats naive" if model < naive else "loses to naive"


def _kind_card(kind: str, summary: Mapping[str, Any]) -> dict[str, Any]:
    """Return one kind's card: its headline metric vs naive, coverage and verdict."""
    brier = summary["brier"] is not None or kind in ("win_probability", "churn")
    metric, model, naive = (
        ("Brier", summary["brier"], summary["naive_brier"])
        if brier
        else ("MAPE", summary["mape"], summary["naive_mape"])
    )
    return {
        "kind": kind,
        "label": KIND_LABELS.get(kind, kind),
        "metric": metric,
        "model": model,
        "naive": naive,
        "percent": metric == "MAPE",
        "verdict": _verdict(model, naive),
        "coverage": summary["coverage"],
        "nominal_coverage": summary["nominal_coverage"],
        "resolved": summary["resolved"],
        "pending": summary["pending"],
    }


def _series(
    months: Sequence[Mapping[str, Any]], kind: str, key: str, order: Sequence[str]
) -> tuple[list[int], list[float]]:
    """Return (month positions in ``order``, values) of one kind's metric, where it has one."""
    points = sorted(
        (order.index(m["month"]), m[key])
        for m in months
        if m["kind"] == kind and m[key] is not None
    )
    return [p[0] for p in points], [p[1] for p in points]


def accuracy_svg(months: Sequence[Mapping[str, Any]]) -> str:
    """Return MAPE, interval coverage and Brier per month, model solid and naive dashed.

    Args:
        months: ``months`` of :func:`monitoring.ledger.ledger_report` (resolved groups).

    Returns:
        Inline SVG (a placeholder when nothing is resolved).
    """
    title = "Forecast accuracy over time (model vs naive)"
    if not months:
        return no_data_svg(title, "No resolved forecasts yet")
    all_months = sorted({m["month"] for m in months})
    fig, axes = _figure(11.0, 3.2, ncols=3)
    panels = (
        (axes[0], "MAPE (lower is better)", "mape", "naive_mape", True),
        (axes[1], "Interval coverage", "coverage", None, True),
        (axes[2], "Brier score (lower is better)", "brier", "naive_brier", False),
    )
    for ax, name, key, naive_key, percent in panels:
        drawn = False
        for kind, color in KIND_COLORS.items():
            x, y = _series(months, kind, key, all_months)
            if not x:
                continue
            drawn = True
            label = KIND_LABELS[kind]
            ax.plot(x, y, "o-", color=color, linewidth=1.8, markersize=4, label=label)
            if naive_key:
                nx, ny = _series(months, kind, naive_key, all_months)
                ax.plot(
                    nx, ny, "--", color=color, linewidth=1.2, alpha=0.7, label=f"{label}, naive"
                )
            if key == "coverage":
                _, nominal = _series(months, kind, "nominal_coverage", all_months)
                if nominal:
                    ax.axhline(nominal[-1], color=color, linestyle=":", linewidth=1.2,
                               label=f"nominal {nominal[-1]:.0%}")  # fmt: skip
        if percent:
            ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        if not drawn:
            ax.text(0.5, 0.5, "no data yet", ha="center", va="center",
                    transform=ax.transAxes, color=COLORS["muted"])  # fmt: skip
        else:
            ax.legend(fontsize=7, frameon=False)
        ax.set_xticks(range(len(all_months)), all_months)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        _title(ax, name)
        _labels(ax, "Month the forecast was made", "")
    return _to_svg(fig, "ledger_accuracy", title)


def ledger_section(report: Mapping[str, Any]) -> dict[str, Any] | None:
    """Return the section's data from a ledger report (``None`` for an empty ledger)."""
    if not report.get("entries"):
        return None
    resolved_months = [m for m in report["months"] if m["resolved"]]
    latest = sorted({m["month"] for m in resolved_months})[-MAX_MONTHS:]
    months = [m for m in resolved_months if m["month"] in latest]
    rows = [
        {
            "month": m["month"],
            "kind": m["kind"],
            "label": KIND_LABELS.get(m["kind"], m["kind"]),
            "resolved": m["resolved"],
            "mape": m["mape"],
            "naive_mape": m["naive_mape"],
            "coverage": m["coverage"],
            "brier": m["brier"],
            "naive_brier": m["naive_brier"],
        }
        for m in sorted(months, key=lambda m: (m["month"], m["kind"]), reverse=True)
    ]
    return {
        "entries": report["entries"],
        "resolved": report["resolved"],
        "kinds": [_kind_card(kind, s) for kind, s in report["kinds"].items()],
        "months": rows,
        "chart": accuracy_svg(months),
    }


def ledger_overview(url: str) -> dict[str, Any] | None:
    """Return the section's data (``None``: nothing to show yet).

    Args:
        url: Database URL.

    Returns:
        ``entries``, ``resolved``, ``kinds`` (one card per kind: ``label``, ``metric``,
        ``model``, ``naive``, ``verdict``, ``coverage``, ``nominal_coverage``, counts),
        ``months`` (per month and kind) and ``chart`` (inline SVG).
    """
    from monitoring.ledger import ledger_report

    return ledger_section(ledger_report(url))
