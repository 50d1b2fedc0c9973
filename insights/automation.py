"""The dashboard's automation sections (named queries; each returns plain data).

Workflows and their runs, the review queue, anomalies of the CRM's daily series and the
Maven CRM process bottlenecks (adoption comes from :mod:`workflows.adoption`).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select

from haste.db.models import Activity, as_utc
from haste.db.session import session_scope
from haste.db.workflow_tables import Workflow, WorkflowAction, WorkflowRun
from insights.common import utcnow

if TYPE_CHECKING:
    from monitoring.anomalies import Anomaly

#: Anomalies and bottlenecks shown on the dashboard.
SHOWN = 8


def workflow_overview(url: str, days: int = 30) -> list[dict[str, Any]]:
    """Return each workflow with its runs and action outcomes over the last ``days`` days."""
    since = utcnow() - dt.timedelta(days=days)
    with session_scope(url) as session:
        runs = dict(
            session.execute(
                select(WorkflowRun.workflow_id, func.count())
                .where(WorkflowRun.created_at >= since)
                .group_by(WorkflowRun.workflow_id)
            ).all()
        )
        actions = {
            row[0]: row[1:]
            for row in session.execute(
                select(
                    WorkflowRun.workflow_id,
                    func.sum(case((WorkflowAction.status == "done", 1), else_=0)),
                    func.sum(case((WorkflowAction.status == "pending_review", 1), else_=0)),
                    func.sum(case((WorkflowAction.status == "failed", 1), else_=0)),
                    func.sum(case((WorkflowAction.status == "rejected", 1), else_=0)),
                )
                .join(WorkflowRun, WorkflowRun.id == WorkflowAction.run_id)
                .where(WorkflowRun.created_at >= since)
                .group_by(WorkflowRun.workflow_id)
            ).all()
        }
        rows = session.scalars(select(Workflow).order_by(Workflow.name)).all()
        out = []
        for row in rows:
            done, pending, failed, rejected = (int(v or 0) for v in actions.get(row.id, (0,) * 4))
            out.append(
                {
                    "id": str(row.id),
                    "name": row.name,
                    "version": row.version,
                    "enabled": row.enabled,
                    "trigger": row.definition.get("trigger", {}).get("type"),
                    "runs": int(runs.get(row.id, 0)),
                    "done": done,
                    "pending_review": pending,
                    "failed": failed,
                    "rejected": rejected,
                }
            )
        return out


def review_queue(url: str, limit: int = 6) -> dict[str, Any]:
    """Return the pending review count and the latest pending items."""
    from workflows.reviews import list_reviews

    return list_reviews(url, status="pending", limit=limit)


def anomaly_window_end(url: str, days: int = 90) -> dt.datetime:
    """Return the end of the anomaly window: the start of today, unless the history stopped.

    When the last ``days`` days hold under 10 % of the CRM's activities (a seeded or imported
    history that ends before today, with only a few new activities since), the window ends the
    day after the 99th percentile of the activity times, where the data is.
    """
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    with session_scope(url) as session:
        total = session.scalar(select(func.count()).select_from(Activity)) or 0
        recent = (
            session.scalar(
                select(func.count())
                .select_from(Activity)
                .where(Activity.occurred_at >= today - dt.timedelta(days=days))
            )
            or 0
        )
        if total == 0 or recent >= 0.1 * total:
            return today
        offset = min(total - 1, int(0.99 * total))
        bulk_end = session.scalar(
            select(Activity.occurred_at).order_by(Activity.occurred_at).offset(offset).limit(1)
        )
    after = as_utc(bulk_end).replace(hour=0, minute=0, second=0, microsecond=0)
    return min(today, after + dt.timedelta(days=1))


def find_anomalies(url: str, days: int = 90) -> tuple[dt.datetime, list[Anomaly]]:
    """Return the window's end and the anomalies of the CRM's daily series in it."""
    from monitoring.anomalies import find_crm_anomalies

    end = anomaly_window_end(url, days)
    return end, find_crm_anomalies(url, days=days, end=end)


def latest_anomalies(url: str, days: int = 90, limit: int = SHOWN) -> list[dict[str, Any]]:
    """Return the newest, most severe anomalies of the CRM's daily series."""
    _, found = find_anomalies(url, days)
    return [anomaly.to_dict() for anomaly in found[:limit]]


@lru_cache(maxsize=4)
def process_report(datasets_dir: Path, top: int = 10) -> dict[str, Any]:
    """Return the Maven CRM process report (the dataset is fixed: computed once per ``top``)."""
    from insights.process import analyse_maven_process

    return analyse_maven_process(datasets_dir, top=top).to_dict()


def process_bottlenecks(datasets_dir: Path, top: int = SHOWN) -> dict[str, Any]:
    """Return the Maven CRM funnel and its top bottlenecks (for the dashboard)."""
    report = process_report(datasets_dir, top)
    return {"funnel": report.get("funnel"), "bottlenecks": report.get("bottlenecks", [])[:top]}
