"""Text AI: conversation analysis, semantic search and the LLM email endpoints.

The text work runs in the ``TextAI`` deployment; these routes admit the call, check consent,
forward it through the deployment handle and record it in the audit trail.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from haste.jobs import read_job
from serving.analysis_jobs import analysis_record, job_scope, submit_analysis
from serving.core import GatewayCore, usage_identity
from serving.dependencies import LLM, Core, Search
from serving.errors import ERROR_RESPONSES, ApiError
from serving.gateway import CallContext
from serving.idempotency import IdempotentRoute
from serving.metrics import count_llm
from serving.schemas import (
    EmailComposeRequest,
    EmailReplyRequest,
    JobAccepted,
    JobStatus,
    SearchRequest,
    SubjectOptimizeRequest,
)
from textai.conversation.request import ConversationAnalyzeRequest

router = APIRouter(route_class=IdempotentRoute, responses=ERROR_RESPONSES)


@router.post(
    "/api/ai/conversation/analyze",
    tags=["conversation"],
    responses={202: {"model": JobAccepted, "description": "Analysis queued as a job."}},
)
async def analyze_conversation(
    core: Core,
    context: LLM,
    request: ConversationAnalyzeRequest,
    prefer: Annotated[
        str | None,
        Header(max_length=200, description="`respond-async`: always answer 202 with a job."),
    ] = None,
) -> Any:
    """Summary, topics, sentiment per speaker, action items, key moments, coaching.

    Transcripts longer than ``limits.sync_transcript_chars`` (or with ``Prefer:
    respond-async``) are analysed as a job: 202 with a status URL to poll.
    """
    feature = "conversation_analyze"
    await core.consent(context, feature, request.contact_id, request.activity_id)
    body = request.model_dump(mode="json")
    inputs = {"contact_id": body["contact_id"], "meeting_type": body["meeting_type"]}
    long = request.transcript_chars() > core.config.limits.sync_transcript_chars
    if long or "respond-async" in (prefer or "").lower():
        accepted = await submit_analysis(core, context, inputs, body)
        return JSONResponse(accepted, status_code=202, headers={"Location": accepted["status_url"]})
    result = await core.call_text(
        context,
        feature,
        inputs,
        "analyze_conversation",
        body,
        usage_identity(context),
        handle=core.conversation,
    )
    await core.record([analysis_record(context, inputs, result)])
    return result


@router.get("/api/ai/jobs/{job_id}", tags=["conversation"], response_model=JobStatus)
def job_status(core: Core, context: LLM, job_id: uuid.UUID) -> JobStatus:
    """Status (and, once done, the result) of a job you submitted."""
    view = read_job(core.database_url, job_id, job_scope(context), core.config.limits.job_budget_s)
    if view is None:
        raise ApiError(404, f"no job {job_id} of yours")
    return JobStatus(**view.to_dict())


@router.post("/api/ai/search", tags=["search"])
async def search(core: Core, context: Search, request: SearchRequest) -> dict[str, Any]:
    """Hybrid semantic + keyword search with natural-language filters and suggestions."""
    body = {
        "query": request.query,
        "limit": request.limit,
        "entity_types": request.context.entity_types if request.context else None,
        "mode": request.context.mode if request.context else "hybrid",
    }
    result = await core.call_text(context, "search", {"query": request.query}, "search", body)
    await core.record(
        [
            context.interaction(
                "search",
                body,
                {"intent": result["intent"], "hits": [hit["doc_id"] for hit in result["results"]]},
                "minilm+bm25",
                provider="local",
            )
        ]
    )
    return result


async def call_llm_endpoint(
    core: GatewayCore,
    context: CallContext,
    feature: str,
    method: str,
    body: dict[str, Any],
    contact_id: Any,
) -> dict[str, Any]:
    """Shared path of the LLM endpoints (the LLM service records its own calls)."""
    await core.consent(context, feature, contact_id)
    inputs = {"contact_id": str(contact_id) if contact_id else None}
    result = await core.call_text(context, feature, inputs, method, body, usage_identity(context))
    count_llm(result.get("llm"))
    if not result.get("llm"):  # no LLM call was made: record the call here
        await core.record([context.interaction(feature, inputs, {"keys": sorted(result)}, "rules")])
    result["request_id"] = context.request_id
    return result


@router.post("/api/ai/email/compose", tags=["email"])
async def compose_email(core: Core, context: LLM, request: EmailComposeRequest) -> dict[str, Any]:
    """Compose an email with a tone and CRM personalisation (PII redacted for providers)."""
    body = request.model_dump(mode="json")
    contact_id = request.context.recipient.contact_id
    return await call_llm_endpoint(
        core, context, "email_compose", "compose_email", body, contact_id
    )


@router.post("/api/ai/email/optimize-subject", tags=["email"])
async def optimize_subject(
    core: Core, context: LLM, request: SubjectOptimizeRequest
) -> dict[str, Any]:
    """Score a subject line and propose better-scoring variants."""
    body = request.model_dump(mode="json")
    return await call_llm_endpoint(
        core, context, "email_subject", "optimize_subject", body, request.contact_id
    )


@router.post("/api/ai/email/reply-suggestions", tags=["email"])
async def reply_suggestions(core: Core, context: LLM, request: EmailReplyRequest) -> dict[str, Any]:
    """Suggest replies to an incoming email, adapted to its sentiment."""
    body = request.model_dump(mode="json")
    return await call_llm_endpoint(
        core, context, "email_reply", "suggest_replies", body, request.contact_id
    )
