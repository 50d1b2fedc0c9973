"""`haste ledger`: the forecast ledger's accuracy (``report``) and its resolution (``resolve``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from haste.cli.common import console, iso_datetime_option
from haste.settings import get_settings

app = typer.Typer(
    help="Forecast ledger: every forecast with its horizon, scored against the naive baseline.",
    no_args_is_help=True,
)


def _print_report(report: dict[str, Any]) -> None:
    """Print the per-kind table of a ledger report."""
    from monitoring.ledger import report_table

    rows = report_table(report)
    if not rows:
        console.print("the forecast ledger is empty")
        return
    table = Table(title=f"Forecast ledger: {report['resolved']} of {report['entries']} resolved")
    for column in rows[0]:
        table.add_column(column.replace("_", " "), justify="left" if column == "kind" else "right")
    for row in rows:
        table.add_row(*(str(value) for value in row.values()))
    console.print(table)


@app.command("report")
def report_command(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole report (per month too) as JSON.")
    ] = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the report as Markdown (per month too).")
    ] = False,
) -> None:
    """Print MAPE, interval coverage and Brier per kind, each next to the naive baseline's."""
    from monitoring.ledger import ledger_markdown, ledger_report

    report = ledger_report(get_settings().database_url)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    elif markdown:
        typer.echo(ledger_markdown(report))
    else:
        _print_report(report)


@app.command("resolve")
def resolve_command(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Resolve as of this ISO date/time (default: now)."),
    ] = None,
) -> None:
    """Fill the actuals of the forecasts that are due (CRM, Maven CRM, Telco held-out labels)."""
    from haste.db.migrate import upgrade_database
    from monitoring.ledger import ledger_report, resolve_ledger
    from monitoring.ledger_actuals import default_actuals

    moment = iso_datetime_option(as_of, "--as-of")
    settings = get_settings()
    upgrade_database(settings.database_url)
    source = default_actuals(settings.database_url, settings.datasets_dir)
    result = resolve_ledger(settings.database_url, source, moment)
    console.print(f"resolved {result.resolved} forecasts; {result.pending} still pending")
    _print_report(ledger_report(settings.database_url))
