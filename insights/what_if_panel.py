"""The dashboard's "What would make this hot?" panel: counterfactuals of the top warm leads.

The dashboard renders in the gateway, without the model deployments, so the panel computes the
advice itself: it takes the warmest leads of the latest lead scores, reads the model inputs
each was scored with from the audit trail (the ``lead_score`` call's ``features``, as served),
loads the model's champion once (:func:`training.registry.load_alias_model`, cached per
version) and runs :func:`training.counterfactuals.explain_what_if`. Answers are cached per
contact, score and model version for :data:`CACHE_TTL_S`, so a page render costs a search only
when a warm lead's score changed (about a second per lead on two cores).

Without warm leads, scored inputs or a champion, the section is hidden (``None``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import select

from haste.db.models import AIInteraction
from haste.db.session import session_scope
from insights.lead_scores import lead_score_overview

logger = logging.getLogger(__name__)

#: Warm leads shown, counterfactuals per lead, audit records scanned for their inputs.
LEADS_SHOWN = 3
ANSWERS_PER_LEAD = 2
SCANNED_CALLS = 500
CACHE_TTL_S = 600.0

_lock = threading.Lock()
_models: dict[str, tuple[float, Any, str]] = {}  # model name -> (loaded at, scorer, version)
_answers: dict[tuple[str, int, str], tuple[float, dict[str, Any]]] = {}


def what_if_panel(url: str) -> dict[str, Any] | None:
    """Return the section's data (``None``: nothing to show yet).

    Args:
        url: Database URL.

    Returns:
        ``leads``: per warm lead ``contact_id``, ``name``, ``company``, ``score``, ``band``,
        ``model`` and ``counterfactuals`` (``changes`` with ``text``, ``score``, ``band``);
        ``target_band`` (``hot``).
    """
    warm = [lead for lead in lead_score_overview(url, limit=200) if lead["band"] == "warm"]
    warm = warm[:LEADS_SHOWN]
    if not warm:
        return None
    inputs = scored_inputs(url, {lead["contact_id"] for lead in warm})
    leads = []
    for lead in warm:
        found = inputs.get(lead["contact_id"])
        if found is None:
            continue
        advice = _advice(lead["contact_id"], lead["score"], *found)
        if advice is not None:
            leads.append({**_lead_fields(lead), **advice})
    return {"target_band": "hot", "leads": leads} if leads else None


def scored_inputs(url: str, contact_ids: set[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Return each contact's latest served model inputs: ``(model name, features)``.

    Reads the newest :data:`SCANNED_CALLS` ``lead_score`` calls of the audit trail (their
    inputs are encrypted, so they are matched here rather than in SQL); calls answered from
    the cache carry no inputs and are skipped.
    """
    query = (
        select(AIInteraction.input_data, AIInteraction.model_used)
        .where(AIInteraction.feature == "lead_score", AIInteraction.model_used.is_not(None))
        .order_by(AIInteraction.created_at.desc())
        .limit(SCANNED_CALLS)
    )
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    with session_scope(url) as session:
        for data, model_used in session.execute(query):
            if not isinstance(data, dict) or not isinstance(data.get("features"), dict):
                continue
            contact = str(data.get("contact_id", ""))
            if contact in contact_ids and contact not in found:
                found[contact] = (str(model_used).rsplit("@v", 1)[0], data["features"])
            if len(found) == len(contact_ids):
                break
    return found


def _lead_fields(lead: dict[str, Any]) -> dict[str, Any]:
    """Return the lead's fields the panel shows."""
    keys = ("contact_id", "name", "company", "score", "band")
    return {key: lead.get(key) for key in keys}


def _advice(
    contact_id: str, score: int, model_name: str, features: dict[str, Any]
) -> dict[str, Any] | None:
    """Return the cached or freshly computed advice of one lead (None: no model or error)."""
    from training.counterfactual_config import load_counterfactual_config
    from training.counterfactuals import explain_what_if

    loaded = _scorer(model_name)
    if loaded is None:
        return None
    scorer, version = loaded
    key = (contact_id, score, f"{model_name}@v{version}")
    now = time.monotonic()
    with _lock:
        cached = _answers.get(key)
    if cached is not None and now - cached[0] < CACHE_TTL_S:
        return cached[1]
    try:
        result = explain_what_if(
            scorer,
            features,
            contact_id,
            model_name,
            load_counterfactual_config(),
            target_band="hot",
            k=ANSWERS_PER_LEAD,
        )
    except (KeyError, ValueError) as error:  # inputs of another model version, no rules
        logger.warning("no what-if advice for %s: %s", contact_id, error)
        return None
    advice = {
        "model": key[2],
        "current_score": result.current_score,
        "already_in_target": result.already_in_target,
        "counterfactuals": [cf.to_dict() for cf in result.counterfactuals],
    }
    with _lock:
        _answers[key] = (now, advice)
    return advice


def _scorer(model_name: str) -> tuple[Any, str] | None:
    """Return the champion scorer of a lead model and its version (cached; None: no champion)."""
    from mlflow.exceptions import MlflowException

    from training.registry import NoChampionError, load_alias_model
    from training.scoring import LeadScorer

    now = time.monotonic()
    with _lock:
        cached = _models.get(model_name)
    if cached is not None and now - cached[0] < CACHE_TTL_S:
        return cached[1], cached[2]
    try:
        model, version = load_alias_model(model_name, "champion")
    except (NoChampionError, MlflowException) as error:
        logger.warning("what-if panel: %s", error)
        return None
    scorer = LeadScorer(model)
    with _lock:
        _models[model_name] = (now, scorer, str(version.version))
    return scorer, str(version.version)


def clear_caches() -> None:
    """Forget the loaded models and the cached answers (tests, a promotion)."""
    with _lock:
        _models.clear()
        _answers.clear()
