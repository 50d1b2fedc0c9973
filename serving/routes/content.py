"""Content intelligence: the library's performance and what to send next.

``GET /api/ai/content/performance`` (permission ``usage``) and
``POST /api/ai/content/recommend`` (permission ``predict``); both read the database in the
gateway's threadpool (no model server), see :mod:`content`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from serving.dependencies import Core, Predict, Usage
from serving.errors import ERROR_RESPONSES, ApiError
from serving.idempotency import IdempotentRoute

router = APIRouter(route_class=IdempotentRoute, tags=["content"], responses=ERROR_RESPONSES)

Kind = Literal["email_template", "sequence_step", "document", "case_study", "subject_line"]


class RecommendRequest(BaseModel):
    """Whom to recommend content for, and which content."""

    model_config = ConfigDict(extra="forbid")
    contact_id: uuid.UUID | None = Field(None, description="The CRM contact.")
    deal_id: uuid.UUID | None = Field(None, description="A deal: its contact and stage.")
    kind: Kind | None = Field(None, description="Only items of this kind.")
    metric: Literal["click", "reply", "win"] = "reply"
    n: int = Field(3, ge=1, le=10, description="Items returned.")

    @model_validator(mode="after")
    def _check_target(self) -> RecommendRequest:
        if self.contact_id is None and self.deal_id is None:
            raise ValueError("give contact_id or deal_id")
        return self


@router.get("/api/ai/content/performance")
async def performance(
    core: Core,
    context: Usage,
    kind: Annotated[Kind | None, Query(description="Only items of this kind.")] = None,
    segment: Annotated[
        Literal["industry", "seniority", "stage"] | None,
        Query(description="Also break the metric down by this segment."),
    ] = None,
    metric: Annotated[Literal["open", "click", "reply", "win"], Query()] = "reply",
    min_sends: Annotated[int, Query(ge=0, le=100_000, description="Hide thinner items.")] = 0,
) -> dict[str, Any]:
    """Per-item (and per-segment) rates with shrinkage, credible intervals and tests."""
    from content.performance import content_performance

    return await run_in_threadpool(
        content_performance, core.database_url, kind, segment, metric, min_sends
    )


@router.post("/api/ai/content/recommend")
async def recommend(core: Core, context: Predict, request: RecommendRequest) -> dict[str, Any]:
    """Rank content for a contact or deal by contextual Thompson sampling."""
    from content.recommend import ContentNotSeededError, recommend_content

    if request.contact_id is not None and not core.require_consent(
        context, "content_recommend", request.contact_id
    ):
        raise ApiError(404, f"contact {request.contact_id} not found in the CRM")
    try:
        result = await run_in_threadpool(
            recommend_content,
            core.database_url,
            request.contact_id,
            request.deal_id,
            request.kind,
            request.n,
            request.metric,
        )
    except LookupError as error:
        raise ApiError(404, str(error)) from error
    except ContentNotSeededError as error:
        raise ApiError(503, str(error), headers={"Retry-After": "60"}) from error
    if request.contact_id is None and result["contact_id"] is not None:  # a deal's contact
        core.require_consent(context, "content_recommend", uuid.UUID(result["contact_id"]))
    await core.record(
        [
            context.interaction(
                "content_recommend",
                request.model_dump(mode="json"),
                {"items": [i["name"] for i in result["items"]], "segment": result["segment"]},
                "contextual_thompson",
            )
        ]
    )
    return result
