"""Dynamic personalisation and content generation assistance (:mod:`content`).

``POST /api/ai/content/personalize`` fills a library item's (or an inline template's) typed
slots from the CRM for one contact, or refuses with 422 naming every missing required slot;
``POST /api/ai/content/generate`` drafts a template with typed slots from a brief. Both run in
the ``TextAI`` deployment; consent is checked here and the call recorded.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from content.generate import ContentBrief
from content.slots import SlotTemplate
from serving.dependencies import LLM, Core
from serving.errors import ERROR_RESPONSES
from serving.idempotency import IdempotentRoute
from serving.routes.text import call_llm_endpoint

router = APIRouter(route_class=IdempotentRoute, responses=ERROR_RESPONSES)


class PersonaliseRequest(BaseModel):
    """Body of ``POST /api/ai/content/personalize``: a library item or an inline template."""

    model_config = ConfigDict(extra="forbid")

    contact_id: uuid.UUID = Field(description="The recipient.")
    content_id: uuid.UUID | None = Field(None, description="A content library item.")
    template: SlotTemplate | None = Field(
        None, description="An inline template: subject, body with {slot} placeholders, slots."
    )
    deal_id: uuid.UUID | None = Field(
        None, description="The deal the content is about (default: the latest open deal)."
    )

    @model_validator(mode="after")
    def _one_template(self) -> PersonaliseRequest:
        """Require exactly one of ``content_id`` and ``template``."""
        if (self.content_id is None) == (self.template is None):
            raise ValueError("give exactly one of content_id and template")
        return self


@router.post("/api/ai/content/personalize", tags=["content"])
async def personalize_content(
    core: Core, context: LLM, request: PersonaliseRequest
) -> dict[str, Any]:
    """Fill a template's typed slots from the CRM (422 lists missing required slots)."""
    body = request.model_dump(mode="json", exclude_none=True)
    return await call_llm_endpoint(
        core, context, "content_personalize", "personalize_content", body, request.contact_id
    )


@router.post("/api/ai/content/generate", tags=["content"])
async def generate_content(core: Core, context: LLM, request: ContentBrief) -> dict[str, Any]:
    """Draft a template with typed slots from a brief (hosted LLM, else the email corpus)."""
    body = request.model_dump(mode="json")
    return await call_llm_endpoint(
        core, context, "content_generate", "generate_content", body, None
    )
