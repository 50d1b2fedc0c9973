"""Redis cache of the gateway: a contact's features and recent scores.

Keys embed the model version, so a promotion or rollback (new champion version) never serves a
stale score. Used only when Redis is configured (``HASTE_GATEWAY_CACHE=redis``).

A Redis outage degrades to uncached scoring, never to an error or a hung request: the client
gives up after :data:`REDIS_TIMEOUT_S` without retrying, a failed read is a miss and a failed
write is skipped. :class:`RedisGuard` (also used by the Redis rate limiter) logs one WARNING when
Redis stops answering and one INFO when it answers again, and during an outage leaves Redis alone
for a short back-off instead of waiting on a dead server on every call.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 0.5
"""Socket connect and read timeout of the gateway's Redis clients, in seconds."""

REDIS_BACKOFF_S = 5.0
"""How long a Redis user leaves Redis alone after a failed call, in seconds."""

T = TypeVar("T")


def redis_client_options() -> dict[str, Any]:
    """Return the ``redis.Redis`` keyword arguments that keep an outage short.

    Short connect/read timeouts and no retries: one failed call costs at most about
    ``2 * REDIS_TIMEOUT_S`` (redis-py would otherwise retry three times with back-off).

    Returns:
        Keyword arguments for ``redis.Redis.from_url`` (or ``limits`` Redis storage).
    """
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return {
        "socket_connect_timeout": REDIS_TIMEOUT_S,
        "socket_timeout": REDIS_TIMEOUT_S,
        "retry": Retry(NoBackoff(), 0),
    }


def redis_errors() -> tuple[type[Exception], ...]:
    """Return the exceptions that mean "Redis did not answer" (refused, timeout, protocol).

    Returns:
        ``redis.RedisError``, ``limits``' wrapped ``StorageError`` and ``OSError``.
    """
    import redis
    from limits.errors import StorageError

    return (redis.RedisError, StorageError, OSError)


class RedisGuard:
    """Runs Redis calls with a fallback, remembering an outage for a back-off period.

    Args:
        name: What uses Redis, for the log lines (``score cache``, ``rate limiter``).
        log: Logger of the user's module.
        backoff_s: Seconds to skip Redis after a failed call.
        clock: Monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        name: str,
        log: logging.Logger = logger,
        backoff_s: float = REDIS_BACKOFF_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.log = log
        self.backoff_s = backoff_s
        self.clock = clock
        self._retry_at: float | None = None  # None while Redis answers
        self._lock = threading.Lock()

    @property
    def healthy(self) -> bool:
        """Whether the last Redis call succeeded."""
        return self._retry_at is None

    def call(self, operation: Callable[[], T], fallback: Callable[[], T]) -> T:
        """Run ``operation`` against Redis, or ``fallback`` when Redis is (recently) down.

        Args:
            operation: The Redis call.
            fallback: What to return instead; never sent to Redis.

        Returns:
            The operation's result, or the fallback's during an outage.
        """
        retry_at = self._retry_at
        if retry_at is not None and self.clock() < retry_at:
            return fallback()
        try:
            result = operation()
        except redis_errors() as error:
            self._failed(error)
            return fallback()
        if retry_at is not None:
            self._recovered()
        return result

    def _failed(self, error: Exception) -> None:
        with self._lock:
            first = self._retry_at is None
            self._retry_at = self.clock() + self.backoff_s
        if first:
            self.log.warning(
                "Redis unavailable for the %s (%s: %s); degrading without it, retrying every "
                "%.0f s",
                self.name,
                type(error).__name__,
                error,
                self.backoff_s,
            )

    def _recovered(self) -> None:
        with self._lock:
            was_down = self._retry_at is not None
            self._retry_at = None
        if was_down:
            self.log.info("Redis answers again for the %s", self.name)


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
    """JSON documents in Redis with a TTL; an unreachable Redis is a miss, never an error.

    Args:
        url: Redis URL.
        prefix: Key prefix.
        ttl_s: Time to live of each entry.
        backoff_s: Seconds to skip Redis after a failed call.
    """

    def __init__(
        self,
        url: str,
        prefix: str = "haste:gateway",
        ttl_s: int = 300,
        backoff_s: float = REDIS_BACKOFF_S,
    ) -> None:
        import redis

        self.client = redis.Redis.from_url(url, **redis_client_options())
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.guard = RedisGuard("score cache", logger, backoff_s=backoff_s)

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the cached document.

        Args:
            key: Cache key (see :func:`score_key`).

        Returns:
            The document, or None on a miss, an unreadable entry or an unreachable Redis.
        """
        raw = self.guard.call(lambda: self.client.get(f"{self.prefix}:{key}"), lambda: None)
        if raw is None:
            return None
        try:
            document = json.loads(raw)
        except ValueError:
            logger.warning("score cache entry %s is not JSON; treating it as a miss", key)
            return None
        return document if isinstance(document, dict) else None

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Store a document (skipped, not raised, when Redis is unreachable).

        Args:
            key: Cache key (see :func:`score_key`).
            value: JSON-serialisable document (other values are written with ``str``).
        """
        payload = json.dumps(value, default=str)
        self.guard.call(
            lambda: self.client.set(f"{self.prefix}:{key}", payload, ex=self.ttl_s),
            lambda: None,
        )


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
