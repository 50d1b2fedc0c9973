"""``EventConsumer``: the rescoring consumers of the real-time engine as a Ray Serve deployment.

Thin: each replica runs a :class:`streaming.service.StreamService` (framework-free) on its
event loop. Its replica rank picks the partitions it consumes first; ``num_replicas`` in
``configs/serve.yaml`` (``consumers.replicas`` of ``configs/streaming.yaml`` by default)
scales the consumers. Ray Serve restarts a replica whose consumer died (``check_health``), and
on a graceful shutdown the current batch finishes before the replica goes. Replica 0 also
runs the workflow poller (:mod:`workflows.poller`): the workflows fire on the events and band
crossings the consumers committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from ray import serve

from haste.settings import Settings
from serving.config import ServeConfig

if TYPE_CHECKING:
    from streaming.service import StreamService

logger = logging.getLogger("ray.serve")

#: Deployment name (also in ``configs/serve.yaml``).
CONSUMER_DEPLOYMENT = "EventConsumer"


@serve.deployment(name=CONSUMER_DEPLOYMENT, ray_actor_options={"num_cpus": 0.25})
class EventConsumer:
    """Consume CRM events, rescore the contacts, publish band crossings."""

    async def __init__(self, config: ServeConfig) -> None:
        from streaming.config import load_streaming_config
        from streaming.service import StreamService
        from training.registry import NoChampionError

        settings = Settings(**config.settings)
        context = serve.get_replica_context()
        rank = context.rank.rank if context.rank is not None else 0
        streaming = load_streaming_config(namespace=settings.stream_namespace)
        self.service: StreamService | None = None
        self.workflows: asyncio.Task | None = None
        self.workflows_stop = asyncio.Event()
        if rank == 0:
            from workflows.poller import run_poller

            self.workflows = asyncio.create_task(
                run_poller(settings.database_url, self.workflows_stop), name="workflow-poller"
            )
        try:
            self.service = StreamService(settings, streaming, rank, max(context.world_size, 1))
        except NoChampionError as error:  # nothing to rescore with: serve the rest anyway
            logger.warning("event consumer idle: %s", error)
            return
        self.service.start()

    def check_health(self) -> None:
        """Fail the health check when the consumer loop stopped (Ray Serve restarts us)."""
        if self.service is not None and not self.service.healthy():
            raise RuntimeError("the event consumer loop stopped")

    def stats(self) -> dict[str, Any]:
        """Return this replica's rank and running totals (empty when idle)."""
        if self.service is None:
            return {}
        return {"rank": self.service.rank, **self.service.consumer.stats.as_dict()}

    async def __del__(self) -> None:
        """Finish the current batch and close the broker connection."""
        if self.workflows is not None:
            self.workflows_stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.workflows, timeout=10)
        if self.service is not None:
            await self.service.close()
