"""A look at the dead-letter queue without consuming it (messages are requeued)."""

from __future__ import annotations

import aio_pika

from streaming.broker import REASON_HEADER
from streaming.config import StreamingConfig


async def peek_dead_letters(url: str, config: StreamingConfig, limit: int = 20) -> list[dict]:
    """Return up to ``limit`` dead letters (reason, body); they stay on the queue.

    Messages are fetched unacknowledged and the channel is closed, so the broker requeues them.
    """
    connection = await aio_pika.connect(url, timeout=5)
    rows = []
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(config.name(config.broker.dead_letter_queue))
        for _ in range(limit):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            headers = message.headers or {}
            reason = headers.get(REASON_HEADER)
            if reason is None and headers.get("x-death"):
                reason = f"broker: {headers['x-death'][0].get('reason')}"
            rows.append(
                {
                    "reason": reason.decode() if isinstance(reason, bytes) else str(reason),
                    "body": message.body.decode(errors="replace"),
                }
            )
    return rows
