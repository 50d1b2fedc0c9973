"""Per-key rate limits: fixed one-minute windows, in memory or shared through Redis.

With several gateway replicas the Redis limiter must be used (``HASTE_RATE_LIMIT_BACKEND=redis``),
otherwise each replica counts on its own. A refused request carries the number of seconds until
the window resets, which the gateway returns as ``Retry-After`` with a 429.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

WINDOW_S = 60


@dataclass(frozen=True)
class RateDecision:
    """Outcome of one request against a limit."""

    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int


class RateLimiter(Protocol):
    """Counts a key's requests in the current window."""

    def hit(self, key: str, limit: int) -> RateDecision:
        """Count one request and say whether it is allowed."""
        ...


def _decide(count: int, limit: int, now: float) -> RateDecision:
    """Build the decision for the ``count``-th request of the window containing ``now``."""
    reset_in = WINDOW_S - (now % WINDOW_S)
    return RateDecision(
        allowed=count <= limit,
        limit=limit,
        remaining=max(limit - count, 0),
        retry_after_s=max(1, math.ceil(reset_in)),
    )


class MemoryRateLimiter:
    """Fixed-window counter in this process (one replica, tests, local runs).

    Args:
        clock: Wall clock in seconds (injectable for tests).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int) -> RateDecision:
        """Count one request of ``key`` against ``limit`` per minute.

        Args:
            key: The API key id.
            limit: Requests allowed per minute.

        Returns:
            The decision.
        """
        now = self.clock()
        window = int(now // WINDOW_S)
        with self._lock:
            for stale in [k for k in self._counts if k[1] < window]:
                del self._counts[stale]
            count = self._counts.get((key, window), 0) + 1
            self._counts[(key, window)] = count
        return _decide(count, limit, now)


class RedisRateLimiter:
    """Fixed-window counter shared by every replica (``INCR`` + ``EXPIRE`` in one pipeline).

    Args:
        url: Redis URL.
        prefix: Key prefix.
        clock: Wall clock in seconds.
    """

    def __init__(
        self, url: str, prefix: str = "haste:ratelimit", clock: Callable[[], float] = time.time
    ) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.prefix = prefix
        self.clock = clock

    def hit(self, key: str, limit: int) -> RateDecision:
        """Count one request of ``key`` against ``limit`` per minute.

        Args:
            key: The API key id.
            limit: Requests allowed per minute.

        Returns:
            The decision.
        """
        now = self.clock()
        name = f"{self.prefix}:{key}:{int(now // WINDOW_S)}"
        pipe = self.client.pipeline()
        pipe.incr(name)
        pipe.expire(name, WINDOW_S * 2)
        count, _ = pipe.execute()
        return _decide(int(count), limit, now)


def build_rate_limiter(backend: str, redis_url: str) -> RateLimiter:
    """Return the limiter for a backend name.

    Args:
        backend: ``memory`` or ``redis``.
        redis_url: Redis URL (for ``redis``).

    Returns:
        The limiter.

    Raises:
        ValueError: Unknown backend.
    """
    if backend == "memory":
        return MemoryRateLimiter()
    if backend == "redis":
        return RedisRateLimiter(redis_url)
    raise ValueError(f"rate limit backend must be 'memory' or 'redis', got {backend!r}")
