"""Webhooks of score changes: ``POST``, ``GET /api/ai/webhooks``, ``DELETE .../{webhook_id}``.

A caller (any role with the ``predict`` permission) registers URLs that receive every band
crossing, signed with the hook's secret (:mod:`streaming.webhooks`), and sees the deliveries
of its own hooks: counts, last status and last error. Hooks belong to the registering API key.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from serving.dependencies import Core, Predict
from serving.errors import ERROR_RESPONSES, ApiError
from serving.gateway import CallContext
from serving.idempotency import IdempotentRoute
from streaming.config import WebhookConfig, load_streaming_config
from streaming.webhooks import (
    MAX_SECRET_LENGTH,
    MAX_URL_LENGTH,
    MIN_SECRET_LENGTH,
    delete_webhook,
    list_webhooks,
    register_webhook,
)

#: What the schema admits of a webhook URL (every match passes
#: :func:`streaming.webhooks.validate_webhook_url`): http(s), a host, a port up to 65535, a path.
WEBHOOK_URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9._~-]+"
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?"
    r"(/[!-~]*)?$"
)

router = APIRouter(route_class=IdempotentRoute, tags=["webhooks"], responses=ERROR_RESPONSES)


class WebhookRequest(BaseModel):
    """Body of ``POST /api/ai/webhooks``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=MAX_URL_LENGTH,
        pattern=WEBHOOK_URL_PATTERN,
        description="Absolute http(s) URL receiving the POSTs, e.g. https://crm.example/hooks.",
    )
    secret: str | None = Field(
        None,
        min_length=MIN_SECRET_LENGTH,
        max_length=MAX_SECRET_LENGTH,
        description="HMAC-SHA256 key of `X-Haste-Signature`; generated when omitted.",
    )


class WebhookCreated(BaseModel):
    """A registered webhook, with its secret (shown only in this answer)."""

    id: str
    url: str
    secret: str = Field(description="Keep it: it signs every delivery and is not shown again.")
    active: bool
    created_at: str


class WebhookStatus(BaseModel):
    """A webhook with its deliveries (failures visible)."""

    id: str
    url: str
    active: bool
    created_at: str
    delivered: int = Field(description="Deliveries answered with a 2xx.")
    pending: int = Field(description="Deliveries queued or awaiting a retry.")
    failed: int = Field(description="Deliveries given up after the last attempt.")
    last_status_code: int | None = Field(None, description="HTTP status of the last attempt.")
    last_error: str | None = Field(None, description="What went wrong in the last attempt.")
    last_attempt_at: str | None = None
    next_attempt_at: str | None = Field(None, description="When the retry is due, if any.")


class WebhookList(BaseModel):
    """The caller's webhooks."""

    webhooks: list[WebhookStatus]


@lru_cache(maxsize=1)
def webhook_config() -> WebhookConfig:
    """Return the webhook settings of ``configs/streaming.yaml`` (read once)."""
    return load_streaming_config().webhooks


def _scope(context: CallContext) -> str:
    """Return the scope of the caller's hooks: its API key id."""
    return context.principal.limit_key


@router.post("/api/ai/webhooks", status_code=201, response_model=WebhookCreated)
def create_webhook(core: Core, context: Predict, request: WebhookRequest) -> WebhookCreated:
    """Register a URL that receives every band crossing of a lead score (signed POSTs)."""
    try:
        hook = register_webhook(core.database_url, _scope(context), request.url, request.secret)
    except ValueError as error:
        raise ApiError(422, str(error)) from error
    return WebhookCreated(**hook)


@router.get("/api/ai/webhooks", response_model=WebhookList)
def get_webhooks(core: Core, context: Predict) -> WebhookList:
    """The caller's webhooks with their delivery counts, last status and last error."""
    hooks = list_webhooks(core.database_url, _scope(context), webhook_config())
    return WebhookList(webhooks=[WebhookStatus(**hook) for hook in hooks])


@router.delete("/api/ai/webhooks/{webhook_id}", status_code=204, response_class=Response)
def remove_webhook(
    core: Core,
    context: Predict,
    webhook_id: Annotated[str, Path(max_length=64, description="The webhook's id.")],
) -> Response:
    """Delete one of the caller's webhooks and its deliveries."""
    if not delete_webhook(core.database_url, _scope(context), webhook_id):
        raise ApiError(404, f"no webhook {webhook_id!r} registered by this API key")
    return Response(status_code=204)
