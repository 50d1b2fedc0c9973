"""The real-time engine's HTTP side: ``POST /api/ai/events``, ``GET /api/ai/events/status``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from serving.dependencies import Core, Predict, Usage
from serving.errors import ERROR_RESPONSES
from serving.idempotency import IdempotentRoute
from streaming.events import EventBatch

router = APIRouter(route_class=IdempotentRoute, tags=["events"], responses=ERROR_RESPONSES)


class EventsAccepted(BaseModel):
    """What ``POST /api/ai/events`` accepted."""

    accepted: int = Field(description="Events published (confirmed by the broker).")
    duplicates: list[str] = Field(
        description="Event ids already applied, or repeated in the batch: not published again."
    )
    published_at: dt.datetime | None = Field(description="Publish time (None: nothing new).")
    partitions: dict[str, int] = Field(description="Published events per partition queue.")


def get_ingestor(request: Request) -> Any:
    """Return the replica's event ingestor (made on first use)."""
    state = request.app.state
    if getattr(state, "ingestor", None) is None:
        from streaming.config import load_streaming_config
        from streaming.ingest import EventIngestor

        core = state.core
        config = load_streaming_config(namespace=core.settings.stream_namespace)
        state.ingestor = EventIngestor(core.settings.broker_url, config, core.database_url)
    return state.ingestor


@router.post("/api/ai/events", status_code=202, response_model=EventsAccepted)
async def ingest_events(
    core: Core, context: Predict, batch: EventBatch, request: Request
) -> EventsAccepted:
    """Publish a batch of CRM events to the real-time scoring engine (202: confirmed).

    Each event rescores its contact within moments: the consumers update its online features,
    rescore it at its A/B variant and store a new lead score with "changed because" when the
    score moves. Event ids make this idempotent: an id already applied is a duplicate, and an
    id sent twice is applied once. A broker that is down is a 503 (nothing was accepted).
    """
    answer = await get_ingestor(request).ingest(batch.to_events())
    await core.record(
        [
            context.interaction(
                "events_ingest",
                {"events": len(batch.events), "event_ids": [e.event_id for e in batch.events][:20]},
                {**answer, "published_at": str(answer["published_at"])},
                None,
            )
        ]
    )
    return EventsAccepted(**answer)


@router.get("/api/ai/events/status")
async def events_status(core: Core, context: Usage, request: Request) -> dict[str, Any]:
    """Queue depth per partition, dead-letter queue size, consumer lag and recent alerts."""
    from streaming.status import stream_status

    ingestor = get_ingestor(request)
    return await stream_status(ingestor.broker, core.database_url)
