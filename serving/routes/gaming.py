"""Score gaming: a contact's inflated-engagement flags and its score with and without them."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from haste.records import record_prediction
from monitoring.gaming import PREDICTION_TYPE, apply_scores, feature_records, inspect_contact
from monitoring.gaming_log import default_crm_dir
from monitoring.gaming_rules import load_gaming_config
from serving.dependencies import Core, Predict
from serving.errors import ERROR_RESPONSES
from serving.gaming_schemas import GamingResponse

router = APIRouter(tags=["predictions"], responses=ERROR_RESPONSES)

FEATURE = "score_gaming"


@router.get("/api/ai/lead-score/{contact_id}/gaming", response_model=GamingResponse)
def lead_score_gaming(core: Core, context: Predict, contact_id: uuid.UUID) -> GamingResponse:
    """Flag inflated engagement (bursts, bot timing, no time on page, mail scanners).

    The evidence of each flag, the suspicious events and the lead score computed with and
    without them (the champion ``lead_scoring_crm``); 404 for a contact not in the CRM.
    """
    key = str(contact_id)
    inputs = {"contact_id": key}
    core.require_consent(context, FEATURE, contact_id)
    config = load_gaming_config()
    found = inspect_contact(
        core.database_url, default_crm_dir(core.settings.data_dir), contact_id, config
    )
    if found is None:
        raise core.refuse(context, FEATURE, 404, f"contact {key} not found in the CRM", inputs)
    report, with_row, without_row = found
    if config.model_name in core.champions:
        scored = core.call_model(
            context,
            FEATURE,
            inputs,
            "champion",
            "score_leads",
            config.model_name,
            feature_records(with_row) + feature_records(without_row),
            [key, key],
        )
        apply_scores(report, f"{scored[0]['model_name']}@v{scored[0]['model_version']}", scored)
    else:
        report.score_note = f"no champion {config.model_name} is served: flags without scores"
    payload = report.to_dict()
    record_prediction(
        core.database_url,
        entity_type="contact",
        entity_id=contact_id,
        prediction_type=PREDICTION_TYPE,
        value=payload,
        confidence=None,
        model_version=report.model,
        interaction=context.interaction(
            FEATURE, inputs, payload, report.model, variant="champion", provider="rules+xgboost"
        ),
    )
    return GamingResponse(**payload, latency_ms=context.elapsed_ms())
