"""The message broker behind one small interface: RabbitMQ through aio-pika.

Topology (names prefixed with the namespace, ``haste.`` by default; declared idempotently by
every publisher and consumer):

* ``events`` (direct exchange) routes each event by its partition (``crc32(contact) % N``) to
  one of N durable **quorum queues** ``events.0 .. events.N-1``. Each queue has a **single
  active consumer**, so a contact's events are consumed in order by one consumer at a time;
  the other consumers wait as standbys and the broker hands the queue over when the active one
  dies. Quorum queues are replicated and survive a broker restart; ``x-delivery-limit``
  dead-letters a message redelivered too often (a poison message never blocks its queue).
* ``events.dlx`` (fanout) -> ``events.dlq`` (quorum): malformed events and events of unknown
  contacts, each with its reason in the ``x-haste-reason`` header.
* ``score_changes`` (fanout): band crossings, consumed by the webhook queue ``webhooks``
  (quorum) and by anyone else who binds a queue (e.g. a Kafka bridge or a BI sink).

Every publish waits for the broker's **publisher confirm** (and is ``mandatory``: an
unroutable message is an error, not a silent drop), so "accepted" means "on disk in a quorum".

The interface (:class:`EventBroker`) is what the API, the consumers and the CLI use. A Kafka
deployment implements the same methods: partition queues become a topic's partitions (key =
contact id), the single active consumer becomes a consumer group, confirms become
``acks=all``, the dead-letter queue a ``.dlq`` topic; see the README.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)

from streaming.config import StreamingConfig
from streaming.events import CRMEvent

logger = logging.getLogger("haste.streaming")

#: Header holding the publish time (ISO-8601 UTC, microseconds), for latency measurement.
PUBLISHED_AT_HEADER = "x-haste-published-at"
#: Header holding why a message was dead-lettered.
REASON_HEADER = "x-haste-reason"
#: Redeliveries after which the broker dead-letters a message by itself.
DELIVERY_LIMIT = 50

MessageHandler = Callable[[AbstractIncomingMessage], Awaitable[None]]


class BrokerUnavailableError(ConnectionError):
    """The broker could not be reached or did not confirm a publish in time."""


class EventBroker(Protocol):
    """What the platform needs of a broker (RabbitMQ here; Kafka implements the same)."""

    async def connect(self) -> None:
        """Connect and declare the topology."""

    async def close(self) -> None:
        """Close the connection."""

    async def publish_events(self, events: Sequence[CRMEvent]) -> dt.datetime:
        """Publish events to their partitions; return once every one is confirmed."""

    async def publish_change(self, message: dict[str, Any]) -> None:
        """Publish a score change to the outbound exchange (confirmed)."""

    async def dead_letter(self, body: bytes, reason: str, source: str) -> None:
        """Put a message on the dead-letter queue with its reason (confirmed)."""

    async def queue_stats(self) -> dict[str, dict[str, int]]:
        """Return ready messages and consumers per queue."""


def _quorum(**extra: Any) -> dict[str, Any]:
    """Return the arguments of a durable quorum queue."""
    return {"x-queue-type": "quorum", **extra}


class RabbitBroker:
    """:class:`EventBroker` on RabbitMQ (aio-pika, robust connection: reconnects by itself).

    Args:
        url: AMQP URL.
        config: The engine's configuration (names, partitions, timeouts).
    """

    def __init__(self, url: str, config: StreamingConfig) -> None:
        self.url = url
        self.config = config
        self.connection: AbstractRobustConnection | None = None
        self.channel: AbstractChannel | None = None
        self.exchanges: dict[str, AbstractExchange] = {}
        self._connecting: asyncio.Lock | None = None

    async def ensure_connected(self) -> None:
        """Connect once, however many publishers ask at the same time.

        Concurrent publishes must share one channel: messages of one channel keep their order,
        messages of several channels do not (a contact's events would overtake each other).
        """
        if self.exchanges:
            return
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if not self.exchanges:
                await self.connect()

    async def connect(self) -> None:
        """Connect (robustly) and declare the topology on a confirming channel.

        Raises:
            BrokerUnavailableError: When the broker cannot be reached.
        """
        try:
            self.connection = await aio_pika.connect_robust(self.url, timeout=5)
            self.channel = await self.connection.channel(publisher_confirms=True)
            self.exchanges = await declare_topology(self.channel, self.config)
        except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as error:
            await self.close()
            raise BrokerUnavailableError(
                f"broker unreachable at {self._safe_url}: {error}"
            ) from error

    @property
    def _safe_url(self) -> str:
        """Return the URL without its password (for messages)."""
        head, _, tail = self.url.rpartition("@")
        return f"amqp://***@{tail}" if head else self.url

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        if self.connection is not None:
            try:
                await self.connection.close()
            except Exception:
                logger.debug("closing the broker connection failed", exc_info=True)
        self.connection, self.channel, self.exchanges = None, None, {}

    async def _publish(self, exchange: str, message: aio_pika.Message, key: str) -> None:
        """Publish one message and wait for its confirm."""
        await self.ensure_connected()
        try:
            await self.exchanges[exchange].publish(
                message,
                routing_key=key,
                mandatory=True,
                timeout=self.config.broker.publish_timeout_s,
            )
        except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as error:
            raise BrokerUnavailableError(f"publish to {exchange} not confirmed: {error}") from error

    async def publish_events(self, events: Sequence[CRMEvent]) -> dt.datetime:
        """Publish events (persistent, mandatory) and wait for every confirm.

        The events of one partition travel in one message, in their order (a JSON array), as a
        Kafka producer batches the records of a partition: one confirm, one delivery and one
        acknowledgement per partition and call instead of per event.

        Returns:
            The publish time written in each message's header.

        Raises:
            BrokerUnavailableError: When a publish is not confirmed.
        """
        await self.ensure_connected()
        now = dt.datetime.now(dt.UTC)
        by_partition: dict[int, list[CRMEvent]] = {}
        for event in events:
            by_partition.setdefault(event.partition(self.config.broker.partitions), []).append(
                event
            )
        await asyncio.gather(
            *(
                self._publish(
                    "events",
                    aio_pika.Message(
                        encode_events(group),
                        message_id=group[0].event_id,
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        headers={
                            PUBLISHED_AT_HEADER: now.isoformat(),
                            "x-haste-events": len(group),
                        },
                    ),
                    str(partition),
                )
                for partition, group in sorted(by_partition.items())
            )
        )
        return now

    async def publish_change(self, message: dict[str, Any]) -> None:
        """Publish a score change (JSON) to the outbound exchange."""
        import json

        await self._publish(
            "changes",
            aio_pika.Message(
                json.dumps(message).encode(),
                message_id=message["change_id"],
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                type=message["type"],
            ),
            "",
        )

    async def dead_letter(self, body: bytes, reason: str, source: str) -> None:
        """Publish a message to the dead-letter exchange with its reason."""
        await self._publish(
            "dlx",
            aio_pika.Message(
                body,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                headers={REASON_HEADER: reason[:500], "x-haste-source": source},
            ),
            "",
        )

    async def consume(
        self,
        queues: Sequence[str],
        handler: MessageHandler,
        prefetch: int,
        priority: int = 0,
    ) -> AbstractChannel:
        """Start consuming queues on a new channel (restored after a reconnect).

        Args:
            queues: Queue names (declared by the topology).
            handler: Called with each message (it acknowledges it).
            prefetch: Unacknowledged messages allowed on the channel.
            priority: Consumer priority (RabbitMQ 3.13+ prefers it for single active consumer).

        Returns:
            The consuming channel.
        """
        await self.ensure_connected()
        assert self.connection is not None
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        for name in queues:
            queue = await channel.get_queue(name, ensure=True)
            await queue.consume(handler, arguments={"x-priority": priority})
        return channel

    async def queue_stats(self) -> dict[str, dict[str, int]]:
        """Return ``{queue: {"ready": n, "consumers": n}}`` for every queue of the topology."""
        await self.ensure_connected()
        assert self.connection is not None
        names = [
            *self.config.partition_queues(),
            self.config.name(self.config.broker.dead_letter_queue),
            self.config.name(self.config.broker.webhook_queue),
        ]
        stats = {}
        async with self.connection.channel() as channel:
            for name in names:
                queue = await channel.declare_queue(name, passive=True)
                result = queue.declaration_result
                stats[name] = {"ready": result.message_count, "consumers": result.consumer_count}
        return stats


async def declare_topology(
    channel: AbstractChannel, config: StreamingConfig
) -> dict[str, AbstractExchange]:
    """Declare the exchanges and queues (idempotent) and return the exchanges by role.

    Returns:
        ``{"events", "dlx", "changes"}`` exchanges.
    """
    broker = config.broker
    dlx = await channel.declare_exchange(
        config.name(broker.dead_letter_exchange), aio_pika.ExchangeType.FANOUT, durable=True
    )
    dlq = await channel.declare_queue(
        config.name(broker.dead_letter_queue), durable=True, arguments=_quorum()
    )
    await dlq.bind(dlx)
    events = await channel.declare_exchange(
        config.name(broker.events_exchange), aio_pika.ExchangeType.DIRECT, durable=True
    )
    for partition in range(broker.partitions):
        queue = await channel.declare_queue(
            config.partition_queue(partition),
            durable=True,
            arguments=_quorum(
                **{
                    "x-single-active-consumer": True,
                    "x-dead-letter-exchange": dlx.name,
                    "x-delivery-limit": DELIVERY_LIMIT,
                }
            ),
        )
        await queue.bind(events, routing_key=str(partition))
    changes = await channel.declare_exchange(
        config.name(broker.changes_exchange), aio_pika.ExchangeType.FANOUT, durable=True
    )
    hooks = await channel.declare_queue(
        config.name(broker.webhook_queue), durable=True, arguments=_quorum()
    )
    await hooks.bind(changes)
    return {"events": events, "dlx": dlx, "changes": changes}


def encode_events(events: Sequence[CRMEvent]) -> bytes:
    """Return the body of a message carrying events (a JSON array, in order)."""
    return b"[" + b",".join(event.to_message() for event in events) + b"]"


def published_at(message: AbstractIncomingMessage) -> dt.datetime | None:
    """Return a message's publish time (``None`` when it has none or it is unreadable)."""
    raw = (message.headers or {}).get(PUBLISHED_AT_HEADER)
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else str(raw))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def delete_topology(url: str, config: StreamingConfig) -> None:
    """Delete the namespace's queues and exchanges (tests and ``haste events reset``)."""
    connection = await aio_pika.connect(url, timeout=5)
    async with connection:
        channel = await connection.channel()
        broker = config.broker
        for name in [
            *config.partition_queues(),
            config.name(broker.dead_letter_queue),
            config.name(broker.webhook_queue),
        ]:
            await channel.queue_delete(name)
        for name in (broker.events_exchange, broker.dead_letter_exchange, broker.changes_exchange):
            await channel.exchange_delete(config.name(name))
