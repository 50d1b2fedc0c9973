"""`haste serve`'s stop path: SIGINT and SIGTERM both drain; a taken metrics port is skipped."""

from __future__ import annotations

import os
import signal
import socket
import threading

import pytest

from serving import runner


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_either_signal_drains_then_returns(
    number: signal.Signals, monkeypatch: pytest.MonkeyPatch
) -> None:
    drained: list[bool] = []
    monkeypatch.setattr(runner, "stop_serving", lambda drain=False: drained.append(drain))
    saved = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM)}
    said: list[str] = []
    timer = threading.Timer(0.3, os.kill, (os.getpid(), number))
    timer.start()
    try:
        received = runner.serve_until_signalled("http://x", grace_s=1, announce=said.append)
    finally:
        timer.cancel()
        for n, handler in saved.items():
            signal.signal(n, handler)
    assert received == number.name
    assert drained == [True]
    assert "draining" in said[-1]


def test_a_taken_metrics_port_lets_ray_pick() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        assert runner.metrics_port(port) is None
    assert runner.metrics_port(port) == port
    assert runner.metrics_port(0) is None


def test_the_proxy_marks_only_client_sent_request_ids() -> None:
    import asyncio

    from serving.proxy_middleware import CLIENT_ID_MARK, MarkClientRequestId

    seen: list[list[tuple[bytes, bytes]]] = []

    async def app(scope, receive, send) -> None:
        seen.append(scope["headers"])

    async def run(headers: list[tuple[bytes, bytes]]) -> None:
        await MarkClientRequestId(app)({"type": "http", "headers": headers}, None, None)

    asyncio.run(run([(b"x-request-id", b"r1")]))
    asyncio.run(run([(CLIENT_ID_MARK, b"1")]))  # a client cannot forge the mark
    assert (CLIENT_ID_MARK, b"1") in seen[0]
    assert seen[1] == []
