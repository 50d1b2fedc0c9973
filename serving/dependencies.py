"""FastAPI dependencies shared by the routers: the replica's core and call admission.

An admitted route declares what it needs as a parameter, e.g. ``context: Predict``: the key
is checked (401/403), the rate limit applied (429) and the request id read before the route
runs, and before its body is validated. A client-sent ``X-Request-ID`` is then claimed for this
caller, endpoint and body (:mod:`serving.idempotency`): a retry is answered from the record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from serving.core import GatewayCore
from serving.gateway import CallContext
from serving.idempotency import claim_request


async def get_core(request: Request) -> GatewayCore:
    """Return the replica's :class:`~serving.core.GatewayCore` (set by the app factory).

    ``async`` so FastAPI calls it on the loop: a plain ``def`` dependency runs in its thread
    pool, a hop to a worker thread and back for a dictionary read.
    """
    return request.app.state.core


def admitted(permission: str) -> Callable[..., CallContext]:
    """Return a dependency that admits a call needing ``permission``.

    Args:
        permission: See :data:`serving.auth.ROLE_PERMISSIONS`.
    """

    async def admit(
        request: Request, core: Annotated[GatewayCore, Depends(get_core)]
    ) -> CallContext:
        # A cached key and an in-memory limit: admit on the loop (stand-in cores: the pool).
        inline = getattr(core, "admits_inline", None)
        if inline is not None and inline(request.headers):
            context = core.admit(request.headers, permission)
        else:
            context = await run_in_threadpool(core.admit, request.headers, permission)
        request.state.call = context
        await claim_request(request, core.database_url, context)
        return context

    return admit


Core = Annotated[GatewayCore, Depends(get_core)]
Predict = Annotated[CallContext, Depends(admitted("predict"))]
LLM = Annotated[CallContext, Depends(admitted("llm"))]
Search = Annotated[CallContext, Depends(admitted("search"))]
Usage = Annotated[CallContext, Depends(admitted("usage"))]
Automate = Annotated[CallContext, Depends(admitted("automate"))]
Review = Annotated[CallContext, Depends(admitted("review"))]
