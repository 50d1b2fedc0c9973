"""What ``haste demo`` prints: one line per step with its duration, then a summary.

:class:`DemoReport` times each step (a spinner runs while a phase is busy) and prints
``✔ 3/9 label  12.3 s  detail`` when it ends, from whichever thread ran it; it collects the
models trained and the API calls made, and prints them as tables at the end with where to look
next (MLflow UI, Prefect UI, the dashboard).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table


@dataclass
class StepResult:
    """A finished step: its label, duration and a one-line result."""

    label: str
    seconds: float
    detail: str = ""


@dataclass
class ModelRow:
    """A model the demo trained, for the summary table."""

    name: str
    version: str
    metric: str
    baseline: str
    data: str


@dataclass
class CallRow:
    """An API call the demo made, for the summary table."""

    method: str
    path: str
    status: int
    ms: float
    summary: str


@dataclass
class DemoReport:
    """Progress lines and the final summary of the demo.

    Args:
        console: Where to print.
        total_steps: Number of steps (for ``n/N``).
    """

    console: Console
    total_steps: int
    steps: list[StepResult] = field(default_factory=list)
    models: list[ModelRow] = field(default_factory=list)
    calls: list[CallRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def phase(self, label: str) -> Iterator[None]:
        """Show a spinner while a phase (one or more concurrent steps) runs."""
        with self.console.status(f"[bold]{label}[/] ..."):
            yield

    @contextmanager
    def step(self, label: str) -> Iterator[StepResult]:
        """Time one step; print its line with the duration when it ends (thread-safe).

        Yields:
            The step's result; set ``detail`` to say what it produced.
        """
        result = StepResult(label, 0.0)
        began = time.perf_counter()
        try:
            yield result
        except BaseException:
            self.console.print(
                f"[bold red]✘[/] {label} [dim]failed after {time.perf_counter() - began:.1f} s[/]"
            )
            raise
        result.seconds = time.perf_counter() - began
        with self._lock:
            self.steps.append(result)
            number = len(self.steps)
        self.console.print(
            f"[green]✔[/] [bold]{number}/{self.total_steps}[/] {label:<44} "
            f"[cyan]{result.seconds:6.1f} s[/]  {result.detail}"
        )

    def call(
        self, client: httpx.Client, method: str, path: str, summarize: Any = None, **kwargs: Any
    ) -> httpx.Response:
        """Make one API call and record its status, latency and a one-line summary."""
        began = time.perf_counter()
        response = client.request(method, path, **kwargs)
        ms = (time.perf_counter() - began) * 1000
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400 or summarize is None:
            summary = str(body.get("detail", ""))[:70] if isinstance(body, dict) else ""
        else:
            summary = summarize(body)
        self.calls.append(CallRow(method, path, response.status_code, ms, summary))
        return response

    def elapsed(self) -> float:
        """Return the seconds since the demo started."""
        return time.perf_counter() - self.started

    def print_summary(self, where: dict[str, str]) -> None:
        """Print the models, the API calls, where to look next, and the total time."""
        models = Table(title="Models trained and registered (MLflow)", title_justify="left")
        for column in ("model", "version", "held-out metric", "baseline", "data"):
            models.add_column(column)
        for row in self.models:
            models.add_row(row.name, row.version, row.metric, row.baseline, row.data)
        calls = Table(title="API calls (Ray Serve gateway)", title_justify="left")
        for column in ("call", "status", "ms", "answer"):
            calls.add_column(column, overflow="fold")
        for row in self.calls:
            style = "green" if row.status < 400 else "yellow"
            calls.add_row(
                f"{row.method} {row.path}",
                f"[{style}]{row.status}[/]",
                f"{row.ms:.0f}",
                row.summary,
            )
        self.console.print(models)
        self.console.print(calls)
        look = Table(title="Where to look", title_justify="left", show_header=False)
        look.add_column("what", style="bold")
        look.add_column("how")
        for what, how in where.items():
            look.add_row(what, how)
        self.console.print(look)
        for note in self.notes:
            self.console.print(f"[dim]note:[/] {note}")
        slowest = max(self.steps, key=lambda step: step.seconds, default=None)
        self.console.print(
            f"[bold green]Demo finished in {self.elapsed():.0f} s[/] "
            f"({len(self.steps)} steps"
            + (f"; slowest: {slowest.label} {slowest.seconds:.0f} s" if slowest else "")
            + ")."
        )


def format_metric(metrics: dict[str, Any], key: str, label: str | None = None) -> str:
    """Return ``label value`` for a metric, or ``-`` when it is missing."""
    value = metrics.get(key)
    if value is None:
        return "-"
    return f"{label or key} {float(value):.4f}"
