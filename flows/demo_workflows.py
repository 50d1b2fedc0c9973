"""The demo's workflow-automation steps: models, workflows over HTTP, human review.

1. ``train_workflow_models``: the trigger model (generic flow) and the action-uplift model,
   then every live contact's trigger probability.
2. ``define_workflows`` (before the real-time burst): two workflows stored through
   ``POST /api/ai/workflows`` (a bad one refused with a 422), a dry run on the CRM's history,
   a workflow drafted from a sentence, workflows mined from won deals, action
   recommendations, anomalies and process bottlenecks.
3. ``review_held_actions`` (after the burst fired them): the review queue, one approval (the
   email is composed through the LLM layer and recorded as sent), one rejection with its
   reason, and the adoption of AI suggestions.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from flows.demo_report import DemoReport, ModelRow, format_metric
from flows.training import model_training
from flows.workflow_automation import action_uplift_training
from haste.settings import get_settings
from pipelines.stages import PipelinePaths
from pipelines.synthetic_store import read_crm

HOT_LEADS = {
    "name": "Call hot leads nobody called",
    "description": "A lead that turns hot and was not contacted for 3 days gets a call task.",
    "trigger": {"type": "score_band", "to_band": "hot"},
    "conditions": [{"field": "contact.days_since_last_contacted", "op": "gte", "value": 3}],
    "actions": [
        {
            "id": "call",
            "type": "create_task",
            "params": {"title": "Call this hot lead today", "channel": "call", "due_in_days": 1},
        }
    ],
}
REPLY_FOLLOW_UP = {
    "name": "Follow up on replies",
    "description": "A reply gets a task for the owner and a follow-up email (after approval).",
    "trigger": {"type": "event", "event_type": "email_replied"},
    "actions": [
        {"id": "task", "type": "create_task", "params": {"title": "Read the reply and answer"}},
        {
            "id": "email",
            "type": "send_email",
            "params": {"purpose": "follow_up"},
            "after": ["task"],
        },
    ],
}
SENTENCE = "when a hot lead has not been contacted in 3 days, create a call task for the owner"


def train_workflow_models(report: DemoReport) -> None:
    """The trigger model, the action-uplift model and the live trigger probabilities."""
    from training.trigger_predict import store_trigger_predictions

    with report.step("trigger model + action uplift (synthetic CRM)") as step:
        out = model_training("trigger_prediction")
        report.models.append(
            ModelRow(
                "trigger_prediction",
                str(out["registration"]["version"]),
                format_metric(out["metrics"], "roc_auc", "ROC AUC"),
                format_metric(out["baseline_metrics"], "roc_auc", "baseline"),
                "synthetic CRM",
            )
        )
        uplift = action_uplift_training()
        stored, _ = store_trigger_predictions(get_settings())
        step.detail = (
            f"trigger ROC AUC {out['metrics']['roc_auc']:.3f}; uplift mean Qini "
            f"{uplift['evaluation']['mean_qini_coefficient']:+.3f}; {stored} contacts scored"
        )


def _simulated(body: dict[str, Any]) -> str:
    touched, untouched = body["outcomes"]["touched"], body["outcomes"]["untouched"]
    return (
        f"{body['fires']} fires on {body['contacts_fired']} contacts; conversion "
        f"{touched['conversion']} vs {untouched['conversion']} untouched"
    )


def define_workflows(report: DemoReport, client: httpx.Client) -> dict[str, str]:
    """Store the demo's workflows and call every builder and insight endpoint."""
    ids: dict[str, str] = {}
    with report.step("workflows: define, dry-run, draft, mine, recommend") as step:
        for definition in (HOT_LEADS, REPLY_FOLLOW_UP):
            answer = report.call(
                client,
                "POST",
                "/api/ai/workflows",
                lambda b: f"stored {b['name']!r} v{b['version']}",
                json=definition,
            )
            if answer.status_code == 201:
                ids[definition["name"]] = answer.json()["id"]
        report.call(
            client,
            "GET",
            "/api/ai/workflows",
            lambda b: ", ".join(f"{w['name']} v{w['version']}" for w in b["workflows"])[:70],
        )
        bad = {
            **HOT_LEADS,
            "name": "Broken",
            "conditions": [{"field": "contact.shoe_size", "op": "gte", "value": 3}],
        }
        report.call(client, "POST", "/api/ai/workflows", json=bad)
        if HOT_LEADS["name"] in ids:
            report.call(
                client,
                "POST",
                f"/api/ai/workflows/{ids[HOT_LEADS['name']]}/simulate",
                _simulated,
                json={},
            )
        report.call(
            client,
            "POST",
            "/api/ai/workflows/suggest",
            lambda b: f"{b['source']}: {b['workflows'][0]['definition']['trigger']}"[:70],
            json={"description": SENTENCE},
        )
        report.call(
            client,
            "POST",
            "/api/ai/workflows/suggest",
            lambda b: "; ".join(
                " > ".join(w["evidence"]["pattern"]) + f" (lift {w['evidence']['lift']:.2f})"
                for w in b["workflows"][:2]
            )[:70],
            json={"outcome": "won", "top": 3},
        )
        contact = str(read_crm(PipelinePaths(get_settings().data_dir).crm_dir).contacts["id"][3])
        report.call(
            client,
            "POST",
            "/api/ai/workflows/recommendations",
            lambda b: "; ".join(f"{a['action']} {a['lift']:+.3f}" for a in b["actions"]),
            json={"contact_id": contact},
        )
        report.call(
            client,
            "GET",
            "/api/ai/anomalies",
            lambda b: (b["anomalies"][0]["message"] if b["anomalies"] else "none")[:70],
        )
        report.call(
            client,
            "GET",
            "/api/ai/insights/process",
            lambda b: (
                f"top: {b['bottlenecks'][0]['dimension']} {b['bottlenecks'][0]['segment']}"
                if b["bottlenecks"]
                else "no bottleneck"
            ),
            params={"top": 5},
        )
        step.detail = f"{len(ids)} workflows stored and enabled"
    return ids


def review_held_actions(report: DemoReport, client: httpx.Client, ids: dict[str, str]) -> None:
    """Approve one held action, reject another, show the adoption of AI suggestions."""
    with report.step("human review: held actions approved / rejected") as step:
        workflow = ids.get(REPLY_FOLLOW_UP["name"])
        items: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while workflow and time.monotonic() < deadline:  # the poller runs every 2 s
            queue = client.get("/api/ai/reviews", params={"limit": 100}).json()
            items = [
                i for i in queue.get("items", []) if i["payload"].get("workflow_id") == workflow
            ]
            if len(items) >= 2:
                break
            time.sleep(2)
        report.call(
            client, "GET", "/api/ai/reviews", lambda b: f"{b['pending']} actions wait for review"
        )
        if items:
            report.call(
                client,
                "POST",
                f"/api/ai/reviews/{items[0]['id']}",
                lambda b: f"approved: {b['summary']}"[:70],
                json={"decision": "approve"},
            )
        if len(items) > 1:
            report.call(
                client,
                "POST",
                f"/api/ai/reviews/{items[1]['id']}",
                lambda b: f"rejected: {b['reason']}"[:70],
                json={"decision": "reject", "reason": "The rep already called back."},
            )
        report.call(
            client,
            "GET",
            "/api/ai/insights/adoption",
            lambda b: f"adoption {b['overall']['rate']} (target {b['target']})",
        )
        step.detail = f"{len(items)} held follow-up emails found; 1 approved, 1 rejected"
