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
