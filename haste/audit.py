"""The AI decision audit trail: who asked, which model version, which inputs, what came out.

Filters use plain columns only (``contact_id``, ``model_used``, ``created_at``): the inputs and
outputs are encrypted at rest and decrypted for the matching rows only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from haste.db.models import AIInteraction
from haste.db.session import session_scope


@dataclass(frozen=True)
class AuditEntry:
    """One AI decision as recorded in ``ai_interactions``."""

    id: str
    created_at: dt.datetime
    interaction_type: str | None
    model_used: str | None
    user_id: str | None
    contact_id: str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    response_time_ms: int | None

    def summary(self) -> str:
        """Return a short description of the decision."""
        out = self.outputs or {}
        if "score" in out:
            return f"score {out['score']} ({out.get('band', '')})"
        if "actions" in out:
            first = out["actions"][0]["action"] if out["actions"] else "none"
            return f"{len(out['actions'])} actions; first: {first}"
        return ", ".join(sorted(out)[:4])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "interaction_type": self.interaction_type,
            "model_used": self.model_used,
            "user_id": self.user_id,
            "contact_id": self.contact_id,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "response_time_ms": self.response_time_ms,
        }


def query_audit_trail(
    url: str,
    contact_id: uuid.UUID | None = None,
    model: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 50,
    *,
    feature: str | None = None,
    user_id: uuid.UUID | None = None,
) -> list[AuditEntry]:
    """Return recorded AI decisions, newest first.

    Args:
        url: Database URL.
        contact_id: Only decisions about this contact.
        model: Only decisions of this model (``name`` or ``name@vN``).
        since: Only decisions at or after this time.
        limit: Maximum number of entries.
        feature: Only decisions of this feature (``lead_score``, ``email_compose``...).
        user_id: Only decisions requested by this user.

    Returns:
        Matching entries.
    """
    query = select(AIInteraction).order_by(AIInteraction.created_at.desc()).limit(limit)
    if contact_id is not None:
        query = query.where(AIInteraction.contact_id == contact_id)
    if model is not None:
        pattern = model if "@" in model else f"{model}@%"
        query = query.where(AIInteraction.model_used.like(pattern))
    if since is not None:
        query = query.where(AIInteraction.created_at >= since)
    if feature is not None:
        query = query.where(AIInteraction.feature == feature)
    if user_id is not None:
        query = query.where(AIInteraction.user_id == user_id)
    with session_scope(url) as session:
        rows = session.scalars(query).all()
        return [
            AuditEntry(
                id=str(row.id),
                created_at=row.created_at,
                interaction_type=row.interaction_type,
                model_used=row.model_used,
                user_id=str(row.user_id) if row.user_id else None,
                contact_id=str(row.contact_id)
                if row.contact_id
                else (row.input_data or {}).get("contact_id"),
                inputs=row.input_data or {},
                outputs=row.output_data or {},
                response_time_ms=row.response_time_ms,
            )
            for row in rows
        ]
