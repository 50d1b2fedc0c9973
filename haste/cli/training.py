"""Training commands: `haste train`, `train-deals`, `train-text`, `build-search-index`, more."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from haste.cli.common import ModelOption, console, print_training_result

app = typer.Typer()


@app.command("train")
def train(model: ModelOption = "lead_scoring") -> None:
    """Run the Prefect training flow: ingest, validate, train, audit, register, promote."""
    from flows.training import model_training

    result = model_training(model_name=model)
    print_training_result(result)


@app.command("train-deals")
def train_deals() -> None:
    """Train, backtest and register deal velocity, win probability and the revenue forecast."""
    from flows.deal_velocity import deal_velocity_training

    result = deal_velocity_training()
    table = Table(title="Maven CRM deal models (held-out / 2017 backtest)")
    for column in ("model", "metric", "ours", "baseline"):
        table.add_column(column)
    for name in ("days_to_close", "win_probability"):
        ours, baseline = result[name]["model"], result[name]["baseline"]
        for metric, value in ours.items():
            reference = baseline.get(metric)
            table.add_row(
                name, metric, f"{value:.4f}", "" if reference is None else f"{reference:.4f}"
            )
    console.print(table)
    console.print_json(data=result["forecast"])


@app.command("train-text")
def train_text() -> None:
    """Train the text models (Lightning sentiment on MiniLM, action items) and log to MLflow."""
    from flows.text_models import text_model_training

    result = text_model_training()
    table = Table(title="Text models (held-out test sets)")
    for column in ("model", "metric", "value"):
        table.add_column(column)
    for model, metrics in result.items():
        for metric, value in metrics.items():
            table.add_row(model, metric, f"{value:.4f}")
    console.print(table)


@app.command("build-search-index")
def build_search_index_command() -> None:
    """Build the CRM's semantic search index (reused when the CRM did not change)."""
    from flows.search_index import search_index

    console.print(f"search index: {search_index()['documents']} documents")


@app.command("analyze-contact-time")
def analyze_contact_time(
    top: Annotated[int, typer.Option(help="Segments to list.")] = 10,
) -> None:
    """Best contact slot per customer segment from Bank Marketing (Beta posteriors, not causal)."""
    from flows.contact_time import contact_time_analysis

    result = contact_time_analysis(top_n=top)
    console.print(f"MLflow run {result['run_id']}: model-view ROC AUC {result['roc_auc']:.3f}")
    console.print_json(data={"global": result["global"]})
    table = Table(title=f"Top {top} segment recommendations")
    rows = result["top_recommendations"]
    for column in rows[0] if rows else []:
        table.add_column(str(column))
    for row in rows:
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()))
    console.print(table)
