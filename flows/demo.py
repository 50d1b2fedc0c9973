"""The end-to-end demo behind ``haste demo`` (the README's first command)."""

from __future__ import annotations

import json
import time
import uuid

import httpx
from rich.console import Console
from rich.panel import Panel
from sqlalchemy import func, select

from flows.features import feature_pipeline
from flows.training import model_training
from haste.db.models import LeadScore, Prediction
from haste.db.session import session_scope
from haste.settings import get_settings
from pipelines.stages import PipelinePaths
from pipelines.synthetic import read_crm
from serving.auth import create_api_key, ensure_user
from serving.runner import start_serving, stop_serving


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

    console.rule("[bold]2/3 Ray Serve: deploy the champions from MLflow")
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
