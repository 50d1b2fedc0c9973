"""LLM configuration, cost, cache keys, the in-memory response cache and the client's logic.

The client's retry/fallback/cache logic is exercised here with a local test double provider
(no network); the real SDK round trips are in tests/integration/test_llm_providers.py.
"""

from __future__ import annotations

import pickle
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from haste.settings import CONFIG_DIR
from textai.llm.client import (
    LLMClient,
    LLMUnavailableError,
    MemoryResponseCache,
    compute_cache_key,
)
from textai.llm.config import (
    LLMConfigError,
    ProviderConfig,
    RetryConfig,
    compute_cost_usd,
    load_llm_config,
    parse_llm_config,
)
from textai.llm.provider_factory import build_provider
from textai.llm.providers import ChatMessage, LLMRequest, LLMResponse, Provider, ProviderError


class FakeProvider(Provider):
    """Test double: answers from a script of outcomes (a ProviderError, an exception or text)."""

    def __init__(self, name: str, outcomes: list[Any] | None = None, model: str = "fake-1"):
        self.name = name
        self.model = model
        self.outcomes = list(outcomes or [])
        self.calls: list[LLMRequest] = []

    def generate(self, request: LLMRequest) -> LLMResponse:
        self.calls.append(request)
        outcome = self.outcomes.pop(0) if self.outcomes else f"{self.name} says hi"
        if isinstance(outcome, BaseException):
            raise outcome
        return LLMResponse(
            text=outcome,
            provider=self.name,
            model=self.model,
            input_tokens=3,
            output_tokens=4,
            latency_ms=1.0,
            cost_usd=0.001,
            finish_reason="stop",
        )


def base_config(**overrides: Any) -> dict[str, Any]:
    """Return a valid config mapping with two hosted providers and an offline one."""
    data: dict[str, Any] = {
        "default_provider": "offline",
        "fallback_chain": ["primary", "secondary", "offline"],
        "providers": {
            "primary": {"kind": "openai", "model": "gpt-test", "api_key_env": "NO_SUCH_KEY_1"},
            "secondary": {"kind": "anthropic", "model": "claude-test"},
            "offline": {"kind": "offline", "model": "minilm-retrieval"},
        },
        "retry": {"max_attempts": 3, "backoff_initial_s": 0.1, "backoff_max_s": 0.25},
        "cache": {"enabled": False},
    }
    data.update(overrides)
    return data


def write_yaml(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "llm.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def retryable(name: str, status: int = 503) -> ProviderError:
    return ProviderError(f"HTTP {status}", provider=name, retryable=True, status_code=status)


def final(name: str, status: int = 401) -> ProviderError:
    return ProviderError(f"HTTP {status}", provider=name, retryable=False, status_code=status)


# --- configs/llm.yaml and validation ------------------------------------------------------


def test_repo_config_loads_and_works_without_keys() -> None:
    config = load_llm_config()
    assert config == load_llm_config(CONFIG_DIR / "llm.yaml")
    assert config.default_provider == "offline"
    assert config.providers[config.fallback_chain[-1]].kind == "offline"
    assert {"openai", "anthropic", "local", "offline"} <= set(config.providers)
    assert all(name == cfg.name for name, cfg in config.providers.items())
    assert config.providers["local"].kind == "openai_compatible"
    assert config.providers["local"].base_url
    assert config.providers["openai"].api_key_env == "OPENAI_API_KEY"
    assert config.providers["openai"].input_price_per_mtok > 0
    assert config.route() == ["offline"]


def test_empty_mapping_gives_offline_defaults() -> None:
    config = parse_llm_config(None)
    assert config.default_provider == "offline"
    assert config.fallback_chain == ["offline"]
    assert config.providers["offline"].model == "minilm-retrieval"
    assert config.cache.backend == "memory"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["providers"].update(bad={"kind": "gemini", "model": "x"}),
            ["providers.bad.kind", "'gemini'"],
        ),
        (
            lambda d: d["providers"].update(local={"kind": "openai_compatible", "model": "x"}),
            ["providers.local", "base_url is required"],
        ),
        (
            lambda d: d["providers"]["primary"].update(input_price_per_mtok=-1),
            ["providers.primary.input_price_per_mtok", "greater than or equal to 0"],
        ),
        (
            lambda d: d["providers"]["secondary"].update(output_price_per_mtok=-0.5),
            ["providers.secondary.output_price_per_mtok"],
        ),
        (
            lambda d: d.update(fallback_chain=["primary", "ghost", "offline"]),
            ["fallback_chain[1]", "unknown provider 'ghost'"],
        ),
        (
            lambda d: d.update(fallback_chain=["primary", "secondary"]),
            ["fallback_chain", "must end with an offline provider"],
        ),
        (
            lambda d: d.update(fallback_chain=["primary", "primary", "offline"]),
            ["fallback_chain[1]", "listed twice"],
        ),
        (lambda d: d.update(default_provider="ghost"), ["default_provider", "'ghost'"]),
        (lambda d: d["providers"]["primary"].update(timeout_s=0), ["providers.primary.timeout_s"]),
        (
            lambda d: d["providers"]["primary"].update(temprature=1),
            ["providers.primary.temprature"],
        ),
        (lambda d: d.update(cahce={"enabled": True}), ["cahce", "Extra inputs"]),
        (lambda d: d.update(cache={"backend": "memcached"}), ["cache.backend", "'memcached'"]),
        (lambda d: d.update(retry={"max_attempts": 0}), ["retry.max_attempts"]),
        (
            lambda d: d["providers"]["primary"].update(base_url="ftp://x"),
            ["providers.primary", "base_url must start with http"],
        ),
        (
            lambda d: d["providers"]["primary"].update(name="other"),
            ["providers.primary.name", "must equal its key"],
        ),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, mutate: Any, expected: list[str]) -> None:
    data = base_config()
    mutate(data)
    path = write_yaml(tmp_path, data)
    with pytest.raises(LLMConfigError) as info:
        load_llm_config(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message, message


def test_missing_file_and_bad_yaml_are_reported(tmp_path: Path) -> None:
    with pytest.raises(LLMConfigError, match="cannot read LLM config"):
        load_llm_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers: [unclosed\n", encoding="utf-8")
    with pytest.raises(LLMConfigError, match="invalid YAML"):
        load_llm_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n", encoding="utf-8")
    with pytest.raises(LLMConfigError, match="top level must be a mapping"):
        load_llm_config(scalar)


def test_env_var_overrides_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_yaml(tmp_path, base_config(default_provider="primary"))
    monkeypatch.setenv("HASTE_LLM_CONFIG", str(path))
    assert load_llm_config().default_provider == "primary"


def test_route_follows_the_chain_from_the_start_provider() -> None:
    data = base_config()
    data["providers"]["local"] = {
        "kind": "openai_compatible",
        "model": "llama",
        "base_url": "http://127.0.0.1:9/v1",
    }
    config = parse_llm_config(data)
    assert config.route() == ["offline"]
    assert config.route("primary") == ["primary", "secondary", "offline"]
    assert config.route("secondary") == ["secondary", "offline"]
    assert config.route("local") == ["local", "primary", "secondary", "offline"]
    with pytest.raises(KeyError, match="unknown LLM provider 'ghost'"):
        config.route("ghost")


# --- cost and backoff ----------------------------------------------------------------------


def test_cost_is_computed_from_prices_per_million_tokens() -> None:
    assert compute_cost_usd(1_000_000, 0, 0.15, 0.60) == pytest.approx(0.15)
    assert compute_cost_usd(1000, 500, 0.15, 0.60) == pytest.approx(0.00045)
    assert compute_cost_usd(0, 0, 3.0, 15.0) == 0.0
    cfg = ProviderConfig(
        kind="anthropic", model="m", input_price_per_mtok=0.8, output_price_per_mtok=4.0
    )
    assert cfg.compute_cost_usd(2000, 100) == pytest.approx(0.0016 + 0.0004)
    with pytest.raises(ValueError, match="token counts"):
        compute_cost_usd(-1, 0, 1.0, 1.0)
    with pytest.raises(ValueError, match="prices"):
        compute_cost_usd(1, 0, -1.0, 1.0)


def test_backoff_grows_exponentially_and_is_capped() -> None:
    retry = RetryConfig(backoff_initial_s=0.5, backoff_multiplier=2.0, backoff_max_s=3.0)
    assert [retry.compute_backoff_s(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    with pytest.raises(ValueError):
        retry.compute_backoff_s(0)


def test_resolve_api_key_reads_the_named_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = ProviderConfig(kind="openai", model="m", api_key_env="HASTE_TEST_LLM_KEY")
    monkeypatch.delenv("HASTE_TEST_LLM_KEY", raising=False)
    assert cfg.resolve_api_key() is None
    monkeypatch.setenv("HASTE_TEST_LLM_KEY", "sk-123")
    assert cfg.resolve_api_key() == "sk-123"
    assert ProviderConfig(kind="openai", model="m").resolve_api_key() is None


# --- requests, responses, errors, cache keys ----------------------------------------------


def test_request_validation_and_dict_messages() -> None:
    request = LLMRequest(messages=[{"role": "user", "content": "hi"}], system="be brief")
    assert request.messages == [ChatMessage("user", "hi")]
    with pytest.raises(ValueError, match="at least one message"):
        LLMRequest(messages=[])
    with pytest.raises(ValueError, match="max_tokens"):
        LLMRequest.from_prompt("x", max_tokens=0)
    with pytest.raises(ValueError, match="temperature"):
        LLMRequest.from_prompt("x", temperature=3.0)
    with pytest.raises(ValueError, match="role"):
        ChatMessage("robot", "x")  # type: ignore[arg-type]


def test_response_round_trips_through_a_dict() -> None:
    response = LLMResponse("t", "p", "m", 1, 2, 3.5, 0.01, finish_reason="stop", fallbacks=["a"])
    assert LLMResponse.from_dict({**response.to_dict(), "extra": 1}) == response


def test_provider_error_is_clear_and_picklable() -> None:
    error = ProviderError(
        "HTTP 429 rate limited", provider="openai", retryable=True, status_code=429
    )
    assert "openai" in str(error) and "429" in str(error)
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.provider, clone.retryable, clone.status_code) == ("openai", True, 429)
    chained = pickle.loads(pickle.dumps(LLMUnavailableError([error, final("anthropic")])))
    assert [e.provider for e in chained.errors] == ["openai", "anthropic"]


def test_cache_key_covers_every_generation_input_but_not_metadata() -> None:
    request = LLMRequest(messages=[ChatMessage("user", "hello")], system="s")
    key = compute_cache_key("openai", "gpt", request)
    assert len(key) == 64
    same = LLMRequest(messages=[ChatMessage("user", "hello")], system="s", metadata={"id": 1})
    assert compute_cache_key("openai", "gpt", same) == key
    variants = [
        compute_cache_key("anthropic", "gpt", request),
        compute_cache_key("openai", "gpt-2", request),
        compute_cache_key("openai", "gpt", LLMRequest([ChatMessage("user", "hello!")], "s")),
        compute_cache_key("openai", "gpt", LLMRequest([ChatMessage("assistant", "hello")], "s")),
        compute_cache_key("openai", "gpt", LLMRequest([ChatMessage("user", "hello")], "t")),
        compute_cache_key("openai", "gpt", LLMRequest([ChatMessage("user", "hello")])),
        compute_cache_key(
            "openai", "gpt", LLMRequest.from_prompt("hello", system="s", max_tokens=9)
        ),
        compute_cache_key(
            "openai", "gpt", LLMRequest.from_prompt("hello", system="s", temperature=0.0)
        ),
    ]
    assert len({key, *variants}) == len(variants) + 1


# --- MemoryResponseCache -------------------------------------------------------------------


def make_response(text: str) -> LLMResponse:
    return LLMResponse(text, "p", "m", 1, 1, 1.0, 0.5)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_cache_evicts_the_least_recently_used() -> None:
    cache = MemoryResponseCache(max_entries=2, ttl_s=60)
    cache.set("a", make_response("A"))
    cache.set("b", make_response("B"))
    assert cache.get("a").text == "A"  # a is now most recently used
    cache.set("c", make_response("C"))
    assert cache.get("b") is None
    assert cache.get("a").text == "A" and cache.get("c").text == "C"
    assert len(cache) == 2
    cache.set("a", make_response("A2"))  # overwrite refreshes, no eviction
    assert len(cache) == 2 and cache.get("a").text == "A2"
    cache.clear()
    assert len(cache) == 0


def test_memory_cache_expires_entries_after_ttl() -> None:
    clock = FakeClock()
    cache = MemoryResponseCache(max_entries=10, ttl_s=5, clock=clock)
    cache.set("k", make_response("v"))
    clock.now += 4.9
    assert cache.get("k") is not None
    clock.now += 0.1
    assert cache.get("k") is None
    assert len(cache) == 0


def test_memory_cache_returns_copies_and_is_thread_safe() -> None:
    cache = MemoryResponseCache(max_entries=50, ttl_s=60)
    cache.set("k", make_response("v"))
    got = cache.get("k")
    got.fallbacks.append("mutated")
    assert cache.get("k").fallbacks == []

    def hammer(worker: int) -> None:
        for i in range(300):
            cache.set(f"{worker}-{i}", make_response(str(i)))
            cache.get(f"{worker}-{i // 2}")

    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 50
    with pytest.raises(ValueError):
        MemoryResponseCache(max_entries=0)


# --- LLMClient logic with test doubles -----------------------------------------------------


def make_client(
    providers: dict[str, Provider], cache: MemoryResponseCache | None = None, **overrides: Any
) -> tuple[LLMClient, list[float]]:
    sleeps: list[float] = []
    client = LLMClient(
        parse_llm_config(base_config(**overrides)),
        providers=providers,
        cache=cache,
        sleep=sleeps.append,
    )
    return client, sleeps


def test_client_starts_at_the_default_provider() -> None:
    offline = FakeProvider("offline")
    client, _ = make_client({"offline": offline})
    response = client.generate(LLMRequest.from_prompt("hi"))
    assert (response.provider, response.fallbacks, response.cached) == ("offline", [], False)
    assert client.cache is None  # cache.enabled is false in base_config


def test_client_retries_retryable_errors_with_backoff() -> None:
    primary = FakeProvider("primary", [retryable("primary", 429), retryable("primary"), "ok"])
    client, sleeps = make_client({"primary": primary})
    response = client.generate(LLMRequest.from_prompt("hi"), provider="primary")
    assert response.text == "ok" and response.fallbacks == []
    assert len(primary.calls) == 3
    assert sleeps == [0.1, 0.2]


def test_client_falls_back_on_final_error_and_on_exhausted_retries() -> None:
    primary = FakeProvider("primary", [final("primary")])
    secondary = FakeProvider("secondary", [retryable("secondary")] * 3)
    offline = FakeProvider("offline", ["offline answer"])
    client, sleeps = make_client({"primary": primary, "secondary": secondary, "offline": offline})
    response = client.generate(LLMRequest.from_prompt("hi"), provider="primary")
    assert response.text == "offline answer"
    assert response.fallbacks == ["primary", "secondary"]
    assert (len(primary.calls), len(secondary.calls)) == (1, 3)
    assert sleeps == [0.1, 0.2]


def test_client_turns_unexpected_exceptions_into_fallbacks() -> None:
    primary = FakeProvider("primary", [RuntimeError("bug")])
    secondary = FakeProvider("secondary", ["fine"])
    client, _ = make_client({"primary": primary, "secondary": secondary})
    response = client.generate(LLMRequest.from_prompt("hi"), provider="primary")
    assert (response.provider, response.fallbacks) == ("secondary", ["primary"])


def test_client_raises_when_every_provider_fails() -> None:
    providers = {
        "secondary": FakeProvider("secondary", [final("secondary", 400)]),
        "offline": FakeProvider("offline", [final("offline", 500)]),
    }
    client, _ = make_client(providers)
    with pytest.raises(LLMUnavailableError) as info:
        client.generate(LLMRequest.from_prompt("hi"), provider="secondary")
    assert [e.provider for e in info.value.errors] == ["secondary", "offline"]
    assert "secondary: HTTP 400" in str(info.value) and "offline: HTTP 500" in str(info.value)


def test_client_builds_missing_providers_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_1", raising=False)
    offline = FakeProvider("offline", ["from offline"])
    client, _ = make_client({"offline": offline})
    response = client.generate(LLMRequest.from_prompt("hi"), provider="primary")
    # primary (openai) and secondary (anthropic) have no key: they fail at once, no network
    assert response.fallbacks == ["primary", "secondary"]
    assert response.text == "from offline"
    with pytest.raises(ValueError, match="not in the LLM config"):
        LLMClient(parse_llm_config(base_config()), providers={"ghost": offline})


def test_missing_key_error_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_1", raising=False)
    provider = build_provider(parse_llm_config(base_config()).get_provider("primary"))
    with pytest.raises(ProviderError, match=r"no API key: set \$NO_SUCH_KEY_1") as info:
        provider.generate(LLMRequest.from_prompt("hi"))
    assert info.value.retryable is False


def test_offline_kind_is_built_lazily_from_serving_llm_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[dict[str, Any]] = []

    class StubOffline(FakeProvider):
        def __init__(self, model: str = "minilm-retrieval", corpus: Any = None) -> None:
            super().__init__("offline", ["stub"], model=model)
            built.append({"model": model, "corpus": corpus})

    module = types.ModuleType("textai.llm.offline")
    module.OfflineProvider = StubOffline  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "textai.llm.offline", module)
    data = base_config()
    data["providers"]["local_model"] = {"kind": "offline", "model": "tiny-retrieval"}
    data["fallback_chain"] = ["primary", "local_model"]
    provider = build_provider(parse_llm_config(data).get_provider("local_model"))
    assert isinstance(provider, StubOffline)
    assert built == [{"model": "tiny-retrieval", "corpus": None}]
    assert (provider.name, provider.model) == ("local_model", "tiny-retrieval")


def test_client_serves_repeated_requests_from_the_cache() -> None:
    primary = FakeProvider("primary", [final("primary"), final("primary")])
    secondary = FakeProvider("secondary", ["first", "second"])
    client, _ = make_client({"primary": primary, "secondary": secondary}, MemoryResponseCache())
    request = LLMRequest.from_prompt("same question")
    fresh = client.generate(request, provider="primary")
    again = client.generate(request, provider="primary")
    assert (fresh.cached, fresh.cost_usd, fresh.fallbacks) == (False, 0.001, ["primary"])
    assert (again.cached, again.cost_usd, again.text) == (True, 0.0, "first")
    assert again.fallbacks == ["primary"]
    assert len(secondary.calls) == 1
    bypass = client.generate(request, provider="secondary", use_cache=False)
    assert (bypass.text, bypass.cached) == ("second", False)
