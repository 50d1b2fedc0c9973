"""The gateway's FastAPI app: the routers of :mod:`serving.routes` over one replica's core."""

from __future__ import annotations

from fastapi import FastAPI

from serving.batching import GreedyBatcher
from serving.config import RequestLimits
from serving.core import GatewayCore
from serving.dashboard import live
from serving.dashboard import router as dashboard
from serving.errors import install_error_handlers
from serving.idempotency import ReplayedAnswer, answer_replay
from serving.lead_batch import LeadScoreBatch
from serving.middleware import AccessLog
from serving.routes import (
    admin,
    content,
    content_personalise,
    events,
    gaming,
    insights,
    predictions,
    reviews,
    scoring,
    search_chat,
    text,
    transcription,
    webhooks,
    workflows,
)
from serving.upload_limits import PathBodySizeLimits

TITLE = "hasteCRM AI API"
VERSION = "0.2.0"
DESCRIPTION = (
    "Lead scoring with SHAP explanations, deal and churn predictions, next best actions, "
    "email and conversation AI and semantic search, served by Ray Serve from MLflow. "
    "Authenticate with an API key in the `X-API-Key` header (`haste keys create`)."
)


def create_api(core: GatewayCore | None = None) -> FastAPI:
    """Return the FastAPI app of the AI endpoints.

    Args:
        core: The replica's core; None builds the app for its OpenAPI schema only.

    Returns:
        The app, with every router, the error model, the body-size limit and access log and
        (given a core) the lead-score batcher.
    """
    api = FastAPI(title=TITLE, version=VERSION, description=DESCRIPTION)
    install_error_handlers(api)
    api.add_exception_handler(ReplayedAnswer, answer_replay)
    limits = core.config.limits if core is not None else RequestLimits()
    api.add_middleware(  # upload routes (recordings) have their own, larger, limit
        PathBodySizeLimits,
        max_bytes=limits.max_body_bytes,
        uploads=transcription.upload_body_limits(),
    )
    api.add_middleware(AccessLog)  # outermost: logs 413s too
    for module in (
        scoring,
        predictions,
        text,
        search_chat,
        transcription,
        content,
        content_personalise,
        admin,
        events,
        webhooks,
        workflows,
        reviews,
        insights,
        gaming,
        dashboard,
        live,
    ):
        api.include_router(module.router)
    if core is not None:
        api.state.core = core
        api.state.dashboard = core
        api.state.score_batcher = GreedyBatcher(LeadScoreBatch(core).score, max_batch_size=32)
    return api
