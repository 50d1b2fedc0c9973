"""Conversational search: ``POST /api/ai/search/chat``.

Each message is answered by the ``TextAI`` deployment (:mod:`textai.search.chat`): a follow-up
refines the previous turn's filters, the answer cites the records it names, and the turn is
stored in ``search_conversations`` under the caller's API key (another key gets 404).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serving.core import usage_identity
from serving.dependencies import Core, Search
from serving.errors import ERROR_RESPONSES
from serving.idempotency import IdempotentRoute
from serving.metrics import count_llm
from textai.text_patterns import WORD_CHAR_PATTERN

router = APIRouter(route_class=IdempotentRoute, responses=ERROR_RESPONSES)

EntityType = Literal["contact", "company", "deal", "email", "transcript"]


class SearchChatRequest(BaseModel):
    """Body of ``POST /api/ai/search/chat``."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: uuid.UUID | None = Field(
        None, description="The conversation to continue (omit to start one)."
    )
    message: str = Field(
        min_length=1,
        max_length=500,
        pattern=WORD_CHAR_PATTERN,
        description='A question or a follow-up ("only in healthcare", "which of those ...").',
    )
    limit: int = Field(5, ge=1, le=50, description="Records to find and cite at most.")
    entity_types: list[EntityType] | None = Field(
        None, max_length=5, description="Restrict the search to these entity types."
    )


class Citation(BaseModel):
    """One record the answer cites with its ``[marker]``."""

    marker: int
    doc_id: str
    entity_type: str
    entity_id: str
    title: str
    why: str = Field(description="Why it matched: the filters it satisfies, the text matched.")


class MergedQuery(BaseModel):
    """What the turn searched: the previous turn's filters merged with the message's."""

    text: str
    entity_types: list[str]
    filters: list[dict[str, Any]]
    restricted_to_previous: bool = Field(
        description="Whether the search was limited to the previous answer's records."
    )


class SearchChatResponse(BaseModel):
    """One answered turn."""

    conversation_id: uuid.UUID
    turn: int = Field(ge=1)
    question: str
    filters: MergedQuery
    refined_from_previous: bool
    answer: str
    citations: list[Citation]
    results: list[dict[str, Any]]
    path: Literal["offline", "llm"]
    fallback_reason: str | None = None
    notes: list[str] = Field(default_factory=list)
    llm: dict[str, Any] | None = None


@router.post("/api/ai/search/chat", tags=["search"], response_model=SearchChatResponse)
async def search_chat(core: Core, context: Search, request: SearchChatRequest) -> dict[str, Any]:
    """Conversational search: follow-ups refine the previous question; answers cite records."""
    body = request.model_dump(mode="json")
    inputs = {"message": request.message, "conversation_id": body["conversation_id"]}
    identity = usage_identity(context)
    result = await core.call_text(context, "search_chat", inputs, "search_chat", body, identity)
    llm = result.get("llm")
    count_llm(llm)
    await core.record(
        [
            context.interaction(
                "search_chat",
                inputs,
                {
                    "conversation_id": result["conversation_id"],
                    "turn": result["turn"],
                    "path": result["path"],
                    "cited": [c["doc_id"] for c in result["citations"]],
                },
                f"minilm+bm25+{llm['prompt']}" if llm else "minilm+bm25",
                provider=llm["provider"] if llm else "local",
            )
        ]
    )
    return result
