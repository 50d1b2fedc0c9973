"""Ingestion of CRM events: skip ids already applied, publish the rest with confirms.

Used by ``POST /api/ai/events`` and ``haste events replay``. An event whose id the consumers
already applied is reported as a duplicate and not published again; an event published twice
(two concurrent senders, a retry after a lost answer) is still applied once, by the
consumers' dedupe. "Accepted" means every published event was confirmed by the broker.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from haste.db.session import session_scope
from haste.db.stream_tables import StreamEvent
from streaming.broker import RabbitBroker
from streaming.config import StreamingConfig
from streaming.events import CRMEvent


def applied_event_ids(database_url: str, event_ids: Sequence[str]) -> set[str]:
    """Return which of these event ids the consumers already applied."""
    if not event_ids:
        return set()
    with session_scope(database_url) as session:
        return set(
            session.scalars(
                select(StreamEvent.event_id).where(StreamEvent.event_id.in_(list(event_ids)))
            )
        )


class EventIngestor:
    """Publish batches of events (one broker connection, opened on first use).

    Args:
        broker_url: AMQP URL.
        config: The engine's configuration.
        database_url: Where applied event ids are recorded.
    """

    def __init__(self, broker_url: str, config: StreamingConfig, database_url: str) -> None:
        self.broker = RabbitBroker(broker_url, config)
        self.config = config
        self.database_url = database_url

    async def ingest(self, events: Sequence[CRMEvent]) -> dict[str, Any]:
        """Publish the events not applied yet; return what was accepted.

        Raises:
            BrokerUnavailableError: When the broker is down or does not confirm in time
                (nothing is reported accepted; the sender retries the whole batch).
        """
        ids = [event.event_id for event in events]
        done = await asyncio.to_thread(applied_event_ids, self.database_url, ids)
        fresh, seen, duplicates = [], set(done), []
        for event in events:  # an id applied before, or repeated in the batch, is sent once
            if event.event_id in seen:
                duplicates.append(event.event_id)
            else:
                seen.add(event.event_id)
                fresh.append(event)
        published: dt.datetime | None = None
        if fresh:
            published = await self.broker.publish_events(fresh)
        partitions = Counter(event.partition(self.config.broker.partitions) for event in fresh)
        return {
            "accepted": len(fresh),
            "duplicates": duplicates,
            "published_at": published,
            "partitions": {str(p): n for p, n in sorted(partitions.items())},
        }

    async def close(self) -> None:
        """Close the broker connection."""
        await self.broker.close()
