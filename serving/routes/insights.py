"""Operational insights: anomalies, process bottlenecks, adoption and the executive summary.

``GET /api/ai/anomalies``, ``/api/ai/insights/process``, ``/api/ai/insights/adoption`` and
``/api/ai/insights/executive-summary`` (permission ``usage``: managers and admins).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query

from serving.core import usage_identity
from serving.dependencies import Core, Usage
from serving.errors import ERROR_RESPONSES, ApiError
from serving.idempotency import IdempotentRoute
from serving.metrics import count_llm

router = APIRouter(route_class=IdempotentRoute, tags=["insights"], responses=ERROR_RESPONSES)


@router.get("/api/ai/anomalies")
def anomalies(
    core: Core,
    context: Usage,
    days: Annotated[int, Query(ge=14, le=730, description="History examined, in days.")] = 90,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Anomalies of the CRM's daily series: spikes, dips and level shifts, newest first.

    Series: activity per team, open pipeline value, win rate, lead scores, AI cost per team.
    """
    from insights.automation import find_anomalies

    end, found = find_anomalies(core.database_url, days)
    return {
        "days": days,
        "until": end.isoformat(),
        "count": len(found),
        "anomalies": [a.to_dict() for a in found[:limit]],
    }


@router.get("/api/ai/insights/process")
def process(
    core: Core,
    context: Usage,
    top: Annotated[int, Query(ge=1, le=50, description="Bottlenecks returned.")] = 10,
) -> dict[str, Any]:
    """Bottlenecks of the Maven CRM pipeline, ranked by estimated revenue impact.

    Stage conversion and time in stage per product, agent and region, with suggestions.
    """
    from insights.automation import process_report

    try:
        return process_report(core.settings.datasets_dir, top)
    except FileNotFoundError as error:
        raise ApiError(503, f"the Maven CRM dataset is not available: {error}") from error


@router.get("/api/ai/insights/adoption")
def adoption(core: Core, context: Usage) -> dict[str, Any]:
    """Adoption of AI suggestions (accepted / shown) per feature and team, vs the 60 % target."""
    from workflows.adoption import compute_adoption
    from workflows.config import workflow_config

    return compute_adoption(core.database_url, workflow_config().adoption_target)


@router.get("/api/ai/insights/executive-summary")
async def executive_summary(
    core: Core,
    context: Usage,
    week_ending: Annotated[
        dt.date | None,
        Query(description="Last day of the week (UTC calendar day); default today, never later."),
    ] = None,
) -> dict[str, Any]:
    """The weekly executive summary: pipeline, forecast vs actual, churn risk, anomalies, AI use.

    Every figure comes from a named query (``figures[].query`` holds its SQL) and every number
    of ``summary`` cites one (``[pipeline.open_value]``). A hosted LLM writes the prose when one
    is configured and its text is kept only if each number matches a cited figure; otherwise
    the templates write it (``path``, ``fallback_reason``). ``trends``: week over week, with
    the direction and an 8-week history of the dashboard's metrics.
    """
    from insights.executive import build_report
    from insights.executive_writer import FEATURE, write_summary

    try:
        report = await asyncio.to_thread(build_report, core.database_url, week_ending)
    except ValueError as error:
        raise ApiError(422, str(error)) from error
    inputs = {"week_ending": report["week_end"]}
    if core.text is None:  # no TextAI deployment (e.g. a gateway alone): templates, said so
        written = write_summary(report)
        written["fallback_reason"] = "the TextAI deployment is not running"
    else:
        body = {"report": report}
        written = await core.call_text(
            context, FEATURE, inputs, "executive_summary", body, usage_identity(context)
        )
        count_llm(written.get("llm"))
    if not written.get("llm"):  # no LLM call was recorded by the LLM layer: record it here
        outputs = {"path": written["path"], "figures": len(report["figures"])}
        await core.record([context.interaction(FEATURE, inputs, outputs, "templates")])
    return {
        "week_start": report["week_start"],
        "week_end": report["week_end"],
        "summary": written["summary"],
        "sections": written["sections"],
        "figures": report["figures"],
        "trends": report["trends"],
        "path": written["path"],
        "fallback_reason": written["fallback_reason"],
        "llm": written.get("llm"),
        "request_id": context.request_id,
    }
