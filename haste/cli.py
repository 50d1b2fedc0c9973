"""The ``haste`` command line: pipeline stages, training flow, registry, serving and the demo.

Heavy libraries (Prefect, MLflow, Ray) are imported inside the commands, so ``--help`` is fast.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from haste.runtime import configure_runtime_env
from haste.settings import get_settings

console = Console()
app = typer.Typer(
    help="hasteCRM AI platform: train, audit, register and serve CRM models.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
db_app = typer.Typer(help="Create and migrate the CRM database (Alembic).", no_args_is_help=True)
pipeline_app = typer.Typer(
    help="Run one stage of the reproducible pipeline (what `dvc repro` calls).",
    no_args_is_help=True,
)
models_app = typer.Typer(help="Inspect, promote and roll back registered models.")
keys_app = typer.Typer(
    help="Create, list and revoke API keys of the AI gateway (X-API-Key header).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")
prompts_app = typer.Typer(
    help="Versioned prompts (configs/prompts/*.yaml): list, sync to ai_prompts, test, stats.",
    no_args_is_help=True,
)
app.add_typer(prompts_app, name="prompts")
app.add_typer(db_app, name="db")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(models_app, name="models")
ab_app = typer.Typer(
    help=(
        "A/B tests of champion vs challenger on the running API: show the split, change it "
        "or reload the MLflow aliases, without restarting any replica."
    ),
    no_args_is_help=True,
)
app.add_typer(ab_app, name="ab")

ModelOption = Annotated[
    str, typer.Option("--model", "-m", help="Model config name under configs/models.")
]


@app.callback()
def configure(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Configure logging and the embedded services' environment for every command."""
    configure_runtime_env()
    level = logging.DEBUG if verbose else get_settings().log_level
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
        force=True,
    )
    for noisy in ("alembic", "great_expectations", "mlflow", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


# --------------------------------------------------------------------------- database
@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target Alembic revision.")) -> None:
    """Migrate the database at HASTE_DATABASE_URL (default: SQLite under .haste/) up."""
    from haste.db.migrate import current_revision, upgrade_database

    url = get_settings().database_url
    upgrade_database(url, revision)
    console.print(f"database at revision [bold]{current_revision(url)}[/]")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base.")) -> None:
    """Migrate the database down to REVISION."""
    from haste.db.migrate import current_revision, downgrade_database

    url = get_settings().database_url
    downgrade_database(url, revision)
    console.print(f"database at revision [bold]{current_revision(url)}[/]")


@db_app.command("current")
def db_current() -> None:
    """Print the database's current Alembic revision."""
    from haste.db.migrate import current_revision

    console.print(current_revision(get_settings().database_url) or "empty (no revision)")


# --------------------------------------------------------------------------- pipeline
@pipeline_app.command("ingest")
def pipeline_ingest() -> None:
    """Read Leads.csv from the shared datasets and generate the synthetic CRM into data/raw."""
    from pipelines import stages

    for name, path in stages.ingest(get_settings()).items():
        console.print(f"{name:>16} -> {path}")


@pipeline_app.command("validate")
def pipeline_validate() -> None:
    """Validate every ingested dataset with Great Expectations; exit 1 with a report on failure."""
    from pipelines import stages

    reports = stages.validate(get_settings())
    failed = [report for report in reports if not report.success]
    for report in reports:
        status = "[green]passed[/]" if report.success else "[red]FAILED[/]"
        console.print(f"{report.dataset:>18}: {status} ({report.evaluated} expectations)")
    if failed:
        for report in failed:
            console.print(report.to_text())
        _fail(f"{len(failed)} dataset(s) failed validation; reports in data/reports/validation")


@pipeline_app.command("features")
def pipeline_features(model: ModelOption = "lead_scoring") -> None:
    """Write the model-ready feature table (leakage columns dropped)."""
    from pipelines import stages
    from training.config import load_training_config

    console.print(stages.build_features(get_settings(), load_training_config(model)))


@pipeline_app.command("train")
def pipeline_train(model: ModelOption = "lead_scoring") -> None:
    """Fit the XGBoost candidate and the spec's GradientBoosting baseline."""
    from pipelines import stages
    from training.config import load_training_config

    console.print(stages.train(get_settings(), load_training_config(model)))


@pipeline_app.command("evaluate")
def pipeline_evaluate(model: ModelOption = "lead_scoring") -> None:
    """Evaluate on the held-out split; write metrics, plots, fairness report and model card."""
    from pipelines import stages
    from training.config import load_training_config

    outcome = stages.evaluate(get_settings(), load_training_config(model))
    _print_metrics(outcome.metrics, outcome.baseline_metrics)
    print(outcome.fairness.to_markdown())  # plain: a Markdown table must not be re-wrapped


# --------------------------------------------------------------------------- training
@app.command("train")
def train(model: ModelOption = "lead_scoring") -> None:
    """Run the Prefect training flow: ingest, validate, train, audit, register, promote."""
    from flows.training import model_training

    result = model_training(model_name=model)
    _print_training_result(result)


def _print_metrics(metrics: dict[str, float], baseline: dict[str, float]) -> None:
    table = Table(title="Held-out metrics")
    table.add_column("metric")
    table.add_column("XGBoost", justify="right")
    table.add_column("baseline (GBC)", justify="right")
    for name, value in metrics.items():
        table.add_row(name, f"{value:.4f}", f"{baseline[name]:.4f}")
    console.print(table)


def _print_training_result(result: dict[str, Any]) -> None:
    _print_metrics(result["metrics"], result["baseline_metrics"])
    registration = result["registration"]
    decision = registration.get("decision") or {}
    console.print(
        f"fairness gate: {'passed' if result['fairness_passed'] else 'FAILED'}; "
        f"version {registration['version']}; "
        f"{'promoted to champion' if decision.get('promoted') else 'not promoted'}"
        f" ({decision.get('reason', 'not registered')})"
    )


@app.command("train-deals")
def train_deals() -> None:
    """Train, backtest and register deal velocity, win probability and the revenue forecast."""
    from flows.deal_velocity import deal_velocity_training

    result = deal_velocity_training()
    table = Table(title="Maven CRM deal models (held-out / 2017 backtest)")
    for column in ("model", "metric", "ours", "baseline"):
        table.add_column(column)
    for name in ("days_to_close", "win_probability"):
        ours, baseline = result[name]["model"], result[name]["baseline"]
        for metric, value in ours.items():
            reference = baseline.get(metric)
            table.add_row(
                name, metric, f"{value:.4f}", "" if reference is None else f"{reference:.4f}"
            )
    console.print(table)
    console.print_json(data=result["forecast"])


@app.command("train-text")
def train_text() -> None:
    """Train the text models (Lightning sentiment on MiniLM, action items) and log to MLflow."""
    from flows.text_models import text_model_training

    result = text_model_training()
    table = Table(title="Text models (held-out test sets)")
    for column in ("model", "metric", "value"):
        table.add_column(column)
    for model, metrics in result.items():
        for metric, value in metrics.items():
            table.add_row(model, metric, f"{value:.4f}")
    console.print(table)


@app.command("build-search-index")
def build_search_index_command() -> None:
    """Build the CRM's semantic search index (reused when the CRM did not change)."""
    from flows.search_index import search_index

    console.print(f"search index: {search_index()['documents']} documents")


@app.command("analyze-contact-time")
def analyze_contact_time(
    top: Annotated[int, typer.Option(help="Segments to list.")] = 10,
) -> None:
    """Best contact slot per customer segment from Bank Marketing (Beta posteriors, not causal)."""
    from flows.contact_time import contact_time_analysis

    result = contact_time_analysis(top_n=top)
    console.print(f"MLflow run {result['run_id']}: model-view ROC AUC {result['roc_auc']:.3f}")
    console.print_json(data={"global": result["global"]})
    table = Table(title=f"Top {top} segment recommendations")
    rows = result["top_recommendations"]
    for column in rows[0] if rows else []:
        table.add_column(str(column))
    for row in rows:
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()))
    console.print(table)


# --------------------------------------------------------------------------- registry
@models_app.command("list")
def models_list(name: Annotated[str, typer.Argument(help="Model name.")] = "lead_scoring") -> None:
    """List the registered versions of a model with their aliases and primary metric."""
    from training.registry import configure_mlflow

    client = configure_mlflow(get_settings())
    table = Table(title=f"{name} versions")
    for column in ("version", "aliases", "roc_auc", "accuracy", "created"):
        table.add_column(column)
    for version in sorted(
        client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version)
    ):
        metrics = client.get_run(version.run_id).data.metrics
        table.add_row(
            str(version.version),
            ",".join(version.aliases),
            f"{metrics.get('roc_auc', float('nan')):.4f}",
            f"{metrics.get('accuracy', float('nan')):.4f}",
            str(version.creation_timestamp),
        )
    console.print(table)


@models_app.command("rollback")
def models_rollback(
    name: Annotated[str, typer.Argument(help="Model name.")] = "lead_scoring",
) -> None:
    """Give the champion alias back to the version the current champion replaced."""
    from training.registry import NoChampionError, configure_mlflow, rollback_champion

    client = configure_mlflow(get_settings())
    try:
        old, new = rollback_champion(client, name)
    except NoChampionError as error:
        _fail(str(error))
    console.print(f"{name}: champion rolled back from v{old} to v{new}")
    console.print("a running API serves it after `haste ab reload` (no restart)")


# --------------------------------------------------------------------------- governance
@app.command("monitor-drift")
def monitor_drift(
    model: ModelOption = "lead_scoring",
    current: Annotated[
        Path | None,
        typer.Option(help="Parquet of recent data (default: a fresh sample of the feature table)."),
    ] = None,
    retrain: Annotated[
        bool, typer.Option(help="Run the training flow when drift is found.")
    ] = True,
) -> None:
    """Compare recent data with the training reference (Evidently); retrain past thresholds."""
    from flows.monitoring import drift_monitoring

    if current is not None and not current.exists():
        _fail(f"{current} does not exist")
    result = drift_monitoring(
        model_name=model, current_path=str(current) if current else None, retrain=retrain
    )
    drift = result["drift"]
    console.print(
        f"{model}: {drift['share_drifted']:.0%} of feature columns drifted; prediction drift: "
        f"{drift['prediction_drift']}; retrain: {result['should_retrain']}"
    )
    for reason in result["reasons"]:
        console.print(f"  - {reason}")
    console.print(f"report: {result['reports']['html']}")


@app.command("audit")
def audit(
    contact: Annotated[
        str | None, typer.Option(help="Only decisions about this contact id.")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Only this model: NAME or NAME@vN (e.g. lead_scoring@v1).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only decisions at/after this ISO time (UTC).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most entries shown.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print full entries as JSON.")] = False,
) -> None:
    """Show the AI decision audit trail: model version, inputs, output and user per decision."""
    import datetime as dt
    import uuid

    from haste.audit import query_audit_trail

    try:
        contact_id = uuid.UUID(contact) if contact else None
        since_at = dt.datetime.fromisoformat(since) if since else None
    except ValueError as error:
        _fail(f"invalid option: {error}")
    if since_at is not None and since_at.tzinfo is None:
        since_at = since_at.replace(tzinfo=dt.UTC)
    entries = query_audit_trail(get_settings().database_url, contact_id, model, since_at, limit)
    if as_json:
        console.print_json(data=[entry.to_dict() for entry in entries])
        return
    table = Table(title=f"AI decisions ({len(entries)})")
    for column in ("time (UTC)", "type", "model", "contact", "user", "decision", "inputs"):
        table.add_column(column)
    for entry in entries:
        features = entry.inputs.get("features", {})
        table.add_row(
            entry.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            entry.interaction_type or "",
            entry.model_used or "",
            entry.contact_id or "",
            entry.user_id or "-",
            entry.summary(),
            f"{len(features)} features" if features else ", ".join(sorted(entry.inputs)),
        )
    console.print(table)


@app.command("forget")
def forget(
    contact_id: Annotated[str, typer.Argument(help="The contact to erase (a contact id).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a contact everywhere: database, offline and online features, caches; flag models.

    Model versions trained on data that held the contact are tagged needs_retraining in MLflow.
    """
    import uuid

    from pipelines.erasure import forget_contact

    try:
        contact = uuid.UUID(contact_id)
    except ValueError:
        _fail(f"{contact_id!r} is not a contact id (a UUID)")
    if not yes and not typer.confirm(f"Erase every trace of contact {contact}?"):
        raise typer.Exit(1)
    report = forget_contact(get_settings(), contact)
    table = Table(title=f"Erasure of {contact}")
    table.add_column("store")
    table.add_column("removed", justify="right")
    for name, count in report.database.items():
        table.add_row(f"db: {name}", str(count))
    for path, count in report.files.items():
        table.add_row(f"file: {Path(path).name}", str(count))
    table.add_row("online feature store", str(report.online_store))
    table.add_row("score cache", str(report.cache_keys))
    console.print(table)
    marked = ", ".join(report.models_marked) or "none"
    console.print(f"model versions marked needs_retraining: {marked}")


# --------------------------------------------------------------------------- API keys
@keys_app.command("create")
def keys_create(
    email: Annotated[str, typer.Option(help="Owner's email (the user is created if new).")],
    role: Annotated[
        str, typer.Option(help="admin, manager, rep or service (what the key may call).")
    ] = "rep",
    team: Annotated[str | None, typer.Option(help="Team of a new user.")] = None,
    name: Annotated[str, typer.Option(help="Label of the key.")] = "default",
    rate_limit: Annotated[
        int | None, typer.Option(help="Requests per minute (default: settings).")
    ] = None,
) -> None:
    """Create an API key; the key is printed once and only its hash is stored."""
    from haste.api_keys import create_api_key, ensure_user
    from haste.db import upgrade_database

    settings = get_settings()
    settings.ensure_home()
    upgrade_database(settings.database_url)
    user_role = role if role in ("admin", "manager", "rep") else "rep"
    try:
        user_id = ensure_user(settings.database_url, email, user_role, team)
        key, key_id = create_api_key(settings.database_url, user_id, name, role, rate_limit)
    except ValueError as error:
        _fail(str(error))
    console.print(f"API key {key_id} for {email} (role {role}); store it now, it is not kept:")
    console.print(key, highlight=False)


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (prefix, owner, role, limit, state); never the keys themselves."""
    from rich.table import Table
    from sqlalchemy import select

    from haste.db import APIKey, User, session_scope

    table = Table("id", "prefix", "owner", "role", "limit/min", "active", "created")
    with session_scope(get_settings().database_url) as session:
        rows = session.execute(
            select(APIKey, User.email).join(User).order_by(APIKey.created_at)
        ).all()
        for key, email in rows:
            table.add_row(
                str(key.id),
                key.key_prefix + "...",
                email,
                key.role,
                str(key.rate_limit_per_minute or "default"),
                "yes" if key.is_active else "revoked",
                key.created_at.isoformat(timespec="seconds"),
            )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id from `haste keys list`.")],
) -> None:
    """Revoke a key (kept for the audit trail; refused by the gateway within 10 s)."""
    import uuid

    from haste.api_keys import revoke_api_key

    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        _fail(f"not a key id: {key_id!r} (see `haste keys list`)")
    if not revoke_api_key(get_settings().database_url, parsed):
        _fail(f"no active key {key_id}")
    console.print(f"revoked {key_id}")


# --------------------------------------------------------------------------- LLM layer
@prompts_app.command("list")
def prompts_list() -> None:
    """List every prompt with its versions and A/B split."""
    from rich.table import Table

    from textai.llm.prompts import PromptRegistry

    registry = PromptRegistry()
    table = Table("prompt", "category", "versions", "A/B split")
    for name in registry.names():
        definition = registry.definition(name)
        versions = ", ".join(f"v{v}" for v in sorted(definition.versions))
        split = ", ".join(f"v{k}: {v}%" for k, v in definition.ab_test.items())
        table.add_row(name, definition.category or "", versions, split)
    console.print(table)


@prompts_app.command("sync")
def prompts_sync() -> None:
    """Upsert every prompt version into the ai_prompts table (idempotent)."""
    from haste.db import upgrade_database
    from textai.llm.prompts import PromptRegistry

    settings = get_settings()
    settings.ensure_home()
    upgrade_database(settings.database_url)
    report = PromptRegistry().sync_to_db(settings.database_url)
    console.print(
        f"inserted {len(report.inserted)}, updated {len(report.updated)}, unchanged "
        f"{len(report.unchanged)}, deactivated {len(report.deactivated)}"
    )


@prompts_app.command("test")
def prompts_test(
    name: Annotated[str, typer.Argument(help="Prompt name (see `haste prompts list`).")],
    provider: Annotated[
        str | None, typer.Option(help="Provider of configs/llm.yaml (default: the default one).")
    ] = None,
) -> None:
    """Run a prompt's test cases against a provider; results go to prompt_test_results."""
    from haste.db import upgrade_database
    from textai.llm.client import LLMClient
    from textai.llm.config import load_llm_config
    from textai.llm.prompt_testing import run_prompt_tests
    from textai.llm.prompts import PromptRegistry

    settings = get_settings()
    settings.ensure_home()
    upgrade_database(settings.database_url)
    registry = PromptRegistry()
    registry.sync_to_db(settings.database_url)
    client = LLMClient(load_llm_config())
    report = run_prompt_tests(registry, name, client, url=settings.database_url, provider=provider)
    console.print(report.to_markdown())
    if not report.passed:
        raise typer.Exit(1)


@prompts_app.command("stats")
def prompts_stats(name: Annotated[str, typer.Argument(help="Prompt name.")]) -> None:
    """Calls, latency, tokens and feedback per version of a prompt (from ai_interactions)."""
    from textai.llm.prompts import prompt_stats

    console.print_json(data=prompt_stats(get_settings().database_url, name), default=str)


@app.command("usage")
def usage(
    by: Annotated[
        str, typer.Option(help="Roll up by user, team, feature, provider, variant or model.")
    ] = "team",
    days: Annotated[int, typer.Option(help="Look back this many days.")] = 30,
) -> None:
    """AI usage and cost per user/team/feature (LLM calls, from ai_interactions)."""
    import datetime as dt

    from rich.table import Table

    from textai.llm.usage import usage_rollup

    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    try:
        rows = usage_rollup(get_settings().database_url, by=by, since=since)
    except ValueError as error:
        _fail(str(error))
    table = Table(by, "calls", "errors", "tokens", "cost USD", "mean latency ms")
    for row in rows:
        table.add_row(
            str(row.get(by) or row.get("key") or "-"),
            str(row["calls"]),
            str(row["errors"]),
            str(row["total_tokens"]),
            f"{row['cost_usd']:.6f}",
            f"{row['mean_latency_ms'] or 0:.0f}",
        )
    console.print(table)


@app.command("budgets")
def budgets(
    apply: Annotated[
        bool, typer.Option("--apply", help="Set this month's limits from configs/llm.yaml.")
    ] = False,
) -> None:
    """Show this month's AI budgets (limit, spent, alerts); --apply syncs the limits."""
    from rich.table import Table

    from haste.db import upgrade_database
    from textai.llm.budgets import BudgetManager
    from textai.llm.config import load_llm_config

    settings = get_settings()
    settings.ensure_home()
    upgrade_database(settings.database_url)
    manager = BudgetManager(settings.database_url, load_llm_config())
    if apply:
        console.print(f"limits applied to {manager.apply_limits()} budget rows")
    table = Table("scope", "id", "month", "limit USD", "spent USD", "alerts sent")
    for row in manager.status():
        table.add_row(
            row.scope_type,
            row.scope_id,
            str(row.period_start),
            f"{row.limit_usd:.2f}",
            f"{row.spent_usd:.6f}",
            ", ".join(str(a) for a in row.alerts_sent or []),
        )
    console.print(table)


# --------------------------------------------------------------------------- serving
@app.command("serve")
def serve_command(model: ModelOption = "lead_scoring") -> None:
    """Serve the champion model with Ray Serve until Ctrl-C (API docs at /docs)."""
    import time

    from serving.runner import start_serving, stop_serving

    url = start_serving(get_settings(), model)
    console.print(f"serving at {url} (OpenAPI docs: {url}/docs); Ctrl-C to stop")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stop_serving()


@ab_app.command("show")
def ab_show() -> None:
    """Show each model's champion and challenger versions and the recorded traffic split."""
    from serving.config import serve_config_from_settings
    from serving.model_server import served_model_names
    from training.ab_routing import load_rollouts
    from training.registry import CHALLENGER, CHAMPION, alias_versions, configure_mlflow

    settings = get_settings()
    configure_mlflow(settings)
    names = served_model_names(serve_config_from_settings(settings))
    champions, challengers = alias_versions(names, CHAMPION), alias_versions(names, CHALLENGER)
    rollouts, generation = load_rollouts(settings.database_url)
    table = Table(title=f"A/B split (models generation {generation})")
    for column in ("model", "champion", "challenger", "challenger traffic %"):
        table.add_column(column)
    for name in names:
        table.add_row(
            name,
            f"v{champions[name]}" if name in champions else "-",
            f"v{challengers[name]}" if name in challengers else "-",
            str(rollouts.get(name, 0)) if name in challengers else "0 (no challenger)",
        )
    console.print(table)


@ab_app.command("set")
def ab_set(
    splits: Annotated[
        list[str],
        typer.Argument(help="MODEL=PERCENT pairs, e.g. lead_scoring=20 churn=0."),
    ],
) -> None:
    """Route PERCENT of each model's traffic to its challenger (sticky per contact)."""
    from serving.runner import reconfigure_running

    rollouts = {}
    for item in splits:
        model, _, value = item.partition("=")
        if not model or not value.isdigit() or not 0 <= int(value) <= 100:
            _fail(f"expected MODEL=PERCENT with PERCENT in 0-100, got {item!r}")
        rollouts[model] = int(value)
    try:
        live = reconfigure_running(get_settings(), rollouts)
    except ConnectionError as error:
        _fail(str(error))
    console.print(f"live split: {live['ab_rollout']} (no replica restarted)")


@ab_app.command("reload")
def ab_reload() -> None:
    """Make the running replicas re-read champion/challenger (after a promotion or rollback)."""
    from serving.runner import reconfigure_running

    try:
        live = reconfigure_running(get_settings(), reload_models=True)
    except ConnectionError as error:
        _fail(str(error))
    console.print(f"models generation {live['models_generation']}: aliases reloaded in place")


@app.command("score")
def score(
    contact_id: Annotated[str, typer.Argument(help="Contact id to score.")],
    url: Annotated[str | None, typer.Option(help="API base URL.")] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="HASTE_API_KEY", help="API key (`haste keys create`).")
    ] = None,
) -> None:
    """Ask a running API for a contact's lead score and print the JSON."""
    import httpx

    from serving.runner import base_url

    response = httpx.post(
        f"{url or base_url(get_settings())}/api/ai/lead-score",
        json={"contact_id": contact_id, "include_explanation": True},
        headers={"X-API-Key": api_key or ""},
        timeout=30,
    )
    console.print_json(response.text)
    if response.status_code >= 400:
        raise typer.Exit(1)


@app.command("demo")
def demo(
    contacts: Annotated[int, typer.Option(help="How many held-out leads to score.")] = 3,
) -> None:
    """Run everything end to end: train flow, Ray Serve deployment, real API calls."""
    from flows.demo import run_demo

    try:
        run_demo(console, contacts)
    except Exception as error:  # the demo is the front door: say what broke, plainly
        logging.getLogger(__name__).exception("demo failed")
        _fail(f"{type(error).__name__}: {error}")


def main() -> None:
    """Entry point for ``python -m haste``."""
    app(prog_name="haste")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
