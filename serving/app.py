"""Ray Serve application: a FastAPI ingress serving the champion lead-scoring model.

The deployment loads ``models:/<name>@champion`` from MLflow at start, looks contacts up in
the feature table written by the pipeline, explains every score with SHAP and records it in
``lead_scores``/``predictions``.
"""

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

import mlflow
import pandas as pd
from fastapi import FastAPI, HTTPException
from ray import serve

from haste.records import (
    InteractionRecord,
    contact_exists,
    record_lead_scores,
    record_prediction,
)
from serving.schemas import (
    HealthResponse,
    LeadScoreRequest,
    LeadScoreResponse,
    NextActionsRequest,
    NextActionsResponse,
)
from training.explain import json_value
from training.next_actions import (
    Activity,
    rank_actions,
    suggest_from_activity,
    suggest_from_score,
)
from training.registry import CHAMPION, load_alias_model
from training.scoring import LeadScorer

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
    id_column: str = "Prospect ID"
    model_name: str = "lead_scoring"
    alias: str = CHAMPION
    top_k: int = 5


@serve.deployment(name="AIGateway", num_replicas=1, ray_actor_options={"num_cpus": 0.5})
@serve.ingress(api)
class AIGateway:
    """HTTP ingress of the AI endpoints."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        mlflow.set_tracking_uri(config.tracking_uri)
        mlflow.set_registry_uri(config.tracking_uri)
        model, version = load_alias_model(config.model_name, config.alias)
        self.model_version = str(version.version)
        self.model_ref = f"{config.model_name}@v{self.model_version}"
        self.scorer = LeadScorer(model, top_k=config.top_k)
        table = pd.read_parquet(config.features_path)
        self.features = table.set_index(table[config.id_column].str.lower())
        logger.info(
            "serving %s v%s (%s) over %d contacts",
            config.model_name,
            self.model_version,
            config.alias,
            len(self.features),
        )

    @api.get("/api/ai/health", response_model=HealthResponse)
    def health(self) -> HealthResponse:
        """Report liveness and the served model versions."""
        return HealthResponse(status="ok", models={self.config.model_name: self.model_version})

    @api.post("/api/ai/lead-score", response_model=LeadScoreResponse)
    def lead_score(self, request: LeadScoreRequest) -> LeadScoreResponse:
        """Score a contact from its stored features, explain it and record it."""
        started = time.perf_counter()
        key = str(request.contact_id)
        if key not in self.features.index:
            raise HTTPException(
                status_code=404,
                detail=f"contact {key} not found in the lead-scoring feature table",
            )
        records = self.features.loc[[key], self.scorer.feature_columns]
        score = self.scorer.score(records, [key])[0]
        payload = score.to_dict(include_explanation=True)
        audit = InteractionRecord(
            interaction_type="lead_score",
            input_data={"contact_id": key, "features": feature_snapshot(records)},
            output_data=payload,
            model_used=self.model_ref,
            response_time_ms=round((time.perf_counter() - started) * 1000),
        )
        record_lead_scores(self.config.database_url, [payload], self.model_version, audit)
        if not request.include_explanation:
            payload.pop("contributions")
            payload.pop("explanation")
        return LeadScoreResponse(
            **payload,
            model_name=self.config.model_name,
            model_version=self.model_version,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    @api.post("/api/ai/predictions/next-actions", response_model=NextActionsResponse)
    def next_actions(self, request: NextActionsRequest) -> NextActionsResponse:
        """Rank next best actions from activity rules and the lead model's explanation."""
        context = request.context
        key = str(context.contact_id)
        in_features = key in self.features.index
        if not in_features and not contact_exists(self.config.database_url, context.contact_id):
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
        if in_features:
            records = self.features.loc[[key], self.scorer.feature_columns]
            score = self.scorer.score(records, [key])[0]
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
            model_version=self.model_version if in_features else None,
            interaction=InteractionRecord(
                interaction_type="next_actions",
                input_data=inputs,
                output_data={"actions": ranked, "lead_score": lead_score},
                model_used=self.model_ref if in_features else "rules",
            ),
        )
        return NextActionsResponse(
            contact_id=key,
            actions=ranked,
            lead_score=lead_score,
            model_version=self.model_version if in_features else None,
        )


def feature_snapshot(records: pd.DataFrame) -> dict[str, Any]:
    """Return the first record's input values, JSON-ready (for the audit trail)."""
    row = records.iloc[0]
    return {str(column): json_value(row[column]) for column in records.columns}


def build_app(config: ServeConfig) -> serve.Application:
    """Bind the application graph for ``serve.run``."""
    return AIGateway.bind(config)
