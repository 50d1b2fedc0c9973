"""Build the provider a configuration entry describes (SDK providers or the offline one)."""

from __future__ import annotations

from typing import Any

from textai.llm.config import ProviderConfig
from textai.llm.providers import AnthropicProvider, OpenAIProvider, Provider


def build_provider(cfg: ProviderConfig) -> Provider:
    """Instantiate the provider a configuration entry describes.

    The key is read from ``cfg.api_key_env`` now; a missing key is reported (as a
    non-retryable :class:`ProviderError`) only when the provider is called, so a configured but
    keyless provider simply falls down the chain. ``offline`` imports
    ``textai.llm.offline.OfflineProvider`` lazily (its model loads only when needed).

    Args:
        cfg: One entry of ``LLMConfig.providers`` (its ``name`` filled in).

    Returns:
        The provider, named ``cfg.name`` (or ``cfg.kind`` when the name is empty).

    Raises:
        ValueError: On an unknown kind.
    """
    name = cfg.name or cfg.kind
    common: dict[str, Any] = {
        "api_key": cfg.resolve_api_key(),
        "api_key_env": cfg.api_key_env,
        "base_url": cfg.base_url,
        "timeout_s": cfg.timeout_s,
        "max_retries": cfg.max_retries,
        "input_price_per_mtok": cfg.input_price_per_mtok,
        "output_price_per_mtok": cfg.output_price_per_mtok,
    }
    if cfg.kind == "openai":
        return OpenAIProvider(name, cfg.model, token_limit_param="max_completion_tokens", **common)
    if cfg.kind == "openai_compatible":
        return OpenAIProvider(name, cfg.model, keyless=True, **common)
    if cfg.kind == "anthropic":
        return AnthropicProvider(name, cfg.model, **common)
    if cfg.kind == "offline":
        from textai.llm.offline import OfflineProvider

        provider = OfflineProvider(model=cfg.model)
        if getattr(provider, "name", None) != name:
            provider.name = name
        return provider
    raise ValueError(f"unknown provider kind {cfg.kind!r} for provider {name!r}")
