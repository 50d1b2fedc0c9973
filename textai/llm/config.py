"""Configuration of the LLM providers, the fallback chain, retries and the response cache.

``configs/llm.yaml`` is the one source of truth; :func:`load_llm_config` reads and checks it.
Every validation error is reported as ``<file>: <dotted.key>: <reason>`` so a bad key is named,
e.g. ``providers.local.base_url: base_url is required when kind is openai_compatible``.

The embedded defaults make the platform work with no API key at all: ``default_provider`` is
``offline`` (the local retrieval model of ``textai/llm/offline.py``) and every fallback chain
must end with a provider of kind ``offline``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ProviderKind = Literal["openai", "anthropic", "openai_compatible", "offline"]
CacheBackend = Literal["memory", "redis"]
BudgetScope = Literal["user", "team", "feature", "global"]

TOKENS_PER_PRICE_UNIT = 1_000_000
"""Prices in the config are USD per million tokens."""


class LLMConfigError(ValueError):
    """An LLM configuration file is missing, unreadable or invalid (the message names the key)."""


def compute_cost_usd(
    input_tokens: int,
    output_tokens: int,
    input_price_per_mtok: float,
    output_price_per_mtok: float,
) -> float:
    """Return the USD cost of a call from its token counts and per-million-token prices.

    Args:
        input_tokens: Prompt tokens billed by the provider.
        output_tokens: Completion tokens billed by the provider.
        input_price_per_mtok: USD per million input tokens.
        output_price_per_mtok: USD per million output tokens.

    Returns:
        The cost in USD, rounded to 10 decimals (sub-micro-dollar precision).

    Raises:
        ValueError: When a token count or a price is negative.
    """
    if input_tokens < 0 or output_tokens < 0:
        raise ValueError(f"token counts must be >= 0, got {input_tokens}/{output_tokens}")
    if input_price_per_mtok < 0 or output_price_per_mtok < 0:
        raise ValueError("prices must be >= 0")
    cost = (
        input_tokens * input_price_per_mtok + output_tokens * output_price_per_mtok
    ) / TOKENS_PER_PRICE_UNIT
    return round(cost, 10)


class ProviderConfig(BaseModel):
    """One LLM provider: which API it speaks, which model, how to reach it and what it costs.

    Attributes:
        name: The provider's key in ``providers`` (filled in by :class:`LLMConfig`).
        kind: ``openai``, ``anthropic``, ``openai_compatible`` (vLLM, Ollama, ... at
            ``base_url``) or ``offline`` (the local model, no network).
        model: Model name sent to the API (for ``offline``: the local model's name).
        base_url: API root; required for ``openai_compatible``. OpenAI-style URLs end in
            ``/v1``; the Anthropic SDK appends ``/v1/messages`` itself.
        api_key_env: Name of the environment variable holding the API key (never the key).
        timeout_s: Per-HTTP-request timeout in seconds.
        max_retries: Retries done by the SDK itself (429, 5xx, timeouts, connection errors).
        input_price_per_mtok: USD per million input (prompt) tokens.
        output_price_per_mtok: USD per million output (completion) tokens.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    kind: ProviderKind
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    input_price_per_mtok: float = Field(default=0.0, ge=0)
    output_price_per_mtok: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _check_kind_requirements(self) -> ProviderConfig:
        """Require ``base_url`` for ``openai_compatible`` and an http(s) URL when given."""
        if self.kind == "openai_compatible" and not self.base_url:
            raise ValueError("base_url is required when kind is openai_compatible")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url}")
        return self

    def compute_cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        """Return the USD cost of a call to this provider from its token usage."""
        return compute_cost_usd(
            input_tokens, output_tokens, self.input_price_per_mtok, self.output_price_per_mtok
        )

    def resolve_api_key(self) -> str | None:
        """Return the API key from ``api_key_env`` (``None`` when unset or not configured)."""
        if not self.api_key_env:
            return None
        return os.environ.get(self.api_key_env) or None


class RetryConfig(BaseModel):
    """Client-level retries of retryable provider errors, on top of the SDK's own retries.

    Attributes:
        max_attempts: Calls to one provider before moving down the fallback chain (>= 1).
        backoff_initial_s: Sleep before the second attempt.
        backoff_multiplier: Factor applied to the sleep after each failed attempt.
        backoff_max_s: Upper bound of one sleep.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=2, ge=1, le=10)
    backoff_initial_s: float = Field(default=0.5, ge=0)
    backoff_multiplier: float = Field(default=2.0, ge=1)
    backoff_max_s: float = Field(default=8.0, ge=0)

    def compute_backoff_s(self, attempt: int) -> float:
        """Return the sleep after failed attempt number ``attempt`` (1-based), bounded."""
        if attempt < 1:
            raise ValueError(f"attempt is 1-based, got {attempt}")
        delay = self.backoff_initial_s * self.backoff_multiplier ** (attempt - 1)
        return min(delay, self.backoff_max_s)


class CacheConfig(BaseModel):
    """The response cache.

    Attributes:
        enabled: Whether :class:`~textai.llm.client.LLMClient` caches responses.
        ttl_s: Lifetime of a cached response in seconds.
        max_entries: Capacity of the in-memory LRU cache (the Redis cache relies on the TTL).
        backend: ``memory`` (per process) or ``redis`` (shared by replicas).
        redis_url: Redis URL for the ``redis`` backend; ``None`` uses ``HASTE_REDIS_URL``.
        key_prefix: Prefix of every Redis key written by the cache.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    ttl_s: float = Field(default=3600.0, gt=0)
    max_entries: int = Field(default=1024, ge=1)
    backend: CacheBackend = "memory"
    redis_url: str | None = None
    key_prefix: str = Field(default="haste:llm:cache:", min_length=1)


class BudgetConfig(BaseModel):
    """A monthly AI spending budget (enforced by :mod:`textai.llm.budgets`).

    Attributes:
        scope: ``user``, ``team``, ``feature`` or ``global``.
        id: The user/team id or feature name it applies to; ``*`` applies it to each user,
            team or feature separately (an entry with an explicit id wins over ``*``).
            ``global`` budgets use ``*``.
        monthly_limit_usd: Hard limit per calendar month (UTC), at most 6 decimals.
        alert_thresholds: Fractions of the limit in (0, 1] that raise an alert once a month.
        degrade_to: Provider used instead when a call does not fit (e.g. ``offline``);
            ``None`` refuses the call.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: BudgetScope
    id: str = Field(default="*", min_length=1, max_length=100)
    monthly_limit_usd: Decimal = Field(ge=0, lt=1_000_000, decimal_places=6)
    alert_thresholds: list[float] = Field(default_factory=lambda: [0.5, 0.8, 1.0])
    degrade_to: str | None = None

    @model_validator(mode="after")
    def _check_budget(self) -> BudgetConfig:
        """Require ``*`` for global budgets and distinct thresholds in (0, 1]."""
        if self.scope == "global" and self.id != "*":
            raise ValueError(
                f"a global budget applies to everything: id must be '*', got {self.id!r}"
            )
        if any(not 0 < t <= 1 for t in self.alert_thresholds):
            raise ValueError(f"alert_thresholds must be in (0, 1], got {self.alert_thresholds}")
        if len(set(self.alert_thresholds)) != len(self.alert_thresholds):
            raise ValueError(f"alert_thresholds must be distinct, got {self.alert_thresholds}")
        return self


def _build_default_providers() -> dict[str, ProviderConfig]:
    """Return the embedded provider table: the offline model only."""
    return {"offline": ProviderConfig(name="offline", kind="offline", model="minilm-retrieval")}


class LLMConfig(BaseModel):
    """The whole ``configs/llm.yaml``.

    Attributes:
        providers: Provider name -> its configuration.
        fallback_chain: Ordered provider names tried on failure; ends with an offline provider.
        default_provider: Provider used when a call names none.
        retry: Client-level retry policy.
        cache: Response cache settings.
        budgets: Monthly spending budgets (none by default: no limit).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    providers: dict[str, ProviderConfig] = Field(default_factory=_build_default_providers)
    fallback_chain: list[str] = Field(default_factory=lambda: ["offline"])
    default_provider: str = "offline"
    retry: RetryConfig = Field(default_factory=RetryConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    budgets: list[BudgetConfig] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _fill_provider_names(cls, data: Any) -> Any:
        """Copy each provider's key into its ``name`` (a different explicit name is an error)."""
        if not isinstance(data, Mapping):
            return data
        providers = data.get("providers")
        if not isinstance(providers, Mapping):
            return data
        filled: dict[Any, Any] = {}
        for key, value in providers.items():
            if isinstance(value, Mapping):
                declared = value.get("name")
                if declared not in (None, "", key):
                    raise ValueError(
                        f"providers.{key}.name: must equal its key {key!r} (got {declared!r})"
                    )
                value = {**value, "name": key}
            elif isinstance(value, ProviderConfig) and value.name != key:
                value = value.model_copy(update={"name": key})
            filled[key] = value
        return {**data, "providers": filled}

    @model_validator(mode="after")
    def _check_references(self) -> LLMConfig:
        """Check that the chain and the default name known providers and end offline."""
        if not self.providers:
            raise ValueError("providers: at least one provider is required")
        if not self.fallback_chain:
            raise ValueError("fallback_chain: must list at least one provider")
        seen: set[str] = set()
        for index, name in enumerate(self.fallback_chain):
            if name not in self.providers:
                raise ValueError(
                    f"fallback_chain[{index}]: unknown provider {name!r} "
                    f"(known: {', '.join(sorted(self.providers))})"
                )
            if name in seen:
                raise ValueError(f"fallback_chain[{index}]: provider {name!r} is listed twice")
            seen.add(name)
        last = self.fallback_chain[-1]
        if self.providers[last].kind != "offline":
            raise ValueError(
                f"fallback_chain: must end with an offline provider, ends with {last!r} "
                f"(kind {self.providers[last].kind})"
            )
        if self.default_provider not in self.providers:
            raise ValueError(
                f"default_provider: unknown provider {self.default_provider!r} "
                f"(known: {', '.join(sorted(self.providers))})"
            )
        return self

    @model_validator(mode="after")
    def _check_budgets(self) -> LLMConfig:
        """Check that budgets degrade to known providers and are not listed twice."""
        seen: set[tuple[str, str]] = set()
        for index, budget in enumerate(self.budgets):
            key = (budget.scope, budget.id)
            if key in seen:
                raise ValueError(
                    f"budgets[{index}]: budget {budget.scope}:{budget.id} is listed twice"
                )
            seen.add(key)
            if budget.degrade_to is not None and budget.degrade_to not in self.providers:
                raise ValueError(
                    f"budgets[{index}].degrade_to: unknown provider {budget.degrade_to!r} "
                    f"(known: {', '.join(sorted(self.providers))})"
                )
        return self

    def get_provider(self, name: str) -> ProviderConfig:
        """Return the named provider's configuration.

        Raises:
            KeyError: When no provider has that name.
        """
        try:
            return self.providers[name]
        except KeyError:
            known = ", ".join(sorted(self.providers))
            raise KeyError(f"unknown LLM provider {name!r} (known: {known})") from None

    def route(self, start: str | None = None) -> list[str]:
        """Return the providers to try, in order, for a call starting at ``start``.

        The call starts at ``start`` (default: ``default_provider``). When that provider is in
        ``fallback_chain`` the call falls back to the providers listed after it; otherwise it
        falls back to the whole chain.

        Raises:
            KeyError: When ``start`` names no provider.
        """
        first = start or self.default_provider
        self.get_provider(first)
        if first in self.fallback_chain:
            return self.fallback_chain[self.fallback_chain.index(first) :]
        return [first, *self.fallback_chain]


def format_validation_error(error: ValidationError, source: str) -> str:
    """Return one line per problem, each naming the dotted key, e.g. ``providers.x.kind``."""
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "literal_error":
            message = f"{message}, got {item.get('input')!r}"
        lines.append(f"{key}: {message}" if key else message)
    return f"invalid LLM config {source}:\n  " + "\n  ".join(lines)


def parse_llm_config(data: Mapping[str, Any] | None, source: str = "<mapping>") -> LLMConfig:
    """Validate a mapping (the parsed YAML) into an :class:`LLMConfig`.

    Args:
        data: The parsed document; ``None`` (an empty file) gives the embedded defaults.
        source: Where the mapping came from, used in error messages.

    Raises:
        LLMConfigError: When the mapping is invalid; the message names every bad key.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise LLMConfigError(f"invalid LLM config {source}: top level must be a mapping")
    try:
        return LLMConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise LLMConfigError(format_validation_error(exc, source)) from None


def resolve_llm_config_path() -> Path:
    """Return ``configs/llm.yaml`` (override with the ``HASTE_LLM_CONFIG`` env var)."""
    from haste.settings import CONFIG_DIR

    return Path(os.environ.get("HASTE_LLM_CONFIG", CONFIG_DIR / "llm.yaml"))


def load_llm_config(path: str | Path | None = None) -> LLMConfig:
    """Read and validate the LLM configuration file.

    Args:
        path: YAML file; defaults to ``haste.settings.CONFIG_DIR / "llm.yaml"`` (or
            ``$HASTE_LLM_CONFIG``).

    Returns:
        The validated configuration.

    Raises:
        LLMConfigError: When the file is missing, is not valid YAML or fails validation (the
            message names the bad key).
    """
    file = Path(path) if path is not None else resolve_llm_config_path()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise LLMConfigError(f"cannot read LLM config {file}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LLMConfigError(f"invalid YAML in LLM config {file}: {exc}") from exc
    return parse_llm_config(data, source=str(file))
