"""Human review: ``GET /api/ai/reviews``, ``GET``/``POST /api/ai/reviews/{review_id}``.

Role ``manager`` (permission ``review``; managers see and decide their own team's items) or
``admin``. Approving a held ``send_email`` composes the email through the LLM layer first
(the offline provider by default) and records it as sent; nothing external happens before.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from serving.core import usage_identity
from serving.dependencies import Core, Review
from serving.errors import ERROR_RESPONSES, ApiError
from serving.gateway import CallContext
from serving.idempotency import IdempotentRoute
from workflows.errors import WorkflowConflictError, WorkflowNotFoundError

router = APIRouter(route_class=IdempotentRoute, tags=["reviews"], responses=ERROR_RESPONSES)
ReviewId = Annotated[str, Path(max_length=64, description="The review item's id.")]


class DecisionRequest(BaseModel):
    """A manager's decision on a review item."""

    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "reject"]
    reason: str | None = Field(
        None, max_length=2000, description="Why; required to reject (kept in the audit trail)."
    )

    @model_validator(mode="after")
    def _check_reason(self) -> DecisionRequest:
        if self.decision == "reject" and not (self.reason or "").strip():
            raise ValueError("a rejection needs a reason")
        return self


def _team(context: CallContext) -> Any:
    """Return the team a manager is limited to (``None``: an admin sees every team)."""
    principal = context.principal
    return principal.team_id if principal.role == "manager" else None


@router.get("/api/ai/reviews")
def list_items(
    core: Core,
    context: Review,
    status: Annotated[Literal["pending", "approved", "rejected", "all"], Query()] = "pending",
    feature: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """The review queue (pending items first by default), newest first."""
    from workflows.reviews import list_reviews

    return list_reviews(
        core.database_url,
        status=None if status == "all" else status,
        team_id=_team(context),
        feature=feature,
        limit=limit,
    )


@router.get("/api/ai/reviews/{review_id}")
def read(core: Core, context: Review, review_id: ReviewId) -> dict[str, Any]:
    """One review item with what would happen and the contact's context."""
    from workflows.reviews import get_review

    try:
        item = get_review(core.database_url, review_id)
    except WorkflowNotFoundError as error:
        raise ApiError(404, str(error)) from error
    team = _team(context)
    if team is not None and item["team_id"] not in (None, str(team)):
        raise ApiError(404, f"no review item {review_id!r}")
    return item


@router.post("/api/ai/reviews/{review_id}")
async def decide(
    core: Core, context: Review, review_id: ReviewId, request: DecisionRequest
) -> dict[str, Any]:
    """Approve (the action is carried out now) or reject (it never is) a review item."""
    from workflows.email_drafts import compose_request_for_review
    from workflows.reviews import decide_review

    url = core.database_url
    inputs: dict[str, Any] = {}
    try:
        compose = await run_in_threadpool(compose_request_for_review, url, review_id)
    except WorkflowNotFoundError as error:
        raise ApiError(404, str(error)) from error
    if compose is not None and request.decision == "approve":
        composed = await core.call_text(
            context,
            "email_compose",
            {"review_id": review_id},
            "compose_email",
            compose,
            usage_identity(context),
        )
        draft = composed.get("draft", {})
        inputs["draft"] = {"subject": draft.get("subject", ""), "body": draft.get("body", "")}
    try:
        return await run_in_threadpool(
            lambda: decide_review(
                url,
                review_id,
                request.decision,
                decided_by=context.principal.limit_key,
                reason=request.reason,
                team_id=_team(context),
                inputs=inputs,
            )
        )
    except WorkflowNotFoundError as error:
        raise ApiError(404, str(error)) from error
    except WorkflowConflictError as error:
        raise ApiError(409, str(error)) from error
