"""The gateway replica's state and the call paths its routers share.

:class:`GatewayCore` holds what one ``AIGateway`` replica needs: the settings, the key
authenticator and rate limiter, the score cache, the feature lookups, the handles of the model
and text deployments, the live A/B split. The routers of :mod:`serving.routes` reach it through
the FastAPI dependencies of :mod:`serving.dependencies`; nothing here defines a route.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from haste.records import (
    InteractionRecord,
    activity_exists,
    contact_consents,
    record_interactions,
)
from haste.settings import Settings
from serving.auth import Authenticator
from serving.config import ServeConfig
from serving.errors import RETRY_AFTER_S, ApiError
from serving.gateway import CallContext, GatewayError, admit_call, read_api_key
from serving.lookup import ContactFeatureLookup, ServedModel
from serving.metrics import count_budget_refusal
from serving.model_server import ModelUnavailableError, load_lead_models, served_model_names
from serving.proxy_middleware import proxy_marks_client_ids
from serving.rate_limit import MemoryRateLimiter, build_rate_limiter
from serving.score_cache import build_score_cache
from serving.text_app import TextAIError
from training.ab_routing import choose_variant, parse_rollouts, store_rollouts
from training.deal_data import DAYS_MODEL_NAME, WIN_MODEL_NAME
from training.registry import CHALLENGER, CHAMPION, NoChampionError, alias_versions

logger = logging.getLogger("ray.serve")


class GatewayCore:
    """State of one gateway replica and the shared steps of its endpoints.

    Args:
        config: The replica config.
        text: Handle of the TextAI deployment (None: text endpoints answer 503).
        champion: Handle of the ``ChampionModels`` deployment.
        challenger: Handle of the ``ChallengerModels`` deployment (None: no A/B test).
        conversation: Handle of the ``ConversationAI`` deployment (long analyses, kept off
            the interactive text replicas; None: TextAI does them).
    """

    def __init__(
        self,
        config: ServeConfig,
        text: Any = None,
        champion: Any = None,
        challenger: Any = None,
        conversation: Any = None,
    ) -> None:
        self.config = config
        self.text = text
        self.conversation = conversation or text
        self.consumers: Any = None  # the EventConsumer deployment's handle (set by the app)
        self.jobs: set[asyncio.Task] = set()
        # Behind Ray's proxy with our middleware, only marked request ids are the client's.
        self.proxy_marks_ids = proxy_marks_client_ids()
        self.variants = {"champion": champion, "challenger": challenger}
        self.settings = Settings(**config.settings)
        self.rollouts: dict[str, int] = {}
        self.generation: object = None
        #: Champion lead models this replica scores itself (``gateway_champion``).
        self.local_leads: dict[str, ServedModel] = {}
        self.authenticator = (
            Authenticator(config.database_url) if self.settings.auth_required else None
        )
        self.limiter = build_rate_limiter(self.settings.rate_limit_backend, self.settings.redis_url)
        self.cache = build_score_cache(
            self.settings.gateway_cache, self.settings.redis_url, self.settings.gateway_cache_ttl_s
        )
        mlflow.set_tracking_uri(config.tracking_uri)
        mlflow.set_registry_uri(config.tracking_uri)
        self.load_sources()

    @property
    def database_url(self) -> str:
        """Return the CRM database URL."""
        return self.config.database_url

    @property
    def reports_dir(self) -> Path:
        """Return the folder of the drift and bias reports the dashboard links to."""
        return self.settings.data_dir / "reports"

    # ------------------------------------------------------------------ models

    def load_sources(self) -> None:
        """Read which versions hold each alias and open the feature sources of the lead models."""
        config = self.config
        names = served_model_names(config)
        self.champions = alias_versions(names, CHAMPION)
        self.challengers = alias_versions(names, CHALLENGER)
        if self.variants["champion"] is None or not self.champions:
            raise NoChampionError("no champion model to serve; train one first")
        if config.gateway_champion:  # the same models ChampionModels loads, for the fast path
            self.local_leads = load_lead_models(config, CHAMPION)
            self.champions.update({name: m.version for name, m in self.local_leads.items()})
        profile_model = config.model_name if config.model_name in self.champions else None
        crm_model = config.crm_model_name if config.crm_model_name in self.champions else None
        profile = pd.DataFrame()
        if profile_model and Path(config.features_path).exists():
            table = pd.read_parquet(config.features_path)
            ids = table[config.id_column].astype(str).str.lower()
            profile = table.set_index(ids).loc[lambda frame: ~frame.index.duplicated(keep="last")]
        store = None
        if crm_model is not None:
            from features.store import get_store

            store = get_store(self.settings)
        self.lookup = ContactFeatureLookup(profile, profile_model, store, crm_model)
        logger.info(
            "champions %s, challengers %s, %d lead profiles",
            self.champions,
            self.challengers,
            len(self.lookup),
        )

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Apply a new A/B split (and re-read the aliases on a new generation), no restart."""
        rollouts = parse_rollouts(user_config)
        generation = user_config.get("models_generation")
        if self.generation is not None and generation != self.generation:
            self.load_sources()  # new generation: the model deployments reload the aliases
        self.generation = generation
        self.rollouts = rollouts
        store_rollouts(self.config.database_url, rollouts, generation)
        logger.info("A/B rollout %s (generation %s)", rollouts, generation)

    def variant(self, model_name: str, subject: str) -> str:
        """Pick ``champion`` or ``challenger`` for this subject (sticky per hash).

        Deals are routed under ``deal_velocity``: a challenger of either deal model counts.
        """
        group = {model_name} | ({WIN_MODEL_NAME} if model_name == DAYS_MODEL_NAME else set())
        if not group & set(self.challengers) or self.variants["challenger"] is None:
            return "champion"
        return choose_variant(subject, model_name, self.rollouts.get(model_name, 0))

    def local_model(self, model_name: str, variant: str) -> ServedModel | None:
        """Return the lead model this replica scores ``variant`` with itself, or None.

        The champion's lead models are loaded in the gateway replica (``gateway_champion``),
        so a champion lead score costs no call to ``ChampionModels``; challenger scores keep
        that hop (the ``ChallengerModels`` deployment).
        """
        return self.local_leads.get(model_name) if variant == "champion" else None

    def version(self, model_name: str, variant: str) -> str:
        """Return the registry version holding the variant's alias."""
        versions = self.challengers if variant == "challenger" else self.champions
        return versions.get(model_name, "?")

    # ------------------------------------------------------------------ admission

    def admit(self, headers: Mapping[str, str], permission: str) -> CallContext:
        """Authenticate, authorise and rate-limit a call (401/403/429 otherwise)."""
        try:
            return admit_call(
                headers,
                permission,
                self.authenticator,
                self.limiter,
                self.settings.default_rate_limit_per_minute,
                serve_request_id(),
                ("x-haste-client-request-id" in headers) if self.proxy_marks_ids else None,
            )
        except GatewayError as error:
            raise ApiError(error.status_code, error.message, error.headers) from error

    def admits_inline(self, headers: Mapping[str, str]) -> bool:
        """Return whether :meth:`admit` needs no I/O for these headers (run it on the loop).

        True when the key's principal is in the authenticator's cache and the rate limit is
        counted in memory: admission is then a dictionary look-up and a counter, cheaper than
        the hop to a worker thread and back.
        """
        if not isinstance(self.limiter, MemoryRateLimiter):
            return False
        return self.authenticator is None or self.authenticator.is_cached(read_api_key(headers))

    def admit_dashboard(
        self, headers: Mapping[str, str], query_key: str | None, cookie_key: str | None
    ) -> None:
        """Admit a dashboard view: the key may come as ``?api_key=`` or a cookie (browsers)."""
        merged = dict(headers)
        key = query_key or cookie_key
        if key and "x-api-key" not in merged:
            merged["x-api-key"] = key
        self.admit(merged, "usage")

    def refuse(
        self,
        context: CallContext,
        feature: str,
        status: int,
        message: str,
        inputs: dict,
        headers: dict[str, str] | None = None,
    ) -> ApiError:
        """Record a refused call in the audit trail and return the error to raise."""
        record_interactions(
            self.config.database_url, [context.refusal(feature, inputs, status, message)]
        )
        return ApiError(status, message, headers)

    def require_consent(self, context: CallContext, feature: str, contact_id: uuid.UUID) -> bool:
        """Refuse (403) contacts that did not consent to AI processing.

        Returns:
            Whether the CRM holds the contact.
        """
        consent = contact_consents(self.config.database_url, [contact_id]).get(contact_id)
        if consent is False:
            raise self.refuse(
                context,
                feature,
                403,
                f"contact {contact_id} has not consented to AI processing (ai_consent)",
                {"contact_id": str(contact_id)},
            )
        return consent is not None

    # ------------------------------------------------------------------ downstream calls

    def call_model(
        self,
        context: CallContext,
        feature: str,
        inputs: dict[str, Any],
        variant: str,
        method: str,
        *args: Any,
    ) -> Any:
        """Call a model deployment from a sync route; an unserved model is a recorded 503."""
        response = getattr(self.variants[variant], method).remote(*args)
        try:
            return response.result(timeout_s=self.config.limits.interactive_budget_s)
        except ModelUnavailableError as error:
            hint = "train it first (`haste train`, `haste train-deals`)"
            raise self.refuse(context, feature, 503, f"{error}: {hint}", inputs) from error
        except TimeoutError as error:
            response.cancel()
            raise self.over_budget(context, feature, inputs) from error

    def over_budget(self, context: CallContext, feature: str, inputs: dict) -> ApiError:
        """Record and return the 503 of a deployment call that ran out of its time budget."""
        budget = self.config.limits.interactive_budget_s
        message = f"the deployment did not answer within {budget:g} s"
        return self.refuse(
            context, feature, 503, message, inputs, {"Retry-After": str(RETRY_AFTER_S)}
        )

    async def record(self, records: list[InteractionRecord]) -> None:
        """Write audit records without blocking the event loop."""
        await asyncio.to_thread(record_interactions, self.config.database_url, records)

    async def call_text(
        self,
        context: CallContext,
        feature: str,
        inputs: dict[str, Any],
        method: str,
        *args: Any,
        handle: Any = None,
    ) -> dict[str, Any]:
        """Call the TextAI deployment; refused calls are recorded and answered with 4xx/5xx.

        ``handle`` picks another text deployment (``self.conversation``).
        """
        handle = handle or self.text
        if handle is None:
            raise await asyncio.to_thread(
                self.refuse, context, feature, 503, "the TextAI deployment is not running", inputs
            )
        response = getattr(handle, method).remote(*args)
        try:
            return await asyncio.wait_for(response, self.config.limits.interactive_budget_s)
        except TextAIError as error:
            if error.status_code == 402:
                count_budget_refusal(feature)
            raise await asyncio.to_thread(
                self.refuse, context, feature, error.status_code, error.message, inputs
            ) from error
        except TimeoutError as error:
            response.cancel()
            raise await asyncio.to_thread(self.over_budget, context, feature, inputs) from error

    async def consent(
        self, context: CallContext, feature: str, contact_id: Any, activity_id: Any = None
    ) -> None:
        """Refuse an unknown contact or activity (404) or one without AI consent (403).

        Runs before any text work, so a refusal costs no model time and is recorded once.
        """
        if contact_id:
            key = uuid.UUID(str(contact_id))
            known = await asyncio.to_thread(self.require_consent, context, feature, key)
            if not known:
                raise await asyncio.to_thread(
                    self.refuse,
                    context,
                    feature,
                    404,
                    f"contact {key} not found in the CRM",
                    {"contact_id": str(key)},
                )
        if activity_id:
            key = uuid.UUID(str(activity_id))
            if not await asyncio.to_thread(activity_exists, self.database_url, key):
                raise await asyncio.to_thread(
                    self.refuse,
                    context,
                    feature,
                    404,
                    f"activity {key} not found in the CRM",
                    {"activity_id": str(key)},
                )


def serve_request_id() -> str | None:
    """Return Ray Serve's id of the current request (in its JSON logs), outside Serve None."""
    try:
        from ray.serve.context import _get_serve_request_context

        return _get_serve_request_context().request_id or None
    except Exception:  # not in a Serve replica, or Serve's private API moved
        return None


def usage_identity(context: CallContext) -> dict[str, Any]:
    """Return the caller identity passed to the LLM layer (for costs and budgets)."""
    principal = context.principal
    return {
        "user_id": str(principal.user_id) if principal.user_id else None,
        "team_id": str(principal.team_id) if principal.team_id else None,
        "api_key_id": str(principal.api_key_id) if principal.api_key_id else None,
        "request_id": context.request_id,
    }
