"""The real-time engine against the real RabbitMQ and PostgreSQL: delivery guarantees.

Each test gets its own broker namespace (its own exchanges and queues) and a fresh PostgreSQL
database; the consumers rescore with a small real XGBoost model (tests.support.stream_fixtures).
What is checked after every scenario: each published event is applied exactly once (one
``stream_events`` row, the contact's counters equal the events sent), no contact's chain of
scores has a gap (events of a contact were applied in order), malformed and unknown-contact
events sit on the dead-letter queue with their reason.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest
from sqlalchemy import func, select

from haste.db import upgrade_database
from haste.db.session import session_scope
from haste.db.stream_tables import ContactStreamState, ScoreChange, StreamEvent
from haste.settings import get_settings
from streaming.broker import BrokerUnavailableError, RabbitBroker, delete_topology
from streaming.config import StreamingConfig, load_streaming_config
from streaming.dead_letters import peek_dead_letters
from streaming.events import CRMEvent
from tests.support.stream_fixtures import add_contacts, make_events, toy_consumer

ROOT = Path(__file__).resolve().parents[2]
BROKER_URL = get_settings().broker_url


def _broker_up() -> bool:
    async def probe() -> None:
        connection = await aio_pika.connect(BROKER_URL, timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except Exception:
        return False
    return True


@pytest.fixture()
def config() -> Iterator[StreamingConfig]:
    """A namespace of its own on the real broker (deleted afterwards)."""
    if not _broker_up():
        message = f"RabbitMQ unreachable at {BROKER_URL} (make services starts it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    config = load_streaming_config(namespace=f"t{uuid.uuid4().hex[:10]}")
    yield config
    asyncio.run(delete_topology(BROKER_URL, config))


@pytest.fixture()
def db(pg_url: str) -> str:
    upgrade_database(pg_url)
    return pg_url


async def _publish(config: StreamingConfig, events: list[CRMEvent], retry_s: float = 0) -> None:
    """Publish in batches of 200; with ``retry_s``, retry a refused batch until then."""
    broker = RabbitBroker(BROKER_URL, config)
    deadline = time.monotonic() + retry_s
    try:
        for start in range(0, len(events), 200):
            while True:
                try:
                    await broker.publish_events(events[start : start + 200])
                    break
                except BrokerUnavailableError:
                    if time.monotonic() > deadline:
                        raise
                    await broker.close()
                    await asyncio.sleep(1)
    finally:
        await broker.close()


def _applied(db: str) -> int:
    with session_scope(db) as session:
        return session.scalar(select(func.count()).select_from(StreamEvent)) or 0


async def _wait_applied(db: str, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _applied(db) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {_applied(db)} of {count} events applied in {timeout_s}s")
        await asyncio.sleep(0.3)


def assert_exactly_once(db: str, events: list[CRMEvent]) -> None:
    """Every event applied once; counters equal the events sent; score chains have no gap."""
    sent = {e.event_id: e for e in events}
    per_contact = collections.Counter(
        e.contact_id for e in sent.values() if e.event_type != "meeting_booked"
    )
    replies = collections.Counter(
        e.contact_id for e in sent.values() if e.event_type == "email_replied"
    )
    order = {event_id: i for i, event_id in enumerate(sent)}
    with session_scope(db) as session:
        applied = session.scalars(select(StreamEvent.event_id)).all()
        assert len(applied) == len(set(applied)) == len(sent)
        assert set(applied) == set(sent)
        for state in session.scalars(select(ContactStreamState)):
            assert state.events_applied == per_contact[state.contact_id]
            assert state.features["email_replies"] == replies[state.contact_id]
        chains: dict[uuid.UUID, list[ScoreChange]] = collections.defaultdict(list)
        for change in session.scalars(select(ScoreChange)):
            chains[change.contact_id].append(change)
        for changes in chains.values():
            changes.sort(key=lambda c: order[c.event_id])
            trail = [(order[c.event_id], c.event_type, c.previous_score, c.score) for c in changes]
            for before, after in itertools.pairwise(changes):
                assert after.previous_score == before.score, f"events ran out of order: {trail}"


def _run(coroutine_factory, timeout_s: float = 180):
    return asyncio.run(asyncio.wait_for(coroutine_factory(), timeout_s))


def test_events_are_applied_once_in_order_even_when_sent_twice(
    config: StreamingConfig, db: str
) -> None:
    contacts = add_contacts(db, 40)
    events = make_events(contacts, per_contact=25)

    async def scenario() -> None:
        stop = asyncio.Event()
        consumers = [toy_consumer(db, BROKER_URL, config, rank, 2) for rank in range(2)]
        tasks = [asyncio.create_task(c.run(stop)) for c in consumers]
        await _publish(config, events)
        await _publish(config, events[:300])  # a client retrying: duplicates
        await _wait_applied(db, len(events), 90)
        await asyncio.sleep(1.0)  # let the duplicates arrive (they must change nothing)
        stop.set()
        await asyncio.gather(*tasks)
        assert sum(c.stats.duplicates for c in consumers) == 300

    _run(scenario)
    assert_exactly_once(db, events)
    with session_scope(db) as session:
        assert session.scalar(select(func.count()).select_from(ScoreChange)) > 0


def test_bad_events_are_dead_lettered_with_their_reason_and_never_block(
    config: StreamingConfig, db: str
) -> None:
    contacts = add_contacts(db, 5)
    good = make_events(contacts, per_contact=10)
    stranger = make_events([uuid.uuid4()], per_contact=1)

    async def scenario() -> list[dict]:
        stop = asyncio.Event()
        consumer = toy_consumer(db, BROKER_URL, config)
        task = asyncio.create_task(consumer.run(stop))
        broker = RabbitBroker(BROKER_URL, config)
        await broker.connect()
        for body in (b"not json", b'{"event_id": "x1", "event_type": "page_view"}'):
            await broker.exchanges["events"].publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key="0",
            )
        await broker.close()
        await _publish(config, stranger + good)
        await _wait_applied(db, len(good), 60)
        stop.set()
        await task
        return await peek_dead_letters(BROKER_URL, config, 10)

    letters = _run(scenario)
    reasons = sorted(letter["reason"] for letter in letters)
    assert len(reasons) == 3, reasons
    assert any(r.startswith("not JSON") for r in reasons)
    assert any(r.startswith("invalid event") and "contact_id" in r for r in reasons)
    assert "unknown contact: not in the CRM" in reasons
    assert_exactly_once(db, good)


def test_a_consumer_killed_mid_stream_loses_and_doubles_nothing(
    config: StreamingConfig, db: str
) -> None:
    contacts = add_contacts(db, 60)
    events = make_events(contacts, per_contact=40)  # 2,400 events
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HASTE_BROKER_URL": BROKER_URL}
    victim = subprocess.Popen(
        [sys.executable, "-m", "tests.support.stream_fixtures", db, config.namespace],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        async def scenario() -> None:
            publishing = asyncio.create_task(_publish(config, events))
            deadline = time.monotonic() + 90
            while _applied(db) < 300:  # killed under load, mid-stream
                assert time.monotonic() < deadline, "the victim consumer never got going"
                assert victim.poll() is None, "the victim consumer exited early"
                await asyncio.sleep(0.05)
            victim.send_signal(signal.SIGKILL)
            killed_at = _applied(db)
            stop = asyncio.Event()
            survivor = toy_consumer(db, BROKER_URL, config)
            task = asyncio.create_task(survivor.run(stop))
            await publishing
            await _wait_applied(db, len(events), 120)
            await asyncio.sleep(1.0)
            stop.set()
            await task
            assert killed_at < len(events), "the victim finished before it was killed"

        _run(scenario)
    finally:
        if victim.poll() is None:
            victim.kill()
        victim.wait()
    assert_exactly_once(db, events)


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, timeout=120, capture_output=True)


def test_a_broker_restart_loses_and_doubles_nothing(config: StreamingConfig, db: str) -> None:
    contacts = add_contacts(db, 30)
    events = make_events(contacts, per_contact=40)  # 1,200 events
    half = len(events) // 2

    async def scenario() -> None:
        stop = asyncio.Event()
        consumer = toy_consumer(db, BROKER_URL, config)
        task = asyncio.create_task(consumer.run(stop))
        await _publish(config, events[:half])  # confirmed: on disk in the quorum queues
        await asyncio.to_thread(_rabbitmqctl, "stop_app")
        try:
            with pytest.raises(BrokerUnavailableError):
                await _publish(config, events[half : half + 10])
        finally:
            await asyncio.to_thread(_rabbitmqctl, "start_app")
        await _publish(config, events[half:], retry_s=60)  # the sender retries refused ones
        await _wait_applied(db, len(events), 150)
        await asyncio.sleep(1.0)
        stop.set()
        await task

    try:
        _run(scenario, timeout_s=300)
    finally:
        subprocess.run(["bash", str(ROOT / "scripts/start-services.sh")], check=False, timeout=120)
    assert_exactly_once(db, events)
