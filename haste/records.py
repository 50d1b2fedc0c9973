"""Writes of AI decisions into the CRM database: model versions, lead scores, predictions."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from haste.db.models import Activity, AIInteraction, AIModel, Contact, LeadScore, Prediction
from haste.db.session import session_scope
from haste.minimise import minimise


def without_nul(value: Any) -> Any:
    """Return ``value`` with every NUL character of its strings replaced by U+FFFD.

    PostgreSQL's ``text`` and ``jsonb`` cannot store NUL, so an audit record quoting a request
    that contained one would fail to be written; the replacement keeps the record readable.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_nul(item) for item in value]
    return value


def contact_of(input_data: Any) -> uuid.UUID | None:
    """Return the ``contact_id`` a call's input names, when it is a UUID (else ``None``)."""
    value = input_data.get("contact_id") if isinstance(input_data, dict) else None
    if isinstance(value, uuid.UUID) or value is None:
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class InteractionRecord:
    """One AI call for the audit trail (``ai_interactions``): inputs, outputs, model, user."""

    interaction_type: str
    input_data: dict[str, Any]
    output_data: dict[str, Any]
    model_used: str | None
    response_time_ms: int | None = None
    user_id: uuid.UUID | None = None
    tokens_used: int | None = None
    error_message: str | None = None
    team_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    feature: str | None = None
    provider: str | None = None
    variant: str | None = None
    request_id: str | None = None
    cost_usd: Decimal | float | None = None

    def to_row(self) -> AIInteraction:
        """Return the ORM row: documents minimised, contact set, NUL characters replaced.

        Only the fields ``configs/privacy.yaml`` allows for the kind of call are stored
        (:func:`haste.minimise.minimise`); the documents are encrypted at rest by the column
        types; ``contact_id`` (from ``input_data``) stays plain for the audit trail and erasure.
        """
        inputs, outputs = minimise(self.interaction_type, self.input_data, self.output_data)
        return AIInteraction(
            user_id=self.user_id,
            interaction_type=self.interaction_type,
            input_data=without_nul(inputs),
            output_data=without_nul(outputs),
            contact_id=contact_of(self.input_data),
            model_used=self.model_used,
            tokens_used=self.tokens_used,
            response_time_ms=self.response_time_ms,
            error_message=without_nul(self.error_message),
            team_id=self.team_id,
            api_key_id=self.api_key_id,
            feature=self.feature or self.interaction_type,
            provider=self.provider,
            variant=self.variant,
            request_id=self.request_id,
            cost_usd=None if self.cost_usd is None else Decimal(str(round(self.cost_usd, 6))),
        )


def record_interactions(url: str, interactions: Sequence[InteractionRecord]) -> int:
    """Store calls in the audit trail in one transaction.

    A record whose API key and request id are already in the trail is skipped (the layer that
    refused a call may have recorded it; a retried write must not record it twice).

    Args:
        url: Database URL.
        interactions: The calls.

    Returns:
        Rows stored.
    """
    with session_scope(url) as session:
        rows = _unrecorded_rows(session, interactions)
        session.add_all(rows)
    return len(rows)


def _unrecorded_rows(
    session: Any, interactions: Sequence[InteractionRecord]
) -> list[AIInteraction]:
    """Return the rows of the records whose ``(API key, request id)`` is not in the trail yet."""
    request_ids = {i.request_id for i in interactions if i.request_id and i.api_key_id}
    recorded: set[tuple[Any, Any]] = set()
    if request_ids:
        rows = session.execute(
            select(AIInteraction.api_key_id, AIInteraction.request_id).where(
                AIInteraction.request_id.in_(request_ids)
            )
        )
        recorded = {(row[0], row[1]) for row in rows}
    return [
        interaction.to_row()
        for interaction in interactions
        if (interaction.api_key_id, interaction.request_id) not in recorded
    ]


def record_model_version(
    url: str,
    name: str,
    model_type: str,
    version: str,
    metrics: dict[str, Any],
    config: dict[str, Any],
    status: str,
) -> uuid.UUID:
    """Insert or update the ``ai_models`` row of a model version.

    Args:
        url: Database URL.
        name: Registered model name.
        model_type: Model family (``lead_scoring`` ...).
        version: MLflow version.
        metrics: Held-out metrics and fairness summary.
        config: Training configuration.
        status: ``champion``, ``challenger`` or ``rejected``.

    Returns:
        The row id.

    """
    with session_scope(url) as session:
        row = session.scalar(
            select(AIModel).where(AIModel.name == name, AIModel.version == version)
        )
        if row is None:
            row = AIModel(name=name, type=model_type, version=version, provider="internal")
            session.add(row)
        row.performance_metrics = metrics
        row.config = config
        row.deployment_status = status
        row.resource_requirements = {"num_cpus": 1, "num_gpus": 0}
        if status == "champion":
            for other in session.scalars(
                select(AIModel).where(
                    AIModel.name == name,
                    AIModel.version != version,
                    AIModel.deployment_status == "champion",
                )
            ):
                other.deployment_status = "retired"
                other.retired_at = dt.datetime.now(dt.UTC)
        session.flush()
        return row.id


def _prediction_row(
    entity_type: str,
    entity_id: uuid.UUID,
    prediction_type: str,
    value: dict[str, Any],
    confidence: float | None,
    model_version: str | None,
) -> Prediction:
    """Return a ``predictions`` row (shared by the single and lead-score writers)."""
    return Prediction(
        entity_type=entity_type,
        entity_id=entity_id,
        prediction_type=prediction_type,
        prediction_value=value,
        confidence_score=confidence,
        model_version=model_version,
    )


def _lead_score_rows(score: dict[str, Any], model_version: str) -> list[Any]:
    """Return the ``lead_scores`` and ``predictions`` rows of one score."""
    contact_id = uuid.UUID(str(score["contact_id"]))
    return [
        LeadScore(
            contact_id=contact_id,
            score=int(score["score"]),
            score_components={"contributions": score.get("contributions", [])},
            model_version=model_version,
            explanation=score.get("explanation"),
        ),
        _prediction_row(
            "contact",
            contact_id,
            "lead_score",
            {
                "score": score["score"],
                "probability": score["probability"],
                "band": score["band"],
                "variant": score.get("variant", "champion"),
            },
            float(score["confidence"]),
            model_version,
        ),
    ]


def record_lead_scores(
    url: str,
    scores: Sequence[dict[str, Any]],
    model_version: str,
    interaction: InteractionRecord | None = None,
) -> int:
    """Store scores in ``lead_scores`` and ``predictions``, and the call (one transaction).

    Args:
        url: Database URL.
        scores: :meth:`training.scoring.LeadScore.to_dict` outputs (with explanation).
        model_version: Serving model version.
        interaction: The API call to add to the audit trail, if any.

    Returns:
        Number of scores stored.

    """
    return record_scoring_batch(
        url, [(score, model_version) for score in scores], [interaction] if interaction else []
    )


def record_scoring_batch(
    url: str,
    scores: Sequence[tuple[dict[str, Any], str]],
    interactions: Sequence[InteractionRecord],
) -> int:
    """Store a batch of scores (each with its model version) and calls in one transaction.

    Args:
        url: Database URL.
        scores: (score document, model version) pairs.
        interactions: Calls for the audit trail (one per request, errors included).

    Returns:
        Number of scores stored.
    """
    with session_scope(url) as session:
        for score, version in scores:
            session.add_all(_lead_score_rows(score, version))
        session.add_all(_unrecorded_rows(session, interactions))
    return len(scores)


def recorded_outputs(
    url: str, requests: Sequence[tuple[uuid.UUID | None, str]]
) -> dict[tuple[uuid.UUID | None, str], dict[str, Any]]:
    """Return the recorded answers of requests already in the trail, by (API key, request id).

    A request retried after its replica died between recording and answering is answered from
    here instead of being scored (and recorded) again. One query for the batch.
    """
    wanted = set(requests)
    if not wanted:
        return {}
    with session_scope(url) as session:
        rows = session.execute(
            select(
                AIInteraction.api_key_id, AIInteraction.request_id, AIInteraction.output_data
            ).where(AIInteraction.request_id.in_({request_id for _, request_id in wanted}))
        )
        return {(key, rid): out for key, rid, out in rows if (key, rid) in wanted and out}


def contact_consents(url: str, contact_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bool]:
    """Return the ``ai_consent`` flag of each contact held by the CRM (one query).

    Args:
        url: Database URL.
        contact_ids: Contacts to look up.

    Returns:
        Contact id -> consent; contacts the CRM does not hold are absent.
    """
    if not contact_ids:
        return {}
    with session_scope(url) as session:
        rows = session.execute(
            select(Contact.id, Contact.ai_consent).where(Contact.id.in_(set(contact_ids)))
        )
        return {row[0]: bool(row[1]) for row in rows}


def activity_exists(url: str, activity_id: uuid.UUID) -> bool:
    """Return whether the CRM holds the activity."""
    with session_scope(url) as session:
        return session.get(Activity, activity_id) is not None


def record_prediction(
    url: str,
    entity_type: str,
    entity_id: uuid.UUID,
    prediction_type: str,
    value: dict[str, Any],
    confidence: float | None,
    model_version: str | None,
    interaction: InteractionRecord | None = None,
) -> uuid.UUID:
    """Store one prediction row (and the call for the audit trail) and return its id."""
    with session_scope(url) as session:
        if interaction is not None:
            session.add(interaction.to_row())
        row = _prediction_row(
            entity_type, entity_id, prediction_type, value, confidence, model_version
        )
        session.add(row)
        session.flush()
        return row.id


def contact_consent(url: str, contact_id: uuid.UUID) -> bool | None:
    """Return the contact's ``ai_consent`` flag, or None when the contact is not in the CRM."""
    with session_scope(url) as session:
        contact = session.get(Contact, contact_id)
        return None if contact is None else bool(contact.ai_consent)


def entity_uuid(namespace: str, raw_id: str) -> uuid.UUID:
    """Return ``raw_id`` as a UUID, or a stable UUIDv5 of ``namespace:raw_id`` otherwise."""
    try:
        return uuid.UUID(str(raw_id))
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"hastecrm:{namespace}:{raw_id}")


def record_batch_predictions(
    url: str,
    entity_type: str,
    prediction_type: str,
    model_version: str,
    rows: Sequence[tuple[uuid.UUID, dict[str, Any], float]],
) -> int:
    """Store many predictions in one transaction.

    Args:
        url: Database URL.
        entity_type: ``contact``, ``account``, ``deal``...
        prediction_type: What was predicted (the model name).
        model_version: The producing model version.
        rows: (entity id, prediction value, confidence) triples.

    Returns:
        Rows stored.
    """
    table = Prediction.__table__
    records = [
        {
            "id": uuid.uuid4(),
            "entity_type": entity_type,
            "entity_id": entity_id,
            "prediction_type": prediction_type,
            "prediction_value": value,
            "confidence_score": confidence,
            "model_version": model_version,
        }
        for entity_id, value, confidence in rows
    ]
    with session_scope(url) as session:
        if records:
            session.execute(table.insert(), records)
    return len(records)
