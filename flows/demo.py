"""The end-to-end demo behind ``haste demo`` (the README's first command)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pandas as pd
from rich.console import Console
from rich.panel import Panel
from sqlalchemy import func, select

from flows.deal_velocity import deal_velocity_training
from flows.features import feature_pipeline
from flows.search_index import search_index
from flows.text_models import text_model_training
from flows.training import model_training
from haste.api_keys import create_api_key, ensure_user
from haste.db.models import LeadScore, Prediction
from haste.db.session import session_scope
from haste.settings import get_settings
from pipelines.stages import PipelinePaths
from pipelines.synthetic import read_crm
from serving.runner import start_serving, stop_serving

DEMO_CALL = """[00:00:05] Rep: Hi Dana, thanks for joining. How is the rollout going?
[00:00:12] Dana: Honestly it has been frustrating, the import keeps failing.
[00:00:25] Rep: I am sorry to hear that. What exactly fails?
[00:00:31] Dana: The CSV mapping. We are also looking at HubSpot because of this.
[00:00:40] Rep: Understood. I will fix the mapping today and send you a summary.
[00:00:48] Dana: Could you send me the pricing sheet for the enterprise plan by Thursday?
[00:00:55] Rep: Absolutely, I will send it by Thursday and book a follow-up call.
[00:01:02] Dana: Great, that would really help. Thanks!"""


def _show(console: Console, title: str, response: httpx.Response, keys: tuple[str, ...]) -> None:
    """Print selected fields of a response in a panel."""
    body = response.json()
    shown = {key: body.get(key) for key in keys} if response.status_code == 200 else body
    console.print(
        Panel(
            json.dumps(shown, indent=2, default=str)[:2500],
            title=f"{title}: HTTP {response.status_code}",
        )
    )


def show_text_endpoints(console: Console, client: httpx.Client, settings: Any) -> None:
    """Call the deal, churn, conversation, email, search and usage endpoints once each."""
    from pipelines.datasets import load_maven_crm

    pipeline = load_maven_crm(settings.datasets_dir).pipeline
    deal_id = str(pipeline.loc[pipeline["deal_stage"] == "Engaging", "opportunity_id"].iloc[0])
    _show(
        console,
        f"GET /api/ai/predictions/deal/{deal_id}",
        client.get(f"/api/ai/predictions/deal/{deal_id}"),
        ("deal_stage", "days_to_close", "expected_close_date", "win_probability"),
    )
    account = str(
        pd.read_parquet(PipelinePaths(settings.data_dir).features("churn"))["customerID"].iloc[0]
    )
    _show(
        console,
        f"GET /api/ai/predictions/account/{account}/churn-risk",
        client.get(f"/api/ai/predictions/account/{account}/churn-risk"),
        ("score", "risk_band", "explanation", "recommended_actions"),
    )
    _show(
        console,
        "POST /api/ai/conversation/analyze",
        client.post(
            "/api/ai/conversation/analyze",
            json={"transcript": DEMO_CALL, "participants": [{"name": "Rep", "role": "rep"}]},
            timeout=300,
        ),
        ("summary", "action_items", "competitor_mentions", "coaching_tips"),
    )
    context = {
        "recipient": {"first_name": "Ada", "company": "Analytical Ltd"},
        "purpose": "meeting_request",
        "tone": "formal",
        "sender_name": "Sam",
        "product": "hasteCRM",
    }
    _show(
        console,
        "POST /api/ai/email/compose (offline provider)",
        client.post("/api/ai/email/compose", json={"context": context}, timeout=120),
        ("draft", "llm"),
    )
    _show(
        console,
        "POST /api/ai/email/optimize-subject",
        client.post("/api/ai/email/optimize-subject", json={"subject": "FREE OFFER!!! Buy now"}),
        ("original", "best", "scorer"),
    )
    _show(
        console,
        "POST /api/ai/search",
        client.post(
            "/api/ai/search",
            json={"query": "deals over 20k", "limit": 3},
            timeout=600,
        ),
        ("parsed", "intent", "results", "suggestions"),
    )
    _show(
        console, "GET /api/ai/usage?by=feature", client.get("/api/ai/usage?by=feature"), ("rows",)
    )


def run_demo(console: Console, n_contacts: int = 3) -> dict[str, float]:
    """Train and register the lead model, serve it, and show real API answers.

    Args:
        console: Where to print.
        n_contacts: Held-out leads to score through the API.

    Returns:
        Wall-clock seconds per phase.

    """
    settings = get_settings()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    console.rule("[bold]1/3 Prefect flow: ingest -> validate -> train -> audit -> register")
    result = model_training()
    timings["training_flow_s"] = time.perf_counter() - started
    metrics, baseline = result["metrics"], result["baseline_metrics"]
    registration = result["registration"]
    console.print(
        f"held-out accuracy [bold]{metrics['accuracy']:.4f}[/], ROC AUC "
        f"[bold]{metrics['roc_auc']:.4f}[/] (spec's GradientBoosting baseline "
        f"{baseline['accuracy']:.4f} / {baseline['roc_auc']:.4f}); fairness gate "
        f"{'passed' if result['fairness_passed'] else 'FAILED'}; registered version "
        f"{registration['version']}: {(registration.get('decision') or {}).get('reason')}"
    )

    phase = time.perf_counter()
    console.rule("[bold]Feast: CRM features -> offline store -> online store; CRM lead model")
    features = feature_pipeline()
    crm = model_training("lead_scoring_crm")
    timings["features_and_crm_model_s"] = time.perf_counter() - phase
    console.print(
        f"feature views materialised: {features.get('rows', features)}; CRM lead model "
        f"ROC AUC {crm['metrics']['roc_auc']:.4f} (version {crm['registration']['version']})"
    )

    phase = time.perf_counter()
    console.rule("[bold]Churn, deal velocity and text models (sentiment, action items)")
    churn = model_training("churn")
    deals = deal_velocity_training()
    text = text_model_training()
    search_index()  # embed the CRM for POST /api/ai/search before serving
    timings["churn_deals_text_models_s"] = time.perf_counter() - phase
    console.print(
        f"churn ROC AUC {churn['metrics']['roc_auc']:.4f}; deal days MAE "
        f"{deals['days_to_close']['model']['mae']:.1f} (baseline "
        f"{deals['days_to_close']['baseline']['mae']:.1f}); sentiment accuracy "
        f"{text['sentiment'].get('airline_accuracy', float('nan')):.4f}; action-item F1 "
        f"{text['action_items'].get('f1', float('nan')):.4f}"
    )

    console.rule("[bold]2/3 Ray Serve: deploy champion and challenger models from MLflow")
    user_id = ensure_user(settings.database_url, "demo@hastecrm.example", "admin", "Demo team")
    api_key, _ = create_api_key(settings.database_url, user_id, "demo", "admin")
    console.print(f"API key for this demo (role admin): {api_key[:10]}...")
    phase = time.perf_counter()
    url = start_serving(settings)
    timings["serve_start_s"] = time.perf_counter() - phase
    try:
        console.rule("[bold]3/3 Real requests to the API")
        with httpx.Client(base_url=url, timeout=30, headers={"X-API-Key": api_key}) as client:
            for contact_id in result["held_out_contacts"][:n_contacts]:
                response = client.post(
                    "/api/ai/lead-score",
                    json={"contact_id": contact_id, "include_explanation": True},
                )
                console.print(
                    Panel(
                        json.dumps(response.json(), indent=2), title=f"HTTP {response.status_code}"
                    )
                )
            crm_contact = str(read_crm(PipelinePaths(settings.data_dir).crm_dir).contacts["id"][0])
            response = client.post("/api/ai/lead-score", json={"contact_id": crm_contact})
            body = response.json()
            console.print(
                f"CRM contact {crm_contact} (features from the Feast online store) -> HTTP "
                f"{response.status_code}: score {body.get('score')} by {body.get('model_name')}"
                f" v{body.get('model_version')}"
            )
            actions = client.post(
                "/api/ai/predictions/next-actions",
                json={"context": {"contact_id": crm_contact, "deal_stage": "proposal"}},
            )
            body = json.dumps(actions.json(), indent=2)
            console.print(Panel(body, title=f"next-actions: HTTP {actions.status_code}"))
            unknown = client.post("/api/ai/lead-score", json={"contact_id": str(uuid.uuid4())})
            console.print(f"unknown contact -> HTTP {unknown.status_code}: {unknown.json()}")
            invalid = client.post("/api/ai/lead-score", json={"contact_id": "not-a-uuid"})
            console.print(f"invalid body    -> HTTP {invalid.status_code}: {invalid.json()}")
            show_text_endpoints(console, client, settings)
    finally:
        stop_serving()
    with session_scope(settings.database_url) as session:
        scores = session.scalar(select(func.count()).select_from(LeadScore))
        predictions = session.scalar(select(func.count()).select_from(Prediction))
    timings["total_s"] = time.perf_counter() - started
    console.print(
        f"lead_scores rows: {scores}, predictions rows: {predictions}; "
        f"MLflow store: {settings.mlflow_tracking_uri}; reports: {settings.data_dir / 'reports'}"
    )
    console.print("timings: " + ", ".join(f"{key} {value:.1f}" for key, value in timings.items()))
    return timings
