"""Text AI: conversation analysis, semantic search and the LLM email endpoints.

The text work runs in the ``TextAI`` deployment; these routes admit the call, check consent,
forward it through the deployment handle and record it in the audit trail.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from serving.core import GatewayCore, usage_identity
from serving.dependencies import LLM, Core, Search
from serving.errors import ERROR_RESPONSES
from serving.gateway import CallContext
from serving.schemas import (
    EmailComposeRequest,
    EmailReplyRequest,
    SearchRequest,
    SubjectOptimizeRequest,
)
from textai.conversation.request import ConversationAnalyzeRequest

router = APIRouter(responses=ERROR_RESPONSES)


@router.post("/api/ai/conversation/analyze", tags=["conversation"])
async def analyze_conversation(
    core: Core, context: LLM, request: ConversationAnalyzeRequest
) -> dict[str, Any]:
    """Summary, topics, sentiment per speaker, action items, key moments, coaching."""
    feature = "conversation_analyze"
    await core.consent(context, feature, request.contact_id)
    body = request.model_dump(mode="json")
    inputs = {"contact_id": body["contact_id"], "meeting_type": body["meeting_type"]}
    result = await core.call_text(
        context, feature, inputs, "analyze_conversation", body, usage_identity(context)
    )
    await core.record(
        [
            context.interaction(
                feature,
                {**inputs, "turns": result.get("n_turns")},
                {
                    "insight_id": result["insight_id"],
                    "summary": result["summary"],
                    "action_items": len(result["action_items"]),
                    "alerts": result["alerts"],
                },
                "minilm+sentiment+action_items",
                provider="local",
            )
        ]
    )
    return result


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
