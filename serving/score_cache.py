"""Redis cache of the gateway: a contact's features and recent scores.

Keys embed the model version, so a promotion or rollback (new champion version) never serves a
stale score. Used only when Redis is configured (``HASTE_GATEWAY_CACHE=redis``); a Redis outage
degrades to uncached scoring with a warning, never to an error.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class ScoreCache(Protocol):
    """Get/set JSON documents with a time to live."""

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the cached document or None."""
        ...

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Store a document."""
        ...


class NullCache:
    """No caching (the default without Redis)."""

    def get(self, key: str) -> dict[str, Any] | None:
        """Return None: nothing is cached."""
        return None

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Do nothing."""


class RedisScoreCache:
    """JSON documents in Redis with a TTL.

    Args:
        url: Redis URL.
        prefix: Key prefix.
        ttl_s: Time to live of each entry.
    """

    def __init__(self, url: str, prefix: str = "haste:gateway", ttl_s: int = 300) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.prefix = prefix
        self.ttl_s = ttl_s

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the cached document (None on a miss or when Redis is unreachable)."""
        import redis

        try:
            raw = self.client.get(f"{self.prefix}:{key}")
        except redis.RedisError as error:
            logger.warning("score cache read failed (%s); scoring without cache", error)
            return None
        return None if raw is None else json.loads(raw)

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Store a document (a failure is logged, not raised)."""
        import redis

        try:
            self.client.set(f"{self.prefix}:{key}", json.dumps(value, default=str), ex=self.ttl_s)
        except redis.RedisError as error:
            logger.warning("score cache write failed (%s)", error)


def score_key(model_name: str, version: str, contact_id: str) -> str:
    """Return the cache key of a contact's score by one model version."""
    return f"score:{model_name}:{version}:{contact_id}"


def build_score_cache(backend: str, redis_url: str, ttl_s: int = 300) -> ScoreCache:
    """Return the cache for a backend name (``off`` or ``redis``).

    Args:
        backend: ``off`` or ``redis``.
        redis_url: Redis URL.
        ttl_s: Entry lifetime.

    Returns:
        The cache.

    Raises:
        ValueError: Unknown backend.
    """
    if backend == "off":
        return NullCache()
    if backend == "redis":
        return RedisScoreCache(redis_url, ttl_s=ttl_s)
    raise ValueError(f"gateway cache must be 'off' or 'redis', got {backend!r}")
