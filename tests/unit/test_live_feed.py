"""The dashboard's live feed: SSE formatting, the change cursor, the stream and its route."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx

from haste.db import dispose_engine
from serving.dashboard.live import stream_changes
from serving.dashboard.render import render_dashboard
from serving.dashboard.standalone import create_app
from streaming.live_feed import (
    KEEPALIVE,
    OVERLAP_S,
    FeedCursor,
    change_event,
    changes_after,
    format_sse,
    latest_stream_alerts,
    recent_changes,
)
from tests.support.asgi_server import serve_in_thread
from tests.support.dashboard_seed import add_score_change, seed_stream_data

NOW = dt.datetime.now(dt.UTC)


def _at(seconds: float) -> dt.datetime:
    return NOW + dt.timedelta(seconds=seconds)


def _parse(stream: str) -> list[dict[str, Any]]:
    """Split SSE text into events: their fields (``data`` joined by newlines)."""
    events = []
    for block in stream.split("\n\n"):
        if not block:
            continue
        fields: dict[str, Any] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ") if ": " in line else (line, "", "")
            if name == "data":
                fields["data"] = f"{fields['data']}\n{value}" if "data" in fields else value
            else:
                fields[name] = value
        events.append(fields)
    return events


# --- formatting ------------------------------------------------------------------------------


def test_sse_events_are_formatted_per_the_spec() -> None:
    text = format_sse({"score": 73, "text": "a: b"}, event="score_change", event_id="42")
    assert text == 'id: 42\nevent: score_change\ndata: {"score":73,"text":"a: b"}\n\n'
    assert format_sse("one\ntwo") == "data: one\ndata: two\n\n"
    assert format_sse("") == "data: \n\n"
    assert format_sse("x", event="bad\nname") == "event: bad name\ndata: x\n\n"
    assert KEEPALIVE.startswith(":") and KEEPALIVE.endswith("\n\n")


def test_a_change_event_carries_the_change_message(db_url: str) -> None:
    from streaming.changes import change_message

    message = change_message(add_score_change(db_url))
    (event,) = _parse(change_event(message))
    assert event["event"] == "score_change" and event["id"] == message["change_id"]
    assert json.loads(event["data"]) == message
    assert "\n" not in event["data"]


# --- cursor ----------------------------------------------------------------------------------


def test_the_feed_starts_with_the_latest_changes_then_tails(db_url: str) -> None:
    rows = [add_score_change(db_url, score=s, created_at=_at(-60 + s)) for s in range(25)]
    cursor = FeedCursor()
    recent = recent_changes(db_url, cursor, limit=20)
    assert [m["change_id"] for m in recent] == [str(r.id) for r in rows[5:]]  # oldest first
    assert changes_after(db_url, cursor) == []

    newer = add_score_change(db_url, created_at=_at(1))
    (message,) = changes_after(db_url, cursor)
    assert message["change_id"] == str(newer.id)
    assert message["changed_because"][0]["text"].startswith("+12: replied to email")
    assert changes_after(db_url, cursor) == []


def test_a_change_committed_late_is_still_sent_once(db_url: str) -> None:
    cursor = FeedCursor()
    add_score_change(db_url, created_at=_at(0))
    assert len(changes_after(db_url, cursor)) == 1
    # stamped before the newest change sent, committed after it was polled
    late = add_score_change(db_url, created_at=_at(-OVERLAP_S / 2))
    assert [m["change_id"] for m in changes_after(db_url, cursor)] == [str(late.id)]
    assert changes_after(db_url, cursor) == []


def test_a_poll_returns_at_most_its_limit_in_order(db_url: str) -> None:
    cursor = FeedCursor()
    recent_changes(db_url, cursor)
    rows = [add_score_change(db_url, created_at=_at(i * 0.01)) for i in range(5)]
    batches = [changes_after(db_url, cursor, limit=2) for _ in range(4)]
    assert [len(b) for b in batches] == [2, 2, 1, 0]
    sent = [m["change_id"] for batch in batches for m in batch]
    assert sent == [str(r.id) for r in rows]


def test_stream_alerts_are_read_newest_first(db_url: str, tmp_path: Path) -> None:
    assert latest_stream_alerts(db_url) == []
    seed_stream_data(db_url)
    alerts = latest_stream_alerts(db_url)
    assert [a["kind"] for a in alerts] == ["score_drift", "group_gap"]
    assert alerts[0]["value"] == 0.27 and alerts[0]["threshold"] == 0.2
    html = render_dashboard(db_url, tmp_path / "reports")
    for section in ('id="live-feed"', 'id="live-feed-list"', 'id="stream-alerts"'):
        assert section in html
    assert "score drift" in html and "group gap" in html and "0.270" in html


def test_the_dashboard_renders_without_the_streaming_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'blank.db'}"
    try:
        html = render_dashboard(url, tmp_path)
        assert 'id="stream-alerts"' in html and "stream_alerts:" in html
    finally:
        dispose_engine(url)


# --- the stream ------------------------------------------------------------------------------


class FakeRequest:
    """A viewer that stays for ``polls`` disconnect checks, then leaves."""

    def __init__(self, polls: int, on_poll: Any = None) -> None:
        self.polls = polls
        self.on_poll = on_poll
        self.checks = 0

    async def is_disconnected(self) -> bool:
        self.checks += 1
        if self.on_poll is not None:
            await asyncio.to_thread(self.on_poll, self.checks)
        return self.checks > self.polls


def _collect(request: FakeRequest, url: str, keepalive_s: float) -> list[str]:
    async def run() -> list[str]:
        return [
            chunk
            async for chunk in stream_changes(request, url, poll_s=0.01, keepalive_s=keepalive_s)
        ]

    return asyncio.run(run())


def test_the_stream_sends_recent_new_and_keepalives_until_the_viewer_leaves(db_url: str) -> None:
    old = add_score_change(db_url, created_at=_at(-5))
    added = []

    def add_one(check: int) -> None:
        if check == 2:
            added.append(add_score_change(db_url, created_at=_at(0)))

    request = FakeRequest(polls=4, on_poll=add_one)
    chunks = _collect(request, db_url, keepalive_s=0.0)
    assert chunks[0] == "retry: 3000\n\n"
    events = _parse("".join(chunks[1:]))
    ids = [e["id"] for e in events if e.get("event") == "score_change"]
    assert ids == [str(old.id), str(added[0].id)]
    assert KEEPALIVE in chunks  # silent polls send a keep-alive comment
    assert request.checks == 5  # stopped at the first check after the viewer left


def test_no_keepalive_before_its_time(db_url: str) -> None:
    chunks = _collect(FakeRequest(polls=3), db_url, keepalive_s=60.0)
    assert chunks == ["retry: 3000\n\n"]


def test_the_live_route_streams_over_http(db_url: str, tmp_path: Path) -> None:
    add_score_change(db_url, previous_score=62, score=71)
    with serve_in_thread(create_app(db_url, tmp_path), "live feed") as port:
        url = f"http://127.0.0.1:{port}/dashboard/live"
        with httpx.Client(timeout=10) as client, client.stream("GET", url) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            received = ""
            for text in response.iter_text():
                received += text
                if "event: score_change" in received and received.endswith("\n\n"):
                    break
    (event,) = [e for e in _parse(received) if e.get("event") == "score_change"]
    message = json.loads(event["data"])
    assert (message["previous_score"], message["score"], message["band"]) == (62, 71, "hot")
    assert message["band_crossed"] is True
