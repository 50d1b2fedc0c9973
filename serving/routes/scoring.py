"""Health and lead scoring: ``GET /api/ai/health``, ``POST /api/ai/lead-score`` and its what-if.

``POST /api/ai/lead-score/{contact_id}/what-if`` answers "what would make this lead hot?":
diverse, feasible counterfactuals over the actionable features of
``configs/counterfactuals.yaml`` (:mod:`training.counterfactuals`), computed in the model
deployment that serves the contact's variant. A lead already in the target band gets 200 with
``already_in_target: true`` and no counterfactuals (nothing to change, not an error).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam

from haste.records import record_interactions
from serving.batching import GreedyBatcher
from serving.dependencies import Core, Predict
from serving.errors import ERROR_RESPONSES, ApiError
from serving.idempotency import IdempotentRoute
from serving.lead_batch import ScoreJob
from serving.schemas import HealthResponse, LeadScoreRequest, LeadScoreResponse
from serving.what_if_schemas import WhatIfRequest, WhatIfResponse
from training.counterfactual_config import VaryError, check_vary, load_counterfactual_config

router = APIRouter(route_class=IdempotentRoute, tags=["scoring"])

WHAT_IF = "lead_what_if"
ContactId = Annotated[uuid.UUID, PathParam(description="The contact (a CRM contact id).")]


async def get_score_batcher(request: Request) -> GreedyBatcher:
    """Return the replica's lead-score batcher (set by the app factory; async: no thread hop)."""
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
) -> Response:
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
    answer = LeadScoreResponse(**payload, latency_ms=context.elapsed_ms())
    # Validated once, serialised by pydantic-core: FastAPI would validate the answer again.
    return Response(answer.model_dump_json(), media_type="application/json")


@router.post(
    "/api/ai/lead-score/{contact_id}/what-if",
    response_model=WhatIfResponse,
    responses=ERROR_RESPONSES,
)
def lead_what_if(
    core: Core, context: Predict, contact_id: ContactId, request: WhatIfRequest
) -> WhatIfResponse:
    """Propose the smallest engagement changes that would bring a lead into a better band.

    Refuses (and records) an unknown contact (404), a contact without AI consent (403) and a
    ``vary`` naming an immutable, audited or unknown feature (422, naming it and why).
    """
    key = str(contact_id)
    inputs: dict[str, Any] = {
        "contact_id": key,
        "target_band": request.target_band,
        "k": request.k,
        "vary": request.vary,
    }
    core.require_consent(context, WHAT_IF, contact_id)
    found = core.lookup.find(key)
    if found is None:
        message = f"contact {key} not found in the online feature store or lead profiles"
        raise core.refuse(context, WHAT_IF, 404, message, inputs)
    try:
        rules = load_counterfactual_config().rules(found.model_name)
    except KeyError as error:
        raise core.refuse(context, WHAT_IF, 503, str(error.args[0]), inputs) from error
    variant = core.variant(found.model_name, key)
    inputs["variant"] = variant
    try:
        check_vary(rules, found.model_name, None, request.vary)
        payload = core.call_model(
            context,
            WHAT_IF,
            inputs,
            variant,
            "what_if",
            found.model_name,
            found.row,
            key,
            request.target_band,
            request.k,
            request.vary,
        )
    except VaryError as error:
        raise core.refuse(context, WHAT_IF, 422, str(error), inputs) from error
    name, version = payload["model_name"], payload["model_version"]
    record_interactions(
        core.database_url,
        [
            context.interaction(
                WHAT_IF, inputs, payload, f"{name}@v{version}", variant=variant, provider="dice"
            )
        ],
    )
    return WhatIfResponse(**payload, variant=variant, latency_ms=context.elapsed_ms())
