"""The LLM service: one call of a versioned prompt with consent, PII, budget and usage handled.

:meth:`LLMService.complete` runs, in order:

1. **consent**: every contact whose data the call uses must exist and have ``ai_consent``
   (:class:`~textai.llm.redaction.ConsentError` otherwise; no provider is called);
2. **prompt**: the version is the explicit one or the sticky A/B choice for the subject (the
   given subject, else the first contact, else the user), rendered with validated variables;
3. **route**: the provider is the explicit one, else the prompt's ``model_config.provider``,
   else ``default_provider``; the call may fall back along ``LLMConfig.route``;
4. **redaction**: when any provider of the route is external (kind other than ``offline``),
   names, emails, phones and companies of the contacts, and every email and phone number, are
   replaced by placeholders before anything is sent;
5. **budget**: the worst-case cost over the route is reserved in every applicable budget;
   when a budget refuses, the call degrades to that budget's ``degrade_to`` provider and
   reserves again, and is refused with :class:`~textai.llm.budgets.BudgetExceededError` when
   no cheaper provider fits;
6. **generation** through :class:`~textai.llm.client.LLMClient` (retries, fallbacks, cache);
7. **settle** the reservation with the exact cost of the answer (0 for a cache hit), restore the
   PII in the answer, record the call in ``ai_interactions`` (feature, provider, model, variant
   ``<prompt>@v<version>``, tokens, cost, latency, request id) and return a
   :class:`Completion`.

A provider failure (after every fallback) releases the reservation and is recorded with its
error message, as are consent and budget refusals. Nothing here imports FastAPI or Ray.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from haste.records import InteractionRecord, record_interactions
from textai.llm.budgets import BudgetAlert, BudgetExceededError, BudgetManager, Reservation
from textai.llm.client import LLMClient
from textai.llm.config import LLMConfig, load_llm_config
from textai.llm.prompt_model import RenderedPrompt
from textai.llm.prompts import PromptRegistry
from textai.llm.providers import LLMRequest, LLMResponse
from textai.llm.redaction import (
    ConsentError,
    ContactNotFoundError,
    PIIRedactor,
    ensure_ai_consent,
    restore,
)
from textai.llm.usage import (
    LLM_INTERACTION_TYPE,
    UsageContext,
    cost_of,
    max_cost_of,
    to_billable,
    to_usd,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completion:
    """The answer of :meth:`LLMService.complete`.

    Attributes:
        text: The answer, PII restored.
        provider: Provider that answered.
        model: Model that answered.
        prompt_name: Prompt used.
        prompt_version: Prompt version used.
        input_tokens: Prompt tokens billed.
        output_tokens: Completion tokens billed.
        cost_usd: Exact cost charged (micro-dollars, 0 for a cache hit).
        latency_ms: Provider latency.
        cached: Whether the answer came from the response cache.
        degraded_from: The provider the call would have used without a budget degradation.
        alerts: Budget alerts raised by this call (to surface to the user/admin).
        redacted_count: PII occurrences replaced before the call.
        request_id: The call's request id (``ai_interactions.request_id``, for feedback).
        fallbacks: Providers that failed before the one that answered.
    """

    text: str
    provider: str
    model: str
    prompt_name: str
    prompt_version: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    latency_ms: float
    cached: bool
    degraded_from: str | None
    alerts: list[BudgetAlert]
    redacted_count: int
    request_id: str = ""
    fallbacks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (cost as a string, alerts as dicts)."""
        return {
            "text": self.text,
            "provider": self.provider,
            "model": self.model,
            "prompt_name": self.prompt_name,
            "prompt_version": self.prompt_version,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": str(self.cost_usd),
            "latency_ms": self.latency_ms,
            "cached": self.cached,
            "degraded_from": self.degraded_from,
            "alerts": [alert.to_dict() for alert in self.alerts],
            "redacted_count": self.redacted_count,
            "request_id": self.request_id,
            "fallbacks": list(self.fallbacks),
        }


@dataclass
class _Plan:
    """The request to send, where, and the money held for it."""

    provider: str
    request: LLMRequest
    mapping: dict[str, str]
    redacted_count: int
    reservation: Reservation | None
    degraded_from: str | None


def _to_jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON data (unknown objects become strings)."""
    return json.loads(json.dumps(value, default=str))


class LLMService:
    """Run versioned prompts with consent, redaction, budgets and usage recording.

    Thread-safe (every piece of state is in the database or in the shared client).

    Args:
        config: The LLM configuration (providers, prices, fallback chain).
        client: The client that calls the providers.
        registry: The prompts.
        budgets: The budget manager; ``None`` enforces no budget.
        database_url: Database of the CRM, the budgets and ``ai_interactions``.
    """

    def __init__(
        self,
        config: LLMConfig,
        client: LLMClient,
        registry: PromptRegistry,
        budgets: BudgetManager | None,
        database_url: str,
    ) -> None:
        self.config = config
        self.client = client
        self.registry = registry
        self.budgets = budgets
        self.database_url = database_url

    @classmethod
    def from_config(
        cls, database_url: str | None = None, config_path: str | None = None
    ) -> LLMService:
        """Build the service from ``configs/llm.yaml``, ``configs/prompts`` and the settings.

        Args:
            database_url: Database URL (default: the configured ``database_url``).
            config_path: LLM config file (default: ``configs/llm.yaml``).
        """
        from haste.settings import get_settings

        url = database_url or get_settings().database_url
        config = load_llm_config(config_path)
        return cls(config, LLMClient(config), PromptRegistry(), BudgetManager(url, config), url)

    def is_external_route(self, provider: str) -> bool:
        """Return whether a call starting at ``provider`` may reach an external provider."""
        return any(
            self.config.get_provider(p).kind != "offline" for p in self.config.route(provider)
        )

    def complete(
        self,
        prompt_name: str,
        variables: Mapping[str, Any],
        *,
        usage: UsageContext,
        contact_ids: Sequence[uuid.UUID | str] = (),
        subject: str | None = None,
        version: int | None = None,
        provider: str | None = None,
        pii_names: Iterable[str] = (),
    ) -> Completion:
        """Run one prompt for one caller (see the module docstring for the steps).

        Args:
            prompt_name: Prompt to run.
            variables: Its variables.
            usage: Who calls, for what feature (billing, budgets, roll-ups).
            contact_ids: CRM contacts whose data the variables hold (consent + redaction).
            subject: A/B subject (default: the first contact, else the user, else random).
            version: Explicit prompt version (skips the A/B choice).
            provider: Provider to start at (default: the prompt's, else the default one).
            pii_names: Extra person names to redact.

        Returns:
            The completion.

        Raises:
            ConsentError: When a contact has not consented to AI processing.
            ContactNotFoundError: When a contact is not in the CRM.
            PromptNotFoundError: When the prompt or version does not exist.
            PromptVariableError: When the variables do not validate.
            KeyError: When ``provider`` names no configured provider.
            BudgetExceededError: When no provider fits in the budgets.
            ProviderError: When every provider of the route failed (``LLMUnavailableError``).
        """
        usage = usage.with_request_id()
        ids = [str(c) for c in contact_ids]
        record_base = {"prompt": prompt_name, "variables": variables, "contact_ids": ids}
        try:
            contacts = ensure_ai_consent(self.database_url, contact_ids) if ids else []
        except (ConsentError, ContactNotFoundError) as exc:
            self._record_failure(usage, record_base, None, None, exc)
            raise
        if version is None:
            default_subject = contacts[0] if contacts else usage.user_id or usage.request_id
            version = self.registry.choose_version(prompt_name, str(subject or default_subject))
        rendered = self.registry.render(prompt_name, variables, version)
        record_base["prompt_version"] = rendered.version
        start = provider or rendered.model_config.provider or self.config.default_provider
        self.config.get_provider(start)
        try:
            plan = self._plan(rendered, usage, start, contacts, pii_names)
        except BudgetExceededError as exc:
            self._record_failure(usage, record_base, rendered, start, exc)
            raise
        try:
            response = self.client.generate(plan.request, provider=plan.provider)
        except BaseException as exc:
            if plan.reservation is not None and self.budgets is not None:
                self.budgets.release(plan.reservation)
            if isinstance(exc, Exception):
                self._record_failure(usage, record_base, rendered, plan.provider, exc)
            raise
        cost = self._settle(plan, response)
        text = restore(response.text, plan.mapping) if plan.mapping else response.text
        alerts = list(plan.reservation.alerts) if plan.reservation is not None else []
        completion = Completion(
            text=text,
            provider=response.provider,
            model=response.model,
            prompt_name=rendered.name,
            prompt_version=rendered.version,
            input_tokens=response.input_tokens,
            output_tokens=response.output_tokens,
            cost_usd=cost,
            latency_ms=response.latency_ms,
            cached=response.cached,
            degraded_from=plan.degraded_from,
            alerts=alerts,
            redacted_count=plan.redacted_count,
            request_id=str(usage.request_id),
            fallbacks=list(response.fallbacks),
        )
        self._record_success(usage, record_base, rendered, plan, response, completion)
        return completion

    def _build_request(
        self,
        rendered: RenderedPrompt,
        provider: str,
        redactor: PIIRedactor | None,
        usage: UsageContext,
    ) -> tuple[LLMRequest, dict[str, str], int]:
        """Return the request for a route (redacted when it may go external)."""
        metadata = {
            "request_id": usage.request_id,
            "feature": usage.feature,
            "prompt": rendered.variant,
        }
        if redactor is None or not self.is_external_route(provider):
            return rendered.to_request(metadata), {}, 0
        system = redactor.redact(rendered.system) if rendered.system else None
        text = redactor.redact(rendered.text, previous=system)
        request = LLMRequest.from_prompt(
            text.text,
            system=system.text if system is not None else None,
            max_tokens=rendered.model_config.max_tokens,
            temperature=rendered.model_config.temperature,
            metadata=metadata,
        )
        return request, text.mapping, text.count

    def _plan(
        self,
        rendered: RenderedPrompt,
        usage: UsageContext,
        start: str,
        contacts: Sequence[uuid.UUID],
        pii_names: Iterable[str],
    ) -> _Plan:
        """Pick the provider that fits the budgets, build its request and reserve its cost.

        Raises:
            BudgetExceededError: When neither the provider nor any degradation fits.
        """
        redactor: PIIRedactor | None = None
        names = list(pii_names)
        current, degraded_from = start, None
        tried: list[str] = []
        while True:
            if redactor is None and self.is_external_route(current):
                redactor = PIIRedactor.from_contacts(self.database_url, contacts, names=names)
            request, mapping, count = self._build_request(rendered, current, redactor, usage)
            route = [self.config.get_provider(name) for name in self.config.route(current)]
            max_cost = max_cost_of(route, request)
            if self.budgets is None:
                return _Plan(current, request, mapping, count, None, degraded_from)
            try:
                reservation = self.budgets.reserve(usage, max_cost)
            except BudgetExceededError as exc:
                tried.append(current)
                target = exc.degrade_to
                if target is None or target in tried:
                    raise
                logger.warning(
                    "%s; degrading %s from %s to %s", exc, rendered.variant, current, target
                )
                degraded_from = degraded_from or start
                current = target
                continue
            return _Plan(current, request, mapping, count, reservation, degraded_from)

    def _settle(self, plan: _Plan, response: LLMResponse) -> Decimal:
        """Settle the reservation with the answer's exact cost and return that cost."""
        if response.cached:
            cost = to_usd(0)
        else:
            try:
                priced = self.config.get_provider(response.provider)
                cost = to_billable(cost_of(priced, response.input_tokens, response.output_tokens))
            except KeyError:
                cost = to_billable(Decimal(str(response.cost_usd)))
        if plan.reservation is not None and self.budgets is not None:
            charged = cost
            if cost > plan.reservation.amount:
                logger.error(
                    "LLM call %s cost $%s, above its $%s reservation (token bound broken?); "
                    "charging the reservation",
                    plan.reservation.id,
                    cost,
                    plan.reservation.amount,
                )
                charged = plan.reservation.amount
            self.budgets.settle(plan.reservation, charged)
        return cost

    def _record_success(
        self,
        usage: UsageContext,
        base: dict[str, Any],
        rendered: RenderedPrompt,
        plan: _Plan,
        response: LLMResponse,
        completion: Completion,
    ) -> None:
        """Record a completed call in ``ai_interactions`` (errors are logged, not raised)."""
        output = {
            "text": completion.text,
            "input_tokens": response.input_tokens,
            "output_tokens": response.output_tokens,
            "cached": response.cached,
            "finish_reason": response.finish_reason,
            "fallbacks": list(response.fallbacks),
            "degraded_from": plan.degraded_from,
            "redacted": plan.redacted_count,
            "reserved_usd": str(plan.reservation.amount) if plan.reservation else None,
            "alerts": [alert.to_dict() for alert in completion.alerts],
        }
        self._record(
            InteractionRecord(
                interaction_type=LLM_INTERACTION_TYPE,
                input_data=self._input_data(base),
                output_data=_to_jsonable(output),
                model_used=response.model,
                response_time_ms=round(response.latency_ms),
                user_id=usage.user_id,
                tokens_used=response.input_tokens + response.output_tokens,
                team_id=usage.team_id,
                api_key_id=usage.api_key_id,
                feature=usage.feature,
                provider=response.provider,
                variant=rendered.variant,
                request_id=usage.request_id,
                cost_usd=completion.cost_usd,
            )
        )

    def _record_failure(
        self,
        usage: UsageContext,
        base: dict[str, Any],
        rendered: RenderedPrompt | None,
        provider: str | None,
        error: BaseException,
    ) -> None:
        """Record a refused or failed call (no tokens, no cost) with its error message."""
        self._record(
            InteractionRecord(
                interaction_type=LLM_INTERACTION_TYPE,
                input_data=self._input_data(base),
                output_data={"error_type": type(error).__name__},
                model_used=None,
                user_id=usage.user_id,
                error_message=str(error)[:2000],
                team_id=usage.team_id,
                api_key_id=usage.api_key_id,
                feature=usage.feature,
                provider=provider,
                variant=rendered.variant if rendered is not None else None,
                request_id=usage.request_id,
                cost_usd=Decimal(0),
            )
        )

    @staticmethod
    def _input_data(base: dict[str, Any]) -> dict[str, Any]:
        """Return ``ai_interactions.input_data``: prompt, version, variables, contacts.

        ``contact_id`` (the first contact) is the key the audit trail and the right-to-be-
        forgotten erasure look calls up by.
        """
        ids = base.get("contact_ids") or []
        return _to_jsonable(
            {
                "prompt": base.get("prompt"),
                "prompt_version": base.get("prompt_version"),
                "contact_id": ids[0] if ids else None,
                "contact_ids": ids,
                "variables": dict(base.get("variables") or {}),
            }
        )

    def _record(self, record: InteractionRecord) -> None:
        """Store one interaction; a failure is logged (the call itself already happened)."""
        try:
            record_interactions(self.database_url, [record])
        except Exception:
            logger.exception(
                "could not record LLM call %s in ai_interactions (usage roll-ups will miss it)",
                record.request_id,
            )
