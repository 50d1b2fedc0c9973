"""Usage and billing of LLM calls: who called, exact costs, and roll-ups for dashboards.

Costs are exact :class:`~decimal.Decimal` arithmetic on the price table of
``configs/llm.yaml`` (USD per million tokens): :func:`cost_of` is exact, :func:`to_billable`
rounds *up* to the micro-dollar (the precision of ``ai_interactions.cost_usd`` and
``ai_budgets.spent_usd``), so the amounts charged to budgets and the amounts recorded per call
are the same numbers and roll up exactly.

The worst-case cost of a request, reserved in the budgets before the call
(:func:`max_cost_of`), bounds the input tokens by the UTF-8 bytes of every message plus a
per-message overhead (byte-level BPE tokenizers never produce more tokens than bytes) and the
output tokens by ``max_tokens``.

Every LLM call is one ``ai_interactions`` row with ``interaction_type = "llm"``;
:func:`usage_rollup` groups them per user, team, feature, provider, prompt variant or model.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, Decimal
from typing import Any, Literal, Protocol

from sqlalchemy import func, select

from haste.db.models import AIInteraction
from haste.db.session import session_scope
from textai.llm.config import TOKENS_PER_PRICE_UNIT
from textai.llm.providers import LLMRequest

MICRO_USD = Decimal("0.000001")
"""Precision of stored costs (``NUMERIC(.., 6)``)."""
MESSAGE_OVERHEAD_TOKENS = 8
"""Upper bound of the chat-format tokens a provider adds per message (role, separators)."""
REQUEST_OVERHEAD_TOKENS = 16
"""Upper bound of the tokens a provider adds per request (reply priming, system wrapper)."""
LLM_INTERACTION_TYPE = "llm"
"""``ai_interactions.interaction_type`` of LLM calls."""

RollupKey = Literal["user", "team", "feature", "provider", "variant", "model"]
ROLLUP_COLUMNS = {
    "user": AIInteraction.user_id,
    "team": AIInteraction.team_id,
    "feature": AIInteraction.feature,
    "provider": AIInteraction.provider,
    "variant": AIInteraction.variant,
    "model": AIInteraction.model_used,
}


class PricedProvider(Protocol):
    """Anything with a price table: a ``ProviderConfig`` or a hosted ``Provider``."""

    input_price_per_mtok: float
    output_price_per_mtok: float


def _to_uuid(value: uuid.UUID | str | None, field_name: str) -> uuid.UUID | None:
    """Return ``value`` as a UUID (``None`` stays ``None``).

    Raises:
        ValueError: When a string is not a UUID.
    """
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValueError(f"UsageContext.{field_name} must be a UUID, got {value!r}") from None


@dataclass(frozen=True)
class UsageContext:
    """Who makes an LLM call and for what: the keys of billing, budgets and roll-ups.

    Attributes:
        user_id: Requesting user (``users.id``), if known.
        team_id: The user's team (``teams.id``), if any.
        feature: Product feature (``email_compose``, ``conversation_summary`` ...).
        api_key_id: API key the call was authenticated with.
        request_id: Idempotency key of the call (a new one is drawn when ``None``).
    """

    user_id: uuid.UUID | str | None
    team_id: uuid.UUID | str | None
    feature: str
    api_key_id: uuid.UUID | str | None = None
    request_id: str | None = None

    def __post_init__(self) -> None:
        """Coerce ids to UUIDs and require a feature name."""
        object.__setattr__(self, "user_id", _to_uuid(self.user_id, "user_id"))
        object.__setattr__(self, "team_id", _to_uuid(self.team_id, "team_id"))
        object.__setattr__(self, "api_key_id", _to_uuid(self.api_key_id, "api_key_id"))
        if not isinstance(self.feature, str) or not self.feature.strip():
            raise ValueError("UsageContext.feature must be a non-empty string")
        if len(self.feature) > 50:
            raise ValueError(f"UsageContext.feature is at most 50 characters: {self.feature!r}")
        if self.request_id is not None and not 0 < len(self.request_id) <= 64:
            raise ValueError("UsageContext.request_id must have 1 to 64 characters")

    def with_request_id(self) -> UsageContext:
        """Return this context with a request id (a new uuid4 hex when it has none)."""
        if self.request_id:
            return self
        return replace(self, request_id=uuid.uuid4().hex)


def to_billable(cost: Decimal) -> Decimal:
    """Return ``cost`` rounded up to the micro-dollar (what is charged and recorded)."""
    return cost.quantize(MICRO_USD, rounding=ROUND_CEILING)


def to_usd(value: Any) -> Decimal:
    """Return a stored or aggregated amount (Decimal, float, int, str) as micro-dollar Decimal.

    SQLite keeps NUMERIC columns as floating point; snapping to the micro-dollar recovers the
    exact stored value.
    """
    if value is None:
        return Decimal(0).quantize(MICRO_USD)
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    result = amount.quantize(MICRO_USD)
    return result if result != 0 else Decimal(0).quantize(MICRO_USD)


def cost_of(provider_cfg: PricedProvider, input_tokens: int, output_tokens: int) -> Decimal:
    """Return the exact USD cost of a call from its token usage and the provider's prices.

    Prices are USD per million tokens; they are read as decimals (``0.15`` is exactly
    ``Decimal("0.15")``), so the result is exact.

    Args:
        provider_cfg: The provider's configuration (``input_price_per_mtok`` and
            ``output_price_per_mtok``).
        input_tokens: Prompt tokens.
        output_tokens: Completion tokens.

    Raises:
        ValueError: When a token count is negative.
    """
    if input_tokens < 0 or output_tokens < 0:
        raise ValueError(f"token counts must be >= 0, got {input_tokens}/{output_tokens}")
    input_price = Decimal(str(provider_cfg.input_price_per_mtok))
    output_price = Decimal(str(provider_cfg.output_price_per_mtok))
    return (input_tokens * input_price + output_tokens * output_price) / TOKENS_PER_PRICE_UNIT


def max_input_tokens(request: LLMRequest) -> int:
    """Return an upper bound of the input tokens a provider can bill for ``request``.

    Every token of a byte-level BPE tokenizer covers at least one UTF-8 byte, so the bytes of
    the system prompt and the messages, plus the chat-format overhead, bound the count.
    """
    texts = [message.content for message in request.messages]
    if request.system:
        texts.append(request.system)
    size = sum(len(text.encode("utf-8")) for text in texts)
    return size + MESSAGE_OVERHEAD_TOKENS * len(texts) + REQUEST_OVERHEAD_TOKENS


def max_cost_of(providers: Iterable[PricedProvider], request: LLMRequest) -> Decimal:
    """Return the billable worst-case cost of ``request`` on any of ``providers``.

    Pass every provider of the call's fallback route: whichever answers, the call costs at
    most this (input bound x input price + ``max_tokens`` x output price, rounded up).
    """
    bound = max_input_tokens(request)
    costs = [cost_of(provider, bound, request.max_tokens) for provider in providers]
    return to_billable(max(costs, default=Decimal(0)))


def _as_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """Return an aware UTC datetime (naive values are taken as UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def usage_rollup(
    url: str,
    by: RollupKey = "feature",
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    *,
    interaction_type: str | None = LLM_INTERACTION_TYPE,
) -> list[dict[str, Any]]:
    """Return LLM usage grouped by user, team, feature, provider, prompt variant or model.

    Args:
        url: Database URL.
        by: ``user``, ``team``, ``feature``, ``provider``, ``variant`` (``prompt@vN``) or
            ``model``.
        since: Only calls at or after this time (naive = UTC).
        until: Only calls before this time (naive = UTC).
        interaction_type: Only these interactions (default ``llm``); ``None`` counts every
            recorded AI call.

    Returns:
        One dict per group, most expensive first: ``{by: key (str or None), "calls",
        "errors", "total_tokens", "cost_usd" (Decimal, exact), "mean_latency_ms"}``.

    Raises:
        ValueError: On an unknown ``by``.
    """
    if by not in ROLLUP_COLUMNS:
        raise ValueError(f"by must be one of {', '.join(ROLLUP_COLUMNS)}, got {by!r}")
    column = ROLLUP_COLUMNS[by]
    query = select(
        column,
        func.count(),
        func.count(AIInteraction.error_message),
        func.sum(AIInteraction.tokens_used),
        func.sum(AIInteraction.cost_usd),
        func.avg(AIInteraction.response_time_ms),
    ).group_by(column)
    if interaction_type is not None:
        query = query.where(AIInteraction.interaction_type == interaction_type)
    if since is not None:
        query = query.where(AIInteraction.created_at >= _as_utc(since))
    if until is not None:
        query = query.where(AIInteraction.created_at < _as_utc(until))
    with session_scope(url) as session:
        rows = session.execute(query).all()
    result = [
        {
            by: None if key is None else str(key),
            "calls": int(calls),
            "errors": int(errors),
            "total_tokens": int(tokens or 0),
            "cost_usd": to_usd(cost),
            "mean_latency_ms": None if latency is None else round(float(latency), 3),
        }
        for key, calls, errors, tokens, cost, latency in rows
    ]
    result.sort(key=lambda row: (-row["cost_usd"], row[by] or ""))
    return result
