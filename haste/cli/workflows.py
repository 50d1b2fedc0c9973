"""Workflow automation commands: ``haste workflows list | create | draft | simulate | ...``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from haste.cli.common import console, fail
from haste.settings import get_settings

app = typer.Typer(
    help=(
        "Workflow automation: store workflows (trigger -> conditions -> actions), dry-run them "
        "on the CRM's history, draft them from a sentence or from mined activity sequences, "
        "run the scheduled ones, and work the human review queue."
    ),
    no_args_is_help=True,
)


def _load_definition(path: Path) -> Any:
    """Read a workflow definition from a YAML or JSON file (exits with the errors if invalid)."""
    import yaml
    from pydantic import ValidationError

    from workflows.definition import parse_definition

    try:
        return parse_definition(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (OSError, yaml.YAMLError) as error:
        fail(f"cannot read {path}: {error}")
    except ValidationError as error:
        fail(f"{path} is not a valid workflow:\n{error}")


@app.command("list")
def list_command() -> None:
    """List the stored workflows with their version, state and runs."""
    from workflows.store import list_workflows

    table = Table("id", "name", "version", "enabled", "trigger", "runs")
    for row in list_workflows(get_settings().database_url):
        trigger = row["definition"]["trigger"]["type"]
        table.add_row(
            row["id"][:8],
            row["name"],
            str(row["version"]),
            str(row["enabled"]),
            trigger,
            str(row["runs"]),
        )
    console.print(table)


@app.command("create")
def create_command(
    path: Annotated[Path, typer.Argument(help="A YAML or JSON workflow definition.")],
    disabled: Annotated[
        bool, typer.Option("--disabled", help="Store it without running it.")
    ] = False,
) -> None:
    """Store a workflow from a file (checked against the catalogue and the other workflows)."""
    from workflows.errors import WorkflowError
    from workflows.store import create_workflow

    definition = _load_definition(path)
    try:
        stored = create_workflow(get_settings().database_url, definition, "cli", not disabled)
    except WorkflowError as error:
        fail(str(error))
    console.print(
        f"[green]stored[/green] {stored['name']!r} v{stored['version']} id={stored['id']}"
    )


@app.command("draft")
def draft_command(
    description: Annotated[
        str, typer.Argument(help="e.g. 'when a lead becomes hot, create a call task'")
    ],
) -> None:
    """Turn a sentence into a workflow definition (a hosted LLM if configured, else the rules)."""
    from textai.llm.service import LLMService
    from workflows.nl_llm import definition_from_text

    service = LLMService.from_config(get_settings().database_url)
    try:
        parsed = definition_from_text(description, client=service.client)
    except ValueError as error:
        fail(str(error))
    console.print_json(json.dumps(parsed.to_dict(), default=str))
    if parsed.fallback_reason:
        console.print(f"[dim]offline rules used: {parsed.fallback_reason}[/dim]")


@app.command("suggest")
def suggest_command(
    outcome: Annotated[str, typer.Option(help="won or replied.")] = "won",
    top: Annotated[int, typer.Option(min=1, max=10)] = 3,
) -> None:
    """Mine the activity sequences that precede won deals (or replies) and draft workflows."""
    from workflows.suggestions import suggest_workflows

    if outcome not in ("won", "replied"):
        fail("--outcome must be won or replied")
    result = suggest_workflows(get_settings().database_url, None, outcome, top)
    console.print_json(json.dumps(result, default=str))


@app.command("simulate")
def simulate_command(
    target: Annotated[str, typer.Argument(help="A stored workflow's id, or a definition file.")],
) -> None:
    """Replay the CRM's history through a workflow: how often it fires, on whom, outcomes."""
    from workflows.definition import parse_definition
    from workflows.errors import WorkflowNotFoundError
    from workflows.simulate import simulate_workflow
    from workflows.store import get_workflow

    url = get_settings().database_url
    path = Path(target)
    if path.exists():
        definition = _load_definition(path)
    else:
        try:
            definition = parse_definition(get_workflow(url, target)["definition"])
        except WorkflowNotFoundError as error:
            fail(str(error))
    with console.status("replaying the CRM's history..."):
        result = simulate_workflow(url, definition)
    console.print_json(json.dumps(result, default=str))


@app.command("train-uplift")
def train_uplift_command() -> None:
    """Train the action-recommendation model (Prefect flow ``action-uplift-training``)."""
    from flows.workflow_automation import action_uplift_training

    result = action_uplift_training()
    evaluation = result["evaluation"]
    table = Table("action", "avg lift (held out)", "naive difference", "Qini", "random p95")
    for action, f in evaluation["actions"].items():
        table.add_row(
            action,
            f"{f['average_lift']:+.3f}",
            f"{f['naive_difference']:+.3f}",
            f"{f['qini_coefficient']:+.3f}",
            f"{f['qini_coefficient_random_p95']:+.3f}",
        )
    console.print(table)
    console.print(f"saved {result['model_path']} ({result['rows']:,} decision points)")
    console.print(evaluation["caveat"])


@app.command("run-scheduled")
def run_scheduled_command() -> None:
    """Fire the schedule and prediction-threshold workflows that are due (what Prefect runs)."""
    from workflows.engine import run_scheduled

    report = run_scheduled(get_settings().database_url)
    console.print(report.to_dict())


@app.command("poll")
def poll_command(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
) -> None:
    """Run workflows on the real-time engine's events outside Ray (replica 0 does it in Serve)."""
    import asyncio

    from workflows.poller import poll_once, run_poller

    url = get_settings().database_url
    if once:
        console.print(poll_once(url).to_dict())
        return
    console.print("polling stream_events and score_changes (Ctrl-C stops)")
    try:
        asyncio.run(run_poller(url, asyncio.Event()))
    except KeyboardInterrupt:
        console.print("stopped")


@app.command("reviews")
def reviews_command(
    status: Annotated[str, typer.Option(help="pending, approved, rejected or all.")] = "pending",
) -> None:
    """Show the human review queue."""
    from workflows.reviews import list_reviews

    result = list_reviews(get_settings().database_url, status=None if status == "all" else status)
    table = Table("id", "feature", "risk", "status", "summary")
    for item in result["items"]:
        table.add_row(
            item["id"][:8], item["feature"], item["risk"], item["status"], item["summary"]
        )
    console.print(table)
    console.print(f"{result['pending']} pending")


@app.command("adoption")
def adoption_command() -> None:
    """Adoption of AI suggestions (accepted / shown) per feature, vs the 60 % target."""
    from workflows.adoption import compute_adoption

    result = compute_adoption(get_settings().database_url)
    table = Table("feature", "shown", "accepted", "rate")
    for row in result["per_feature"]:
        rate = "-" if row["rate"] is None else f"{row['rate']:.0%}"
        table.add_row(row["feature"], str(row["shown"]), str(row["accepted"]), rate)
    console.print(table)
    overall = result["overall"]
    console.print(f"overall {overall['rate']} (target {result['target']:.0%})")
