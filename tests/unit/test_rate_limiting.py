"""Per-key rate limits (memory and Redis through ``limits``) and clean Redis failure handling."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from serving.rate_limit import (
    REDIS_PREFIX,
    MemoryRateLimiter,
    RateDecision,
    RedisRateLimiter,
    build_rate_limiter,
)
from serving.score_cache import RedisGuard, RedisScoreCache, build_score_cache, score_key

REDIS_URL = "redis://127.0.0.1:6379/15"
CLOSED_URL = "redis://127.0.0.1:1/0"
FAIL_FAST_S = 2.0  # generous bound: the clients give up after 0.5 s without retries


def frozen() -> float:
    """A wall clock stopped 20 s into a minute, so no test straddles a window boundary."""
    return 1_800_020.0


@pytest.fixture()
def redis_prefix() -> Iterator[str]:
    """A unique key prefix in the local Redis (db 15); only its keys are deleted afterwards."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"local Redis at {REDIS_URL} is not reachable ({error}); start redis-server")
    prefix = f"{REDIS_PREFIX}:test-{uuid.uuid4().hex}"
    yield prefix
    stale = list(client.scan_iter(match=f"{prefix}:*"))
    if stale:
        client.delete(*stale)
    client.close()


@pytest.fixture()
def silent_url() -> Iterator[str]:
    """URL of a TCP port that accepts connections but never answers (a hung Redis)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    server.close()


def _timed_hits(limiter: RedisRateLimiter, key: str, limit: int, count: int) -> list[RateDecision]:
    decisions = []
    for _ in range(count):
        start = time.monotonic()
        decisions.append(limiter.hit(key, limit))
        assert time.monotonic() - start < FAIL_FAST_S
    return decisions


def test_memory_limit_is_enforced_per_key_and_remaining_counts_down() -> None:
    limiter = MemoryRateLimiter(clock=frozen)
    decisions = [limiter.hit("key-a", 3) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0]
    assert all(d.limit == 3 for d in decisions)
    other = limiter.hit("key-b", 3)
    assert other.allowed and other.remaining == 2  # a separate key has its own count


def test_retry_after_is_the_seconds_to_the_next_window() -> None:
    clock = [120.0]
    limiter = MemoryRateLimiter(clock=lambda: clock[0])
    assert limiter.hit("k", 1).retry_after_s == 60
    clock[0] = 150.5
    refused = limiter.hit("k", 1)
    assert not refused.allowed and refused.retry_after_s == 30
    clock[0] = 179.9
    assert limiter.hit("k", 1).retry_after_s == 1
    clock[0] = 180.0  # the next window lets the key in again
    assert limiter.hit("k", 1).allowed
    real = MemoryRateLimiter().hit("k", 1)
    assert 1 <= real.retry_after_s <= 60


def test_build_rate_limiter_knows_its_backends() -> None:
    assert isinstance(build_rate_limiter("memory", REDIS_URL), MemoryRateLimiter)
    assert isinstance(build_rate_limiter("redis", CLOSED_URL), RedisRateLimiter)
    with pytest.raises(ValueError, match="'memory' or 'redis'"):
        build_rate_limiter("memcached", REDIS_URL)


def test_redis_limiter_is_shared_between_replicas(redis_prefix: str) -> None:
    import redis

    first = RedisRateLimiter(REDIS_URL, prefix=redis_prefix, clock=frozen)
    second = RedisRateLimiter(REDIS_URL, prefix=redis_prefix, clock=frozen)
    decisions = [first.hit("key-a", 3), second.hit("key-a", 3), first.hit("key-a", 3)]
    decisions.append(second.hit("key-a", 3))
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert all(d.retry_after_s == 40 for d in decisions)
    assert second.hit("key-b", 3).remaining == 2  # keys are independent
    assert first.guard.healthy and second.guard.healthy
    client = redis.Redis.from_url(REDIS_URL)
    assert len(list(client.scan_iter(match=f"{redis_prefix}:*"))) == 2  # one counter per key


def test_redis_limiter_against_a_closed_port_falls_back_to_memory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RedisRateLimiter(CLOSED_URL, clock=frozen)
    with caplog.at_level(logging.INFO, logger="serving.rate_limit"):
        decisions = _timed_hits(limiter, "key-a", 2, 5)
    assert [d.allowed for d in decisions] == [True, True, False, False, False]
    assert decisions[-1].retry_after_s == 40
    assert not limiter.guard.healthy
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "rate limiter" in warnings[0].getMessage()


def test_redis_limiter_does_not_hang_on_a_silent_server(silent_url: str) -> None:
    limiter = RedisRateLimiter(silent_url, clock=frozen)
    decisions = _timed_hits(limiter, "key-a", 5, 3)
    assert all(d.allowed for d in decisions) and decisions[-1].remaining == 2


def test_redis_limiter_recovers_and_logs_once(
    redis_prefix: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    limiter = RedisRateLimiter(REDIS_URL, prefix=redis_prefix, clock=frozen, backoff_s=0.0)

    def refuse(*args: object, **kwargs: object) -> int:
        raise redis.ConnectionError("Redis is down")

    with caplog.at_level(logging.INFO, logger="serving.rate_limit"):
        monkeypatch.setattr(limiter.storage, "incr", refuse)
        assert limiter.hit("key-a", 5).allowed and limiter.hit("key-a", 5).remaining == 3
        monkeypatch.undo()
        back = [limiter.hit("key-a", 5), limiter.hit("key-a", 5)]
    assert [d.remaining for d in back] == [4, 3]  # counted in Redis again
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.WARNING, logging.INFO]


def test_guard_backs_off_then_retries_and_reports_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import redis

    now = [0.0]
    calls: list[str] = []
    outage = [True]

    def operation() -> str:
        calls.append("redis")
        if outage[0]:
            raise redis.TimeoutError("Timeout reading from socket")
        return "redis"

    log = logging.getLogger("tests.guard")
    guard = RedisGuard("test user", log, backoff_s=5.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="tests.guard"):
        assert guard.call(operation, lambda: "memory") == "memory"
        now[0] = 4.9
        assert guard.call(operation, lambda: "memory") == "memory"
        assert calls == ["redis"]  # within the back-off Redis is not tried
        now[0] = 5.1
        assert guard.call(operation, lambda: "memory") == "memory"
        assert len(calls) == 2 and not guard.healthy
        outage[0] = False
        now[0] = 10.2
        assert guard.call(operation, lambda: "memory") == "redis"
        assert guard.call(operation, lambda: "memory") == "redis"
    assert guard.healthy
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]


def test_score_cache_round_trip_and_unreadable_entry(redis_prefix: str) -> None:
    import redis

    cache = RedisScoreCache(REDIS_URL, prefix=redis_prefix, ttl_s=30)
    key = score_key("lead_scoring", "3", uuid.uuid4().hex)
    assert cache.get(key) is None
    scored_at = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    cache.set(key, {"score": 0.5, "scored_at": scored_at})  # written with str()
    assert cache.get(key) == {"score": 0.5, "scored_at": str(scored_at)}
    redis.Redis.from_url(REDIS_URL).set(f"{redis_prefix}:{key}", b"{not json")
    assert cache.get(key) is None
    assert cache.guard.healthy


def test_score_cache_against_a_closed_port_is_a_miss(caplog: pytest.LogCaptureFixture) -> None:
    cache = build_score_cache("redis", CLOSED_URL, ttl_s=30)
    key = score_key("lead_scoring", "1", "contact")
    with caplog.at_level(logging.INFO, logger="serving.score_cache"):
        for _ in range(3):
            start = time.monotonic()
            assert cache.get(key) is None
            cache.set(key, {"score": 1})
            assert time.monotonic() - start < FAIL_FAST_S
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "score cache" in warnings[0].getMessage()


def test_score_cache_does_not_hang_on_a_silent_server(silent_url: str) -> None:
    cache = RedisScoreCache(silent_url, ttl_s=30)
    start = time.monotonic()
    assert cache.get("k") is None
    cache.set("k", {"score": 1})
    assert time.monotonic() - start < FAIL_FAST_S
