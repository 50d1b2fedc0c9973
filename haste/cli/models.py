"""`haste models`: inspect registered models and roll a champion back."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from haste.cli.common import console, fail
from haste.settings import get_settings

app = typer.Typer(help="Inspect, promote and roll back registered models.")


@app.command("list")
def models_list(name: Annotated[str, typer.Argument(help="Model name.")] = "lead_scoring") -> None:
    """List the registered versions of a model with their aliases and primary metric."""
    from training.registry import configure_mlflow

    client = configure_mlflow(get_settings())
    table = Table(title=f"{name} versions")
    for column in ("version", "aliases", "roc_auc", "accuracy", "created"):
        table.add_column(column)
    for version in sorted(
        client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version)
    ):
        metrics = client.get_run(version.run_id).data.metrics
        table.add_row(
            str(version.version),
            ",".join(version.aliases),
            f"{metrics.get('roc_auc', float('nan')):.4f}",
            f"{metrics.get('accuracy', float('nan')):.4f}",
            str(version.creation_timestamp),
        )
    console.print(table)


@app.command("rollback")
def models_rollback(
    name: Annotated[str, typer.Argument(help="Model name.")] = "lead_scoring",
) -> None:
    """Give the champion alias back to the version the current champion replaced."""
    from training.registry import NoChampionError, configure_mlflow, rollback_champion

    client = configure_mlflow(get_settings())
    try:
        old, new = rollback_champion(client, name)
    except NoChampionError as error:
        fail(str(error))
    console.print(f"{name}: champion rolled back from v{old} to v{new}")
    console.print("a running API serves it after `haste ab reload` (no restart)")
