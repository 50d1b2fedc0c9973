"""The LLM client: retries with exponential backoff, a provider fallback chain, a response cache.

``LLMClient.generate`` starts at the requested provider (default: ``default_provider``), then
falls down ``fallback_chain`` (see :meth:`LLMConfig.route`). For each provider it

1. looks the request up in the response cache (a hit comes back with ``cached=True``, the
   lookup's latency and a cost of 0);
2. calls the provider; the SDK already retried 429/5xx/timeouts ``max_retries`` times, and a
   still-retryable :class:`ProviderError` is retried up to ``retry.max_attempts`` times with
   exponential backoff (``retry.backoff_initial_s * multiplier**n``, capped);
3. on a non-retryable error or exhausted attempts, records the provider in ``fallbacks`` and
   moves on. When every provider failed, :class:`LLMUnavailableError` lists each failure.

The cache key is the sha256 of (provider, model, messages, system, max_tokens, temperature):
``metadata`` is not part of it. Nothing here imports FastAPI or Ray.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from textai.llm.config import CacheConfig, LLMConfig, load_llm_config
from textai.llm.provider_factory import build_provider
from textai.llm.providers import LLMRequest, LLMResponse, Provider, ProviderError

if TYPE_CHECKING:
    import redis

logger = logging.getLogger(__name__)


def compute_cache_key(provider: str, model: str, request: LLMRequest) -> str:
    """Return the sha256 hex digest identifying a request to one provider's model.

    The digest covers provider, model, messages (role and content, in order), system,
    max_tokens and temperature; ``metadata`` is ignored.
    """
    payload = {
        "provider": provider,
        "model": model,
        "messages": [[m.role, m.content] for m in request.messages],
        "system": request.system,
        "max_tokens": request.max_tokens,
        "temperature": float(request.temperature),
    }
    encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


@runtime_checkable
class ResponseCache(Protocol):
    """Where :class:`LLMClient` keeps responses, keyed by :func:`compute_cache_key`."""

    def get(self, key: str) -> LLMResponse | None:
        """Return the live response stored under ``key``, or ``None``."""
        ...

    def set(self, key: str, response: LLMResponse) -> None:
        """Store ``response`` under ``key`` for the cache's TTL."""
        ...


class MemoryResponseCache:
    """A thread-safe in-process LRU cache whose entries expire after ``ttl_s`` seconds.

    Args:
        max_entries: Capacity; storing one more evicts the least recently used entry.
        ttl_s: Lifetime of an entry, from the time it was stored.
        clock: Monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        max_entries: int = 1024,
        ttl_s: float = 3600.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, LLMResponse]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> LLMResponse | None:
        """Return a copy of the live entry (marking it most recently used), else ``None``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires_at, response = entry
            if self._clock() >= expires_at:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return replace(response, fallbacks=list(response.fallbacks))

    def set(self, key: str, response: LLMResponse) -> None:
        """Store a copy of ``response``; evict the least recently used entries beyond capacity."""
        stored = replace(response, fallbacks=list(response.fallbacks))
        with self._lock:
            self._entries[key] = (self._clock() + self.ttl_s, stored)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class RedisResponseCache:
    """A response cache in Redis, shared by every replica: one JSON string per key, with a TTL.

    Redis errors are logged and treated as misses: a cache outage never fails a generation.

    Args:
        url: Redis URL, e.g. ``redis://127.0.0.1:6379/0``.
        prefix: Prepended to every key (``clear`` deletes only keys with this prefix).
        ttl_s: Lifetime of an entry (set with millisecond precision).
        client: A ready ``redis.Redis`` client (the URL is then only informative).
    """

    def __init__(
        self,
        url: str,
        prefix: str = "haste:llm:cache:",
        ttl_s: float = 3600.0,
        *,
        client: redis.Redis | None = None,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        if not prefix:
            raise ValueError("prefix must be non-empty (clear() deletes every key it matches)")
        self.url = url
        self.prefix = prefix
        self.ttl_s = ttl_s
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> redis.Redis:
        """The Redis client, connected on first use."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import redis

                    self._client = redis.Redis.from_url(
                        self.url, socket_timeout=2.0, socket_connect_timeout=2.0
                    )
        return self._client

    def _build_redis_key(self, key: str) -> str:
        """Return the Redis key of a cache key."""
        return f"{self.prefix}{key}"

    def get(self, key: str) -> LLMResponse | None:
        """Return the stored response, or ``None`` when absent, expired, corrupt or unreachable."""
        import redis

        try:
            raw = self.client.get(self._build_redis_key(key))
        except redis.RedisError as exc:
            logger.warning("LLM response cache read failed (%s): treated as a miss", exc)
            return None
        if raw is None:
            return None
        try:
            return LLMResponse.from_dict(json.loads(raw))
        except (ValueError, TypeError) as exc:
            logger.warning("corrupt LLM cache entry %s (%s): ignored", key, exc)
            return None

    def set(self, key: str, response: LLMResponse) -> None:
        """Store ``response`` as JSON with the TTL (errors are logged, not raised)."""
        import redis

        payload = json.dumps(response.to_dict(), ensure_ascii=False)
        try:
            self.client.set(self._build_redis_key(key), payload, px=max(1, int(self.ttl_s * 1000)))
        except redis.RedisError as exc:
            logger.warning("LLM response cache write failed (%s): not cached", exc)

    def clear(self) -> int:
        """Delete every key under this cache's prefix and return how many were deleted."""
        keys = list(self.client.scan_iter(match=f"{self.prefix}*", count=500))
        return int(self.client.delete(*keys)) if keys else 0

    def close(self) -> None:
        """Close the Redis connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None


def build_cache(cfg: CacheConfig) -> ResponseCache | None:
    """Return the cache ``cfg`` describes, or ``None`` when caching is disabled.

    The Redis backend uses ``cfg.redis_url`` or, when unset, ``HASTE_REDIS_URL`` from the
    platform settings.
    """
    if not cfg.enabled:
        return None
    if cfg.backend == "memory":
        return MemoryResponseCache(max_entries=cfg.max_entries, ttl_s=cfg.ttl_s)
    url = cfg.redis_url
    if not url:
        from haste.settings import get_settings

        url = get_settings().redis_url
    return RedisResponseCache(url, prefix=cfg.key_prefix, ttl_s=cfg.ttl_s)


class LLMUnavailableError(ProviderError):
    """Every provider on the route failed.

    Attributes:
        errors: The last error of each provider tried, in order.
    """

    def __init__(self, errors: list[ProviderError]) -> None:
        summary = "; ".join(f"{e.provider}: {e.reason}" for e in errors) or "no provider tried"
        super().__init__(
            f"every provider failed ({summary})",
            provider=",".join(e.provider for e in errors) or "none",
            retryable=any(e.retryable for e in errors),
            status_code=None,
        )
        self.errors = list(errors)
        self.args = (f"every LLM provider failed: {summary}",)

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle with the list of errors."""
        return (type(self), (self.errors,))


class LLMClient:
    """Generate with retries, fallback and caching over the providers of ``configs/llm.yaml``.

    Thread-safe: providers are built once, on first use, and shared.

    Args:
        config: The validated LLM configuration.
        providers: Ready providers by name (tests, custom backends); any provider of
            ``config`` not given here is built from its entry by :func:`build_provider`.
        cache: Response cache; ``None`` builds the one ``config.cache`` describes (or none
            when disabled).
        sleep: Sleep function used between retries (injectable for tests).
    """

    def __init__(
        self,
        config: LLMConfig,
        providers: Mapping[str, Provider] | None = None,
        cache: ResponseCache | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        unknown = sorted(set(providers or {}) - set(config.providers))
        if unknown:
            raise ValueError(f"providers not in the LLM config: {', '.join(unknown)}")
        self._providers: dict[str, Provider] = dict(providers or {})
        self.cache = cache if cache is not None else build_cache(config.cache)
        self._sleep = sleep
        self._lock = threading.Lock()

    @classmethod
    def from_config_file(cls, path: str | Path | None = None) -> LLMClient:
        """Build a client from ``configs/llm.yaml`` (or ``path``)."""
        return cls(load_llm_config(path))

    def get_provider(self, name: str) -> Provider:
        """Return the named provider, building it on first use.

        Raises:
            KeyError: When the configuration has no such provider.
        """
        existing = self._providers.get(name)
        if existing is not None:
            return existing
        cfg = self.config.get_provider(name)
        with self._lock:
            if name not in self._providers:
                self._providers[name] = build_provider(cfg)
            return self._providers[name]

    def generate(
        self, request: LLMRequest, *, provider: str | None = None, use_cache: bool = True
    ) -> LLMResponse:
        """Answer ``request`` from the cache or the first provider on the route that succeeds.

        Args:
            request: The chat request.
            provider: Provider to start with; ``None`` is ``default_provider``.
            use_cache: Read and write the response cache (when one is configured).

        Returns:
            The response; ``fallbacks`` lists the providers that failed before it.

        Raises:
            KeyError: When ``provider`` names no configured provider.
            LLMUnavailableError: When every provider on the route failed.
        """
        route = self.config.route(provider)
        cache = self.cache if use_cache else None
        failed: list[str] = []
        errors: list[ProviderError] = []
        for name in route:
            key = compute_cache_key(name, self.config.get_provider(name).model, request)
            if cache is not None:
                hit = self._lookup(cache, key, failed)
                if hit is not None:
                    return hit
            try:
                response = self._call_with_retries(name, request)
            except ProviderError as exc:
                logger.warning("LLM provider %s failed, falling back: %s", name, exc.reason)
                failed.append(name)
                errors.append(exc)
                continue
            response.fallbacks = list(failed)
            if cache is not None:
                self._store(cache, key, response)
            return response
        raise LLMUnavailableError(errors)

    def _lookup(self, cache: ResponseCache, key: str, failed: list[str]) -> LLMResponse | None:
        """Return the cached response for ``key`` marked as cached, or ``None``."""
        start = time.perf_counter()
        try:
            hit = cache.get(key)
        except Exception:
            logger.exception("LLM response cache lookup failed: treated as a miss")
            return None
        if hit is None:
            return None
        latency_ms = (time.perf_counter() - start) * 1000.0
        return replace(
            hit,
            cached=True,
            cost_usd=0.0,
            latency_ms=round(latency_ms, 3),
            fallbacks=list(failed),
        )

    def _store(self, cache: ResponseCache, key: str, response: LLMResponse) -> None:
        """Cache a fresh response (without this call's fallbacks); never raises."""
        try:
            cache.set(key, replace(response, cached=False, fallbacks=[]))
        except Exception:
            logger.exception("LLM response cache write failed: not cached")

    def _call_with_retries(self, name: str, request: LLMRequest) -> LLMResponse:
        """Call one provider, retrying retryable errors with exponential backoff.

        Raises:
            ProviderError: The last error once attempts are exhausted or on a final error.
        """
        retry = self.config.retry
        for attempt in range(1, retry.max_attempts + 1):
            try:
                return self._call_once(name, request)
            except ProviderError as exc:
                if not exc.retryable or attempt == retry.max_attempts:
                    raise
                delay = retry.compute_backoff_s(attempt)
                logger.info(
                    "LLM provider %s attempt %d/%d failed (%s); retrying in %.2f s",
                    name,
                    attempt,
                    retry.max_attempts,
                    exc.reason,
                    delay,
                )
                self._sleep(delay)
        raise AssertionError("unreachable: the retry loop returns or raises")

    def _call_once(self, name: str, request: LLMRequest) -> LLMResponse:
        """Call one provider once; any unexpected exception becomes a final ProviderError."""
        try:
            return self.get_provider(name).generate(request)
        except ProviderError:
            raise
        except Exception as exc:
            logger.exception("LLM provider %s raised an unexpected error", name)
            raise ProviderError(
                f"unexpected {type(exc).__name__}: {exc}", provider=name, retryable=False
            ) from exc

    def close(self) -> None:
        """Close every built provider and the cache's connections."""
        for provider in self._providers.values():
            provider.close()
        close = getattr(self.cache, "close", None)
        if callable(close):
            close()
