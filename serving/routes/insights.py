"""Operational insights: anomalies, process bottlenecks and adoption of AI suggestions.

``GET /api/ai/anomalies``, ``/api/ai/insights/process`` and ``/api/ai/insights/adoption``
(permission ``usage``: managers and admins).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from serving.dependencies import Core, Usage
from serving.errors import ERROR_RESPONSES, ApiError
from serving.idempotency import IdempotentRoute

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
