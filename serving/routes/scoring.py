"""Health and lead scoring: ``GET /api/ai/health``, ``POST /api/ai/lead-score``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from serving.batching import GreedyBatcher
from serving.dependencies import Core, Predict
from serving.errors import ERROR_RESPONSES, ApiError
from serving.idempotency import IdempotentRoute
from serving.lead_batch import ScoreJob
from serving.schemas import HealthResponse, LeadScoreRequest, LeadScoreResponse

router = APIRouter(route_class=IdempotentRoute, tags=["scoring"])


def get_score_batcher(request: Request) -> GreedyBatcher:
    """Return the replica's lead-score batcher (set by the app factory)."""
    return request.app.state.score_batcher


@router.get("/api/ai/health", response_model=HealthResponse)
async def health(core: Core) -> HealthResponse:
    """Report liveness and the versions the model deployments serve (no API key needed)."""
    models = await core.variants["champion"].versions.remote()
    challengers = {}
    if core.variants["challenger"] is not None:
        challengers = await core.variants["challenger"].versions.remote()
    return HealthResponse(status="ok", models=models, challengers=challengers)


@router.post("/api/ai/lead-score", response_model=LeadScoreResponse, responses=ERROR_RESPONSES)
async def lead_score(
    context: Predict,
    request: LeadScoreRequest,
    batcher: Annotated[GreedyBatcher, Depends(get_score_batcher)],
) -> LeadScoreResponse:
    """Score a contact from its stored features, explain it and record it."""
    result = await batcher.submit(
        ScoreJob(request.contact_id, request.include_explanation, context)
    )
    if isinstance(result, ApiError):
        raise result
    payload = dict(result)
    if not request.include_explanation:
        payload.pop("contributions", None)
        payload.pop("explanation", None)
    payload.pop("cached", None)
    payload.pop("replayed", None)
    return LeadScoreResponse(**payload, latency_ms=context.elapsed_ms())
