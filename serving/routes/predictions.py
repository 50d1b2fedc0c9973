"""Predictions: next best actions, deal velocity and win probability, account churn risk."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam

from haste.records import entity_uuid, record_prediction
from serving.dependencies import Core, Predict
from serving.errors import ERROR_RESPONSES
from serving.idempotency import IdempotentRoute
from serving.schemas import (
    ChurnRiskResponse,
    DealPredictionResponse,
    NextActionsRequest,
    NextActionsResponse,
)
from training.deal_data import DAYS_MODEL_NAME
from training.next_actions import Activity, plan_next_actions
from workflows.recommend import uplift_next_actions

router = APIRouter(route_class=IdempotentRoute, tags=["predictions"], responses=ERROR_RESPONSES)

#: Activities dated up to this far ahead count as past (clocks of CRM clients differ).
CLOCK_SKEW = dt.timedelta(minutes=5)

EntityId = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.post("/api/ai/predictions/next-actions", response_model=NextActionsResponse)
def next_actions(core: Core, context: Predict, request: NextActionsRequest) -> NextActionsResponse:
    """Rank next best actions from activity rules and the lead model's explanation."""
    sales = request.context
    key = str(sales.contact_id)
    in_crm = core.require_consent(context, "next_actions", sales.contact_id)
    found = core.lookup.find(key)
    if found is None and not in_crm:  # in no feature source and not in the CRM
        raise core.refuse(
            context, "next_actions", 404, f"contact {key} not found in the CRM", {"id": key}
        )
    now = dt.datetime.now(dt.UTC)
    activities = [  # future-dated activities are planned, not history: the rules skip them
        Activity(a.type, a.occurred_at, a.direction, a.replied)
        for a in sales.recent_activities
        if a.occurred_at <= now + CLOCK_SKEW
    ]
    inputs: dict[str, Any] = {
        "contact_id": key,
        "recent_activities": [a.model_dump(mode="json") for a in sales.recent_activities],
        "deal_stage": sales.deal_stage,
    }
    scored, variant = None, None
    if found is not None:
        variant = core.variant(found.model_name, key)
        scored = core.call_model(
            context,
            "next_actions",
            {"contact_id": key},
            variant,
            "score_leads",
            found.model_name,
            [found.row],
            [key],
        )[0]
        inputs["features"] = scored["features"]
        inputs["variant"] = variant
    extra = (
        uplift_next_actions(  # the action-uplift model's best action (none without one)
            core.database_url,
            core.settings.data_dir,
            sales.contact_id,
            now,
            found.row if found is not None else None,
        )
        if in_crm
        else []
    )
    plan = plan_next_actions(activities, now, sales.deal_stage, scored, request.limit, extra)
    output = {"actions": plan.actions, "lead_score": plan.lead_score}
    record_prediction(
        core.database_url,
        entity_type="contact",
        entity_id=sales.contact_id,
        prediction_type="next_actions",
        value=output,
        confidence=plan.actions[0]["priority"] if plan.actions else None,
        model_version=plan.model_version,
        interaction=context.interaction(
            "next_actions",
            inputs,
            output,
            plan.model_ref,
            variant=variant,
            provider="rules+xgboost" if found else "rules",
        ),
    )
    return NextActionsResponse(
        contact_id=key,
        actions=plan.actions,
        lead_score=plan.lead_score,
        model_version=plan.model_version,
    )


@router.get("/api/ai/predictions/deal/{deal_id}", response_model=DealPredictionResponse)
def deal_prediction(core: Core, context: Predict, deal_id: EntityId) -> DealPredictionResponse:
    """Predict a deal's days to close, expected close date and win probability (SHAP)."""
    inputs = {"deal_id": deal_id}
    variant = core.variant(DAYS_MODEL_NAME, deal_id.strip().lower())
    prediction = core.call_model(
        context, "deal_prediction", inputs, variant, "predict_deal", deal_id
    )
    if prediction is None:
        raise core.refuse(context, "deal_prediction", 404, f"deal {deal_id} not found", inputs)
    versions, model_ref = prediction.pop("model_versions"), prediction.pop("model_ref")
    record_prediction(
        core.database_url,
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


@router.get("/api/ai/predictions/account/{account_id}/churn-risk", response_model=ChurnRiskResponse)
def churn_risk(core: Core, context: Predict, account_id: EntityId) -> ChurnRiskResponse:
    """Score an account's churn risk with SHAP factors and retention actions."""
    inputs = {"account_id": account_id}
    variant = core.variant("churn", account_id.strip().lower())
    payload = core.call_model(context, "churn_risk", inputs, variant, "predict_churn", account_id)
    if payload is None:
        raise core.refuse(context, "churn_risk", 404, f"account {account_id} not found", inputs)
    features = payload.pop("features")
    name, version = payload.pop("model_name"), payload.pop("model_version")
    record_prediction(
        core.database_url,
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
