"""Where the stream stands: queue depths, dead letters, consumer lag, recent alerts.

Shown by ``haste events status`` and ``GET /api/ai/events/status``. Queue depths come from the
broker (messages ready per queue, consumers attached); lag and throughput from the events the
consumers committed (``stream_events``: publish time -> commit time).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import numpy as np
from sqlalchemy import func, select

from haste.db.models import as_utc
from haste.db.session import session_scope
from haste.db.stream_tables import ScoreChange, StreamEvent
from streaming.broker import RabbitBroker


def processing_figures(database_url: str, recent: int = 1000) -> dict[str, Any]:
    """Return counts, last commit and the publish-to-commit latency of recent events."""
    now = dt.datetime.now(dt.UTC)
    with session_scope(database_url) as session:
        total = session.scalar(select(func.count()).select_from(StreamEvent)) or 0
        last_minute = session.scalar(
            select(func.count())
            .select_from(StreamEvent)
            .where(StreamEvent.processed_at >= now - dt.timedelta(minutes=1))
        )
        rows = session.execute(
            select(StreamEvent.published_at, StreamEvent.processed_at)
            .where(StreamEvent.published_at.is_not(None))
            .order_by(StreamEvent.processed_at.desc())
            .limit(recent)
        ).all()
        changes = session.scalar(select(func.count()).select_from(ScoreChange)) or 0
        crossings = session.scalar(
            select(func.count()).select_from(ScoreChange).where(ScoreChange.band_crossed.is_(True))
        )
        outcomes = dict(
            session.execute(
                select(StreamEvent.outcome, func.count()).group_by(StreamEvent.outcome)
            ).all()
        )
    lags = [
        (as_utc(done) - as_utc(sent)).total_seconds() * 1000 for sent, done in rows if sent and done
    ]
    last = as_utc(rows[0][1]) if rows else None
    return {
        "events_applied": int(total),
        "events_last_minute": int(last_minute or 0),
        "outcomes": {str(k): int(v) for k, v in outcomes.items()},
        "score_changes": int(changes),
        "band_crossings": int(crossings or 0),
        "last_commit": last.isoformat() if last else None,
        "lag_ms_p50": round(float(np.percentile(lags, 50)), 1) if lags else None,
        "lag_ms_p99": round(float(np.percentile(lags, 99)), 1) if lags else None,
    }


async def stream_status(broker: RabbitBroker, database_url: str) -> dict[str, Any]:
    """Return the queues, the consumers' figures and the recent alerts."""
    from streaming.monitor import recent_alerts

    queues = await broker.queue_stats()
    figures = await asyncio.to_thread(processing_figures, database_url)
    alerts = await asyncio.to_thread(recent_alerts, database_url, 10)
    config = broker.config
    partitions = {name: queues[name] for name in config.partition_queues()}
    return {
        "partitions": partitions,
        "queued": sum(q["ready"] for q in partitions.values()),
        "consumers": max((q["consumers"] for q in partitions.values()), default=0),
        "dead_letters": queues[config.name(config.broker.dead_letter_queue)]["ready"],
        "webhook_queue": queues[config.name(config.broker.webhook_queue)]["ready"],
        **figures,
        "alerts": alerts,
    }
