"""The real openai and anthropic SDKs against the local wire server, and the Redis cache.

No provider is ever called: every base_url points at tests/support/llm_wire_server.py, which
speaks both wire formats, checks the SDKs' auth headers and records what it received.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.asgi_server import free_port
from tests.support.llm_wire_server import (
    ANTHROPIC_PATH,
    OPENAI_PATH,
    WIRE_API_KEY,
    WireServer,
    running_wire_server,
)
from textai.llm.client import LLMClient, MemoryResponseCache, RedisResponseCache
from textai.llm.config import LLMConfig, compute_cost_usd, parse_llm_config
from textai.llm.provider_factory import build_provider
from textai.llm.providers import (
    KEYLESS_PLACEHOLDER,
    AnthropicProvider,
    ChatMessage,
    LLMRequest,
    LLMResponse,
    OpenAIProvider,
    Provider,
    ProviderError,
)

API_KEY = WIRE_API_KEY
OPENAI_KEY_ENV = "HASTE_TEST_OPENAI_KEY"
ANTHROPIC_KEY_ENV = "HASTE_TEST_ANTHROPIC_KEY"
REDIS_URL = os.environ.get("HASTE_TEST_LLM_REDIS_URL", "redis://127.0.0.1:6379/13")
PRICES = {
    "openai": (0.15, 0.60),
    "anthropic": (0.80, 4.00),
    "compat": (0.05, 0.10),
}


class OfflineDouble(Provider):
    """Test double for the offline provider at the end of the chain (no model, no network)."""

    def __init__(self) -> None:
        self.name = "offline"
        self.model = "minilm-retrieval"
        self.calls = 0

    def generate(self, request: LLMRequest) -> LLMResponse:
        self.calls += 1
        return LLMResponse("offline answer", self.name, self.model, 0, 0, 0.1, 0.0)


@pytest.fixture(autouse=True)
def fresh_wire(wire: WireServer, monkeypatch: pytest.MonkeyPatch) -> WireServer:
    """Reset the server's record and script; set both keys for the test."""
    wire.reset()
    monkeypatch.setenv(OPENAI_KEY_ENV, API_KEY)
    monkeypatch.setenv(ANTHROPIC_KEY_ENV, API_KEY)
    return wire


def wire_config(wire: WireServer, *, max_retries: int = 0, **overrides: Any) -> LLMConfig:
    """Return a config whose hosted providers all point at the wire server."""
    common = {"timeout_s": 5, "max_retries": max_retries}
    data: dict[str, Any] = {
        "default_provider": "offline",
        "fallback_chain": ["openai", "anthropic", "offline"],
        "providers": {
            "openai": {
                "kind": "openai",
                "model": "gpt-4o-mini",
                "base_url": wire.openai_base_url,
                "api_key_env": OPENAI_KEY_ENV,
                "input_price_per_mtok": PRICES["openai"][0],
                "output_price_per_mtok": PRICES["openai"][1],
                **common,
            },
            "anthropic": {
                "kind": "anthropic",
                "model": "claude-haiku-4-5",
                "base_url": wire.anthropic_base_url,
                "api_key_env": ANTHROPIC_KEY_ENV,
                "input_price_per_mtok": PRICES["anthropic"][0],
                "output_price_per_mtok": PRICES["anthropic"][1],
                **common,
            },
            "compat": {
                "kind": "openai_compatible",
                "model": "meta-llama/Llama-3.1-8B-Instruct",
                "base_url": wire.openai_base_url,
                "api_key_env": OPENAI_KEY_ENV,
                "input_price_per_mtok": PRICES["compat"][0],
                "output_price_per_mtok": PRICES["compat"][1],
                **common,
            },
            "offline": {"kind": "offline", "model": "minilm-retrieval"},
        },
        "retry": {"max_attempts": 3, "backoff_initial_s": 0.01, "backoff_max_s": 0.05},
        "cache": {"enabled": False},
    }
    data.update(overrides)
    return parse_llm_config(data)


def make_client(config: LLMConfig, **kwargs: Any) -> LLMClient:
    return LLMClient(config, providers={"offline": OfflineDouble()}, **kwargs)


REQUEST = LLMRequest(
    messages=[
        ChatMessage("user", "Summarise the account"),
        ChatMessage("assistant", "Which account?"),
        ChatMessage("user", "Acme Corp renewal risk this quarter"),
    ],
    system="You are a concise CRM assistant.",
    max_tokens=64,
    temperature=0.3,
)
EXPECTED_TEXT = "echo: Acme Corp renewal risk this quarter"
# whitespace tokens: system 6 + messages 3 + 2 + 6
EXPECTED_INPUT_TOKENS = 17
EXPECTED_OUTPUT_TOKENS = 7


# --- round trips ----------------------------------------------------------------------------


def test_openai_sdk_round_trip(wire: WireServer) -> None:
    provider = build_provider(wire_config(wire).get_provider("openai"))
    assert isinstance(provider, OpenAIProvider)
    response = provider.generate(REQUEST)
    assert response.text == EXPECTED_TEXT
    assert (response.provider, response.model, response.finish_reason) == (
        "openai",
        "gpt-4o-mini",
        "stop",
    )
    assert (response.input_tokens, response.output_tokens) == (
        EXPECTED_INPUT_TOKENS,
        EXPECTED_OUTPUT_TOKENS,
    )
    assert response.cost_usd == pytest.approx(
        compute_cost_usd(EXPECTED_INPUT_TOKENS, EXPECTED_OUTPUT_TOKENS, *PRICES["openai"])
    )
    assert response.latency_ms > 0 and response.cached is False
    (received,) = wire.get_requests(OPENAI_PATH)
    assert received.status == 200
    assert received.headers["authorization"] == f"Bearer {API_KEY}"
    assert received.body["model"] == "gpt-4o-mini"
    assert received.body["messages"] == [
        {"role": "system", "content": "You are a concise CRM assistant."},
        {"role": "user", "content": "Summarise the account"},
        {"role": "assistant", "content": "Which account?"},
        {"role": "user", "content": "Acme Corp renewal risk this quarter"},
    ]
    assert received.body["max_completion_tokens"] == 64
    assert received.body["temperature"] == 0.3


def test_anthropic_sdk_round_trip(wire: WireServer) -> None:
    provider = build_provider(wire_config(wire).get_provider("anthropic"))
    assert isinstance(provider, AnthropicProvider)
    response = provider.generate(REQUEST)
    assert response.text == EXPECTED_TEXT
    assert (response.provider, response.model, response.finish_reason) == (
        "anthropic",
        "claude-haiku-4-5",
        "end_turn",
    )
    assert (response.input_tokens, response.output_tokens) == (
        EXPECTED_INPUT_TOKENS,
        EXPECTED_OUTPUT_TOKENS,
    )
    assert response.cost_usd == pytest.approx(
        compute_cost_usd(EXPECTED_INPUT_TOKENS, EXPECTED_OUTPUT_TOKENS, *PRICES["anthropic"])
    )
    (received,) = wire.get_requests(ANTHROPIC_PATH)
    # SDK 1.x sends x-api-key, SDK 2.x sends the key as a Bearer token
    sent_key = received.headers.get("x-api-key") or received.headers["authorization"][7:]
    assert sent_key == API_KEY
    assert received.headers["anthropic-version"]
    assert received.body["model"] == "claude-haiku-4-5"
    assert received.body["system"] == "You are a concise CRM assistant."
    assert received.body["max_tokens"] == 64
    assert "temperature" not in received.body  # API 2026-10-21 rejects sampling parameters
    assert [m["role"] for m in received.body["messages"]] == ["user", "assistant", "user"]
    assert received.body["messages"][-1]["content"] == "Acme Corp renewal risk this quarter"


def test_max_tokens_cuts_the_reply_and_reports_it(wire: WireServer) -> None:
    config = wire_config(wire)
    short = LLMRequest.from_prompt("one two three four five", max_tokens=3)
    openai_reply = build_provider(config.get_provider("openai")).generate(short)
    anthropic_reply = build_provider(config.get_provider("anthropic")).generate(short)
    assert openai_reply.text == anthropic_reply.text == "echo: one two"
    assert (openai_reply.finish_reason, anthropic_reply.finish_reason) == ("length", "max_tokens")
    assert openai_reply.output_tokens == anthropic_reply.output_tokens == 3


def test_openai_compatible_provider_uses_its_base_url(wire: WireServer) -> None:
    provider = build_provider(wire_config(wire).get_provider("compat"))
    response = provider.generate(REQUEST)
    assert (response.provider, response.model) == ("compat", "meta-llama/Llama-3.1-8B-Instruct")
    assert response.cost_usd == pytest.approx(
        compute_cost_usd(EXPECTED_INPUT_TOKENS, EXPECTED_OUTPUT_TOKENS, *PRICES["compat"])
    )
    (received,) = wire.get_requests(OPENAI_PATH)
    assert received.body["max_tokens"] == 64  # vLLM/Ollama take max_tokens
    assert "max_completion_tokens" not in received.body


def test_openai_compatible_server_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HASTE_TEST_NO_KEY", raising=False)
    with running_wire_server(api_key=KEYLESS_PLACEHOLDER) as local:
        config = parse_llm_config(
            {
                "fallback_chain": ["offline"],
                "providers": {
                    "vllm": {
                        "kind": "openai_compatible",
                        "model": "qwen2.5",
                        "base_url": local.openai_base_url,
                        "api_key_env": "HASTE_TEST_NO_KEY",
                        "max_retries": 0,
                    },
                    "offline": {"kind": "offline", "model": "minilm-retrieval"},
                },
            }
        )
        response = make_client(config).generate(REQUEST, provider="vllm")
        assert (response.provider, response.text, response.fallbacks) == (
            "vllm",
            EXPECTED_TEXT,
            [],
        )
        assert local.requests[0].headers["authorization"] == f"Bearer {KEYLESS_PLACEHOLDER}"


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "server_says"),
    [("openai", "Incorrect API key provided"), ("anthropic", "invalid x-api-key")],
)
def test_auth_failure_is_a_clear_non_retryable_error(
    wire: WireServer, monkeypatch: pytest.MonkeyPatch, name: str, server_says: str
) -> None:
    env = OPENAI_KEY_ENV if name == "openai" else ANTHROPIC_KEY_ENV
    monkeypatch.setenv(env, "sk-wrong")
    provider = build_provider(wire_config(wire, max_retries=2).get_provider(name))
    with pytest.raises(ProviderError) as info:
        provider.generate(REQUEST)
    error = info.value
    assert (error.provider, error.retryable, error.status_code) == (name, False, 401)
    message = str(error)
    assert "HTTP 401 authentication failed" in message
    assert server_says in message
    assert f"${env}" in message
    assert len(wire.requests) == 1  # the SDK does not retry a 401


def test_missing_key_fails_before_any_request(
    wire: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ANTHROPIC_KEY_ENV)
    provider = build_provider(wire_config(wire).get_provider("anthropic"))
    with pytest.raises(ProviderError, match=rf"no API key: set \${ANTHROPIC_KEY_ENV}") as info:
        provider.generate(REQUEST)
    assert info.value.retryable is False
    assert wire.requests == []


def test_sdk_retries_overloaded_then_succeeds(wire: WireServer) -> None:
    wire.fail_next(2, 529, path=ANTHROPIC_PATH)
    provider = build_provider(wire_config(wire, max_retries=2).get_provider("anthropic"))
    response = provider.generate(REQUEST)
    assert response.text == EXPECTED_TEXT
    received = wire.get_requests(ANTHROPIC_PATH)
    assert [r.status for r in received] == [529, 529, 200]
    assert [r.headers.get("x-stainless-retry-count") for r in received] == ["0", "1", "2"]


@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_client_retries_429_and_500_then_succeeds(wire: WireServer, name: str) -> None:
    path = OPENAI_PATH if name == "openai" else ANTHROPIC_PATH
    wire.fail_next(1, 429, path=path)
    wire.fail_next(1, 500, path=path)
    sleeps: list[float] = []
    client = make_client(wire_config(wire, max_retries=0), sleep=sleeps.append)
    response = client.generate(REQUEST, provider=name)
    assert (response.provider, response.text, response.fallbacks) == (name, EXPECTED_TEXT, [])
    assert [r.status for r in wire.get_requests(path)] == [429, 500, 200]
    assert sleeps == [0.01, 0.02]


def test_rate_limit_error_is_retryable_with_status(wire: WireServer) -> None:
    wire.fail_next(1, 429, path=OPENAI_PATH)
    provider = build_provider(wire_config(wire, max_retries=0).get_provider("openai"))
    with pytest.raises(ProviderError, match="HTTP 429 rate limited") as info:
        provider.generate(REQUEST)
    assert (info.value.retryable, info.value.status_code) == (True, 429)


@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_timeout_is_a_retryable_provider_error(wire: WireServer, name: str) -> None:
    wire.delay_next(1, 3.0)
    config = wire_config(wire)
    data = config.model_dump()
    data["providers"][name]["timeout_s"] = 0.3
    provider = build_provider(parse_llm_config(data).get_provider(name))
    assert provider.client is not None  # import the SDK and build the client outside the clock
    start = time.perf_counter()
    with pytest.raises(ProviderError, match=r"request timed out after 0.3 s") as info:
        provider.generate(REQUEST)
    assert time.perf_counter() - start < 2.5
    assert (info.value.provider, info.value.retryable, info.value.status_code) == (
        name,
        True,
        None,
    )


def test_connection_refused_is_retryable() -> None:
    port = free_port()
    provider = OpenAIProvider(
        "openai", "gpt", api_key="k", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0
    )
    with pytest.raises(ProviderError, match="connection failed") as info:
        provider.generate(REQUEST)
    assert info.value.retryable is True


# --- fallback chain -------------------------------------------------------------------------


def test_fallback_from_failing_openai_to_anthropic(
    wire: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(OPENAI_KEY_ENV, "sk-revoked")
    client = make_client(wire_config(wire))
    response = client.generate(REQUEST, provider="openai")
    assert (response.provider, response.text) == ("anthropic", EXPECTED_TEXT)
    assert response.fallbacks == ["openai"]
    assert [r.status for r in wire.get_requests(OPENAI_PATH)] == [401]
    assert [r.status for r in wire.get_requests(ANTHROPIC_PATH)] == [200]


def test_fallback_after_exhausted_retries_down_to_offline(wire: WireServer) -> None:
    wire.fail_next(10, 500, path=OPENAI_PATH)
    wire.fail_next(10, 529, path=ANTHROPIC_PATH)
    sleeps: list[float] = []
    client = make_client(wire_config(wire), sleep=sleeps.append)
    response = client.generate(REQUEST, provider="openai")
    assert (response.provider, response.text) == ("offline", "offline answer")
    assert response.fallbacks == ["openai", "anthropic"]
    assert len(wire.get_requests(OPENAI_PATH)) == 3  # retry.max_attempts
    assert len(wire.get_requests(ANTHROPIC_PATH)) == 3
    assert sleeps == [0.01, 0.02, 0.01, 0.02]


# --- cache ----------------------------------------------------------------------------------


def test_cache_hit_skips_the_provider(wire: WireServer) -> None:
    client = make_client(wire_config(wire), cache=MemoryResponseCache(max_entries=8, ttl_s=60))
    first = client.generate(REQUEST, provider="anthropic")
    second = client.generate(REQUEST, provider="anthropic")
    assert (first.cached, second.cached) == (False, True)
    assert second.text == first.text and second.provider == "anthropic"
    assert second.cost_usd == 0.0 and first.cost_usd > 0
    assert (second.input_tokens, second.output_tokens) == (first.input_tokens, first.output_tokens)
    assert second.latency_ms < first.latency_ms
    assert len(wire.requests) == 1
    other = client.generate(
        LLMRequest(REQUEST.messages, REQUEST.system, REQUEST.max_tokens, temperature=0.0),
        provider="anthropic",
    )
    assert other.cached is False and len(wire.requests) == 2


@pytest.fixture()
def redis_cache() -> Iterator[RedisResponseCache]:
    import redis

    prefix = f"haste:test:llm:{uuid.uuid4().hex[:8]}:"
    cache = RedisResponseCache(REDIS_URL, prefix=prefix, ttl_s=30)
    try:
        cache.client.ping()
    except redis.RedisError as exc:
        cache.close()
        message = f"Redis unreachable at {REDIS_URL}: {exc}"
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{message} (CI is set, so this fails instead of skipping)")
        pytest.skip(message)
    yield cache
    cache.clear()
    cache.close()


def test_redis_cache_round_trip_is_shared_between_clients(
    wire: WireServer, redis_cache: RedisResponseCache
) -> None:
    config = wire_config(wire)
    first = make_client(config, cache=redis_cache).generate(REQUEST, provider="openai")
    replica_cache = RedisResponseCache(REDIS_URL, prefix=redis_cache.prefix, ttl_s=30)
    try:
        second = make_client(config, cache=replica_cache).generate(REQUEST, provider="openai")
    finally:
        replica_cache.close()
    assert (first.cached, second.cached) == (False, True)
    assert (second.text, second.provider, second.model) == (first.text, "openai", first.model)
    assert second.cost_usd == 0.0
    assert len(wire.requests) == 1
    keys = list(redis_cache.client.scan_iter(match=f"{redis_cache.prefix}*"))
    assert len(keys) == 1
    assert 0 < redis_cache.client.pttl(keys[0]) <= 30_000
    assert redis_cache.clear() == 1
    assert list(redis_cache.client.scan_iter(match=f"{redis_cache.prefix}*")) == []


def test_redis_cache_entries_expire(redis_cache: RedisResponseCache) -> None:
    short = RedisResponseCache(REDIS_URL, prefix=redis_cache.prefix, ttl_s=0.2)
    try:
        response = LLMResponse("t", "openai", "m", 1, 2, 3.0, 0.1)
        short.set("k", response)
        assert short.get("k") == response
        time.sleep(0.35)
        assert short.get("k") is None
    finally:
        short.close()


def test_redis_outage_is_a_cache_miss(wire: WireServer) -> None:
    port = free_port()
    down = RedisResponseCache(f"redis://127.0.0.1:{port}/13", prefix="haste:test:llm:down:")
    client = make_client(wire_config(wire), cache=down)
    assert client.generate(REQUEST, provider="openai").cached is False
    assert client.generate(REQUEST, provider="openai").cached is False
    assert len(wire.requests) == 2


# --- the wire server itself ------------------------------------------------------------------


def test_wire_server_answers_missing_auth_with_each_providers_error_shape(
    wire: WireServer,
) -> None:
    import httpx

    body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=wire.base_url, timeout=5) as http:
        openai_reply = http.post(OPENAI_PATH, json=body)
        anthropic_reply = http.post(ANTHROPIC_PATH, json=body)
        sampled = http.post(
            ANTHROPIC_PATH,
            json={**body, "temperature": 0.5},
            headers={"x-api-key": API_KEY, "anthropic-version": "2026-10-21"},
        )
        legacy = http.post(
            ANTHROPIC_PATH,
            json={**body, "temperature": 0.5},
            headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01"},
        )
    assert openai_reply.status_code == 401
    assert openai_reply.json()["error"]["code"] == "invalid_api_key"
    assert anthropic_reply.status_code == 401
    assert anthropic_reply.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    assert sampled.status_code == 400
    assert "temperature" in sampled.json()["error"]["message"]
    assert legacy.status_code == 200 and legacy.json()["content"][0]["text"] == "echo: hi"
    assert [r.status for r in wire.requests] == [401, 401, 400, 200]
