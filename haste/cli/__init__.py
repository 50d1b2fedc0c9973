"""The ``haste`` command line (:mod:`haste.cli.main`): one module per command group."""

from haste.cli.main import app, main

__all__ = ["app", "main"]
