"""`haste score-batch`: score every contact with the lead model (Ray Data) and store it in bulk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from haste.cli.common import console, fail, iso_datetime_option
from haste.settings import get_settings

if TYPE_CHECKING:
    from training.batch_run import BatchScoringSummary

app = typer.Typer(no_args_is_help=True)

_HELP = """Score every contact with the lead model's champion (and its challenger) in bulk.

Reads the scoring snapshot (each contact's latest offline features, one row per contact;
built from the offline feature store unless --input is given), scores it with Ray Data
(map_batches over ~100k-row pieces of the parquet files, read in --batch-size chunks; XGBoost
booster fast path, the GradientBoosting baseline family through its generic path) and writes
the predictions as they arrive, in one transaction: COPY on PostgreSQL, batched inserts on
SQLite. A failed run writes nothing; --run-id makes a re-run
replace its earlier rows.

Rows go to `predictions` (prediction_type = model name, model_version, confidence_score,
prediction_value {probability, score, band, variant, run_id}); with --target lead_scores
the champion's scores go to `lead_scores` (the score the CRM shows; the contacts must
exist) and the challenger's still to `predictions`. Explanations (top SHAP factors,
recommended actions, a sentence) are computed only with --explain (~35x the cost of a
prediction), optionally only for scores >= --explain-min-score.

Ray: a local Ray is started (--num-cpus) unless --ray-address (or HASTE_RAY_ADDRESS) names a
cluster; failed read/score tasks are retried --max-retries times; --resources places the
tasks on nodes with a custom resource. --engine local scores in this process instead.
"""


def _resources(value: str | None) -> dict[str, float] | None:
    """Parse ``--resources`` (a JSON object of resource -> amount)."""
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        fail(f"--resources must be a JSON object like '{{\"worker\": 0.1}}': {error}")
    if not isinstance(parsed, dict) or not all(
        isinstance(v, int | float) and v > 0 for v in parsed.values()
    ):
        fail("--resources must map resource names to positive numbers")
    return {str(k): float(v) for k, v in parsed.items()}


def _snapshot(input_path: Path | None, offline_dir: Path | None, as_of: str | None) -> Path:
    """Return the dataset to score: ``--input``, or a fresh snapshot of the offline store."""
    if input_path is not None:
        if not input_path.exists():
            fail(f"--input {input_path} does not exist")
        return input_path
    from features.scoring_snapshot import default_snapshot_dir, write_scoring_snapshot
    from features.store import default_offline_dir

    settings = get_settings()
    source = offline_dir or default_offline_dir(settings)
    target = default_snapshot_dir(settings.data_dir)
    with console.status(f"building the scoring snapshot from {source}..."):
        try:
            snapshot = write_scoring_snapshot(source, target, iso_datetime_option(as_of, "--as-of"))
        except FileNotFoundError as error:
            fail(str(error))
    console.print(
        f"scoring snapshot: {snapshot.rows:,} contacts, features as of "
        f"{snapshot.snapshot_time or 'n/a'} -> {snapshot.path}"
    )
    return snapshot.path


def _print_summary(summary: BatchScoringSummary) -> None:
    """Print the models, the A/B comparison, throughput and where the rows went."""
    table = Table(title=f"Batch run {summary.run_id} ({summary.engine})")
    for column in ("variant", "model", "version", "contacts", "mean score", "hot", "warm", "cold"):
        table.add_column(column, justify="left" if column in ("variant", "model") else "right")
    for model in summary.models:
        bands = model["bands"]
        table.add_row(
            model["variant"],
            model["model_name"],
            model["model_version"],
            f"{model['rows']:,}",
            f"{model['mean_score']}",
            *(f"{bands.get(band, 0):,}" for band in ("hot", "warm", "cold")),
        )
    console.print(table)
    if summary.comparison:
        c = summary.comparison
        console.print(
            f"champion vs challenger on {c['contacts']:,} contacts: same band "
            f"{c['band_agreement']:.1%}, mean |score difference| {c['mean_abs_score_diff']}, "
            f"challenger higher {c['challenger_higher_share']:.1%}"
        )
    written = ", ".join(f"{table_} {count:,}" for table_, count in summary.written.items())
    console.print(
        f"{summary.contacts:,} contacts in {summary.seconds:.1f} s "
        f"({summary.rows_per_min:,.0f} rows/min end to end)"
    )
    if summary.sink:
        replaced = f"; replaced {summary.replaced:,} rows of run {summary.run_id}"
        console.print(
            f"written ({summary.write_method}, one transaction): {written or 'nothing'} "
            f"to {summary.sink}{replaced if summary.replaced else ''}"
        )
    else:
        console.print("dry run: nothing written")


@app.command("score-batch", help=_HELP)
def score_batch_command(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Registered model to score with.")
    ] = "lead_scoring_crm",
    version: Annotated[
        str | None, typer.Option("--version", help="Score this version instead of the champion.")
    ] = None,
    challenger: Annotated[
        bool,
        typer.Option(
            "--challenger/--no-challenger", help="Also score the challenger, when registered."
        ),
    ] = True,
    input_path: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help="Parquet file/folder: contact_id + model inputs (default: a fresh snapshot).",
        ),
    ] = None,
    offline_dir: Annotated[
        Path | None, typer.Option("--offline-dir", help="Offline feature store folder.")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Snapshot: latest features at/before (ISO).")
    ] = None,
    target: Annotated[
        str, typer.Option("--target", help="Champion's table: predictions or lead_scores.")
    ] = "predictions",
    sink_url: Annotated[
        str | None, typer.Option("--sink-url", help="Database URL (default: HASTE_DATABASE_URL).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Score without writing.")] = False,
    engine: Annotated[
        str, typer.Option("--engine", help="ray (Ray Data) or local (this process).")
    ] = "ray",
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="Ray cluster (default: a local Ray).")
    ] = None,
    num_cpus: Annotated[
        int | None, typer.Option("--num-cpus", min=1, help="CPUs of a local Ray.")
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1000, help="Rows per scoring call.")
    ] = 50_000,
    resources: Annotated[
        str | None,
        typer.Option("--resources", help='Custom resources per task, JSON: {"worker": 0.1}.'),
    ] = None,
    max_retries: Annotated[
        int, typer.Option("--max-retries", min=0, help="Retries of a failed task.")
    ] = 3,
    explain: Annotated[
        bool, typer.Option("--explain/--no-explain", help="Store explanations.")
    ] = False,
    explain_min_score: Annotated[
        int,
        typer.Option("--explain-min-score", min=0, max=100, help="Explain scores >= this only."),
    ] = 0,
    top_k: Annotated[
        int, typer.Option("--top-k", min=1, max=50, help="SHAP factors per explanation.")
    ] = 5,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Run id (a re-run replaces its rows).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Score every contact in bulk (see the command help)."""
    from features.tabular import MissingFeaturesError
    from haste.db.migrate import upgrade_database
    from training.batch_models import load_run_models
    from training.batch_predict import ExplainSpec
    from training.batch_run import DatasetError
    from training.batch_sink import TARGETS, new_run
    from training.registry import NoChampionError, configure_mlflow

    if target not in TARGETS:
        fail(f"--target must be one of {', '.join(TARGETS)}, not {target!r}")
    if engine not in ("ray", "local"):
        fail(f"--engine must be ray or local, not {engine!r}")
    settings = get_settings()
    placement = _resources(resources)
    url = None if dry_run else (sink_url or settings.database_url)
    try:
        run = new_run(run_id, target)  # type: ignore[arg-type]
    except ValueError as error:
        fail(str(error))
    configure_mlflow(settings)
    try:
        models = load_run_models(model, version, challenger)
    except (NoChampionError, ValueError) as error:
        fail(str(error))
    dataset = _snapshot(input_path, offline_dir, as_of)
    if url is not None:
        upgrade_database(url)
    spec = ExplainSpec(enabled=explain, min_score=explain_min_score, top_k=top_k)
    names = ", ".join(f"{m.name} v{m.version} ({m.variant})" for m in models)
    console.print(f"scoring {dataset} with {names} on {engine}")
    try:
        summary = _run(
            engine,
            dataset,
            models,
            url,
            run,
            explain=spec,
            batch_size=batch_size,
            ray_address=ray_address,
            num_cpus=num_cpus,
            resources=placement,
            max_retries=max_retries,
        )
    except (DatasetError, MissingFeaturesError) as error:
        fail(str(error))
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2, default=str))
    else:
        _print_summary(summary)


def _run(
    engine: str,
    dataset: Path,
    models: list[Any],
    url: str | None,
    run: Any,
    *,
    explain: Any,
    batch_size: int,
    ray_address: str | None,
    num_cpus: int | None,
    resources: dict[str, float] | None,
    max_retries: int,
) -> BatchScoringSummary:
    """Run the chosen engine."""
    if engine == "local":
        from rich.progress import Progress

        from training.batch_run import check_dataset, dataset_files, score_locally

        total = check_dataset(dataset_files(dataset), models)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("scoring", total=total)
            return score_locally(
                dataset,
                models,
                url,
                run,
                batch_size=batch_size,
                explain=explain,
                on_batch=lambda rows: progress.advance(task, rows),
            )
    from distributed.batch_scoring import score_batch

    return score_batch(
        dataset,
        models,
        url,
        ray_address=ray_address or get_settings().ray_address,
        batch_size=batch_size,
        resources=resources,
        max_retries=max_retries,
        explain=explain,
        run=run,
        local_cpus=num_cpus,
    )
