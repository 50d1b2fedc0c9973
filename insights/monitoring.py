"""Drift and fairness status for the dashboard, read from the monitoring and bias reports."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from insights.common import (
    REPORTS_URL_PREFIX,
    _number,
    _numeric_map,
)

logger = logging.getLogger(__name__)


def _read_json(path: Path) -> dict[str, Any] | None:
    """Return a JSON object from ``path``; None (logged) when unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        logger.warning("unreadable report %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None


def _stamp_time(name: str, path: Path) -> str | None:
    """Return the time of a ``YYYYmmddTHHMMSSZ`` folder name, else the file's mtime."""
    try:
        return dt.datetime.strptime(name, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC).isoformat()
    except ValueError:
        try:
            return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).isoformat()
        except OSError:
            return None


def _report_link(reports_dir: Path, path: Path) -> str | None:
    """Return the dashboard URL of a report file under ``reports_dir`` (None when absent)."""
    if not path.is_file():
        return None
    rel = path.relative_to(reports_dir).as_posix()
    return f"{REPORTS_URL_PREFIX}/{rel}"


def resolve_report_file(reports_dir: Path | str, relative: str) -> Path | None:
    """Return the report file a ``/dashboard/reports/<relative>`` URL names, safely.

    Only ``.html`` and ``.json`` files inside ``reports_dir`` are served (no path traversal).

    Args:
        reports_dir: Reports folder.
        relative: Path below it, as in the URL.

    Returns:
        The resolved file, or None when it is absent, outside the folder or of another type.
    """
    root = Path(reports_dir).resolve()
    try:
        path = (root / relative).resolve()
    except (OSError, ValueError):
        return None
    if not path.is_relative_to(root) or path.suffix not in (".html", ".json"):
        return None
    return path if path.is_file() else None


def _drift_entry(reports_dir: Path, summary_path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Return the display fields of one drift summary."""
    scores = _numeric_map(data.get("column_scores"))
    drifted = [str(c) for c in data.get("drifted_columns") or []]
    decision = data.get("decision") if isinstance(data.get("decision"), Mapping) else {}
    should_retrain = bool(decision.get("should_retrain", data.get("should_retrain", False)))
    columns = data.get("columns") or list(scores)
    top = sorted(scores.items(), key=lambda item: -item[1])[:8]
    return {
        "model_name": data.get("model_name") or summary_path.parent.parent.name,
        "champion_version": data.get("champion_version"),
        "generated_at": _stamp_time(summary_path.parent.name, summary_path),
        "share_drifted": _number(data.get("share_drifted")),
        "n_columns": len(columns),
        "drifted_columns": drifted,
        "top_columns": [
            {"column": name, "score": score, "drifted": name in drifted} for name, score in top
        ],
        "method": data.get("prediction_method") or "psi",
        "prediction_drift": bool(data.get("prediction_drift", False)),
        "prediction_score": _number(data.get("prediction_score")),
        "current_rows": data.get("current_rows"),
        "reference_rows": data.get("reference_rows"),
        "should_retrain": should_retrain,
        "reasons": [str(r) for r in decision.get("reasons") or data.get("reasons") or []],
        "status": "drift" if should_retrain else "ok",
        "html_url": _report_link(reports_dir, summary_path.parent / "drift_report.html"),
    }


def _group_rows(column: str, by_group: Any) -> list[dict[str, Any]]:
    """Return per-group rows of a bias audit column (group label, size, rates)."""
    out = []
    for row in by_group if isinstance(by_group, list) else []:
        if not isinstance(row, Mapping):
            continue
        label = row.get(column, row.get("group", row.get("index")))
        out.append(
            {
                "group": str(label),
                "count": _number(row.get("count")),
                "selection_rate": _number(row.get("selection_rate")),
                "true_positive_rate": _number(row.get("true_positive_rate", row.get("tpr"))),
            }
        )
    return out


def _fairness_entry(reports_dir: Path, path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Return the display fields of one bias audit."""
    columns = []
    raw_columns = data.get("columns") if isinstance(data.get("columns"), Mapping) else {}
    for name, audit in raw_columns.items():
        audit = audit if isinstance(audit, Mapping) else {}
        alerts = [str(a) for a in audit.get("alerts") or []]
        columns.append(
            {
                "column": str(name),
                "passed": not alerts,
                "alerts": alerts,
                "disparities": _numeric_map(audit.get("disparities")),
                "groups": _group_rows(str(name), audit.get("by_group")),
                "excluded_groups": [str(g) for g in audit.get("excluded_groups") or []],
            }
        )
    alerts = [str(a) for a in data.get("alerts") or []]
    passed = data.get("passed")
    return {
        "model_name": data.get("model_name") or path.parent.name,
        "model_version": data.get("model_version"),
        "generated_at": _stamp_time("", path),
        "passed": bool(passed) if isinstance(passed, bool) else not alerts,
        "alerts": alerts,
        "n_rows": data.get("n_rows"),
        "data_source": data.get("data_source"),
        "columns": columns,
        "html_url": _report_link(reports_dir, path.parent / "bias_report.html"),
    }


def _latest_drift_summaries(monitoring_dir: Path) -> Iterable[Path]:
    """Yield the newest ``drift_summary.json`` of each model folder."""
    for model_dir in sorted(p for p in monitoring_dir.iterdir() if p.is_dir()):
        summaries = sorted(model_dir.glob("*/drift_summary.json"), key=lambda p: p.parent.name)
        if summaries:
            yield summaries[-1]


def monitoring_status(reports_dir: Path | str) -> dict[str, Any]:
    """Return the latest drift report and bias audit of each model, read from report files.

    Args:
        reports_dir: The platform's reports folder (``settings.data_dir / "reports"``).

    Returns:
        ``drift`` (alerts first; per model: ``status`` ``ok``/``drift``, ``share_drifted``,
        ``drifted_columns``, ``top_columns`` with their PSI, ``prediction_drift``,
        ``should_retrain``, ``reasons``, ``html_url``), ``fairness`` (failures first; per
        model: ``passed``, ``alerts``, ``columns`` with per-column ``passed``,
        ``disparities`` and ``groups``, ``html_url``), ``drift_alerts`` and
        ``fairness_failures`` (counts); the lists are empty when no report was written yet.
    """
    root = Path(reports_dir)
    drift: list[dict[str, Any]] = []
    fairness: list[dict[str, Any]] = []
    monitoring_dir = root / "monitoring"
    if monitoring_dir.is_dir():
        for path in _latest_drift_summaries(monitoring_dir):
            data = _read_json(path)
            if data is not None:
                drift.append(_drift_entry(root, path, data))
    audit_dir = root / "bias_audit"
    if audit_dir.is_dir():
        for path in sorted(audit_dir.glob("*/bias_audit.json")):
            data = _read_json(path)
            if data is not None:
                fairness.append(_fairness_entry(root, path, data))
    drift.sort(key=lambda item: (item["status"] == "ok", str(item["model_name"])))
    fairness.sort(key=lambda item: (bool(item["passed"]), str(item["model_name"])))
    return {
        "reports_dir": str(root),
        "drift": drift,
        "fairness": fairness,
        "drift_alerts": sum(1 for item in drift if item["status"] != "ok"),
        "fairness_failures": sum(1 for item in fairness if not item["passed"]),
    }
