"""Long conversation analyses as background jobs: 202 + a status URL, run off the request.

A transcript longer than ``limits.sync_transcript_chars`` (or a request with ``Prefer:
respond-async``) is not analysed while the client waits: the gateway records a job, answers
202 with ``/api/ai/jobs/{id}``, and runs the analysis on the ``ConversationAI`` deployment
within ``limits.job_budget_s``. Interactive endpoints (search, email) run on other replicas,
so a long analysis never holds them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from haste.jobs import fail_job, finish_job, start_job, submit_job
from haste.records import InteractionRecord
from serving.core import GatewayCore, usage_identity
from serving.gateway import CallContext
from serving.text_app import TextAIError

logger = logging.getLogger("ray.serve")

FEATURE = "conversation_analyze"


def job_scope(context: CallContext) -> str:
    """Return who owns the caller's jobs (the API key, or ``anonymous``)."""
    return str(context.principal.api_key_id or "anonymous")


def analysis_record(
    context: CallContext, inputs: dict[str, Any], result: dict[str, Any]
) -> InteractionRecord:
    """Return the audit record of a finished analysis."""
    return context.interaction(
        FEATURE,
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


async def submit_analysis(
    core: GatewayCore, context: CallContext, inputs: dict[str, Any], body: dict[str, Any]
) -> dict[str, Any]:
    """Record a job for this analysis, start it in the background and return the 202 body."""
    job_id = await asyncio.to_thread(
        submit_job, core.database_url, job_scope(context), FEATURE, context.request_id
    )
    task = asyncio.create_task(run_analysis(core, context, job_id, inputs, body))
    core.jobs.add(task)
    task.add_done_callback(core.jobs.discard)
    return {
        "job_id": str(job_id),
        "status": "queued",
        "status_url": f"/api/ai/jobs/{job_id}",
        "request_id": context.request_id,
    }


async def run_analysis(
    core: GatewayCore,
    context: CallContext,
    job_id: uuid.UUID,
    inputs: dict[str, Any],
    body: dict[str, Any],
) -> None:
    """Run one analysis job on the conversation deployment; record its end either way."""
    url = core.database_url
    budget = core.config.limits.job_budget_s
    await asyncio.to_thread(start_job, url, job_id)
    response = core.conversation.analyze_conversation.remote(body, usage_identity(context))
    try:
        result = await asyncio.wait_for(response, budget)
    except TimeoutError:
        response.cancel()
        await end_failed(
            core, context, job_id, inputs, 503, f"over its time budget of {budget:g} s"
        )
        return
    except TextAIError as error:
        await end_failed(core, context, job_id, inputs, error.status_code, error.message)
        return
    except Exception as error:  # a dependency failed: the job says so, the gateway stays up
        logger.warning("analysis job %s failed", job_id, exc_info=True)
        await end_failed(core, context, job_id, inputs, 503, f"{type(error).__name__}: {error}")
        return
    await core.record([analysis_record(context, inputs, result)])
    await asyncio.to_thread(finish_job, url, job_id, result)


async def end_failed(
    core: GatewayCore,
    context: CallContext,
    job_id: uuid.UUID,
    inputs: dict[str, Any],
    status: int,
    message: str,
) -> None:
    """Record a failed job in the audit trail and on the job."""
    try:
        await asyncio.to_thread(core.refuse, context, FEATURE, status, message, inputs)
    finally:
        await asyncio.to_thread(fail_job, core.database_url, job_id, message)
