"""Prefect flow ``forecast-ledger-scoring``: resolve due forecasts -> score -> publish the report.

Thin orchestration: every task calls :mod:`monitoring.ledger`. Actuals come from the CRM
(deals, account statuses), the Maven CRM export and the Telco held-out labels
(:func:`monitoring.ledger_actuals.default_actuals`); the report is written to
``data/reports/forecast_ledger/`` and published as a table and a Markdown artifact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from haste.db.migrate import upgrade_database
from haste.settings import Settings, get_settings
from monitoring.ledger import (
    ledger_markdown,
    ledger_report,
    report_table,
    resolve_ledger,
)
from monitoring.ledger_actuals import default_actuals

REPORTS_NAME = "forecast_ledger"


@task(name="resolve-due-forecasts", cache_policy=NO_CACHE, retries=1)
def resolve_due(settings: Settings, as_of: str | None) -> dict[str, Any]:
    """Fill the actual and errors of every ledger entry whose actual has arrived."""
    upgrade_database(settings.database_url)
    source = default_actuals(settings.database_url, settings.datasets_dir)
    result = resolve_ledger(settings.database_url, source, as_of)
    get_run_logger().info("resolved %d forecasts, %d pending", result.resolved, result.pending)
    return result.to_dict()


@task(name="publish-ledger-report", cache_policy=NO_CACHE)
def publish_report(settings: Settings) -> dict[str, Any]:
    """Aggregate accuracy per kind and month, write it and publish the Prefect artifacts."""
    report = ledger_report(settings.database_url)
    out_dir = settings.data_dir / "reports" / REPORTS_NAME
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = ledger_markdown(report)
    (out_dir / "ledger_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (out_dir / "ledger_report.md").write_text(markdown, encoding="utf-8")
    create_table_artifact(
        key="forecast-ledger",
        table=report_table(report),
        description="Resolved forecasts per kind: MAPE, interval coverage and Brier vs naive",
    )
    create_markdown_artifact(
        key="forecast-ledger-report", markdown=markdown, description="Accuracy over time"
    )
    return {"report": report, "paths": {"json": str(out_dir / "ledger_report.json")}}


@flow(name="forecast-ledger-scoring", log_prints=True)
def forecast_ledger_scoring(as_of: str | None = None) -> dict[str, Any]:
    """Resolve the forecasts whose actuals have arrived and publish the ledger's accuracy.

    Args:
        as_of: ISO date-time of "now" for the resolution (default: the current time).

    Returns:
        ``resolution`` (resolved, pending, as_of), ``report`` and the written ``paths``.
    """
    settings = get_settings()
    resolution = resolve_due(settings, as_of)
    published = publish_report(settings)
    return {"resolution": resolution, **published}


def report_path(settings: Settings) -> Path:
    """Return where the flow writes the ledger report (JSON)."""
    return settings.data_dir / "reports" / REPORTS_NAME / "ledger_report.json"
