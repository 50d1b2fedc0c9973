"""Per-key rate limits counted in memory, or shared through Redis with the ``limits`` library.

With several gateway replicas the Redis limiter must be used (``HASTE_RATE_LIMIT_BACKEND=redis``),
otherwise each replica counts on its own. A refused request carries the number of seconds until
the window resets, which the gateway returns as ``Retry-After`` with a 429.

Window type: a *fixed* one-minute window (``limits.FixedWindowRateLimiter``), aligned on the
wall-clock minute by putting the minute number in the ``limits`` key. Why fixed, not moving:

* one counter per key and minute (``limits``' atomic INCR + EXPIRE Lua script on Redis), where
  the moving window stores a timestamp per request, up to ``limit`` entries per key;
* every replica shares the same window boundaries, so ``Retry-After`` (seconds to the next
  minute) is the same whichever replica answers, and the injectable clock makes it testable;
* the cost, a key bursting up to twice its limit across a minute boundary, is acceptable for
  coarse per-key quotas.

If Redis is unreachable the Redis limiter never raises nor hangs: its client times out after
0.5 s without retries, the call is counted by an in-process memory limiter instead (per-replica
limits while Redis is down), and Redis is left alone for a short back-off; one WARNING is logged
when Redis fails and one INFO when it answers again (see :class:`serving.score_cache.RedisGuard`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from limits import RateLimitItemPerMinute
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from serving.score_cache import REDIS_BACKOFF_S, RedisGuard, redis_client_options

logger = logging.getLogger(__name__)

WINDOW_S = 60
REDIS_PREFIX = "haste:ratelimit"


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


def seconds_left_in_window(now: float) -> int:
    """Return the whole seconds until the current one-minute window ends (at least 1)."""
    return max(1, math.ceil(WINDOW_S - now % WINDOW_S))


class _WindowCounter:
    """Fixed one-minute windows on a ``limits`` storage, aligned on the clock's minutes.

    Args:
        storage: A ``limits`` storage (memory or Redis).
        clock: Wall clock in seconds.
    """

    def __init__(self, storage: Storage, clock: Callable[[], float]) -> None:
        self.strategy = FixedWindowRateLimiter(storage)
        self.clock = clock

    def hit(self, key: str, limit: int) -> RateDecision:
        """Count one request of ``key`` against ``limit`` per minute (storage errors propagate).

        Args:
            key: The API key id.
            limit: Requests allowed per minute.

        Returns:
            The decision.
        """
        now = self.clock()
        item = RateLimitItemPerMinute(limit)
        window = str(int(now // WINDOW_S))
        allowed = self.strategy.hit(item, key, window)
        stats = self.strategy.get_window_stats(item, key, window)
        return RateDecision(
            allowed=allowed,
            limit=limit,
            remaining=max(int(stats.remaining), 0),
            retry_after_s=seconds_left_in_window(now),
        )


class MemoryRateLimiter:
    """Fixed-window counter in this process (one replica, tests, local runs, Redis fallback).

    The same windows and counting as the ``limits`` strategy (every hit counts, refused ones
    too; a key's count restarts with each clock minute), held as one ``(window, count)`` pair
    per key under a lock. ``limits``' ``MemoryStorage`` was not used here: it starts a timer
    thread to expire its counters whenever the previous one has finished, about one thread per
    request at the gateway's rates.

    Args:
        clock: Wall clock in seconds (injectable for tests).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._counts: dict[str, tuple[int, int]] = {}
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
            seen, count = self._counts.get(key, (window, 0))
            count = count + 1 if seen == window else 1
            self._counts[key] = (window, count)
        return RateDecision(
            allowed=count <= limit,
            limit=limit,
            remaining=max(limit - count, 0),
            retry_after_s=seconds_left_in_window(now),
        )


class RedisRateLimiter:
    """Fixed-window counter shared by every replica through Redis; degrades to memory.

    Args:
        url: Redis URL.
        prefix: Key prefix of the counters.
        clock: Wall clock in seconds.
        backoff_s: Seconds to count in memory, without trying Redis, after a Redis failure.
    """

    def __init__(
        self,
        url: str,
        prefix: str = REDIS_PREFIX,
        clock: Callable[[], float] = time.time,
        backoff_s: float = REDIS_BACKOFF_S,
    ) -> None:
        self.prefix = prefix
        self.clock = clock
        storage = storage_from_string(url, key_prefix=prefix, **redis_client_options())
        if not isinstance(storage, Storage):  # an async+redis:// URL
            raise ValueError(f"rate limit Redis URL must be a synchronous Redis URL, got {url!r}")
        self.storage = storage
        self._counter = _WindowCounter(storage, clock)
        self.fallback = MemoryRateLimiter(clock)
        self.guard = RedisGuard("rate limiter", logger, backoff_s=backoff_s)

    def hit(self, key: str, limit: int) -> RateDecision:
        """Count one request of ``key`` against ``limit`` per minute; never raises on Redis.

        Args:
            key: The API key id.
            limit: Requests allowed per minute.

        Returns:
            The decision (from this process's memory counter while Redis is unreachable).
        """
        return self.guard.call(
            lambda: self._counter.hit(key, limit), lambda: self.fallback.hit(key, limit)
        )


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
