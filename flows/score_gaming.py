"""Prefect flow ``score-gaming-scan``: flag inflated engagement, score with and without it.

Thin orchestration over :func:`monitoring.gaming.scan_contacts`: every contact's recent
engagement goes through the detectors, flagged contacts are scored by the champion
``lead_scoring_crm`` with and without the suspicious events and stored as ``score_gaming``
predictions (the dashboard counts them); the summary is published as a table artifact.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from haste.db.migrate import upgrade_database
from haste.settings import Settings, get_settings
from monitoring.gaming import scan_contacts
from monitoring.gaming_log import default_crm_dir


@task(name="scan-contacts-for-gaming", cache_policy=NO_CACHE, retries=1)
def scan(settings: Settings, days: float | None, until: str | None) -> dict[str, Any]:
    """Scan every contact and store the flagged ones; return the summary."""
    upgrade_database(settings.database_url)
    moment = dt.datetime.fromisoformat(until) if until else None
    result = scan_contacts(settings.database_url, default_crm_dir(settings.data_dir), days, moment)
    get_run_logger().info(
        "%d of %d contacts flagged (%s)", len(result.flagged), result.contacts, result.by_kind
    )
    return result.to_dict()


@flow(name="score-gaming-scan", log_prints=True)
def score_gaming_scan(days: float | None = None, until: str | None = None) -> dict[str, Any]:
    """Flag inflated engagement per contact and publish the counts.

    Args:
        days: Days of engagement examined per contact (default: ``configs/monitoring.yaml``).
        until: ISO end of the windows (default: each contact's newest event).

    Returns:
        The scan summary (contacts, flagged, per kind, stored, model).
    """
    summary = scan(get_settings(), days, until)
    rows = [
        {
            "contact_id": row["contact_id"],
            "flags": ", ".join(row["flags"]),
            "suspicious_events": row["suspicious_events"],
            "score_with": row["score_with"],
            "score_without": row["score_without"],
        }
        for row in summary["contacts_flagged"][:50]
    ]
    create_table_artifact(
        key="score-gaming",
        table=rows or [{"contact_id": "-", "flags": "none"}],
        description=f"{summary['flagged']} of {summary['contacts']} contacts flagged",
    )
    return summary
