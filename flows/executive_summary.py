"""Prefect flow ``executive-summary`` (weekly): the executive AI summary of the week.

Thin orchestration of :mod:`insights.executive`: compute the week's figures from their named
queries, write the summary through the LLM layer (a hosted provider's text is kept only when
every number matches a cited figure; otherwise, and without a hosted provider, the templates
write it), publish it as a markdown artifact and the figures as a table artifact, and save
``summary.md`` + ``summary.json`` under ``data/reports/executive/<week_end>/``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from haste.settings import get_settings


@task(name="summarize-week", cache_policy=NO_CACHE)
def summarize(day: dt.date | None) -> dict[str, Any]:
    """Compute the figures and write the summary (through the LLM layer)."""
    from insights.executive import summarize_with_llm_layer

    result = summarize_with_llm_layer(get_settings().database_url, day)
    logger = get_run_logger()
    logger.info(
        "executive summary %s to %s: %d figures, written by %s%s",
        result["week_start"],
        result["week_end"],
        len(result["figures"]),
        result["path"],
        f" ({result['fallback_reason']})" if result["fallback_reason"] else "",
    )
    return result


@task(name="save-executive-summary", cache_policy=NO_CACHE)
def save(result: dict[str, Any]) -> dict[str, str]:
    """Save the markdown and JSON reports."""
    from insights.executive import save_summary

    paths = save_summary(result, get_settings().data_dir / "reports")
    return {kind: str(path) for kind, path in paths.items()}


@flow(name="executive-summary", log_prints=True)
def executive_summary(week_ending: str | None = None) -> dict[str, Any]:
    """Write, publish and save the executive summary of a week.

    Args:
        week_ending: Last day of the week, ``YYYY-MM-DD`` (default: today, UTC).

    Returns:
        The summary, its figures and trends, ``path``/``fallback_reason`` and ``reports`` (the
        saved files).
    """
    day = dt.date.fromisoformat(week_ending) if week_ending else None
    result = summarize(day)
    reports = save(result)
    create_markdown_artifact(
        key="executive-summary",
        markdown=result["summary"],
        description=f"Executive summary, {result['week_start']} to {result['week_end']} "
        f"({result['path'].replace('_', ' ')}).",
    )
    create_table_artifact(
        key="executive-summary-figures",
        table=[
            {
                "name": f["name"],
                "value": f["value"],
                "unit": f["unit"],
                "previous": f["previous"],
                "direction": f["direction"],
                "description": f["description"],
            }
            for f in result["figures"]
        ],
        description="The figures of the summary and their named queries "
        "(GET /api/ai/insights/executive-summary shows their SQL).",
    )
    return {**result, "reports": reports}
