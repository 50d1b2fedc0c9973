"""``GET /api/ai/lead-score/{contact_id}/gaming`` on the served platform (real model, Ray).

A burst of 15 opens within a minute is written for one CRM contact as streamed events (the
``stream_events`` table the real-time engine keeps); the endpoint flags it with its evidence and
scores the contact with and without the burst through the champion ``lead_scoring_crm``.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from haste.db.models import AIInteraction, Prediction
from haste.db.session import session_scope
from haste.db.stream_tables import StreamEvent
from pipelines.synthetic_store import read_crm

BURST = 15


def test_an_injected_burst_is_flagged_with_evidence_and_both_scores(api, platform) -> None:
    settings, *_ = platform
    contacts = read_crm(settings.data_dir / "raw" / "crm").contacts
    consenting = contacts.loc[contacts["ai_consent"].astype(bool), "id"]
    contact = consenting.iloc[-3]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    run = uuid.uuid4().hex[:8]
    with session_scope(settings.database_url) as session:
        session.add_all(
            StreamEvent(
                event_id=f"gaming-{run}-{i}",
                contact_id=contact,
                event_type="email_opened",
                occurred_at=now - dt.timedelta(seconds=60 - 4 * i),
                outcome="unchanged",
            )
            for i in range(BURST)
        )
    response = api.get(f"/api/ai/lead-score/{contact}/gaming")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["flagged"] and "burst" in body["flag_kinds"]
    burst = next(f for f in body["flags"] if f["kind"] == "burst")
    assert burst["evidence"]["largest_burst"] >= BURST
    assert {f"gaming-{run}-{i}" for i in range(BURST)} <= set(body["suspicious_event_ids"])
    assert body["model"].startswith("lead_scoring_crm@v")
    assert body["score_with"] is not None and body["score_without"] is not None
    assert body["score_inflation"] == body["score_with"] - body["score_without"]
    with session_scope(settings.database_url) as session:
        stored = session.scalars(
            select(Prediction).where(
                Prediction.prediction_type == "score_gaming", Prediction.entity_id == contact
            )
        ).all()
        recorded = session.scalars(
            select(AIInteraction).where(AIInteraction.feature == "score_gaming")
        ).all()
    assert stored and stored[-1].prediction_value["suspicious_events"] >= BURST
    assert recorded


def test_unknown_contact_is_404(api) -> None:
    missing = str(uuid.uuid4())
    response = api.get(f"/api/ai/lead-score/{missing}/gaming")
    assert response.status_code == 404
    assert missing in response.json()["detail"]
