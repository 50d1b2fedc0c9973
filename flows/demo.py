"""The end-to-end demo behind ``haste demo`` (the README's first command)."""

from __future__ import annotations

import json
import time
import uuid

import httpx
from rich.console import Console
from rich.panel import Panel
from sqlalchemy import func, select

from flows.training import model_training
from haste.db.models import LeadScore, Prediction
from haste.db.session import session_scope
from haste.settings import get_settings
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

    console.rule("[bold]2/3 Ray Serve: deploy the champion from MLflow")
    phase = time.perf_counter()
    url = start_serving(settings)
    timings["serve_start_s"] = time.perf_counter() - phase
    try:
        console.rule("[bold]3/3 Real requests to POST /api/ai/lead-score")
        with httpx.Client(base_url=url, timeout=30) as client:
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
