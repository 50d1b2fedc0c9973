"""The ``haste`` command line, one module per command group.

Heavy libraries (Prefect, MLflow, Ray) are imported inside the commands, so ``--help`` is fast
and the kernel never imports the platform at import time.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

import haste.cli.batch as batch
import haste.cli.content as content
import haste.cli.database as database
import haste.cli.demo as demo
import haste.cli.events as events
import haste.cli.gaming as gaming
import haste.cli.governance as governance
import haste.cli.insights as insights
import haste.cli.keys as keys
import haste.cli.ledger as ledger
import haste.cli.llm as llm
import haste.cli.models as models
import haste.cli.pipeline as pipeline
import haste.cli.serving as serving
import haste.cli.training as training
import haste.cli.workflows as workflows
from haste.runtime import NOISY_LOGGERS, configure_runtime_env
from haste.settings import get_settings

app = typer.Typer(
    help="hasteCRM AI platform: train, audit, register and serve CRM models.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(database.app, name="db")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(models.app, name="models")
app.add_typer(keys.app, name="keys")
app.add_typer(events.app, name="events")
app.add_typer(workflows.app, name="workflows")
app.add_typer(content.app, name="content")
app.add_typer(insights.app, name="insights")
app.add_typer(ledger.app, name="ledger")
app.add_typer(gaming.app, name="gaming")
for group in (training, governance, llm, serving, demo, batch):
    app.add_typer(group.app)


@app.callback()
def configure(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Configure logging and the embedded services' environment for every command."""
    configure_runtime_env()
    level = logging.DEBUG if verbose else get_settings().log_level
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
        force=True,
    )
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main() -> None:
    """Entry point for ``python -m haste``."""
    app(prog_name="haste")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
