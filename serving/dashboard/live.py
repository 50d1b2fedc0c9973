"""The dashboard's live feed of score changes: ``GET /dashboard/live`` (server-sent events).

Admitted like the other dashboard routes (:data:`serving.dashboard.router.Viewer`). The stream
starts with the latest score changes, then tails ``score_changes`` (one poll every
:data:`~streaming.live_feed.POLL_S` seconds), sends a keep-alive comment after
:data:`~streaming.live_feed.KEEPALIVE_S` seconds of silence and ends when the viewer leaves.
The queries and the event format are :mod:`streaming.live_feed`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from serving.dashboard.router import Viewer
from serving.errors import ERROR_RESPONSES
from streaming.live_feed import (
    KEEPALIVE,
    KEEPALIVE_S,
    POLL_S,
    RECENT_CHANGES,
    FeedCursor,
    change_event,
    changes_after,
    recent_changes,
)

#: Milliseconds a disconnected ``EventSource`` waits before reconnecting.
RETRY_MS = 3000

router = APIRouter(tags=["dashboard"], responses=ERROR_RESPONSES)


async def stream_changes(
    request: Request,
    database_url: str,
    poll_s: float = POLL_S,
    keepalive_s: float = KEEPALIVE_S,
) -> AsyncIterator[str]:
    """Yield the feed's events until the viewer disconnects.

    Args:
        request: The viewer's request (polled for a disconnect).
        database_url: Database holding ``score_changes``.
        poll_s: Seconds between polls.
        keepalive_s: Seconds of silence before a keep-alive comment.

    Yields:
        Server-sent event texts.
    """
    cursor = FeedCursor()
    yield f"retry: {RETRY_MS}\n\n"
    for message in await asyncio.to_thread(recent_changes, database_url, cursor, RECENT_CHANGES):
        yield change_event(message)
    last_sent = time.monotonic()
    while not await request.is_disconnected():
        messages = await asyncio.to_thread(changes_after, database_url, cursor)
        for message in messages:
            yield change_event(message)
        if messages:
            last_sent = time.monotonic()
        elif time.monotonic() - last_sent >= keepalive_s:
            yield KEEPALIVE
            last_sent = time.monotonic()
        await asyncio.sleep(poll_s)


@router.get("/dashboard/live", response_class=StreamingResponse)
async def live_feed(source: Viewer, request: Request) -> StreamingResponse:
    """Score changes as they happen (``text/event-stream``, ``event: score_change``)."""
    return StreamingResponse(
        stream_changes(request, source.database_url),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
