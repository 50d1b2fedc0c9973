"""Ray Serve application: the FastAPI ingress of the hasteCRM AI API.

Ray Serve ships the deployment class by value, capturing the module globals its methods use
when the class is decorated: every helper the methods call must be defined above the class or
imported from another module.

Every endpoint is admitted by :func:`serving.gateway.admit_call` (API key -> user/team/role,
per-key rate limit) and recorded in ``ai_interactions`` (latency, model, variant, user, team,
tokens, cost, request id); errors after admission are recorded too. Lead scores are computed in
dynamic batches (``@serve.batch``): one vectorised XGBoost + SHAP call and one database
transaction per batch.
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
    recorded_output,
)
from haste.settings import Settings
from serving.auth import Authenticator
from serving.gateway import CallContext, GatewayError, admit_call
from serving.lookup import (
    ContactFeatureLookup,
    FoundContact,
    ServedModel,
    feature_snapshot,
    load_served_model,
)
from serving.predictions import AccountChurnPredictor, DealPredictor
from serving.rate_limit import build_rate_limiter
from serving.routing import choose_variant, parse_rollouts, store_rollouts
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
from training.next_actions import (
    Activity,
    rank_actions,
    suggest_from_activity,
    suggest_from_score,
)
from training.registry import CHALLENGER, CHAMPION, NoChampionError

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


@dataclass(frozen=True)
class ServeConfig:
    """Everything a replica needs, resolved to absolute URLs/paths by the caller."""

    tracking_uri: str
    database_url: str
    features_path: str
    settings: dict[str, Any] = field(default_factory=dict)
    id_column: str = "Prospect ID"
    model_name: str = "lead_scoring"
    crm_model_name: str | None = "lead_scoring_crm"
    alias: str = CHAMPION
    top_k: int = 5
    churn_features_path: str = ""


@dataclass
class ScoreJob:
    """One lead-score request waiting in a batch."""

    contact_id: uuid.UUID
    include_explanation: bool
    context: CallContext


def _http_error(error: GatewayError) -> HTTPException:
    """Turn a refused call into the HTTP error."""
    return HTTPException(error.status_code, detail=error.message, headers=error.headers)


def _load_optional(what: str, loader: Any, *args: Any) -> Any:
    """Load an optional predictor; log and return None when its model is missing."""
    try:
        return loader(*args)
    except (NoChampionError, FileNotFoundError) as error:
        logger.warning("not serving %s: %s", what, error)
        return None


@serve.deployment(name="AIGateway", ray_actor_options={"num_cpus": 0.5})
@serve.ingress(api)
class AIGateway:
    """HTTP ingress of the AI endpoints."""

    def __init__(self, config: ServeConfig, text: Any = None) -> None:
        self.config = config
        self.text = text  # handle of the TextAI deployment (None: text endpoints answer 503)
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
        mlflow.set_tracking_uri(config.tracking_uri)
        mlflow.set_registry_uri(config.tracking_uri)
        self._load_models()

    # ------------------------------------------------------------------ models

    def _load_models(self) -> None:
        """Load the champions (and challengers) from MLflow and open the feature sources."""
        config = self.config
        profile_model = load_served_model(config.model_name, config.alias, config.top_k)
        crm_model = (
            load_served_model(config.crm_model_name, config.alias, config.top_k)
            if config.crm_model_name
            else None
        )
        if profile_model is None and crm_model is None:
            raise NoChampionError("no lead-scoring champion to serve; train one first")
        profile = pd.DataFrame()
        if Path(config.features_path).exists():
            table = pd.read_parquet(config.features_path)
            profile = table.set_index(table[config.id_column].str.lower())
        store = None
        if crm_model is not None:
            from features.store import get_store

            store = get_store(self.settings)
        self.lookup = ContactFeatureLookup(profile, profile_model, store, crm_model)
        self.challengers = self._load_challengers()
        self.deals = _load_optional(
            "deal predictions", DealPredictor.load, self.settings.datasets_dir
        )
        self.churn = _load_optional(
            "churn risk", AccountChurnPredictor.load, Path(config.churn_features_path)
        )
        logger.info("serving %s over %d profiles", self.served_models(), len(profile))

    def _load_challengers(self) -> dict[str, ServedModel]:
        """Load the ``challenger`` alias of every served model that has one."""
        challengers = {}
        for name in self.lookup.models:
            model = load_served_model(name, CHALLENGER, self.config.top_k)
            if model is not None:
                challengers[name] = model
        return challengers

    def served_models(self) -> dict[str, str]:
        """Return every served model name -> champion version."""
        models = dict(self.lookup.models)
        if self.deals is not None:
            models.update(self.deals.versions)
        if self.churn is not None:
            models[self.churn.model.name] = self.churn.model.version
        return models

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Apply a new A/B split (and reload models on a new generation) without a restart."""
        rollouts = parse_rollouts(user_config)
        generation = user_config.get("models_generation")
        if self.generation is not None and generation != self.generation:
            self._load_models()  # new generation: reload champions and challengers
        self.generation = generation
        self.rollouts = rollouts
        store_rollouts(self.config.database_url, rollouts)
        logger.info("A/B rollout %s (generation %s)", rollouts, generation)

    def _variant(self, found: FoundContact, key: str) -> tuple[ServedModel, str]:
        """Pick the champion or the challenger for this contact (sticky)."""
        name = found.model.name
        challenger = self.challengers.get(name)
        rollout = self.rollouts.get(name, 0)
        if challenger is None or choose_variant(key, name, rollout) == "champion":
            return found.model, "champion"
        return challenger, "challenger"

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
            self.config.database_url,
            [
                context.interaction(
                    feature,
                    inputs,
                    {"status": status},
                    None,
                    error_message=f"{status}: {message}",
                )
            ],
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

    # ------------------------------------------------------------------ lead scoring

    def _score_jobs(self, jobs: list[ScoreJob]) -> list[dict[str, Any] | HTTPException]:
        """Score a batch: one consent query, vectorised scoring per model, one transaction."""
        consents = contact_consents(self.config.database_url, [j.contact_id for j in jobs])
        results: list[dict[str, Any] | HTTPException | None] = [None] * len(jobs)
        interactions: list[InteractionRecord] = []
        pending: dict[str, list[tuple[int, ServedModel, str, FoundContact]]] = {}
        lookups = self.lookup.find_many(
            [str(j.contact_id) for j in jobs if consents.get(j.contact_id) is not False]
        )
        for index, job in enumerate(jobs):
            key = str(job.contact_id)
            if consents.get(job.contact_id) is False:
                status, message = 403, f"contact {key} has not consented to AI processing"
            else:
                found = lookups[key]
                if found is not None:
                    model, variant = self._variant(found, key)
                    cached = self.cache.get(score_key(model.name, model.version, key))
                    if cached is not None:
                        results[index] = {**cached, "cached": True}
                        interactions.append(
                            job.context.interaction(
                                "lead_score",
                                {"contact_id": key, "cached": True},
                                cached,
                                model.ref,
                                variant=variant,
                                provider="xgboost",
                            )
                        )
                        continue
                    pending.setdefault(model.ref, []).append((index, model, variant, found))
                    continue
                status = 404
                message = f"contact {key} not found in the online feature store or lead profiles"
            results[index] = HTTPException(status_code=status, detail=message)
            interactions.append(
                job.context.interaction(
                    "lead_score",
                    {"contact_id": key},
                    {"status": status},
                    None,
                    error_message=f"{status}: {message}",
                )
            )
        fresh: list[tuple[dict[str, Any], str]] = []
        for group in pending.values():
            model = group[0][1]
            ids = [str(jobs[index].contact_id) for index, *_ in group]
            inputs, scores = model.score_many([found.records for *_, found in group], ids)
            for (index, _, variant, found), records, score in zip(
                group, inputs, scores, strict=True
            ):
                payload = score.to_dict(include_explanation=True)
                payload.update(variant=variant, model_name=model.name, model_version=model.version)
                self.cache.set(score_key(model.name, model.version, payload["contact_id"]), payload)
                results[index] = payload
                fresh.append((payload, model.version))
                interactions.append(
                    jobs[index].context.interaction(
                        "lead_score",
                        {
                            "contact_id": payload["contact_id"],
                            "feature_source": found.source,
                            "variant": variant,
                            "features": feature_snapshot(records),
                        },
                        payload,
                        model.ref,
                        variant=variant,
                        provider="xgboost",
                    )
                )
        record_scoring_batch(self.config.database_url, fresh, interactions)
        return results  # type: ignore[return-value]

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.004)
    async def _score_batch(self, jobs: list[ScoreJob]) -> list[dict[str, Any] | HTTPException]:
        """Dynamic batching: concurrent lead-score requests are scored together."""
        return await asyncio.to_thread(self._score_jobs, jobs)

    @api.get("/api/ai/health", response_model=HealthResponse)
    def health(self) -> HealthResponse:
        """Report liveness and the served model versions (no API key needed)."""
        return HealthResponse(status="ok", models=self.served_models())

    @api.post("/api/ai/lead-score", response_model=LeadScoreResponse)
    async def lead_score(self, request: LeadScoreRequest, http: Request) -> LeadScoreResponse:
        """Score a contact from its stored features, explain it and record it."""
        context = self._admit(http, "predict")
        payload = None
        if context.client_request_id:  # idempotent replay of an already answered request
            payload = await asyncio.to_thread(
                recorded_output, self.config.database_url, context.request_id
            )
        if payload is None:
            result = await self._score_batch(
                ScoreJob(request.contact_id, request.include_explanation, context)
            )
            if isinstance(result, HTTPException):
                raise result
            payload = dict(result)
        if not request.include_explanation:
            payload.pop("contributions", None)
            payload.pop("explanation", None)
        payload.pop("cached", None)
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
        if found is not None:
            records, score = found.model.score_contact(found.records, key)
            lead_score = score.score
            suggestions += suggest_from_score(score.score, score.contributions)
            inputs["features"] = feature_snapshot(records)
        ranked = [action.to_dict() for action in rank_actions(suggestions, request.limit)]
        output = {"actions": ranked, "lead_score": lead_score}
        record_prediction(
            self.config.database_url,
            entity_type="contact",
            entity_id=sales.contact_id,
            prediction_type="next_actions",
            value=output,
            confidence=ranked[0]["priority"] if ranked else None,
            model_version=found.model.version if found else None,
            interaction=context.interaction(
                "next_actions",
                inputs,
                output,
                found.model.ref if found else "rules",
                provider="rules+xgboost" if found else "rules",
            ),
        )
        return NextActionsResponse(
            contact_id=key,
            actions=ranked,
            lead_score=lead_score,
            model_version=found.model.version if found else None,
        )

    @api.get("/api/ai/predictions/deal/{deal_id}", response_model=DealPredictionResponse)
    def deal_prediction(
        self,
        http: Request,
        deal_id: str = PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"),
    ) -> DealPredictionResponse:
        """Predict a deal's days to close, expected close date and win probability (SHAP)."""
        context = self._admit(http, "predict")
        if self.deals is None:
            raise self._refuse(
                context,
                "deal_prediction",
                503,
                "deal models are not trained yet: run `haste train-deals`",
                {"deal_id": deal_id},
            )
        prediction = self.deals.predict(deal_id)
        if prediction is None:
            raise self._refuse(
                context, "deal_prediction", 404, f"deal {deal_id} not found", {"deal_id": deal_id}
            )
        from haste.records import entity_uuid

        record_prediction(
            self.config.database_url,
            entity_type="deal",
            entity_id=entity_uuid("maven", deal_id.upper()),
            prediction_type="deal_velocity",
            value=prediction,
            confidence=max(prediction["win_probability"], 1 - prediction["win_probability"]),
            model_version=self.deals.model_ref,
            interaction=context.interaction(
                "deal_prediction",
                {"deal_id": deal_id},
                prediction,
                self.deals.model_ref,
                provider="xgboost",
            ),
        )
        return DealPredictionResponse(
            deal_id=deal_id,
            model_versions=self.deals.versions,
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
        if self.churn is None:
            raise self._refuse(
                context,
                "churn_risk",
                503,
                "churn model is not trained yet: run `haste train --model churn`",
                {"account_id": account_id},
            )
        scored = self.churn.predict(account_id)
        if scored is None:
            raise self._refuse(
                context,
                "churn_risk",
                404,
                f"account {account_id} not found",
                {"account_id": account_id},
            )
        payload, features = scored
        from haste.records import entity_uuid

        record_prediction(
            self.config.database_url,
            entity_type="account",
            entity_id=entity_uuid("telco", account_id),
            prediction_type="churn",
            value=payload,
            confidence=payload["confidence"],
            model_version=self.churn.model.version,
            interaction=context.interaction(
                "churn_risk",
                {"account_id": account_id, "features": features},
                payload,
                self.churn.model.ref,
                provider="xgboost",
            ),
        )
        return ChurnRiskResponse(
            **payload,
            model_name=self.churn.model.name,
            model_version=self.churn.model.version,
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
        from serving.llm.usage import usage_rollup

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
        from serving.dashboard.data import build_dashboard, jsonable

        reports = self.settings.data_dir / "reports"
        return jsonable(build_dashboard(self.config.database_url, reports))

    @api.get("/dashboard/reports/{path:path}")
    def dashboard_report(self, path: str, http: Request) -> FileResponse:
        """Serve a drift/fairness HTML or JSON report linked from the dashboard."""
        self._admit_dashboard(http)
        from serving.dashboard.data import resolve_report_file

        file = resolve_report_file(self.settings.data_dir / "reports", path)
        if file is None:
            raise HTTPException(404, detail=f"no report {path!r}")
        return FileResponse(file)

    @api.post("/api/ai/feedback")
    def feedback(self, request: FeedbackRequest, http: Request) -> dict[str, Any]:
        """Rate an earlier AI answer (1-5); feeds the prompt-version statistics."""
        self._admit(http, "predict")
        from serving.llm.prompts import InteractionNotFoundError, record_feedback

        try:
            record_feedback(self.config.database_url, request.request_id, request.score)
        except InteractionNotFoundError as error:
            raise HTTPException(404, detail=str(error)) from error
        return {"request_id": request.request_id, "score": request.score}


def build_app(
    config: ServeConfig,
    deployment_options: dict[str, Any] | None = None,
    text_options: dict[str, Any] | None = None,
) -> serve.Application:
    """Bind the application graph (gateway + TextAI) with options from ``configs/serve.yaml``."""
    from serving.text_app import TextAI

    text = TextAI.options(**(text_options or {})).bind(config.settings)
    return AIGateway.options(**(deployment_options or {})).bind(config, text)


def app_builder(args: dict[str, str]) -> serve.Application:
    """Build the app for ``serve run/deploy configs/serve.yaml`` (settings from the env/YAML)."""
    from haste.settings import get_settings
    from serving.runner import serve_config_from_settings

    return build_app(
        serve_config_from_settings(get_settings(), args.get("model_name", "lead_scoring"))
    )


__all__ = ["AIGateway", "ServeConfig", "app_builder", "build_app"]
