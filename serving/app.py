"""Ray Serve application: the FastAPI ingress of the hasteCRM AI API.

Ray Serve ships the deployment class by value, capturing the module globals its methods use
when the class is decorated: every helper the methods call must be defined above the class or
imported from another module.

Every endpoint is admitted by :func:`serving.gateway.admit_call` (API key -> user/team/role,
per-key rate limit) and recorded in ``ai_interactions`` (latency, model, variant, user, team,
tokens, cost, request id); errors after admission are recorded too. Lead scores are computed in
dynamic batches (:class:`serving.batching.GreedyBatcher` here, ``@serve.batch`` in the model
deployments): one vectorised XGBoost + TreeSHAP call and one database transaction per batch.
"""

import asyncio
import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from ray import serve

from haste.records import (
    InteractionRecord,
    contact_consents,
    record_interactions,
    record_prediction,
    record_scoring_batch,
    recorded_outputs,
)
from haste.settings import Settings
from serving.auth import Authenticator
from serving.batching import GreedyBatcher
from serving.config import ServeConfig
from serving.gateway import CallContext, GatewayError, admit_call
from serving.lookup import ContactFeatureLookup, FoundContact
from serving.model_server import (
    CHALLENGER_DEPLOYMENT,
    CHAMPION_DEPLOYMENT,
    ModelServer,
    ModelUnavailableError,
    served_model_names,
)
from serving.rate_limit import build_rate_limiter
from serving.schemas import (
    ChurnRiskResponse,
    ConversationAnalyzeRequest,
    DealPredictionResponse,
    EmailComposeRequest,
    EmailReplyRequest,
    FeedbackRequest,
    HealthResponse,
    LeadScoreRequest,
    LeadScoreResponse,
    NextActionsRequest,
    NextActionsResponse,
    SearchRequest,
    SubjectOptimizeRequest,
)
from serving.score_cache import build_score_cache, score_key
from serving.text_app import TextAIError
from training.ab_routing import choose_variant, parse_rollouts, store_rollouts
from training.deal_velocity import DAYS_MODEL_NAME, WIN_MODEL_NAME
from training.explain import Contribution
from training.next_actions import (
    Activity,
    rank_actions,
    suggest_from_activity,
    suggest_from_score,
)
from training.registry import CHALLENGER, CHAMPION, NoChampionError, alias_versions

logger = logging.getLogger("ray.serve")
DASHBOARD_COOKIE = "haste_api_key"

api = FastAPI(
    title="hasteCRM AI API",
    version="0.2.0",
    description=(
        "Lead scoring with SHAP explanations, deal and churn predictions, next best actions, "
        "email and conversation AI and semantic search, served by Ray Serve from MLflow. "
        "Authenticate with an API key in the `X-API-Key` header (`haste keys create`)."
    ),
)


@api.exception_handler(RequestValidationError)
async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """Answer invalid input with a 422 whose ``detail`` names each bad field."""
    problems = [
        {
            "field": ".".join(str(part) for part in issue["loc"][1:]) or "body",
            "message": issue["msg"],
        }
        for issue in error.errors()
    ]
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return JSONResponse(
        status_code=422, content={"detail": f"invalid request: {summary}", "errors": problems}
    )


@dataclass
class ScoreJob:
    """One lead-score request waiting in a batch, and what the batch found for it."""

    contact_id: uuid.UUID
    include_explanation: bool
    context: CallContext
    found: FoundContact | None = None
    result: dict[str, Any] | HTTPException | None = None
    inputs: dict[str, Any] | None = None  # audit inputs of a freshly scored job
    records: list[InteractionRecord] = field(default_factory=list)  # refusals, cache hits


def _http_error(error: GatewayError) -> HTTPException:
    """Turn a refused call into the HTTP error."""
    return HTTPException(error.status_code, detail=error.message, headers=error.headers)


@serve.deployment(name="AIGateway", ray_actor_options={"num_cpus": 0.5})
@serve.ingress(api)
class AIGateway:
    """HTTP ingress of the AI endpoints."""

    def __init__(
        self,
        config: ServeConfig,
        text: Any = None,
        champion: Any = None,
        challenger: Any = None,
    ) -> None:
        self.config = config
        self.text = text  # handle of the TextAI deployment (None: text endpoints answer 503)
        # handles of the ChampionModels / ChallengerModels deployments (serving.model_server)
        self.variants = {"champion": champion, "challenger": challenger}
        self.settings = Settings(**config.settings)
        self.rollouts: dict[str, int] = {}
        self.generation: object = None
        self.authenticator = (
            Authenticator(config.database_url) if self.settings.auth_required else None
        )
        self.limiter = build_rate_limiter(self.settings.rate_limit_backend, self.settings.redis_url)
        self.cache = build_score_cache(
            self.settings.gateway_cache, self.settings.redis_url, self.settings.gateway_cache_ttl_s
        )
        self.score_batcher = GreedyBatcher(self._score_batch, max_batch_size=32)
        mlflow.set_tracking_uri(config.tracking_uri)
        mlflow.set_registry_uri(config.tracking_uri)
        self._load_sources()

    # ------------------------------------------------------------------ models

    def _load_sources(self) -> None:
        """Read which versions hold each alias and open the feature sources of the lead models."""
        config = self.config
        names = served_model_names(config)
        self.champions = alias_versions(names, CHAMPION)
        self.challengers = alias_versions(names, CHALLENGER)
        if self.variants["champion"] is None or not self.champions:
            raise NoChampionError("no champion model to serve; train one first")
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
            self._load_sources()  # new generation: the model deployments reload the aliases
        self.generation = generation
        self.rollouts = rollouts
        store_rollouts(self.config.database_url, rollouts, generation)
        logger.info("A/B rollout %s (generation %s)", rollouts, generation)

    def _variant(self, model_name: str, subject: str) -> str:
        """Pick ``champion`` or ``challenger`` for this subject (sticky per hash).

        Deals are routed under ``deal_velocity``: a challenger of either deal model counts.
        """
        group = {model_name} | ({WIN_MODEL_NAME} if model_name == DAYS_MODEL_NAME else set())
        if not group & set(self.challengers) or self.variants["challenger"] is None:
            return "champion"
        return choose_variant(subject, model_name, self.rollouts.get(model_name, 0))

    def _version(self, model_name: str, variant: str) -> str:
        """Return the registry version holding the variant's alias."""
        versions = self.challengers if variant == "challenger" else self.champions
        return versions.get(model_name, "?")

    # ------------------------------------------------------------------ admission

    def _admit(self, http: Request, permission: str) -> CallContext:
        """Authenticate, authorise and rate-limit a call (401/403/429 otherwise)."""
        try:
            return admit_call(
                http.headers,
                permission,
                self.authenticator,
                self.limiter,
                self.settings.default_rate_limit_per_minute,
            )
        except GatewayError as error:
            raise _http_error(error) from error

    def _refuse(
        self, context: CallContext, feature: str, status: int, message: str, inputs: dict
    ) -> HTTPException:
        """Record a refused call in the audit trail and return the HTTP error to raise."""
        record_interactions(
            self.config.database_url, [context.refusal(feature, inputs, status, message)]
        )
        return HTTPException(status_code=status, detail=message)

    def _require_consent(self, context: CallContext, feature: str, contact_id: uuid.UUID) -> bool:
        """Refuse (403) contacts that did not consent to AI processing.

        Returns:
            Whether the CRM holds the contact.
        """
        consent = contact_consents(self.config.database_url, [contact_id]).get(contact_id)
        if consent is False:
            raise self._refuse(
                context,
                feature,
                403,
                f"contact {contact_id} has not consented to AI processing (ai_consent)",
                {"contact_id": str(contact_id)},
            )
        return consent is not None

    def _call_model(
        self,
        context: CallContext,
        feature: str,
        inputs: dict[str, Any],
        variant: str,
        method: str,
        *args: Any,
    ) -> Any:
        """Call a model deployment from a sync route; an unserved model is a recorded 503."""
        try:
            return getattr(self.variants[variant], method).remote(*args).result()
        except ModelUnavailableError as error:
            hint = "train it first (`haste train`, `haste train-deals`)"
            raise self._refuse(context, feature, 503, f"{error}: {hint}", inputs) from error

    # ------------------------------------------------------------------ lead scoring

    def _refused_job(self, job: ScoreJob, status: int, message: str) -> HTTPException:
        """Return the HTTP error of a refused lead-score job and queue its audit record."""
        job.records.append(
            job.context.refusal("lead_score", {"contact_id": str(job.contact_id)}, status, message)
        )
        return HTTPException(status_code=status, detail=message)

    def _prepare_jobs(self, jobs: list[ScoreJob]) -> dict[tuple[str, str], list[ScoreJob]]:
        """Answer replays and cache hits, check consent, find features; group the rest.

        Returns:
            ``(model name, variant) -> jobs`` still to be scored.
        """
        url = self.config.database_url
        replays = recorded_outputs(
            url, [j.context.request_id for j in jobs if j.context.client_request_id]
        )
        for job in jobs:  # idempotent replay: answered before, answer the same, record nothing
            if job.context.request_id in replays:
                job.result = {**replays[job.context.request_id], "replayed": True}
        jobs = [job for job in jobs if job.result is None]
        consents = contact_consents(url, [j.contact_id for j in jobs])
        lookups = self.lookup.find_many(
            [str(j.contact_id) for j in jobs if consents.get(j.contact_id) is not False]
        )
        pending: dict[tuple[str, str], list[ScoreJob]] = {}
        for job in jobs:
            key = str(job.contact_id)
            if consents.get(job.contact_id) is False:
                job.result = self._refused_job(
                    job, 403, f"contact {key} has not consented to AI processing"
                )
                continue
            job.found = lookups[key]
            if job.found is None:
                job.result = self._refused_job(
                    job,
                    404,
                    f"contact {key} not found in the online feature store or lead profiles",
                )
                continue
            name = job.found.model_name
            variant = self._variant(name, key)
            cached = self.cache.get(score_key(name, self._version(name, variant), key))
            if cached is not None:
                job.result = {**cached, "cached": True}
                job.records.append(
                    job.context.interaction(
                        "lead_score",
                        {"contact_id": key, "cached": True},
                        cached,
                        f"{name}@v{cached['model_version']}",
                        variant=variant,
                        provider="xgboost",
                    )
                )
                continue
            pending.setdefault((name, variant), []).append(job)
        return pending

    async def _score_group(self, name: str, variant: str, jobs: list[ScoreJob]) -> None:
        """Score one model variant's jobs in one call to its model deployment."""
        handle = self.variants[variant]
        try:
            payloads = await handle.score_leads.remote(
                name, [job.found.row for job in jobs], [str(job.contact_id) for job in jobs]
            )
        except ModelUnavailableError as error:
            for job in jobs:
                job.result = self._refused_job(job, 503, str(error))
            return
        for job, payload in zip(jobs, payloads, strict=True):
            features = payload.pop("features")
            payload["variant"] = variant
            job.result = payload
            job.inputs = {
                "contact_id": payload["contact_id"],
                "feature_source": job.found.source,
                "variant": variant,
                "features": features,
            }

    def _finish_jobs(self, jobs: list[ScoreJob]) -> None:
        """Cache fresh scores; write scores, predictions and audit records in one transaction."""
        fresh: list[tuple[dict[str, Any], str]] = []
        interactions: list[InteractionRecord] = []
        for job in jobs:
            interactions.extend(job.records)
            if job.inputs is None:  # refused or answered from the cache
                continue
            payload = job.result
            name, version = payload["model_name"], payload["model_version"]
            self.cache.set(score_key(name, version, payload["contact_id"]), payload)
            fresh.append((payload, version))
            interactions.append(
                job.context.interaction(
                    "lead_score",
                    job.inputs,
                    payload,
                    f"{name}@v{version}",
                    variant=payload["variant"],
                    provider="xgboost",
                )
            )
        record_scoring_batch(self.config.database_url, fresh, interactions)

    async def _score_batch(self, jobs: list[ScoreJob]) -> list[dict[str, Any] | HTTPException]:
        """Score a batch of lead-score requests (see :class:`serving.batching.GreedyBatcher`).

        One replay query, one consent query and one feature lookup for the batch; one call per
        model variant to its model deployment (concurrently; ``@serve.batch`` there merges the
        calls of several gateway replicas); one database transaction for every record.
        """
        pending = await asyncio.to_thread(self._prepare_jobs, jobs)
        await asyncio.gather(
            *(self._score_group(name, variant, group) for (name, variant), group in pending.items())
        )
        await asyncio.to_thread(self._finish_jobs, jobs)
        return [job.result for job in jobs]

    @api.get("/api/ai/health", response_model=HealthResponse)
    async def health(self) -> HealthResponse:
        """Report liveness and the versions the model deployments serve (no API key needed)."""
        models = await self.variants["champion"].versions.remote()
        challengers = {}
        if self.variants["challenger"] is not None:
            challengers = await self.variants["challenger"].versions.remote()
        return HealthResponse(status="ok", models=models, challengers=challengers)

    @api.post("/api/ai/lead-score", response_model=LeadScoreResponse)
    async def lead_score(self, request: LeadScoreRequest, http: Request) -> LeadScoreResponse:
        """Score a contact from its stored features, explain it and record it."""
        context = self._admit(http, "predict")
        result = await self.score_batcher.submit(
            ScoreJob(request.contact_id, request.include_explanation, context)
        )
        if isinstance(result, HTTPException):
            raise result
        payload = dict(result)
        if not request.include_explanation:
            payload.pop("contributions", None)
            payload.pop("explanation", None)
        payload.pop("cached", None)
        payload.pop("replayed", None)
        return LeadScoreResponse(**payload, latency_ms=context.elapsed_ms())

    # ------------------------------------------------------------------ predictions

    @api.post("/api/ai/predictions/next-actions", response_model=NextActionsResponse)
    def next_actions(self, request: NextActionsRequest, http: Request) -> NextActionsResponse:
        """Rank next best actions from activity rules and the lead model's explanation."""
        context = self._admit(http, "predict")
        sales = request.context
        key = str(sales.contact_id)
        in_crm = self._require_consent(context, "next_actions", sales.contact_id)
        found = self.lookup.find(key)
        if found is None and not in_crm:  # in no feature source and not in the CRM
            raise self._refuse(
                context, "next_actions", 404, f"contact {key} not found in the CRM", {"id": key}
            )
        activities = [
            Activity(a.type, a.occurred_at, a.direction, a.replied) for a in sales.recent_activities
        ]
        suggestions = suggest_from_activity(activities, dt.datetime.now(dt.UTC), sales.deal_stage)
        lead_score = None
        inputs: dict[str, Any] = {
            "contact_id": key,
            "recent_activities": [a.model_dump(mode="json") for a in sales.recent_activities],
            "deal_stage": sales.deal_stage,
        }
        model_ref, model_version, variant = "rules", None, None
        if found is not None:
            variant = self._variant(found.model_name, key)
            scored = self._call_model(
                context,
                "next_actions",
                {"contact_id": key},
                variant,
                "score_leads",
                found.model_name,
                [found.row],
                [key],
            )[0]
            lead_score = scored["score"]
            contributions = [
                Contribution(c["feature"], c["value"], c["impact"]) for c in scored["contributions"]
            ]
            suggestions += suggest_from_score(lead_score, contributions)
            inputs["features"] = scored["features"]
            inputs["variant"] = variant
            model_version = scored["model_version"]
            model_ref = f"{scored['model_name']}@v{model_version}"
        ranked = [action.to_dict() for action in rank_actions(suggestions, request.limit)]
        output = {"actions": ranked, "lead_score": lead_score}
        record_prediction(
            self.config.database_url,
            entity_type="contact",
            entity_id=sales.contact_id,
            prediction_type="next_actions",
            value=output,
            confidence=ranked[0]["priority"] if ranked else None,
            model_version=model_version,
            interaction=context.interaction(
                "next_actions",
                inputs,
                output,
                model_ref,
                variant=variant,
                provider="rules+xgboost" if found else "rules",
            ),
        )
        return NextActionsResponse(
            contact_id=key,
            actions=ranked,
            lead_score=lead_score,
            model_version=model_version,
        )

    @api.get("/api/ai/predictions/deal/{deal_id}", response_model=DealPredictionResponse)
    def deal_prediction(
        self,
        http: Request,
        deal_id: str = PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"),
    ) -> DealPredictionResponse:
        """Predict a deal's days to close, expected close date and win probability (SHAP)."""
        context = self._admit(http, "predict")
        inputs = {"deal_id": deal_id}
        variant = self._variant(DAYS_MODEL_NAME, deal_id.strip().lower())
        prediction = self._call_model(
            context, "deal_prediction", inputs, variant, "predict_deal", deal_id
        )
        if prediction is None:
            raise self._refuse(context, "deal_prediction", 404, f"deal {deal_id} not found", inputs)
        versions, model_ref = prediction.pop("model_versions"), prediction.pop("model_ref")
        from haste.records import entity_uuid

        record_prediction(
            self.config.database_url,
            entity_type="deal",
            entity_id=entity_uuid("maven", deal_id.upper()),
            prediction_type="deal_velocity",
            value=prediction,
            confidence=max(prediction["win_probability"], 1 - prediction["win_probability"]),
            model_version=model_ref,
            interaction=context.interaction(
                "deal_prediction",
                {**inputs, "variant": variant},
                prediction,
                model_ref,
                variant=variant,
                provider="xgboost",
            ),
        )
        return DealPredictionResponse(
            deal_id=deal_id,
            model_versions=versions,
            variant=variant,
            latency_ms=context.elapsed_ms(),
            **prediction,
        )

    @api.get(
        "/api/ai/predictions/account/{account_id}/churn-risk", response_model=ChurnRiskResponse
    )
    def churn_risk(
        self,
        http: Request,
        account_id: str = PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"),
    ) -> ChurnRiskResponse:
        """Score an account's churn risk with SHAP factors and retention actions."""
        context = self._admit(http, "predict")
        inputs = {"account_id": account_id}
        variant = self._variant("churn", account_id.strip().lower())
        payload = self._call_model(
            context, "churn_risk", inputs, variant, "predict_churn", account_id
        )
        if payload is None:
            raise self._refuse(
                context, "churn_risk", 404, f"account {account_id} not found", inputs
            )
        features = payload.pop("features")
        name, version = payload.pop("model_name"), payload.pop("model_version")
        from haste.records import entity_uuid

        record_prediction(
            self.config.database_url,
            entity_type="account",
            entity_id=entity_uuid("telco", account_id),
            prediction_type="churn",
            value=payload,
            confidence=payload["confidence"],
            model_version=version,
            interaction=context.interaction(
                "churn_risk",
                {**inputs, "variant": variant, "features": features},
                payload,
                f"{name}@v{version}",
                variant=variant,
                provider="xgboost",
            ),
        )
        return ChurnRiskResponse(
            **payload,
            model_name=name,
            model_version=version,
            variant=variant,
            latency_ms=context.elapsed_ms(),
        )

    # ------------------------------------------------------------------ text AI and LLM

    async def _record(self, records: list[InteractionRecord]) -> None:
        """Write audit records without blocking the event loop."""
        await asyncio.to_thread(record_interactions, self.config.database_url, records)

    async def _call_text(
        self, context: CallContext, feature: str, inputs: dict[str, Any], method: str, *args: Any
    ) -> dict[str, Any]:
        """Call the TextAI deployment; refused calls are recorded and answered with 4xx/5xx."""
        if self.text is None:
            raise await asyncio.to_thread(
                self._refuse, context, feature, 503, "the TextAI deployment is not running", inputs
            )
        try:
            return await getattr(self.text, method).remote(*args)
        except TextAIError as error:
            raise await asyncio.to_thread(
                self._refuse, context, feature, error.status_code, error.message, inputs
            ) from error

    @staticmethod
    def _usage(context: CallContext) -> dict[str, Any]:
        """Return the caller identity passed to the LLM layer (for costs and budgets)."""
        principal = context.principal
        return {
            "user_id": str(principal.user_id) if principal.user_id else None,
            "team_id": str(principal.team_id) if principal.team_id else None,
            "api_key_id": str(principal.api_key_id) if principal.api_key_id else None,
            "request_id": context.request_id,
        }

    async def _consent(self, context: CallContext, feature: str, contact_id: Any) -> None:
        """Refuse (403) a contact without AI consent before any text work."""
        if contact_id:
            await asyncio.to_thread(
                self._require_consent, context, feature, uuid.UUID(str(contact_id))
            )

    @api.post("/api/ai/conversation/analyze")
    async def analyze_conversation(
        self, request: ConversationAnalyzeRequest, http: Request
    ) -> dict[str, Any]:
        """Summary, topics, sentiment per speaker, action items, key moments, coaching."""
        context = self._admit(http, "llm")
        feature = "conversation_analyze"
        await self._consent(context, feature, request.contact_id)
        body = request.model_dump(mode="json")
        inputs = {"contact_id": body["contact_id"], "meeting_type": body["meeting_type"]}
        result = await self._call_text(
            context, feature, inputs, "analyze_conversation", body, self._usage(context)
        )
        await self._record(
            [
                context.interaction(
                    feature,
                    {**inputs, "turns": result.get("n_turns")},
                    {
                        "insight_id": result["insight_id"],
                        "summary": result["summary"],
                        "action_items": len(result["action_items"]),
                        "alerts": result["alerts"],
                    },
                    "minilm+sentiment+action_items",
                    provider="local",
                )
            ]
        )
        return result

    @api.post("/api/ai/search")
    async def search(self, request: SearchRequest, http: Request) -> dict[str, Any]:
        """Hybrid semantic + keyword search with natural-language filters and suggestions."""
        context = self._admit(http, "search")
        body = {
            "query": request.query,
            "limit": request.limit,
            "entity_types": request.context.entity_types if request.context else None,
            "mode": request.context.mode if request.context else "hybrid",
        }
        result = await self._call_text(context, "search", {"query": request.query}, "search", body)
        await self._record(
            [
                context.interaction(
                    "search",
                    body,
                    {
                        "intent": result["intent"],
                        "hits": [hit["doc_id"] for hit in result["results"]],
                    },
                    "minilm+bm25",
                    provider="local",
                )
            ]
        )
        return result

    async def _llm_endpoint(
        self, http: Request, feature: str, method: str, body: dict[str, Any], contact_id: Any
    ) -> dict[str, Any]:
        """Shared path of the LLM endpoints (the LLM service records its own calls)."""
        context = self._admit(http, "llm")
        await self._consent(context, feature, contact_id)
        inputs = {"contact_id": str(contact_id) if contact_id else None}
        result = await self._call_text(context, feature, inputs, method, body, self._usage(context))
        if not result.get("llm"):  # no LLM call was made: record the call here
            await self._record(
                [context.interaction(feature, inputs, {"keys": sorted(result)}, "rules")]
            )
        result["request_id"] = context.request_id
        return result

    @api.post("/api/ai/email/compose")
    async def compose_email(self, request: EmailComposeRequest, http: Request) -> dict[str, Any]:
        """Compose an email with a tone and CRM personalisation (PII redacted for providers)."""
        body = request.model_dump(mode="json")
        contact_id = request.context.recipient.contact_id
        return await self._llm_endpoint(http, "email_compose", "compose_email", body, contact_id)

    @api.post("/api/ai/email/optimize-subject")
    async def optimize_subject(
        self, request: SubjectOptimizeRequest, http: Request
    ) -> dict[str, Any]:
        """Score a subject line and propose better-scoring variants."""
        body = request.model_dump(mode="json")
        return await self._llm_endpoint(
            http, "email_subject", "optimize_subject", body, request.contact_id
        )

    @api.post("/api/ai/email/reply-suggestions")
    async def reply_suggestions(self, request: EmailReplyRequest, http: Request) -> dict[str, Any]:
        """Suggest replies to an incoming email, adapted to its sentiment."""
        body = request.model_dump(mode="json")
        return await self._llm_endpoint(
            http, "email_reply", "suggest_replies", body, request.contact_id
        )

    @api.get("/api/ai/usage")
    def usage(self, http: Request, by: str = "team", days: int = 30) -> dict[str, Any]:
        """AI usage and cost rolled up per user, team, feature, provider or model."""
        self._admit(http, "usage")
        from textai.llm.usage import usage_rollup

        if not 1 <= days <= 366:
            raise HTTPException(422, detail="days must be between 1 and 366")
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        try:
            rows = usage_rollup(self.config.database_url, by=by, since=since)
        except ValueError as error:
            raise HTTPException(422, detail=str(error)) from error
        return {"by": by, "days": days, "rows": jsonable_encoder(rows)}

    def _admit_dashboard(self, http: Request) -> None:
        """Admit a dashboard view: the key may come as ``?api_key=`` (browsers)."""
        headers = dict(http.headers)
        key = http.query_params.get("api_key") or http.cookies.get(DASHBOARD_COOKIE)
        if key and "x-api-key" not in headers:
            headers["x-api-key"] = key
        try:
            admit_call(
                headers,
                "usage",
                self.authenticator,
                self.limiter,
                self.settings.default_rate_limit_per_minute,
            )
        except GatewayError as error:
            raise _http_error(error) from error

    @api.get("/dashboard", response_class=HTMLResponse)
    def dashboard(self, http: Request) -> HTMLResponse:
        """The AI insights dashboard (scores, predictions, actions, drift, fairness, usage)."""
        self._admit_dashboard(http)
        from serving.dashboard.render import render_dashboard

        reports = self.settings.data_dir / "reports"
        page = HTMLResponse(render_dashboard(self.config.database_url, reports))
        if "api_key" in http.query_params:  # keep the key for the report links (same site)
            page.set_cookie(
                DASHBOARD_COOKIE,
                http.query_params["api_key"],
                httponly=True,
                samesite="strict",
                max_age=3600,
            )
        return page

    @api.get("/api/ai/dashboard")
    def dashboard_data(self, http: Request) -> dict[str, Any]:
        """The dashboard's data as JSON."""
        self._admit_dashboard(http)
        from insights.data import build_dashboard, jsonable

        reports = self.settings.data_dir / "reports"
        return jsonable(build_dashboard(self.config.database_url, reports))

    @api.get("/dashboard/reports/{path:path}")
    def dashboard_report(self, path: str, http: Request) -> FileResponse:
        """Serve a drift/fairness HTML or JSON report linked from the dashboard."""
        self._admit_dashboard(http)
        from insights.data import resolve_report_file

        file = resolve_report_file(self.settings.data_dir / "reports", path)
        if file is None:
            raise HTTPException(404, detail=f"no report {path!r}")
        return FileResponse(file)

    @api.post("/api/ai/feedback")
    def feedback(self, request: FeedbackRequest, http: Request) -> dict[str, Any]:
        """Rate an earlier AI answer (1-5); feeds the prompt-version statistics."""
        self._admit(http, "predict")
        from textai.llm.prompts import InteractionNotFoundError, record_feedback

        try:
            record_feedback(self.config.database_url, request.request_id, request.score)
        except InteractionNotFoundError as error:
            raise HTTPException(404, detail=str(error)) from error
        return {"request_id": request.request_id, "score": request.score}


def build_app(
    config: ServeConfig,
    deployment_options: dict[str, Any] | None = None,
    text_options: dict[str, Any] | None = None,
    model_options: dict[str, dict[str, Any]] | None = None,
    code_version: str | None = None,
) -> serve.Application:
    """Bind the application graph with options from ``configs/serve.yaml``.

    The gateway gets handles of TextAI and of the two model deployments: ``ChampionModels``
    and ``ChallengerModels``, the same :class:`ModelServer` class bound to each alias.

    Args:
        config: The replica config.
        deployment_options: The gateway's deployment options.
        text_options: TextAI's deployment options.
        model_options: Deployment options by model deployment name.
        code_version: Pins every deployment's code version (see :func:`pin_version`).
    """
    from serving.text_app import TextAI

    model_options = model_options or {}
    text = pin_version(TextAI, code_version).options(**(text_options or {}))
    champion = pin_version(ModelServer, code_version).options(
        **{"name": CHAMPION_DEPLOYMENT, **model_options.get(CHAMPION_DEPLOYMENT, {})}
    )
    challenger = pin_version(ModelServer, code_version).options(
        **{"name": CHALLENGER_DEPLOYMENT, **model_options.get(CHALLENGER_DEPLOYMENT, {})}
    )
    gateway = pin_version(AIGateway, code_version).options(**(deployment_options or {}))
    return gateway.bind(
        config,
        text.bind(config.settings),
        champion.bind(config, CHAMPION),
        challenger.bind(config, CHALLENGER),
    )


def pin_version(deployment: serve.Deployment, code_version: str | None) -> serve.Deployment:
    """Give a deployment a fixed code version so redeploying unchanged code is in place.

    ``serve.run`` gives every deployment a random code version, so each redeploy would restart
    every replica. ``serve deploy`` of a config file instead derives the version from the
    application (what Serve does internally with ``version`` and ``_internal=True``). Pinning
    the version to a hash of the code and config (:func:`serving.runner.code_version`) gives
    ``serve.run`` the same semantics: a new ``user_config`` or replica count reconfigures the
    running replicas (Ray Serve's lightweight update), new code restarts them.
    """
    if code_version is None:
        return deployment
    return deployment.options(version=code_version, _internal=True)


def app_builder(args: dict[str, str]) -> serve.Application:
    """Build the app for ``serve run/deploy configs/serve.yaml`` (settings from the env/YAML)."""
    from haste.settings import get_settings
    from serving.runner import serve_config_from_settings

    return build_app(
        serve_config_from_settings(get_settings(), args.get("model_name", "lead_scoring"))
    )


__all__ = ["AIGateway", "ServeConfig", "app_builder", "build_app"]
