"""Governance commands: `haste monitor-drift`, `haste audit`, `haste forget`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from haste.cli.common import ModelOption, console, fail
from haste.settings import get_settings

app = typer.Typer()


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
        fail(f"{current} does not exist")
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
        fail(f"invalid option: {error}")
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
        fail(f"{contact_id!r} is not a contact id (a UUID)")
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
