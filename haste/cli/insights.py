"""Insight commands: ``haste insights executive-summary [--week-ending YYYY-MM-DD] [--json]``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer

from haste.cli.common import console, fail
from haste.settings import get_settings

app = typer.Typer(
    help="Insights: the weekly executive AI summary, every number cited to its named query.",
    no_args_is_help=True,
)


@app.command("executive-summary")
def executive_summary_command(
    week_ending: Annotated[
        str | None,
        typer.Option("--week-ending", help="Last day of the week, YYYY-MM-DD (default today)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole answer (figures, trends) as JSON.")
    ] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Write from the templates only (no LLM call).")
    ] = False,
) -> None:
    """Print the executive summary of a week (markdown), written through the LLM layer."""
    from insights.executive import summarize_week, summarize_with_llm_layer

    try:
        day = dt.date.fromisoformat(week_ending) if week_ending else None
    except ValueError:
        fail(f"--week-ending must be a date YYYY-MM-DD, not {week_ending!r}")
    url = get_settings().database_url
    try:
        result = summarize_week(url, day) if offline else summarize_with_llm_layer(url, day)
    except ValueError as error:
        fail(str(error))
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    typer.echo(result["summary"])
    note = f"written by {result['path'].replace('_', ' ')}"
    if result["fallback_reason"]:
        note += f" ({result['fallback_reason']})"
    console.print(f"[dim]{len(result['figures'])} figures from named queries; {note}[/]")
