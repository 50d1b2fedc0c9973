"""Serving commands: `haste serve`, `haste score`, and `haste ab` on the running API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from haste.cli.common import ModelOption, console, fail
from haste.settings import get_settings

app = typer.Typer()
ab_app = typer.Typer(
    help=(
        "A/B tests of champion vs challenger on the running API: show the split, change it "
        "or reload the MLflow aliases, without restarting any replica."
    ),
    no_args_is_help=True,
)
app.add_typer(ab_app, name="ab")


@app.command("serve")
def serve_command(model: ModelOption = "lead_scoring") -> None:
    """Serve the champion model with Ray Serve until Ctrl-C or SIGTERM (API docs at /docs).

    On SIGINT or SIGTERM the replicas stop taking requests, finish those in flight (their
    audit records included) within ``limits.shutdown_grace_s`` of configs/serve.yaml, and the
    command exits.
    """
    from serving.config import load_request_limits
    from serving.runner import serve_until_signalled, start_serving, stop_serving

    try:
        url = start_serving(get_settings(), model)
    except BaseException:
        stop_serving()
        raise
    received = serve_until_signalled(url, load_request_limits().shutdown_grace_s, console.print)
    console.print(f"stopped ({received})")


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
            fail(f"expected MODEL=PERCENT with PERCENT in 0-100, got {item!r}")
        rollouts[model] = int(value)
    try:
        live = reconfigure_running(get_settings(), rollouts)
    except ConnectionError as error:
        fail(str(error))
    console.print(f"live split: {live['ab_rollout']} (no replica restarted)")


@ab_app.command("reload")
def ab_reload() -> None:
    """Make the running replicas re-read champion/challenger (after a promotion or rollback)."""
    from serving.runner import reconfigure_running

    try:
        live = reconfigure_running(get_settings(), reload_models=True)
    except ConnectionError as error:
        fail(str(error))
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
