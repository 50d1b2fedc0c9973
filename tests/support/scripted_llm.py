"""LLM test doubles shared by the tests of the "hosted LLM first, offline fallback" features.

:class:`ScriptedProvider` answers a fixed text (recording each prompt, optionally checking it
holds a phrase); :func:`client_for` builds an :class:`~textai.llm.client.LLMClient` whose
``local`` provider is OpenAI-compatible at a given URL and whose offline provider must never
answer.
"""

from __future__ import annotations

from textai.llm.client import LLMClient
from textai.llm.config import parse_llm_config
from textai.llm.providers import LLMRequest, LLMResponse, Provider


class ScriptedProvider(Provider):
    """A hosted provider double that answers a fixed text and records the prompts.

    Args:
        name: Provider name.
        answer: The text every call answers.
        must_contain: A phrase every prompt must hold (asserted), if given.
    """

    def __init__(self, name: str, answer: str, must_contain: str | None = None) -> None:
        self.name, self.model, self.answer = name, "scripted", answer
        self.must_contain = must_contain
        self.prompts: list[str] = []

    def generate(self, request: LLMRequest) -> LLMResponse:
        """Record the prompt, check it, answer the scripted text."""
        prompt = request.messages[-1].content
        if self.must_contain is not None:
            assert self.must_contain in prompt
        self.prompts.append(prompt)
        return LLMResponse(self.answer, self.name, self.model, 10, 10, 1.0, 0.0)


def client_for(
    base_url: str, key_env: str, must_contain: str | None = None, **providers: Provider
) -> LLMClient:
    """Return a client whose ``local`` provider is OpenAI-compatible at ``base_url``.

    Args:
        base_url: The local provider's base URL (e.g. the wire-format server's).
        key_env: Environment variable of the local provider's API key.
        must_contain: Passed to the offline double (it must not be reached anyway).
        **providers: Provider objects replacing the configured ones, by name.
    """
    config = parse_llm_config(
        {
            "default_provider": "offline",
            "fallback_chain": ["local", "offline"],
            "providers": {
                "local": {
                    "kind": "openai_compatible",
                    "model": "wire-model",
                    "base_url": base_url,
                    "api_key_env": key_env,
                    "timeout_s": 5,
                    "max_retries": 0,
                },
                "offline": {"kind": "offline", "model": "minilm-retrieval"},
            },
            "retry": {"max_attempts": 1},
            "cache": {"enabled": False},
        }
    )
    refused = ScriptedProvider("offline", "the offline model must not be reached", must_contain)
    return LLMClient(config, providers={"offline": refused, **providers})
