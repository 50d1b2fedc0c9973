"""Usage and feedback: ``GET /api/ai/usage``, ``POST /api/ai/feedback``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder

from serving.dependencies import Core, Predict, Usage
from serving.errors import ERROR_RESPONSES, ApiError
from serving.schemas import FeedbackRequest
from textai.llm.usage import usage_rollup

router = APIRouter(tags=["admin"], responses=ERROR_RESPONSES)


@router.get("/api/ai/usage")
def usage(core: Core, context: Usage, by: str = "team", days: int = 30) -> dict[str, Any]:
    """AI usage and cost rolled up per user, team, feature, provider or model."""
    if not 1 <= days <= 366:
        raise ApiError(422, "days must be between 1 and 366")
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    try:
        rows = usage_rollup(core.database_url, by=by, since=since)
    except ValueError as error:
        raise ApiError(422, str(error)) from error
    return {"by": by, "days": days, "rows": jsonable_encoder(rows)}


@router.post("/api/ai/feedback")
def feedback(core: Core, context: Predict, request: FeedbackRequest) -> dict[str, Any]:
    """Rate an earlier AI answer (1-5); feeds the prompt-version statistics."""
    from textai.llm.prompt_model import InteractionNotFoundError
    from textai.llm.prompt_records import record_feedback

    try:
        record_feedback(core.database_url, request.request_id, request.score)
    except InteractionNotFoundError as error:
        raise ApiError(404, str(error)) from error
    return {"request_id": request.request_id, "score": request.score}
