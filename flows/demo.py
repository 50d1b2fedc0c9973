"""The end-to-end demo behind ``haste demo`` (the README's first command).

Sixteen steps, each one line with its duration (:class:`flows.demo_report.DemoReport`): the
Prefect flows train and register every model in MLflow, the content library is seeded, Ray
Serve deploys the models, and real requests go to every endpoint; workflows are defined,
dry-run and drafted; a burst of CRM events is then rescored in real time, fires the
workflows, and a manager approves or rejects the held actions; last come content
performance, recommendations and personalisation, the executive summary, conversational
search and a transcript upload. A summary ends it: the models and their held-out metrics,
the calls and their answers, and where to look (MLflow UI, Prefect UI, dashboard).

Demo mode trains the text models on a sample of their corpora (said in the output);
``haste train-text`` trains them on everything.
"""

from __future__ import annotations

import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pandas as pd
from rich.console import Console
from rich.panel import Panel
from sqlalchemy import func, select

from flows.deal_velocity import deal_velocity_training
from flows.demo_content import run_content_demo, seed_content
from flows.demo_executive import run_executive_demo
from flows.demo_personalise import run_personalise_demo
from flows.demo_report import DemoReport, ModelRow, format_metric
from flows.demo_search_chat import run_search_chat_demo
from flows.demo_stream import stream_burst
from flows.demo_transcription import run_transcription_demo
from flows.demo_trust import call_trust_endpoints, run_trust_flows
from flows.demo_workflows import define_workflows, review_held_actions, train_workflow_models
from flows.features import feature_pipeline
from flows.search_index import search_index
from flows.text_models import text_model_training
from flows.training import model_training
from haste.api_keys import create_api_key, ensure_user
from haste.db.models import LeadScore, Prediction
from haste.db.session import session_scope
from haste.settings import Settings, get_settings
from pipelines.stages import PipelinePaths
from pipelines.synthetic_store import read_crm
from serving.runner import start_serving, stop_serving

DEMO_CALL = """[00:00:05] Rep: Hi Dana, thanks for joining. How is the rollout going?
[00:00:12] Dana: Honestly it has been frustrating, the import keeps failing.
[00:00:25] Rep: I am sorry to hear that. What exactly fails?
[00:00:31] Dana: The CSV mapping. We are also looking at HubSpot because of this.
[00:00:40] Rep: Understood. I will fix the mapping today and send you a summary.
[00:00:48] Dana: Could you send me the pricing sheet for the enterprise plan by Thursday?
[00:00:55] Rep: Absolutely, I will send it by Thursday and book a follow-up call.
[00:01:02] Dana: Great, that would really help. Thanks!"""


#: Texts per corpus the demo trains the text models on (``None``: the whole corpora).
DEMO_TEXT_SAMPLE = 3000
STEPS = 17


def train_lead_model(report: DemoReport) -> dict[str, Any]:
    """Step 1: the lead-scoring flow (it also loads the CRM the later steps need)."""
    with report.step("lead scoring: flow model-training (Leads.csv)") as step:
        lead = model_training()
        metrics, base = lead["metrics"], lead["baseline_metrics"]
        step.detail = (
            f"ROC AUC {metrics['roc_auc']:.3f}, fairness "
            f"{'passed' if lead['fairness_passed'] else 'FAILED'}, "
            f"v{lead['registration']['version']}"
        )
        report.models.append(
            ModelRow(
                "lead_scoring",
                str(lead["registration"]["version"]),
                format_metric(metrics, "roc_auc", "ROC AUC"),
                format_metric(base, "roc_auc", "GBM"),
                "Leads.csv (real)",
            )
        )
    return lead


def train_tabular_models(report: DemoReport) -> None:
    """Feast features, the CRM lead model, churn, and the deal models."""
    with report.step("Feast: CRM features -> offline/online store") as step:
        features = feature_pipeline()
        rows = features.get("rows", {})
        if isinstance(rows, dict):
            step.detail = f"{len(rows)} feature views, {sum(rows.values()):,} rows materialised"
        else:
            step.detail = f"{rows} rows materialised"
    for name, label, data in (
        ("lead_scoring_crm", "CRM lead model (Feast features)", "synthetic CRM"),
        ("churn", "churn model (Telco)", "Telco (real)"),
    ):
        with report.step(label) as step:
            out = model_training(name)
            step.detail = f"ROC AUC {out['metrics']['roc_auc']:.3f}"
            report.models.append(
                ModelRow(
                    name,
                    str(out["registration"]["version"]),
                    format_metric(out["metrics"], "roc_auc", "ROC AUC"),
                    format_metric(out["baseline_metrics"], "roc_auc", "baseline"),
                    data,
                )
            )
    with report.step("deal velocity + win probability (Maven)") as step:
        deals = deal_velocity_training()
        days, win = deals["days_to_close"], deals["win_probability"]
        step.detail = (
            f"days MAE {days['model']['mae']:.1f} (baseline {days['baseline']['mae']:.1f})"
        )
        for name, part, key, label in (
            ("deal_velocity", days, "mae", "MAE days"),
            ("win_probability", win, "roc_auc", "ROC AUC"),
        ):
            report.models.append(
                ModelRow(
                    name,
                    str((deals["registration"].get(name) or {}).get("version", "-")),
                    format_metric(part["model"], key, label),
                    format_metric(part["baseline"], key, "baseline"),
                    "Maven CRM (real)",
                )
            )


def train_text_models(report: DemoReport, text_sample: int | None) -> None:
    """The text models (on samples in demo mode) and the CRM search index."""
    sample_note = f" on {text_sample:,}-text samples" if text_sample else ""
    with report.step(f"text models{sample_note}") as step:
        text = text_model_training(sample=text_sample)
        sentiment, actions = text["sentiment"], text["action_items"]
        step.detail = (
            f"sentiment acc {sentiment.get('airline_accuracy', float('nan')):.3f}, "
            f"action-item F1 {actions.get('f1', float('nan')):.3f}"
        )
        suffix = " sample" if text_sample else ""
        report.models.append(
            ModelRow(
                "sentiment (Lightning)",
                "run",
                format_metric(sentiment, "airline_accuracy", "accuracy"),
                format_metric(sentiment, "baseline_airline_accuracy", "TF-IDF"),
                "airline tweets (real)" + suffix,
            )
        )
        report.models.append(
            ModelRow(
                "action_items",
                "run",
                format_metric(actions, "f1", "F1"),
                format_metric(actions, "baseline_f1", "TF-IDF"),
                "email intent (real)" + suffix,
            )
        )
    if text_sample:
        report.notes.append(
            f"demo mode: the text models were trained on seeded samples of at most "
            f"{text_sample:,} texts per corpus; `haste train-text` trains them on everything."
        )
    with report.step("search index (MiniLM + BM25 over the CRM)") as step:
        index = search_index()
        step.detail = f"{index['documents']:,} documents"


def crm_contact_id(settings: Settings) -> str:
    """Return the id of the synthetic CRM's first contact (scored through Feast)."""
    return str(read_crm(PipelinePaths(settings.data_dir).crm_dir).contacts["id"][0])


def call_endpoints(
    report: DemoReport, client: httpx.Client, lead: dict[str, Any], n_contacts: int = 3
) -> None:
    """Scoring and prediction requests; the first lead score is printed in full."""
    settings = get_settings()
    console = report.console
    for index, contact_id in enumerate(lead["held_out_contacts"][:n_contacts]):
        response = report.call(
            client,
            "POST",
            "/api/ai/lead-score",
            lambda b: (
                f"score {b['score']} ({b['band']}) by {b['model_name']} v{b['model_version']}"
            ),
            json={"contact_id": contact_id, "include_explanation": True},
        )
        if index == 0:
            console.print(
                Panel(
                    json.dumps(response.json(), indent=1)[:1800],
                    title=f"POST /api/ai/lead-score: HTTP {response.status_code}",
                )
            )
    crm_contact = crm_contact_id(settings)
    report.call(
        client,
        "POST",
        "/api/ai/lead-score",
        lambda b: f"CRM contact via Feast: score {b['score']} by {b['model_name']}",
        json={"contact_id": crm_contact},
    )
    report.call(
        client,
        "POST",
        "/api/ai/predictions/next-actions",
        lambda b: "; ".join(a["action"] for a in b["actions"][:2])[:70],
        json={"context": {"contact_id": crm_contact, "deal_stage": "proposal"}},
    )
    report.call(client, "POST", "/api/ai/lead-score", json={"contact_id": str(uuid.uuid4())})
    report.call(client, "POST", "/api/ai/lead-score", json={"contact_id": "not-a-uuid"})


def call_text_endpoints(report: DemoReport, client: httpx.Client) -> None:
    """Deal, churn, conversation, email, search and usage endpoints, once each."""
    from pipelines.datasets import load_maven_crm

    settings = get_settings()
    pipeline = load_maven_crm(settings.datasets_dir).pipeline
    deal_id = str(pipeline.loc[pipeline["deal_stage"] == "Engaging", "opportunity_id"].iloc[0])
    report.call(
        client,
        "GET",
        f"/api/ai/predictions/deal/{deal_id}",
        lambda b: f"{b['days_to_close']:.0f} days to close, win {b['win_probability']:.2f}",
    )
    account = str(
        pd.read_parquet(PipelinePaths(settings.data_dir).features("churn"))["customerID"].iloc[0]
    )
    report.call(
        client,
        "GET",
        f"/api/ai/predictions/account/{account}/churn-risk",
        lambda b: f"risk {b['score']} ({b['risk_band']})",
    )
    report.call(
        client,
        "POST",
        "/api/ai/conversation/analyze",
        lambda b: f"{len(b['action_items'])} action items, alerts {b.get('alerts')}"[:70],
        json={"transcript": DEMO_CALL, "participants": [{"name": "Rep", "role": "rep"}]},
        timeout=300,
    )
    context = {
        "recipient": {"first_name": "Ada", "company": "Analytical Ltd"},
        "purpose": "meeting_request",
        "tone": "formal",
        "sender_name": "Sam",
        "product": "hasteCRM",
    }
    report.call(
        client,
        "POST",
        "/api/ai/email/compose",
        lambda b: f"subject: {b['draft'].get('subject', '')}"[:70],
        json={"context": context},
        timeout=120,
    )
    report.call(
        client,
        "POST",
        "/api/ai/email/optimize-subject",
        lambda b: f"best: {(b.get('best') or {}).get('subject', b.get('best'))}"[:70],
        json={"subject": "FREE OFFER!!! Buy now"},
    )
    report.call(
        client,
        "POST",
        "/api/ai/search",
        lambda b: f"intent {b['intent']}, {len(b['results'])} hits",
        json={"query": "deals over 20k", "limit": 3},
        timeout=600,
    )
    report.call(
        client, "GET", "/api/ai/usage?by=feature", lambda b: f"{len(b['rows'])} features used"
    )


def run_demo(console: Console, n_contacts: int = 3, text_sample: int | None = None) -> DemoReport:
    """Train and register every model, serve them, call every endpoint, print a summary.

    Independent work runs side by side: after the lead-scoring flow (which loads the CRM and
    starts Prefect's API), the text models and the search index train in a second thread while
    the tabular flows run and Ray Serve starts; the text endpoints are called last.

    Args:
        console: Where to print.
        n_contacts: Held-out leads scored through the API.
        text_sample: Texts per corpus for the text models (default :data:`DEMO_TEXT_SAMPLE`;
            0 trains on the whole corpora).

    Returns:
        The report (steps with durations, models, calls).
    """
    settings = get_settings()
    sample = DEMO_TEXT_SAMPLE if text_sample is None else (text_sample or None)
    report = DemoReport(console, STEPS)
    with ThreadPoolExecutor(1, thread_name_prefix="demo-text") as pool:
        with report.phase("training: Prefect flows -> MLflow (two at a time)"):
            lead = train_lead_model(report)  # also migrates the database
            user_id = ensure_user(
                settings.database_url, "demo@hastecrm.example", "admin", "Demo team"
            )
            api_key, _ = create_api_key(settings.database_url, user_id, "demo", "admin")
            text_lane = pool.submit(train_text_models, report, sample)
            train_tabular_models(report)
            train_workflow_models(report)
            with report.step("content library + synthetic sends") as step:
                seeded = seed_content(settings)
                step.detail = ", ".join(f"{count:,} {name}" for name, count in seeded.items())
            with report.step("Ray Serve: gateway, champion/challenger, TextAI") as step:
                url = start_serving(settings, log_level=logging.WARNING)
                step.detail = url
        try:
            with (
                report.phase("calling the API"),
                httpx.Client(base_url=url, timeout=30, headers={"X-API-Key": api_key}) as client,
            ):
                with report.step("real requests to every endpoint") as step:
                    call_endpoints(report, client, lead, n_contacts)
                    text_lane.result()  # the text endpoints need the text models and the index
                    call_text_endpoints(report, client)
                    failed = sum(1 for call in report.calls if call.status >= 500)
                    step.detail = f"{len(report.calls)} calls, {failed} server errors"
                workflow_ids = define_workflows(report, client)
                stream_burst(report, client, settings)
                review_held_actions(report, client, workflow_ids)
                run_content_demo(report, client)  # its own step
                with report.step("personalisation, executive summary, chat, transcripts") as step:
                    before = len(report.calls)
                    run_personalise_demo(report, client)
                    run_executive_demo(report, client)
                    run_search_chat_demo(report, client)
                    run_transcription_demo(report, client)
                    step.detail = f"{len(report.calls) - before} calls"
                with report.step("trust: what-if, gaming, A/B outcomes, forecast ledger") as step:
                    call_trust_endpoints(
                        report, client, lead["held_out_contacts"][0], crm_contact_id(settings)
                    )
                    step.detail = run_trust_flows()
        finally:
            stop_serving()
    with session_scope(settings.database_url) as session:
        scores = session.scalar(select(func.count()).select_from(LeadScore))
        predictions = session.scalar(select(func.count()).select_from(Prediction))
    report.notes.append(
        f"recorded: {scores} lead_scores rows, {predictions} predictions rows, and every call "
        "in ai_interactions (`haste audit`)."
    )
    report.print_summary(
        {
            "MLflow UI": f"mlflow ui --backend-store-uri {settings.mlflow_tracking_uri}",
            "Prefect UI": "prefect server start, then http://127.0.0.1:4200 (flow runs, artifacts)",
            "API + dashboard": (
                f"haste serve, then {url}/docs and {url}/dashboard?api_key=<key> "
                "(`haste keys create --role manager`)"
            ),
            "reports": str(settings.data_dir / "reports"),
            "demo API key": f"{api_key[:10]}... (role admin)",
        }
    )
    return report
