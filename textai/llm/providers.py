"""LLM providers behind one interface: OpenAI, Anthropic, OpenAI-compatible servers, offline.

Every provider turns an :class:`LLMRequest` into an :class:`LLMResponse` (text, token usage,
latency, USD cost from the price table of ``configs/llm.yaml``) and reports every failure as a
:class:`ProviderError` that says which provider failed, whether retrying may help and the HTTP
status. The SDKs are the official ``openai`` and ``anthropic`` clients; their built-in retries
(``max_retries``) and per-request timeouts come from the provider's configuration.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from textai.errors import GenerationError
from textai.llm.config import compute_cost_usd

if TYPE_CHECKING:
    import anthropic
    import openai

logger = logging.getLogger(__name__)

Role = Literal["system", "user", "assistant"]
ROLES: frozenset[str] = frozenset({"system", "user", "assistant"})
RETRYABLE_STATUS: frozenset[int] = frozenset({408, 409, 429})
"""Statuses worth retrying besides every 5xx (500, 502, 503, 504, Anthropic's 529)."""

KEYLESS_PLACEHOLDER = "not-needed"
"""API key sent to an OpenAI-compatible server (vLLM, Ollama) when none is configured."""


@dataclass(frozen=True)
class ChatMessage:
    """One chat turn.

    Attributes:
        role: ``user``, ``assistant`` or ``system``.
        content: The text of the turn.
    """

    role: Role
    content: str

    def __post_init__(self) -> None:
        """Reject unknown roles and non-text content."""
        if self.role not in ROLES:
            raise ValueError(f"ChatMessage.role must be one of {sorted(ROLES)}, got {self.role!r}")
        if not isinstance(self.content, str):
            raise TypeError(f"ChatMessage.content must be str, got {type(self.content).__name__}")


@dataclass
class LLMRequest:
    """A provider-independent chat request.

    Attributes:
        messages: The conversation, oldest first; at least one message.
        system: System prompt (sent as a ``system`` message to OpenAI, as the top-level
            ``system`` parameter to Anthropic).
        max_tokens: Upper bound of generated tokens.
        temperature: Sampling temperature in [0, 2].
        metadata: Free-form caller data (request id, user, feature); never sent to providers
            and not part of the cache key.
    """

    messages: list[ChatMessage]
    system: str | None = None
    max_tokens: int = 512
    temperature: float = 0.2
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Accept ``{"role", "content"}`` dicts for messages and check the bounds."""
        self.messages = [
            m if isinstance(m, ChatMessage) else ChatMessage(**m) for m in self.messages
        ]
        if not self.messages:
            raise ValueError("LLMRequest.messages must hold at least one message")
        if self.max_tokens < 1:
            raise ValueError(f"LLMRequest.max_tokens must be >= 1, got {self.max_tokens}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"LLMRequest.temperature must be in [0, 2], got {self.temperature}")

    @classmethod
    def from_prompt(cls, prompt: str, *, system: str | None = None, **kwargs: Any) -> LLMRequest:
        """Build a one-turn request from a user prompt."""
        return cls(messages=[ChatMessage("user", prompt)], system=system, **kwargs)


@dataclass
class LLMResponse:
    """What a provider (or the cache) answered.

    Attributes:
        text: The generated text.
        provider: Name of the provider that produced it (its key in ``configs/llm.yaml``).
        model: Model that produced it, as reported by the API.
        input_tokens: Prompt tokens billed.
        output_tokens: Completion tokens billed.
        latency_ms: Wall time of the call (of the cache lookup for a cached response).
        cost_usd: Cost of this call from the price table (0 for a cached response).
        cached: Whether the response came from the response cache.
        finish_reason: Why generation stopped (``stop``/``length`` for OpenAI,
            ``end_turn``/``max_tokens`` for Anthropic), when known.
        fallbacks: Providers that failed, in order, before this one answered.
    """

    text: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    cost_usd: float
    cached: bool = False
    finish_reason: str | None = None
    fallbacks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LLMResponse:
        """Rebuild a response from :meth:`to_dict` output (unknown keys are ignored)."""
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


class ProviderError(GenerationError):
    """A provider call failed.

    Attributes:
        provider: Name of the provider that failed.
        reason: The message, without the provider prefix.
        retryable: Whether the same call may succeed later (rate limit, 5xx, timeout, network).
        status_code: HTTP status when the API answered with an error, else ``None``.
    """

    def __init__(
        self,
        reason: str,
        *,
        provider: str,
        retryable: bool,
        status_code: int | None = None,
    ) -> None:
        super().__init__(f"LLM provider {provider!r} failed: {reason}")
        self.provider = provider
        self.reason = reason
        self.retryable = retryable
        self.status_code = status_code

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with the keyword arguments (errors cross process boundaries under Ray)."""
        return (
            _rebuild_provider_error,
            (type(self), self.reason, self.provider, self.retryable, self.status_code),
        )


def _rebuild_provider_error(
    cls: type[ProviderError], reason: str, provider: str, retryable: bool, status: int | None
) -> ProviderError:
    """Unpickle a :class:`ProviderError` (or subclass)."""
    return cls(reason, provider=provider, retryable=retryable, status_code=status)


def is_retryable_status(status_code: int) -> bool:
    """Return whether an HTTP status is worth retrying (408, 409, 429 and every 5xx)."""
    return status_code in RETRYABLE_STATUS or status_code >= 500


def describe_status(status_code: int) -> str:
    """Return a short human description of an HTTP error status."""
    descriptions = {
        400: "bad request",
        401: "authentication failed",
        403: "permission denied",
        404: "not found (check the model name and base_url)",
        408: "request timed out on the server",
        409: "conflict",
        413: "request too large",
        422: "unprocessable request",
        429: "rate limited",
        529: "overloaded",
    }
    if status_code in descriptions:
        return descriptions[status_code]
    return "server error" if status_code >= 500 else "request rejected"


def extract_error_message(body: object) -> str | None:
    """Return the provider's error message from an error body (OpenAI or Anthropic shape)."""
    if not isinstance(body, dict):
        return body if isinstance(body, str) and body else None
    inner = body.get("error")
    if isinstance(inner, dict) and isinstance(inner.get("message"), str):
        return inner["message"]
    if isinstance(inner, str):
        return inner
    message = body.get("message")
    return message if isinstance(message, str) else None


def wrap_sdk_error(
    exc: BaseException,
    *,
    provider: str,
    timeout_s: float | None = None,
    api_key_env: str | None = None,
) -> ProviderError:
    """Turn an ``openai`` or ``anthropic`` SDK exception into a :class:`ProviderError`.

    Both SDKs share the same exception layout (``APIStatusError`` with ``status_code`` and
    ``body``, ``APITimeoutError`` subclassing ``APIConnectionError``); they are matched by
    attribute and class name so neither SDK needs importing here.

    Args:
        exc: The exception raised by the SDK.
        provider: Name of the failing provider.
        timeout_s: The configured timeout, quoted in timeout messages.
        api_key_env: The env var holding the key, quoted in authentication messages.

    Returns:
        The wrapped error; the caller raises it ``from exc``.
    """
    if isinstance(exc, ProviderError):
        return exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and "APIStatusError" in names:
        detail = extract_error_message(getattr(exc, "body", None)) or str(exc)
        reason = f"HTTP {status} {describe_status(status)}: {detail}"
        if status in (401, 403) and api_key_env:
            reason += f" (check the API key in ${api_key_env})"
        return ProviderError(
            reason, provider=provider, retryable=is_retryable_status(status), status_code=status
        )
    if "APITimeoutError" in names or isinstance(exc, TimeoutError):
        limit = f" after {timeout_s:g} s" if timeout_s is not None else ""
        return ProviderError(f"request timed out{limit}", provider=provider, retryable=True)
    if "APIConnectionError" in names or isinstance(exc, ConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f": {cause}" if cause else ""
        return ProviderError(f"connection failed{detail}", provider=provider, retryable=True)
    return ProviderError(
        f"{type(exc).__name__}: {exc}", provider=provider, retryable=False, status_code=status
    )


class Provider(ABC):
    """An LLM backend: ``generate`` one response for one request.

    Subclasses set ``name`` (the provider's key in ``configs/llm.yaml``) and ``model``, and
    raise :class:`ProviderError` (never a bare SDK exception) on failure. ``generate`` must be
    thread-safe: one provider instance serves concurrent requests.
    """

    name: str
    model: str

    @abstractmethod
    def generate(self, request: LLMRequest) -> LLMResponse:
        """Return the model's response to ``request``.

        Raises:
            ProviderError: When the call fails; ``retryable`` says whether to try again.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release network resources (no-op by default)."""


class _PricedProvider(Provider):
    """Shared state of the hosted providers: name, model, prices, timeout and retries."""

    def __init__(
        self,
        name: str,
        model: str,
        *,
        api_key: str | None = None,
        api_key_env: str | None = None,
        base_url: str | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 2,
        input_price_per_mtok: float = 0.0,
        output_price_per_mtok: float = 0.0,
    ) -> None:
        self.name = name
        self.model = model
        self.api_key = api_key
        self.api_key_env = api_key_env
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.input_price_per_mtok = input_price_per_mtok
        self.output_price_per_mtok = output_price_per_mtok

    def compute_cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        """Return the USD cost of a call from its token usage and this provider's prices."""
        return compute_cost_usd(
            input_tokens, output_tokens, self.input_price_per_mtok, self.output_price_per_mtok
        )

    def _build_missing_key_error(self) -> ProviderError:
        """Return the error raised when no API key is available (nothing is sent)."""
        where = f"${self.api_key_env}" if self.api_key_env else "api_key_env (not configured)"
        return ProviderError(
            f"no API key: set {where}", provider=self.name, retryable=False, status_code=None
        )

    def _wrap(self, exc: BaseException) -> ProviderError:
        """Wrap an SDK exception with this provider's name, timeout and key variable."""
        return wrap_sdk_error(
            exc, provider=self.name, timeout_s=self.timeout_s, api_key_env=self.api_key_env
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, model={self.model!r})"


class OpenAIProvider(_PricedProvider):
    """OpenAI Chat Completions, also any OpenAI-compatible server (vLLM, Ollama) at ``base_url``.

    Args:
        name: Provider name reported in responses and errors.
        model: Model sent as ``model``.
        api_key: The key; ``None`` fails every call with a non-retryable error unless
            ``keyless`` (OpenAI-compatible servers usually need none).
        api_key_env: Env var the key came from, quoted in error messages.
        base_url: API root ending in ``/v1``; ``None`` is api.openai.com.
        timeout_s: Per-request timeout.
        max_retries: SDK retries.
        input_price_per_mtok: USD per million prompt tokens.
        output_price_per_mtok: USD per million completion tokens.
        keyless: Send a placeholder key when none is set (``openai_compatible``).
        token_limit_param: ``max_tokens`` (compatible servers) or ``max_completion_tokens``
            (api.openai.com, required by its reasoning models).
        client: A ready ``openai.OpenAI`` client (tests); built lazily otherwise.
    """

    def __init__(
        self,
        name: str,
        model: str,
        *,
        api_key: str | None = None,
        api_key_env: str | None = None,
        base_url: str | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 2,
        input_price_per_mtok: float = 0.0,
        output_price_per_mtok: float = 0.0,
        keyless: bool = False,
        token_limit_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens",
        client: openai.OpenAI | None = None,
    ) -> None:
        super().__init__(
            name,
            model,
            api_key=api_key,
            api_key_env=api_key_env,
            base_url=base_url,
            timeout_s=timeout_s,
            max_retries=max_retries,
            input_price_per_mtok=input_price_per_mtok,
            output_price_per_mtok=output_price_per_mtok,
        )
        self.keyless = keyless
        self.token_limit_param = token_limit_param
        self._client = client

    @property
    def client(self) -> openai.OpenAI:
        """The SDK client, built on first use.

        Raises:
            ProviderError: When no API key is available and the provider is not keyless.
        """
        if self._client is None:
            import openai

            key = self.api_key or (KEYLESS_PLACEHOLDER if self.keyless else None)
            if key is None:
                raise self._build_missing_key_error()
            self._client = openai.OpenAI(
                api_key=key,
                base_url=self.base_url,
                timeout=self.timeout_s,
                max_retries=self.max_retries,
            )
        return self._client

    def build_messages(self, request: LLMRequest) -> list[dict[str, str]]:
        """Return the Chat Completions ``messages``: the system prompt first, then the turns."""
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages.extend({"role": m.role, "content": m.content} for m in request.messages)
        return messages

    def generate(self, request: LLMRequest) -> LLMResponse:
        """Call ``chat.completions.create`` and return its first choice.

        Raises:
            ProviderError: On a missing key, an API error, a timeout or an empty answer.
        """
        client = self.client
        params: dict[str, Any] = {
            "model": self.model,
            "messages": self.build_messages(request),
            "temperature": request.temperature,
            self.token_limit_param: request.max_tokens,
        }
        start = time.perf_counter()
        try:
            completion = client.chat.completions.create(**params)
        except Exception as exc:
            raise self._wrap(exc) from exc
        latency_ms = (time.perf_counter() - start) * 1000.0
        if not completion.choices:
            raise ProviderError("response has no choices", provider=self.name, retryable=False)
        choice = completion.choices[0]
        usage = completion.usage
        input_tokens = int(usage.prompt_tokens) if usage else 0
        output_tokens = int(usage.completion_tokens) if usage else 0
        if usage is None:
            logger.warning("provider %s returned no token usage; cost counted as 0", self.name)
        return LLMResponse(
            text=choice.message.content or "",
            provider=self.name,
            model=completion.model or self.model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_ms=round(latency_ms, 3),
            cost_usd=self.compute_cost_usd(input_tokens, output_tokens),
            finish_reason=choice.finish_reason,
        )

    def close(self) -> None:
        """Close the SDK's HTTP connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None


class AnthropicProvider(_PricedProvider):
    """Anthropic Messages API.

    ``system`` goes in the top-level ``system`` parameter; ``system`` turns inside
    ``messages`` (which the Messages API rejects) are appended to it. ``temperature`` is not
    sent: the anthropic SDK 2.x targets API version 2026-10-21, which removed the sampling
    parameters (the SDK has no such argument and the API answers 400 to one in the body).

    Args:
        name: Provider name reported in responses and errors.
        model: Model sent as ``model``.
        api_key: The key; ``None`` fails every call with a non-retryable error.
        api_key_env: Env var the key came from, quoted in error messages.
        base_url: API root without ``/v1`` (the SDK appends ``/v1/messages``); ``None`` is
            api.anthropic.com.
        timeout_s: Per-request timeout.
        max_retries: SDK retries.
        input_price_per_mtok: USD per million input tokens.
        output_price_per_mtok: USD per million output tokens.
        client: A ready ``anthropic.Anthropic`` client (tests); built lazily otherwise.
    """

    def __init__(
        self,
        name: str,
        model: str,
        *,
        api_key: str | None = None,
        api_key_env: str | None = None,
        base_url: str | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 2,
        input_price_per_mtok: float = 0.0,
        output_price_per_mtok: float = 0.0,
        client: anthropic.Anthropic | None = None,
    ) -> None:
        super().__init__(
            name,
            model,
            api_key=api_key,
            api_key_env=api_key_env,
            base_url=base_url,
            timeout_s=timeout_s,
            max_retries=max_retries,
            input_price_per_mtok=input_price_per_mtok,
            output_price_per_mtok=output_price_per_mtok,
        )
        self._client = client

    @property
    def client(self) -> anthropic.Anthropic:
        """The SDK client, built on first use.

        Raises:
            ProviderError: When no API key is available.
        """
        if self._client is None:
            import anthropic

            if not self.api_key:
                raise self._build_missing_key_error()
            self._client = anthropic.Anthropic(
                api_key=self.api_key,
                base_url=self.base_url,
                timeout=self.timeout_s,
                max_retries=self.max_retries,
            )
        return self._client

    def build_params(self, request: LLMRequest) -> dict[str, Any]:
        """Return the ``messages.create`` keyword arguments for ``request``."""
        system_parts = [request.system] if request.system else []
        system_parts.extend(m.content for m in request.messages if m.role == "system")
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": [
                {"role": m.role, "content": m.content}
                for m in request.messages
                if m.role != "system"
            ],
        }
        if system_parts:
            params["system"] = "\n\n".join(system_parts)
        return params

    def generate(self, request: LLMRequest) -> LLMResponse:
        """Call ``messages.create`` and join the text blocks of the answer.

        Raises:
            ProviderError: On a missing key, an API error or a timeout.
        """
        client = self.client
        params = self.build_params(request)
        if not params["messages"]:
            raise ProviderError(
                "request has only system messages", provider=self.name, retryable=False
            )
        start = time.perf_counter()
        try:
            message = client.messages.create(**params)
        except Exception as exc:
            raise self._wrap(exc) from exc
        latency_ms = (time.perf_counter() - start) * 1000.0
        text = "".join(
            getattr(block, "text", "") for block in message.content if block.type == "text"
        )
        input_tokens = int(message.usage.input_tokens)
        output_tokens = int(message.usage.output_tokens)
        return LLMResponse(
            text=text,
            provider=self.name,
            model=message.model or self.model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_ms=round(latency_ms, 3),
            cost_usd=self.compute_cost_usd(input_tokens, output_tokens),
            finish_reason=message.stop_reason,
        )

    def close(self) -> None:
        """Close the SDK's HTTP connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None
