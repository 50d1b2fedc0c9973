"""The dashboard's section of the models' calibration (ECE before/after) and conformal coverage.

Reads the ``calibration.json`` that each training run writes next to its model card
(``<reports_dir>/<model>/calibration.json``, see :class:`training.calibration.CalibrationReport`)
and draws one reliability diagram of every model (raw vs calibrated probabilities on the test
split) as an inline SVG. The section is hidden while no model has a report.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from insights.charts import COLORS, _figure, _labels, _title, _to_svg, no_data_svg

logger = logging.getLogger(__name__)

#: Report file name inside a model's reports folder.
REPORT_NAME = "calibration.json"
#: Most models drawn side by side in the reliability diagram.
MAX_MODELS = 4


def read_calibration_reports(reports_dir: Path | str) -> list[dict[str, Any]]:
    """Return every model's calibration report, by model name (unreadable files are logged).

    Args:
        reports_dir: The reports folder (``<data>/reports``).

    Returns:
        The parsed reports, sorted by model name.
    """
    reports = []
    for path in sorted(Path(reports_dir).glob(f"*/{REPORT_NAME}")):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            _ = report["ece"]["before"], report["ece"]["after"], report["conformal"]["measured"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("skipping calibration report %s: %s", path, error)
            continue
        reports.append(report)
    return reports


def reliability_svg(reports: list[dict[str, Any]]) -> str:
    """Return the reliability diagrams (observed vs predicted rate per bin) of the models.

    Args:
        reports: Parsed ``calibration.json`` documents (with ``reliability``).

    Returns:
        Inline SVG: one panel per model, raw and calibrated curves over the diagonal.
    """
    shown = [r for r in reports if r.get("reliability")][:MAX_MODELS]
    title = "Reliability on the test split"
    if not shown:
        return no_data_svg(title, "No reliability bins in the reports")
    fig, axes = _figure(width=3.3 * len(shown), height=3.3, ncols=len(shown))
    panels = list(axes) if len(shown) > 1 else [axes]
    for ax, report in zip(panels, shown, strict=False):
        ax.plot([0, 1], [0, 1], linestyle="--", color=COLORS["muted"], linewidth=1)
        curves = (
            ("before", COLORS["accent_light"], f"raw (ECE {report['ece']['before']:.3f})"),
            ("after", COLORS["accent"], f"{report['method']} (ECE {report['ece']['after']:.3f})"),
        )
        for key, color, label in curves:
            bins = report["reliability"].get(key) or []
            ax.plot(
                [b["mean_predicted"] for b in bins],
                [b["observed"] for b in bins],
                marker="o",
                markersize=4,
                linewidth=1.8,
                color=color,
                label=label,
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.grid(axis="x", color=COLORS["grid"], linewidth=0.8)
        ax.legend(fontsize=8, loc="upper left", frameon=False)
        _title(ax, str(report["model_name"]))
        _labels(ax, "Mean predicted probability", "Observed rate")
    return _to_svg(fig, "calibration_reliability", title)


def _row(report: dict[str, Any]) -> dict[str, Any]:
    """Return one model's table row."""
    conformal = report["conformal"]
    target, measured = float(conformal["target"]), float(conformal["measured"])
    return {
        "model_name": report["model_name"],
        "method": report.get("method"),
        "ece_before": report["ece"]["before"],
        "ece_after": report["ece"]["after"],
        "brier_before": report.get("brier", {}).get("before"),
        "brier_after": report.get("brier", {}).get("after"),
        "coverage_target": target,
        "coverage_measured": measured,
        "coverage_gap": round(measured - target, 4),
        "coverage_negative": conformal.get("by_class", {}).get("0"),
        "coverage_positive": conformal.get("by_class", {}).get("1"),
        "mean_set_size": conformal.get("mean_set_size"),
        "singleton_share": conformal.get("singleton_share"),
        "test_rows": report.get("test_rows"),
        "binning": f"{report.get('bins', 10)} {report.get('binning', 'uniform')}",
    }


def calibration_overview(url: str, reports_dir: Path | str) -> dict[str, Any] | None:
    """Return the section's data (``None``: no model has a calibration report yet).

    Args:
        url: Database URL (unused: the reports are files).
        reports_dir: The reports folder (``<data>/reports``).

    Returns:
        ``models`` (per model: ECE and Brier before/after, the method, the conformal target and
        measured coverage, overall and per class, mean set size) and ``chart`` (the
        reliability diagrams, inline SVG).
    """
    del url
    reports = read_calibration_reports(reports_dir)
    if not reports:
        return None
    return {"models": [_row(r) for r in reports], "chart": reliability_svg(reports)}
