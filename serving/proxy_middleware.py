"""Middleware of Ray Serve's HTTP proxy: mark the requests whose client sent a request id.

Ray's proxy gives every request an ``X-Request-ID`` (its own when the client sent none), so
behind it the gateway cannot tell a client's idempotency key from a generated id. This ASGI
middleware runs in the proxy *before* Ray's request-id middleware (Ray applies the middlewares
of ``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH`` outside its own) and adds
``X-Haste-Client-Request-Id: 1`` when the client sent one; a client-sent marker is dropped.
Only marked requests are claimed in ``idempotency_keys``; the others skip that write.

``serving.runner.start_serving`` sets the variable for the local Ray it starts; a cluster
started with ``ray start`` needs it in the environment of its nodes (see the README).
"""

from __future__ import annotations

import os

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

#: The environment variable Ray reads, and our callback's import path.
PROXY_CALLBACK_ENV = "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"
PROXY_CALLBACK = "serving.proxy_middleware:proxy_middlewares"
#: Header the proxy adds when the client sent ``X-Request-ID``.
CLIENT_ID_MARK = b"x-haste-client-request-id"


class MarkClientRequestId:
    """Add :data:`CLIENT_ID_MARK` to requests that arrive with an ``X-Request-ID``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rewrite the headers of HTTP requests, pass everything else through."""
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope.get("headers") or [] if k != CLIENT_ID_MARK]
            if any(key == b"x-request-id" for key, _ in headers):
                headers.append((CLIENT_ID_MARK, b"1"))
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


def proxy_middlewares() -> list[Middleware]:
    """Return the proxy's middlewares (Ray calls this in each proxy actor)."""
    return [Middleware(MarkClientRequestId)]


def proxy_marks_client_ids() -> bool:
    """Return whether this Ray's proxies run :class:`MarkClientRequestId`."""
    return os.environ.get(PROXY_CALLBACK_ENV) == PROXY_CALLBACK
