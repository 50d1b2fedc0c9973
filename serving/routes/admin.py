"""Usage, feedback and A/B outcomes.

``GET /api/ai/usage``, ``POST /api/ai/feedback``, ``GET /api/ai/ab/report``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from pydantic import BeforeValidator

from serving.dependencies import Core, Predict, Usage
from serving.errors import ERROR_RESPONSES, ApiError
from serving.idempotency import IdempotentRoute
from serving.schemas import FeedbackRequest
from textai.email.models import require_iso_datetime
from textai.llm.usage import RollupKey, usage_rollup

router = APIRouter(route_class=IdempotentRoute, tags=["admin"], responses=ERROR_RESPONSES)


@router.get("/api/ai/usage")
def usage(
    core: Core,
    context: Usage,
    by: Annotated[RollupKey, Query(description="Group the calls by this column.")] = "team",
    days: Annotated[int, Query(ge=1, le=366, description="Look-back window in days.")] = 30,
) -> dict[str, Any]:
    """AI usage and cost rolled up per user, team, feature, provider or model."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    rows = usage_rollup(core.database_url, by=by, since=since)
    return {"by": by, "days": days, "rows": jsonable_encoder(rows)}


@router.get("/api/ai/ab/report")
def ab_report(
    core: Core,
    context: Usage,
    model: Annotated[
        str | None,
        Query(max_length=100, pattern=r"^[A-Za-z0-9_.-]+$", description="Only this model."),
    ] = None,
    days: Annotated[
        int | None, Query(ge=1, le=3650, description="Conversion window (configs/ab.yaml).")
    ] = None,
    since: Annotated[
        dt.datetime | None,
        Query(description="Only exposures at or after this time (ISO 8601)."),
        BeforeValidator(require_iso_datetime),
    ] = None,
) -> dict[str, Any]:
    """Champion vs challenger judged on conversions within N days of the decision.

    Per model: exposures, open and closed windows, conversions, rates with credible
    intervals, P(challenger better), expected losses, the always-valid sequential p-value and
    the stop rule's decision (``haste ab report`` prints the same, with offline metrics).
    """
    from training.ab_outcomes import build_ab_report

    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    reports = build_ab_report(core.database_url, model=model, window_days=days, since=since)
    return {"model": model, "days": days, "reports": jsonable_encoder(reports)}


@router.post("/api/ai/feedback")
def feedback(core: Core, context: Predict, request: FeedbackRequest) -> dict[str, Any]:
    """Rate an earlier AI answer (1-5); feeds the prompt-version statistics.

    A caller rates its own calls; a manager also those of their team, an admin any call.
    """
    from textai.llm.prompt_model import InteractionNotFoundError
    from textai.llm.prompt_records import FeedbackCaller, record_feedback

    principal = context.principal
    caller = FeedbackCaller(
        principal.user_id, principal.api_key_id, principal.team_id, principal.role
    )
    try:
        record_feedback(core.database_url, request.request_id, request.score, caller)
    except InteractionNotFoundError as error:
        raise ApiError(404, str(error)) from error
    return {"request_id": request.request_id, "score": request.score}
