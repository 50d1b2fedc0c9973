"""Wiring of the engine's long-running parts, shared by Ray Serve and the CLI.

:func:`build_consumer` makes a :class:`~streaming.consumer.StreamConsumer` from the platform
settings (MLflow models, Feast store, database, broker); :class:`StreamService` runs it with,
on the first consumer only, the webhook intake (change messages -> deliveries), the webhook
dispatcher and the streaming monitor. The ``EventConsumer`` deployment
(:mod:`serving.stream_consumer`) and ``haste events consume`` both run a StreamService.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from haste.settings import Settings
from streaming.broker import RabbitBroker
from streaming.config import StreamingConfig
from streaming.consumer import StreamConsumer
from streaming.online_state import OnlineWriter
from streaming.processor import EventProcessor
from streaming.rescoring import StreamScorer

logger = logging.getLogger("haste.streaming")


def build_consumer(
    settings: Settings, config: StreamingConfig, rank: int = 0, world_size: int = 1
) -> StreamConsumer:
    """Return a consumer over the registered models, the Feast store and the broker.

    Raises:
        NoChampionError: When the lead model has no champion yet.
    """
    import mlflow

    from features.store import get_store

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    scorer = StreamScorer(settings.database_url, config.scoring.model_name)
    scorer.refresh()
    store = get_store(settings)
    writer = OnlineWriter(store).start()
    processor = EventProcessor(settings.database_url, store, scorer, config, writer)
    return StreamConsumer(
        RabbitBroker(settings.broker_url, config), processor, config, rank, world_size
    )


async def take_changes_for_webhooks(
    broker: RabbitBroker, database_url: str, prefetch: int = 64
) -> None:
    """Consume the webhook queue: each band crossing becomes one delivery per webhook."""
    from streaming.webhooks import enqueue_deliveries

    async def on_change(message: Any) -> None:
        try:
            payload = json.loads(message.body)
        except ValueError:
            await message.reject(requeue=False)
            return
        await asyncio.to_thread(enqueue_deliveries, database_url, payload)
        await message.ack()

    queue = broker.config.name(broker.config.broker.webhook_queue)
    await broker.consume([queue], on_change, prefetch)


class StreamService:
    """A consumer and, on rank 0, the webhook intake, dispatcher and monitor.

    Args:
        settings: Platform settings.
        config: The engine's configuration.
        rank: This service's index among ``world_size``.
        world_size: Number of services (Ray Serve replicas).
    """

    def __init__(
        self, settings: Settings, config: StreamingConfig, rank: int = 0, world_size: int = 1
    ) -> None:
        self.settings, self.config = settings, config
        self.rank, self.world_size = rank, world_size
        self.consumer = build_consumer(settings, config, rank, world_size)
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task] = []

    def start(self) -> None:
        """Start the loops as tasks of the running event loop."""
        self.tasks.append(asyncio.create_task(self.consumer.run(self.stop), name="consumer"))
        if self.rank == 0:
            self.tasks.extend(
                asyncio.create_task(self._guard(name, factory), name=name)
                for name, factory in self._side_loops().items()
            )

    def _side_loops(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Return the rank-0 loops (each restarted after a failure)."""
        from streaming.monitor import StreamMonitor
        from streaming.webhooks import WebhookDispatcher

        url = self.settings.database_url
        intake = RabbitBroker(self.settings.broker_url, self.config)

        async def webhook_intake() -> None:
            await take_changes_for_webhooks(intake, url)
            await self.stop.wait()
            await intake.close()

        dispatcher = WebhookDispatcher(url, self.config.webhooks)
        monitor = StreamMonitor.from_registry(
            url, self.config.scoring.model_name, data_dir=self.settings.data_dir
        )
        return {
            "webhook-intake": webhook_intake,
            "webhook-dispatcher": lambda: dispatcher.run(self.stop),
            "stream-monitor": lambda: monitor.run(self.stop),
        }

    async def _guard(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Run a loop until stopped; log and restart it (after 5 s) when it fails."""
        while not self.stop.is_set():
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s failed; restarting in 5 s", name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=5)

    def healthy(self) -> bool:
        """Return whether the consumer loop is still running."""
        return bool(self.tasks) and not self.tasks[0].done()

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop every loop (the current batch finishes) and wait for them."""
        self.stop.set()
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
        writer = self.consumer.processor.writer
        if writer is not None:
            await asyncio.to_thread(writer.close)  # the last features reach the online store
