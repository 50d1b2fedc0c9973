"""`haste gaming`: score-gaming flags (``scan`` every contact, ``show`` one contact)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import typer
from rich.table import Table

from haste.cli.common import console, fail, iso_datetime_option
from haste.settings import get_settings

app = typer.Typer(
    help="Score gaming: bursts, bot timing, page views without time on page, mail scanners.",
    no_args_is_help=True,
)


def _print_flags(report: dict[str, Any]) -> None:
    """Print one contact's flags, evidence and scores."""
    if not report["flagged"]:
        console.print(
            f"contact {report['contact_id']}: no flag over {report['events_in_window']} events "
            f"({report['window']['start'][:10]} to {report['window']['end'][:10]})"
        )
    for flag in report["flags"]:
        console.print(f"[bold]{flag['kind']}[/]: {flag['message']}")
        console.print(f"  evidence: {json.dumps(flag['evidence'])}")
    if report["score_with"] is None:
        console.print(f"score: not computed ({report['score_note']})")
    else:
        console.print(
            f"score with all events {report['score_with']}, without the "
            f"{report['suspicious_events']} suspicious ones {report['score_without']} "
            f"({report['model']})"
        )


@app.command("scan")
def scan_command(
    days: Annotated[
        float | None,
        typer.Option("--days", min=0.1, help="Days of engagement per contact (default: config)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="End of the windows, ISO (default: each contact's newest)."),
    ] = None,
    store: Annotated[
        bool, typer.Option("--store/--no-store", help="Store flagged contacts as predictions.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Examine every contact, score the flagged ones with and without the suspicious events."""
    from haste.db.migrate import upgrade_database
    from monitoring.gaming import scan_contacts
    from monitoring.gaming_log import default_crm_dir

    moment = iso_datetime_option(until, "--until")
    settings = get_settings()
    upgrade_database(settings.database_url)
    with console.status("scanning contacts for inflated engagement..."):
        result = scan_contacts(
            settings.database_url, default_crm_dir(settings.data_dir), days, moment, store=store
        )
    summary = result.to_dict()
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    table = Table(title=f"Score gaming: {len(result.flagged)} of {result.contacts} flagged")
    for column in ("contact", "flags", "suspicious", "score with", "without"):
        table.add_column(column, justify="left" if column in ("contact", "flags") else "right")
    for row in summary["contacts_flagged"][:25]:
        table.add_row(
            row["contact_id"],
            ", ".join(row["flags"]),
            str(row["suspicious_events"]),
            str(row["score_with"]),
            str(row["score_without"]),
        )
    console.print(table)
    counts = ", ".join(f"{kind} {n}" for kind, n in result.by_kind.items())
    console.print(f"flagged contacts per kind: {counts}; stored {result.stored} predictions")
    if result.score_note:
        console.print(f"scores not computed: {result.score_note}")


@app.command("show")
def show_command(
    contact_id: Annotated[str, typer.Argument(help="Contact id (UUID).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Show one contact's flags with their evidence and its score with and without them."""
    from monitoring.gaming import contact_report
    from monitoring.gaming_log import default_crm_dir

    try:
        key = uuid.UUID(contact_id)
    except ValueError:
        fail(f"contact id must be a UUID, not {contact_id!r}")
    settings = get_settings()
    report = contact_report(settings.database_url, default_crm_dir(settings.data_dir), key)
    if report is None:
        fail(f"contact {contact_id} not found in the CRM")
    payload = report.to_dict()
    if as_json:
        typer.echo(json.dumps(payload, indent=2))
    else:
        _print_flags(payload)
