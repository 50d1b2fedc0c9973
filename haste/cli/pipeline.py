"""`haste pipeline`: one stage of the reproducible pipeline (what `dvc repro` calls)."""

from __future__ import annotations

import typer

from haste.cli.common import ModelOption, console, fail, print_metrics
from haste.settings import get_settings

app = typer.Typer(
    help="Run one stage of the reproducible pipeline (what `dvc repro` calls).",
    no_args_is_help=True,
)


@app.command("ingest")
def pipeline_ingest() -> None:
    """Read Leads.csv from the shared datasets and generate the synthetic CRM into data/raw."""
    from pipelines import stages

    for name, path in stages.ingest(get_settings()).items():
        console.print(f"{name:>16} -> {path}")


@app.command("validate")
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
        fail(f"{len(failed)} dataset(s) failed validation; reports in data/reports/validation")


@app.command("features")
def pipeline_features(model: ModelOption = "lead_scoring") -> None:
    """Write the model-ready feature table (leakage columns dropped)."""
    from pipelines import stages
    from training.config import load_training_config

    console.print(stages.build_features(get_settings(), load_training_config(model)))


@app.command("train")
def pipeline_train(model: ModelOption = "lead_scoring") -> None:
    """Fit the XGBoost candidate and the spec's GradientBoosting baseline."""
    from pipelines import stages
    from training.config import load_training_config

    console.print(stages.train(get_settings(), load_training_config(model)))


@app.command("evaluate")
def pipeline_evaluate(model: ModelOption = "lead_scoring") -> None:
    """Evaluate on the held-out split; write metrics, plots, fairness report and model card."""
    from pipelines import stages
    from training.config import load_training_config

    outcome = stages.evaluate(get_settings(), load_training_config(model))
    print_metrics(outcome.metrics, outcome.baseline_metrics)
    print(outcome.fairness.to_markdown())  # plain: a Markdown table must not be re-wrapped
