"""Serving commands: `haste serve`, `haste score`, and `haste ab` (split, reload, report)."""

from __future__ import annotations

import datetime
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from haste.cli.common import ModelOption, console, fail
from haste.settings import get_settings

app = typer.Typer()
ab_app = typer.Typer(
    help=(
        "A/B tests of champion vs challenger on the running API: show the split, change it "
        "or reload the MLflow aliases, without restarting any replica; report the outcome."
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


def _pct(value: float | None, digits: int = 1) -> str:
    """Return a rate as a percentage, or ``-``."""
    return "-" if value is None else f"{value * 100:.{digits}f} %"


def _print_ab_report(report: dict[str, Any]) -> None:
    """Print one model's outcome A/B report: a table per variant row and the verdict."""
    offline = report.get("offline") or {}
    metric = offline.get("metric", "offline metric")
    table = Table(
        title=(
            f"{report['model']}: conversion within {report['window_days']} days "
            f"({', '.join(report['events'])})"
        )
    )
    columns = ("variant", "versions", "exposures", "open windows", "closed", "conversions")
    for column in columns:
        table.add_column(column, justify="left" if column in ("variant", "versions") else "right")
    table.add_column("rate [95 % CrI]", justify="right")
    table.add_column(f"offline {metric}", justify="right")
    for variant, row in report["variants"].items():
        low, high = row["interval"]
        entry = offline.get(variant)
        auc = "-"
        if entry and entry.get("value") is not None:
            auc = f"{entry['value']:.4f} (v{entry['version']})"
        table.add_row(
            variant,
            ", ".join(f"v{v}" for v in row["versions"]) or "-",
            f"{row['exposures']:,}",
            f"{row['open']:,}",
            f"{row['closed']:,}",
            f"{row['conversions']:,}",
            f"{_pct(row['rate'])} [{_pct(low)}, {_pct(high)}]",
            auc,
        )
    console.print(table)
    lift = report["lift"]
    relative = report["relative_lift"]
    loss = report["expected_loss"]
    sequential = report["sequential"]
    lift_text = "-" if lift is None else f"{lift * 100:+.2f} pts"
    if relative is not None:
        lift_text += f" ({relative * 100:+.1f} %)"
    console.print(
        f"lift {lift_text}; P(challenger better) {report['prob_challenger_better']:.3f}; "
        f"expected loss: keep champion {loss['keep_champion'] * 100:.3f} pts, "
        f"promote challenger {loss['promote_challenger'] * 100:.3f} pts; "
        f"sequential p {sequential['p_value']:.4f} (alpha {sequential['alpha']}); "
        f"contacts in both variants: {report['crossovers']} ({report['crossover']})"
    )
    decision = report["decision"]
    console.print(f"[bold]decision: {decision['label']}[/] ({decision['reason']})")


@ab_app.command("report")
def ab_report(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Only this model (e.g. lead_scoring).")
    ] = None,
    days: Annotated[
        int | None,
        typer.Option("--days", min=1, max=3650, help="Conversion window (configs/ab.yaml)."),
    ] = None,
    since: Annotated[
        datetime.datetime | None,
        typer.Option(help="Only exposures at or after this time (e.g. the challenger's start)."),
    ] = None,
    offline: Annotated[
        bool, typer.Option(help="Show the offline metric of each variant from MLflow.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Compare champion and challenger on the business outcome, not only offline AUC.

    An exposure is a contact's first lead-score decision with a variant; it converts when a
    configured CRM event (a deal won by default) happens within N days after it. Exposures
    whose window is still open are reported, not counted. Beta posteriors, P(challenger
    better), the expected loss of each choice, an always-valid sequential p-value (safe to
    look at any time) and the stop rule of configs/ab.yaml give the decision.
    """
    from training.ab_outcomes import build_ab_report, load_ab_config, offline_metrics

    settings = get_settings()
    config = load_ab_config()
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=datetime.UTC)
    reports = build_ab_report(
        settings.database_url, config, model=model, window_days=days, since=since
    )
    if offline and reports:
        metrics = offline_metrics(settings, [r["model"] for r in reports], config.offline_metric)
        for report in reports:
            report["offline"] = metrics.get(report["model"])
    if as_json:
        console.print_json(json.dumps(reports, default=str))
        return
    if not reports:
        scope = f"model {model}" if model else "any model"
        console.print(f"no A/B exposures recorded for {scope} yet (see `haste ab show`)")
        return
    for report in reports:
        _print_ab_report(report)


@ab_app.command("simulate")
def ab_simulate(
    rate: Annotated[float, typer.Option(min=0.001, max=0.999, help="Champion rate.")] = 0.10,
    lift: Annotated[float, typer.Option(min=-0.5, max=0.5, help="True lift (absolute).")] = 0.03,
    total: Annotated[int, typer.Option(min=200, max=100_000, help="Exposures per test.")] = 6000,
    share: Annotated[float, typer.Option(min=0.01, max=0.99, help="Challenger share.")] = 0.5,
    replicates: Annotated[int, typer.Option(min=10, max=5000)] = 1000,
) -> None:
    """Simulate A/A and A/B tests: how often each procedure declares a winner when peeking.

    The sequential test is looked at after every exposure, the naive z-test and the naive
    "P(better) >= 0.95" rule at 20 looks; under no lift each share is a type-I error rate.
    """
    from training.ab_outcomes import load_ab_config
    from training.ab_simulation import simulate_peeking

    rule = load_ab_config().stats.stop_rule()
    table = Table(title=f"{replicates} simulated tests of {total:,} exposures (alpha {rule.alpha})")
    for column in ("rates", "sequential (every exposure)", "naive z (20 looks)", "naive z (end)"):
        table.add_column(column, justify="right")
    table.add_column("naive P>0.95 (20 looks)", justify="right")
    for challenger in (rate, rate + lift):
        result = simulate_peeking(rate, challenger, total, share, replicates, rule=rule)
        table.add_row(
            f"{rate:.3f} vs {challenger:.3f}",
            f"{result.sequential:.3f}",
            f"{result.naive_z_any_look:.3f}",
            f"{result.naive_z_final_look:.3f}",
            f"{result.naive_bayes_any_look:.3f}",
        )
    console.print(table)
    console.print("first row: type-I error (equal rates); second row: power")


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
