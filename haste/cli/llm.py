"""The LLM layer's commands: `haste prompts`, `haste usage`, `haste budgets`."""

from __future__ import annotations

from typing import Annotated

import typer

from haste.cli.common import console, fail
from haste.settings import get_settings

app = typer.Typer()
prompts_app = typer.Typer(
    help="Versioned prompts (configs/prompts/*.yaml): list, sync to ai_prompts, test, stats.",
    no_args_is_help=True,
)
app.add_typer(prompts_app, name="prompts")


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
    from textai.llm.prompt_records import prompt_stats

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
        fail(str(error))
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
