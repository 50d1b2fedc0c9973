"""The rescoring consumer: partition queues -> batches -> :class:`EventProcessor` -> acks.

One consumer (one Ray Serve replica of ``EventConsumer``, or ``haste events consume``)
subscribes first to its own partitions (``p % world_size == rank``) and, after
``standby_delay_s``, to every other one as a standby: each partition queue has a single
active consumer, so its events are processed in order by one consumer, and when that one dies
the broker hands its queues to a standby.

Messages are acknowledged only after their batch is committed (at-least-once delivery), and
the processor's dedupe on ``event_id`` makes a redelivery change nothing (exactly-once
effects). A batch that fails (database down) is retried in place with backoff, never
dead-lettered; a malformed event or an event of an unknown contact is dead-lettered with its
reason and acknowledged, so it never blocks its queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from streaming.broker import RabbitBroker, published_at
from streaming.config import StreamingConfig
from streaming.events import MalformedEventError, parse_events
from streaming.processor import (
    BatchOutcome,
    Delivery,
    EventProcessor,
    mark_notified,
    unnotified_crossings,
)

logger = logging.getLogger("haste.streaming")

#: Longest wait between two retries of a failing batch.
MAX_RETRY_S = 10.0


@dataclass
class ConsumerStats:
    """Running totals of one consumer (logged, and returned by the deployment)."""

    batches: int = 0
    applied: int = 0
    scored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    crossings: int = 0
    retries: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, outcome: BatchOutcome, dead: int) -> None:
        """Add a batch's outcome."""
        self.batches += 1
        self.applied += outcome.applied
        self.scored += outcome.scored
        self.duplicates += outcome.duplicates
        self.dead_lettered += dead
        self.crossings += len(outcome.crossings)

    def as_dict(self) -> dict[str, Any]:
        """Return the totals (JSON-ready)."""
        return {
            "batches": self.batches,
            "applied": self.applied,
            "scored": self.scored,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
            "crossings": self.crossings,
            "retries": self.retries,
            "uptime_s": round(time.monotonic() - self.started, 1),
        }


async def acknowledge(messages: list[AbstractIncomingMessage]) -> None:
    """Acknowledge a batch: one ``multiple`` ack per channel, on its latest delivery.

    A channel delivers in order and batches are applied in order, so every earlier delivery of
    the channel is in this batch or an earlier one (already applied). A failed ack (channel
    closed by a reconnect) is harmless: the broker redelivers, the dedupe holds.
    """
    latest: dict[int, AbstractIncomingMessage] = {}
    for message in messages:
        key = id(message.channel)
        if key not in latest or message.delivery_tag > latest[key].delivery_tag:
            latest[key] = message
    for message in latest.values():
        try:
            await message.ack(multiple=True)
        except Exception:
            logger.warning("ack failed (channel closed); these events will be redelivered")


def own_partitions(partitions: int, rank: int, world_size: int) -> tuple[list[int], list[int]]:
    """Split the partitions into this consumer's own ones and the standby ones."""
    world_size = max(world_size, 1)
    own = [p for p in range(partitions) if p % world_size == rank % world_size]
    return own, [p for p in range(partitions) if p not in own]


class StreamConsumer:
    """Consume the partition queues and apply the events in batches.

    Args:
        broker: A (not yet connected) broker.
        processor: Applies batches.
        config: The engine's configuration.
        rank: This consumer's index among ``world_size`` consumers.
        world_size: Number of consumers.
    """

    def __init__(
        self,
        broker: RabbitBroker,
        processor: EventProcessor,
        config: StreamingConfig,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.broker = broker
        self.processor = processor
        self.config = config
        self.rank, self.world_size = rank, world_size
        self.buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self.stats = ConsumerStats()
        # batches run on a thread of their own: never queued behind other blocking work of the
        # process (webhook DNS lookups, say) in the loop's default executor
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="stream-batches")

    async def _enqueue(self, message: AbstractIncomingMessage) -> None:
        """Buffer a delivered message (the batch loop takes it)."""
        await self.buffer.put(message)

    async def start(self) -> None:
        """Connect, publish crossings left unpublished by a crash, subscribe to own queues."""
        await self.broker.connect()
        await self.flush_outbox()
        own, standby = own_partitions(self.config.broker.partitions, self.rank, self.world_size)
        consumers = self.config.consumers
        queues = self.config.partition_queues()
        await self.broker.consume([queues[p] for p in own], self._enqueue, consumers.prefetch, 10)
        logger.info(
            "consumer %d/%d: partitions %s (standby for %s)",
            self.rank,
            self.world_size,
            own,
            standby,
        )
        if standby:
            await asyncio.sleep(consumers.standby_delay_s)
            await self.broker.consume(
                [queues[p] for p in standby], self._enqueue, consumers.prefetch, 0
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, then finish the current batch and close.

        A broker that is down at start is retried (every few seconds, logged); once connected,
        the robust connection reconnects and re-subscribes by itself.
        """
        starter = asyncio.create_task(self._start_when_reachable(stop))
        try:
            while not stop.is_set():
                batch = await self._next_batch(stop)
                if batch:
                    await self.handle(batch, stop)
        finally:
            starter.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starter
            await self.broker.close()
            logger.info("consumer %d stopped: %s", self.rank, self.stats.as_dict())

    async def _start_when_reachable(self, stop: asyncio.Event) -> None:
        """Call :meth:`start` until it succeeds (the broker may be down)."""
        wait = 1.0
        while not stop.is_set():
            try:
                await self.start()
                return
            except Exception as error:
                logger.warning(
                    "consumer %d cannot start (%s); retrying in %.0fs", self.rank, error, wait
                )
                await self.broker.close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                wait = min(wait * 2, MAX_RETRY_S)

    async def _next_batch(self, stop: asyncio.Event) -> list[AbstractIncomingMessage]:
        """Wait for a message, then take what else is buffered (up to ``max_batch``)."""
        consumers = self.config.consumers
        try:
            first = await asyncio.wait_for(self.buffer.get(), timeout=0.5)
        except TimeoutError:
            return []
        batch = [first]
        deadline = time.monotonic() + consumers.max_wait_ms / 1000
        while len(batch) < consumers.max_batch:
            try:
                batch.append(self.buffer.get_nowait())
            except asyncio.QueueEmpty:
                left = deadline - time.monotonic()
                if left <= 0 or stop.is_set():
                    break
                try:
                    batch.append(await asyncio.wait_for(self.buffer.get(), timeout=left))
                except TimeoutError:
                    break
        return batch

    async def handle(self, messages: list[AbstractIncomingMessage], stop: asyncio.Event) -> None:
        """Parse, apply (retrying failures), dead-letter, publish crossings, acknowledge."""
        deliveries, raws, dead = [], [], 0
        for message in messages:
            try:
                items = parse_events(message.body)
            except MalformedEventError as error:
                await self.broker.dead_letter(message.body, str(error), message.routing_key or "")
                dead += 1
                continue
            sent = published_at(message)
            for raw, item in items:
                if isinstance(item, MalformedEventError):
                    await self.broker.dead_letter(raw, str(item), message.routing_key or "")
                    dead += 1
                else:
                    deliveries.append(Delivery(item, sent))
                    raws.append(raw)
        outcome = await self._process(deliveries, stop)
        if outcome is None:  # stopping while the database is down: leave them to a redelivery
            for message in messages:
                with contextlib.suppress(Exception):
                    await message.nack(requeue=True)
            return
        for index, reason in outcome.dead.items():
            await self.broker.dead_letter(raws[index], reason, "consumer")
            dead += 1
        await self._publish_crossings(outcome.crossings)
        self.stats.add(outcome, dead)
        for message in messages:
            try:
                await message.ack()
            except Exception:
                logger.warning("ack failed (channel closed); the event will be redelivered")

    async def _process(
        self, deliveries: list[Delivery], stop: asyncio.Event
    ) -> BatchOutcome | None:
        """Apply a batch in a worker thread, retrying with backoff until it commits."""
        wait = 0.25
        while True:
            try:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self.executor, self.processor.process, deliveries)
            except Exception as error:
                self.stats.retries += 1
                logger.warning(
                    "batch of %d failed (%s); retrying in %.1fs", len(deliveries), error, wait
                )
                if stop.is_set():
                    return None
                await asyncio.sleep(wait)
                wait = min(wait * 2, MAX_RETRY_S)

    async def _publish_crossings(self, crossings: list[dict[str, Any]]) -> None:
        """Publish band crossings to the outbound exchange, then set their outbox mark."""
        if not crossings:
            return
        try:
            await asyncio.gather(*(self.broker.publish_change(c) for c in crossings))
        except Exception as error:
            logger.warning("publishing %d score changes failed: %s", len(crossings), error)
            return
        await asyncio.to_thread(
            mark_notified, self.processor.database_url, [c["change_id"] for c in crossings]
        )

    async def flush_outbox(self) -> int:
        """Publish band crossings committed but never published (a crash between the two)."""
        pending = await asyncio.to_thread(unnotified_crossings, self.processor.database_url)
        await self._publish_crossings(pending)
        if pending:
            logger.info("published %d score changes left in the outbox", len(pending))
        return len(pending)
