"""Real-time engine commands: ``haste events replay | status | consume | dead-letters``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from haste.cli.common import console, fail
from haste.settings import get_settings

app = typer.Typer(
    help=(
        "Real-time scoring engine: replay the CRM's activity as events, watch the queues, "
        "run a consumer outside Ray, inspect dead letters (RabbitMQ at HASTE_BROKER_URL)."
    ),
    no_args_is_help=True,
)


def _config() -> Any:
    from streaming.config import load_streaming_config

    return load_streaming_config(namespace=get_settings().stream_namespace)


@app.command("replay")
def replay(
    rate: Annotated[
        float,
        typer.Option("--rate", "-r", min=0, help="Events per second (0: as fast as confirmed)."),
    ] = 200.0,
    since: Annotated[
        dt.datetime | None, typer.Option(help="First event time (UTC), e.g. 2026-02-01.")
    ] = None,
    until: Annotated[
        dt.datetime | None, typer.Option(help="Events before this time (UTC).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many events.")] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="New event ids stamped now (the activity happens again); without it a replayed "
            "window is applied once, however often replayed.",
        ),
    ] = False,
) -> None:
    """Replay the synthetic CRM's activity (emails, web, social, meetings) as a stream.

    Events go to the broker in time order, paced at --rate; the consumers (``haste serve``, or
    ``haste events consume``) rescore each contact and store the scores that moved.
    """
    from pipelines.stages import PipelinePaths
    from pipelines.synthetic_store import read_crm
    from streaming.broker import BrokerUnavailableError, RabbitBroker
    from streaming.replay import activity_frame, replay_events, select_window, to_events

    settings = get_settings()
    crm_dir = PipelinePaths(settings.data_dir).crm_dir
    if not crm_dir.exists():
        fail(f"no synthetic CRM at {crm_dir}: run `haste demo` or `haste pipeline run` first")
    frame = select_window(activity_frame(read_crm(crm_dir)), since, until, limit)
    if frame.empty:
        fail("no events in that window")
    events = list(to_events(frame, fresh=fresh))
    first, last = frame["occurred_at"].iloc[0], frame["occurred_at"].iloc[-1]
    console.print(f"replaying {len(events):,} events ({first:%Y-%m-%d} .. {last:%Y-%m-%d})")

    async def run() -> dict[str, float]:
        broker = RabbitBroker(settings.broker_url, _config())
        await broker.connect()
        try:
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("published (confirmed)", total=len(events))
                return await replay_events(
                    broker, events, rate, progress=lambda n: progress.advance(task, n)
                )
        finally:
            await broker.close()

    try:
        result = asyncio.run(run())
    except BrokerUnavailableError as error:
        fail(str(error))
    console.print(
        f"published {result['events']:,} events in {result['seconds']:.1f} s "
        f"({result['events_per_s']:,.0f}/s); `haste events status` shows the consumers' progress"
    )


@app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Queue depth per partition, dead letters, consumer lag, score changes and alerts."""
    from streaming.broker import BrokerUnavailableError, RabbitBroker
    from streaming.status import stream_status

    settings = get_settings()

    async def run() -> dict[str, Any]:
        broker = RabbitBroker(settings.broker_url, _config())
        try:
            return await stream_status(broker, settings.database_url)
        finally:
            await broker.close()

    try:
        report = asyncio.run(run())
    except BrokerUnavailableError as error:
        fail(str(error))
    if as_json:
        console.print_json(json.dumps(report, default=str))
        return
    table = Table(title="Partition queues")
    for column in ("queue", "ready", "consumers"):
        table.add_column(column, justify="right" if column != "queue" else "left")
    for name, queue in report["partitions"].items():
        table.add_row(name, str(queue["ready"]), str(queue["consumers"]))
    console.print(table)
    console.print(
        f"queued {report['queued']:,} | dead letters {report['dead_letters']:,} | "
        f"webhook queue {report['webhook_queue']:,}\n"
        f"applied {report['events_applied']:,} events ({report['events_last_minute']:,} in the "
        f"last minute; outcomes {report['outcomes']}) | last commit {report['last_commit']}\n"
        f"lag publish -> commit: p50 {report['lag_ms_p50']} ms, p99 {report['lag_ms_p99']} ms | "
        f"{report['score_changes']:,} score changes, {report['band_crossings']:,} band crossings"
    )
    if report["alerts"]:
        alerts = Table(title="Streaming alerts (configs/monitoring.yaml: streaming)")
        for column in ("time", "kind", "value", "threshold", "window"):
            alerts.add_column(column)
        for alert in report["alerts"]:
            alerts.add_row(
                str(alert["created_at"])[:19],
                alert["kind"],
                f"{alert['value']:.3f}",
                f"{alert['threshold']:.3f}",
                str(alert["window_size"]),
            )
        console.print(alerts)
    else:
        console.print("no streaming alerts")


@app.command("consume")
def consume(
    rank: Annotated[int, typer.Option(min=0, help="This consumer's index.")] = 0,
    world_size: Annotated[int, typer.Option(min=1, help="Number of consumers.")] = 1,
) -> None:
    """Run one rescoring consumer in this process (no Ray) until Ctrl-C.

    ``haste serve`` runs the consumers as the EventConsumer deployment; this command is the
    same loop for development, debugging and the streaming benchmark.
    """
    import signal

    from streaming.service import StreamService

    settings = get_settings()

    async def run() -> None:
        service = StreamService(settings, _config(), rank, world_size)
        service.start()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, service.stop.set)
        console.print(f"consuming as {rank}/{world_size} (Ctrl-C stops after the current batch)")
        await service.stop.wait()
        await service.close()
        console.print(f"stopped: {service.consumer.stats.as_dict()}")

    asyncio.run(run())


@app.command("dead-letters")
def dead_letters(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Messages to show.")] = 20,
) -> None:
    """Show dead-lettered events with their reasons (they stay on the queue)."""
    from streaming.dead_letters import peek_dead_letters

    settings = get_settings()
    rows = asyncio.run(peek_dead_letters(settings.broker_url, _config(), limit))
    if not rows:
        console.print("the dead-letter queue is empty")
        return
    table = Table(title=f"Dead letters (first {len(rows)})")
    for column in ("reason", "event"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["reason"], row["body"][:200])
    console.print(table)
