"""Ray Serve application: a FastAPI ingress serving the champion lead-scoring models.

Ray Serve ships the deployment class by value, capturing the module globals its methods use
when the class is decorated: every helper the methods call must be defined above the class or
imported from another module.

The deployment loads each model's ``champion`` (and ``challenger``) alias from MLflow, finds a
contact's features in the Feast online store or the lead-profile table (:mod:`serving.lookup`),
explains every score with SHAP and records it in ``lead_scores``/``predictions`` and the audit
trail (``ai_interactions``).
"""

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from fastapi import FastAPI, HTTPException
from ray import serve

from haste.records import (
    InteractionRecord,
    contact_consent,
    record_lead_scores,
    record_prediction,
)
from haste.settings import Settings
from serving.lookup import (
    ContactFeatureLookup,
    FoundContact,
    ServedModel,
    feature_snapshot,
    load_served_model,
)
from serving.routing import choose_variant, parse_rollouts, store_rollouts
from serving.schemas import (
    HealthResponse,
    LeadScoreRequest,
    LeadScoreResponse,
    NextActionsRequest,
    NextActionsResponse,
)
from training.next_actions import (
    Activity,
    rank_actions,
    suggest_from_activity,
    suggest_from_score,
)
from training.registry import CHALLENGER, CHAMPION, NoChampionError

logger = logging.getLogger("ray.serve")

api = FastAPI(
    title="hasteCRM AI API",
    version="0.1.0",
    description="Lead scoring with SHAP explanations, served by Ray Serve from MLflow.",
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


@serve.deployment(name="AIGateway", ray_actor_options={"num_cpus": 0.5})
@serve.ingress(api)
class AIGateway:
    """HTTP ingress of the AI endpoints."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.rollouts: dict[str, int] = {}
        self.generation: object = None
        mlflow.set_tracking_uri(config.tracking_uri)
        mlflow.set_registry_uri(config.tracking_uri)
        self._load_models()

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

            store = get_store(Settings(**config.settings))
        self.lookup = ContactFeatureLookup(profile, profile_model, store, crm_model)
        self.challengers = self._load_challengers()
        logger.info("serving %s over %d profiles", self.lookup.models, len(profile))

    def _load_challengers(self) -> dict[str, ServedModel]:
        """Load the ``challenger`` alias of every served model that has one."""
        challengers = {}
        for name in self.lookup.models:
            model = load_served_model(name, CHALLENGER, self.config.top_k)
            if model is not None:
                challengers[name] = model
        return challengers

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

    def _require_consent(self, contact_id: uuid.UUID) -> bool | None:
        """Refuse (403) contacts that did not consent to AI processing.

        Returns:
            The contact's consent flag: True, or None when the CRM does not hold the contact.
        """
        consent = contact_consent(self.config.database_url, contact_id)
        if consent is False:
            raise HTTPException(
                status_code=403,
                detail=f"contact {contact_id} has not consented to AI processing (ai_consent)",
            )
        return consent

    @api.get("/api/ai/health", response_model=HealthResponse)
    def health(self) -> HealthResponse:
        """Report liveness and the served model versions."""
        return HealthResponse(status="ok", models=self.lookup.models)

    @api.post("/api/ai/lead-score", response_model=LeadScoreResponse)
    def lead_score(self, request: LeadScoreRequest) -> LeadScoreResponse:
        """Score a contact from its stored features, explain it and record it."""
        started = time.perf_counter()
        key = str(request.contact_id)
        self._require_consent(request.contact_id)
        found = self.lookup.find(key)
        if found is None:
            raise HTTPException(
                status_code=404,
                detail=f"contact {key} not found in the online feature store or lead profiles",
            )
        model, variant = self._variant(found, key)
        records, score = model.score_contact(found.records, key)
        payload = score.to_dict(include_explanation=True)
        payload["variant"] = variant
        audit = InteractionRecord(
            interaction_type="lead_score",
            input_data={
                "contact_id": key,
                "feature_source": found.source,
                "variant": variant,
                "features": feature_snapshot(records),
            },
            output_data=payload,
            model_used=model.ref,
            response_time_ms=round((time.perf_counter() - started) * 1000),
        )
        record_lead_scores(self.config.database_url, [payload], model.version, audit)
        if not request.include_explanation:
            payload.pop("contributions")
            payload.pop("explanation")
        return LeadScoreResponse(
            **payload,
            model_name=model.name,
            model_version=model.version,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    @api.post("/api/ai/predictions/next-actions", response_model=NextActionsResponse)
    def next_actions(self, request: NextActionsRequest) -> NextActionsResponse:
        """Rank next best actions from activity rules and the lead model's explanation."""
        context = request.context
        key = str(context.contact_id)
        consent = self._require_consent(context.contact_id)
        found = self.lookup.find(key)
        if found is None and consent is None:  # in no feature source and not in the CRM
            raise HTTPException(status_code=404, detail=f"contact {key} not found in the CRM")
        activities = [
            Activity(a.type, a.occurred_at, a.direction, a.replied)
            for a in context.recent_activities
        ]
        suggestions = suggest_from_activity(activities, dt.datetime.now(dt.UTC), context.deal_stage)
        lead_score = None
        inputs: dict[str, Any] = {
            "contact_id": key,
            "recent_activities": [a.model_dump(mode="json") for a in context.recent_activities],
            "deal_stage": context.deal_stage,
        }
        if found is not None:
            records, score = found.model.score_contact(found.records, key)
            lead_score = score.score
            suggestions += suggest_from_score(score.score, score.contributions)
            inputs["features"] = feature_snapshot(records)
        ranked = [action.to_dict() for action in rank_actions(suggestions, request.limit)]
        record_prediction(
            self.config.database_url,
            entity_type="contact",
            entity_id=context.contact_id,
            prediction_type="next_actions",
            value={"actions": ranked, "lead_score": lead_score},
            confidence=ranked[0]["priority"] if ranked else None,
            model_version=found.model.version if found else None,
            interaction=InteractionRecord(
                interaction_type="next_actions",
                input_data=inputs,
                output_data={"actions": ranked, "lead_score": lead_score},
                model_used=found.model.ref if found else "rules",
            ),
        )
        return NextActionsResponse(
            contact_id=key,
            actions=ranked,
            lead_score=lead_score,
            model_version=found.model.version if found else None,
        )


def build_app(
    config: ServeConfig, deployment_options: dict[str, Any] | None = None
) -> serve.Application:
    """Bind the application graph for ``serve.run`` with options from ``configs/serve.yaml``."""
    return AIGateway.options(**(deployment_options or {})).bind(config)


def app_builder(args: dict[str, str]) -> serve.Application:
    """Build the app for ``serve run/deploy configs/serve.yaml`` (settings from the env/YAML)."""
    from haste.settings import get_settings
    from serving.runner import serve_config_from_settings

    return build_app(
        serve_config_from_settings(get_settings(), args.get("model_name", "lead_scoring"))
    )
