"""The demo's trust step: what-if advice, score gaming, the outcome A/B report, the ledger.

Over HTTP: "what would make this lead hot?" for a held-out lead (and the 422 of a request that
asks to change the lead's country, an immutable feature, and the 404 of an unknown contact),
the gaming check of a CRM contact and the champion/challenger report judged on conversions.
Then the two daily flows of the trust layer run: ``score-gaming-scan`` (flags stored as
predictions) and ``forecast-ledger-scoring`` (resolves the forecasts the training flows
recorded whose actuals have arrived, and publishes accuracy vs the naive baselines).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from flows.demo_report import DemoReport


def describe_what_if(body: dict[str, Any]) -> str:
    """Return the one-line summary of a what-if answer: the first change and the score."""
    proposals = body.get("counterfactuals", [])
    if body.get("already_in_target"):
        return f"already {body['band']} ({body['current_score']})"
    if not proposals:
        return f"{body['current_score']} ({body['band']}): no feasible change reaches it"
    first = proposals[0]
    change = "; ".join(c["text"] for c in first["changes"][:2])
    return f"{body['current_score']} -> {first['score']}: {change} (+{len(proposals) - 1})"[:70]


def describe_gaming(body: dict[str, Any]) -> str:
    """Return the one-line summary of a gaming check."""
    if not body.get("flagged"):
        return f"not flagged ({body['events_in_window']} events in window)"
    return (
        f"flagged {','.join(body['flag_kinds'])}: score {body['score_with']} -> "
        f"{body['score_without']} without {body['suspicious_events']} events"
    )[:70]


def describe_ab(body: dict[str, Any]) -> str:
    """Return the one-line summary of the A/B report: exposures and the decision per model."""
    parts = []
    for report in body.get("reports", []):
        exposures = sum(v.get("exposures", 0) for v in report.get("variants", {}).values())
        parts.append(f"{report.get('model')}: {exposures} exposures, {report['decision']['label']}")
    return ("; ".join(parts) or "no exposures recorded yet")[:70]


def call_trust_endpoints(
    report: DemoReport, client: httpx.Client, lead_contact: str, crm_contact: str
) -> None:
    """What-if (200, 422 immutable, 404 unknown), gaming check and the outcome A/B report."""
    path = f"/api/ai/lead-score/{lead_contact}/what-if"
    report.call(
        client, "POST", path, describe_what_if, json={"target_band": "hot", "k": 3}, timeout=120
    )
    report.call(client, "POST", path, json={"target_band": "hot", "vary": ["Country"]})
    report.call(client, "POST", f"/api/ai/lead-score/{uuid.uuid4()}/what-if", json={})
    report.call(client, "GET", f"/api/ai/lead-score/{crm_contact}/gaming", describe_gaming)
    report.call(client, "GET", "/api/ai/ab/report", describe_ab, params={"days": 30})


def run_trust_flows() -> str:
    """Run the gaming scan and the forecast-ledger scoring flows; return a one-line summary."""
    from flows.forecast_ledger import forecast_ledger_scoring
    from flows.score_gaming import score_gaming_scan

    gaming = score_gaming_scan()
    ledger = forecast_ledger_scoring()
    resolution = ledger["resolution"]
    return (
        f"gaming: {gaming['flagged']}/{gaming['contacts']} flagged; ledger: "
        f"{resolution['resolved']} resolved, {resolution['pending']} pending"
    )
