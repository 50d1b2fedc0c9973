"""What every command group shares: the console, the model option, failure and metric output."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()

ModelOption = Annotated[
    str, typer.Option("--model", "-m", help="Model config name under configs/models.")
]


def fail(message: str, code: int = 1) -> None:
    """Print an error in words and exit with ``code``."""
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def iso_datetime_option(value: str | None, option: str) -> dt.datetime | None:
    """Return an ISO date or date-time option's value (None when not given); fail in words."""
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} must be an ISO date or date-time, not {value!r}")
    return None


def print_metrics(metrics: dict[str, float], baseline: dict[str, float]) -> None:
    """Print held-out metrics of a model next to its baseline."""
    table = Table(title="Held-out metrics")
    table.add_column("metric")
    table.add_column("XGBoost", justify="right")
    table.add_column("baseline (GBC)", justify="right")
    for name, value in metrics.items():
        table.add_row(name, f"{value:.4f}", f"{baseline[name]:.4f}")
    console.print(table)


def print_training_result(result: dict[str, Any]) -> None:
    """Print a training flow's metrics, fairness verdict and registry decision."""
    print_metrics(result["metrics"], result["baseline_metrics"])
    registration = result["registration"]
    decision = registration.get("decision") or {}
    console.print(
        f"fairness gate: {'passed' if result['fairness_passed'] else 'FAILED'}; "
        f"version {registration['version']}; "
        f"{'promoted to champion' if decision.get('promoted') else 'not promoted'}"
        f" ({decision.get('reason', 'not registered')})"
    )
