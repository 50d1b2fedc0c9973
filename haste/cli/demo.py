"""`haste demo`: the README's first command, end to end."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from haste.cli.common import console, fail
from haste.runtime import import_quietly, quiet_console

app = typer.Typer()


@app.command("demo")
def demo(
    contacts: Annotated[int, typer.Option(help="How many held-out leads to score.")] = 3,
    text_sample: Annotated[
        int,
        typer.Option(
            help="Texts per corpus the text models train on in the demo (0: the whole corpora, "
            "as `haste train-text` does)."
        ),
    ] = 3000,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Show every flow and library log line.")
    ] = False,
) -> None:
    """Run everything end to end: training flows, Ray Serve deployment, real API calls.

    Prints one line per step with its duration and ends with a summary: the models and their
    held-out metrics, the calls and their answers, and where to look (MLflow UI, Prefect UI,
    dashboard). Flow logs still reach the Prefect API; `--verbose` prints them too.
    """
    if not verbose:
        quiet_console()
        for handler in logging.getLogger().handlers:  # keep the console to progress and results
            handler.setLevel(logging.WARNING)
    demo_flow = import_quietly("flows.demo")
    try:
        demo_flow.run_demo(console, contacts, text_sample)
    except Exception as error:  # the demo is the front door: say what broke, plainly
        logging.getLogger(__name__).exception("demo failed")
        fail(f"{type(error).__name__}: {error}")
