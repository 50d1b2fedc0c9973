"""Idempotent HTTP requests: ``X-Request-ID`` replays bound to caller, endpoint and body.

Admission (:mod:`serving.dependencies`) calls :func:`claim_request` once the caller is known:
a replay raises :class:`ReplayedAnswer` (answered by :func:`answer_replay` with the recorded
status and body and ``Idempotent-Replayed: true``), a reuse for another request is a 422, a
retry while the first request runs a 409. :class:`IdempotentRoute` then records the route's
answer under the key when it is final (any status below 500), or releases the key after a 5xx
so the client's retry runs for real. The store is :mod:`haste.idempotency`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from haste.idempotency import (
    Claim,
    IdempotencyConflict,
    RecordedAnswer,
    claim_key,
    complete_key,
    fingerprint_request,
    prune_keys,
    release_key,
)
from serving.errors import ApiError
from serving.gateway import CallContext

logger = logging.getLogger("ray.serve")

REPLAYED_HEADER = "Idempotent-Replayed"
#: Expired keys are deleted this often (per replica).
PRUNE_EVERY_S = 600.0


class ReplayedAnswer(Exception):
    """Raised by admission when the request was answered before: answer it the same way."""

    def __init__(self, answer: RecordedAnswer, request_id: str) -> None:
        super().__init__(answer.status_code)
        self.answer = answer
        self.request_id = request_id


async def claim_request(request: Request, database_url: str, context: CallContext) -> None:
    """Claim the client's request id for this request, or replay/refuse it.

    Args:
        request: The admitted request (its body is already read by FastAPI).
        database_url: Database holding ``idempotency_keys``.
        context: The admitted call (a client-sent request id makes it idempotent).

    Raises:
        ReplayedAnswer: The same request was answered before.
        ApiError: 422 (the id named another request) or 409 (it is still running).
    """
    if not context.client_request_id:
        return
    scope = str(context.principal.api_key_id or "anonymous")
    body = await request.body()
    fingerprint = fingerprint_request(request.method, request.url.path, request.url.query, body)
    endpoint = f"{request.method} {request.url.path}"
    try:
        outcome = await asyncio.to_thread(
            claim_key,
            database_url,
            scope,
            context.request_id,
            fingerprint,
            endpoint,
            replica_owner(),
            owner_alive,
        )
    except IdempotencyConflict as conflict:
        headers = {"Retry-After": "1"} if conflict.status_code == 409 else None
        raise ApiError(conflict.status_code, conflict.message, headers) from conflict
    if isinstance(outcome, RecordedAnswer):
        raise ReplayedAnswer(outcome, context.request_id)
    request.state.idempotency = (database_url, outcome)
    await prune_now_and_then(database_url)


_last_prune: dict[str, float] = {}


async def prune_now_and_then(database_url: str) -> None:
    """Delete expired keys at most every :data:`PRUNE_EVERY_S` per database and process."""
    now = time.monotonic()
    if now - _last_prune.get(database_url, -PRUNE_EVERY_S) < PRUNE_EVERY_S:
        return
    _last_prune[database_url] = now
    try:
        pruned = await asyncio.to_thread(prune_keys, database_url)
    except Exception:  # pruning is housekeeping: never fail a request over it
        logger.warning("could not prune idempotency keys", exc_info=True)
        return
    if pruned:
        logger.info("pruned %d expired idempotency keys", pruned)


def replica_owner() -> str:
    """Return who runs this request: the replica's Ray actor id (else host and process)."""
    try:
        import ray

        actor = ray.get_runtime_context().get_actor_id()
        if actor:
            return f"actor:{actor}"
    except Exception:  # outside Ray
        pass
    return f"pid:{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str) -> bool:
    """Return whether a claim's owner still runs (a dead replica's claims are taken over).

    Unknown owners count as alive: their claims then wait for the lease, never run twice.
    """
    if not owner.startswith("actor:"):
        return True
    try:
        from ray._private import state

        return state.actors(owner.removeprefix("actor:")).get("State") != "DEAD"
    except Exception:  # not in Ray, or Ray's internal API moved: rely on the lease
        return True


async def answer_replay(request: Request, replay: ReplayedAnswer) -> Response:
    """Answer a replayed request with its recorded status and body."""
    return Response(
        content=replay.answer.body,
        status_code=replay.answer.status_code,
        media_type="application/json",
        headers={REPLAYED_HEADER: "true", "X-Request-ID": replay.request_id},
    )


async def settle(request: Request, status_code: int, body: str | None) -> None:
    """Record the answer under the request's claimed key (or release it after a 5xx)."""
    held: tuple[str, Claim] | None = getattr(request.state, "idempotency", None)
    if held is None:
        return
    request.state.idempotency = None
    url, claim = held
    try:
        if status_code >= 500 or body is None:
            await asyncio.to_thread(release_key, url, claim)
        else:
            await asyncio.to_thread(complete_key, url, claim, status_code, body)
    except Exception:  # the answer stands; the key expires after its lease
        logger.warning("could not settle request id %s", claim.key, exc_info=True)


class IdempotentRoute(APIRoute):
    """A route that records its answer under the caller's ``X-Request-ID`` (see module)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler: settle the claimed key with the final answer."""
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except HTTPException as error:
                body = json.dumps({"detail": error.detail})
                await settle(request, error.status_code, body)
                raise
            except BaseException:
                await settle(request, 500, None)
                raise
            if isinstance(response, JSONResponse) or response.media_type == "application/json":
                await settle(request, response.status_code, bytes(response.body).decode())
            else:
                await settle(request, 500, None)  # streamed answers are not replayed
            return response

        return handle


__all__ = ["REPLAYED_HEADER", "IdempotentRoute", "ReplayedAnswer", "answer_replay", "claim_request"]
