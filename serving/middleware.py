"""ASGI middleware of the gateway: a body-size limit and one JSON access-log line per request.

Both are plain ASGI (no Starlette ``BaseHTTPMiddleware``), so they cost no extra task per
request and see the body as it streams in.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.metrics import observe_request

#: Serve's logger: its JSON lines add the replica, deployment and Serve request id.
access_logger = logging.getLogger("ray.serve")


class BodyTooLargeError(HTTPException):
    """The request body streamed past the limit (an HTTP 413 the app's handlers answer)."""

    def __init__(self, detail: str) -> None:
        super().__init__(status_code=413, detail=detail)


async def send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    """Send a whole JSON answer (for refusals made before the app runs)."""
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class BodySizeLimit:
    """Answer 413 to a request whose body is larger than ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before any byte is read (one
    within it is passed through: the server delivers no more than it declares); a chunked
    body is counted as it arrives and refused once it passes the limit.

    Args:
        app: The wrapped app.
        max_bytes: Largest body accepted.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def message(self) -> dict[str, Any]:
        """Return the 413 body."""
        return {
            "detail": f"request body is larger than {self.max_bytes} bytes (limits.max_body_bytes)"
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count the streamed bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_bytes:
                await send_json(send, 413, self.message())
                return
            if b"transfer-encoding" not in headers:
                # The server delivers exactly the declared bytes: nothing left to count.
                await self.app(scope, receive, send)
                return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError(self.message()["detail"])
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLargeError:
            if not started:
                await send_json(send, 413, self.message())


class AccessLog:
    """Log one JSON line per request and count it in the request metrics.

    The line has the request id, method, path, status, duration and caller; the metrics the
    route template, status, model version and A/B variant (:mod:`serving.metrics`).

    The request id is the one of the audit trail (``ai_interactions.request_id``) and of Ray
    Serve's own JSON logs, so a request can be followed from the proxy to every deployment.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and log it when its answer starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        finally:
            state = scope.get("state") or {}
            call = state.get("call")
            entry = {
                "event": "request",
                "request_id": getattr(call, "request_id", None) or header(scope, b"x-request-id"),
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "api_key_id": str(call.principal.api_key_id) if call is not None else None,
            }
            level = logging.WARNING if status >= 500 else logging.INFO
            access_logger.log(level, json.dumps(entry))
            route = scope.get("route")
            labels = getattr(call, "labels", None) or {}
            observe_request(
                getattr(route, "path", None) or "unmatched",
                status,
                entry["duration_ms"],
                labels.get("model_version", "none"),
                labels.get("variant", "none"),
            )


def header(scope: Scope, name: bytes) -> str | None:
    """Return a request header's value (first occurrence) as text."""
    for key, value in scope.get("headers") or []:
        if key == name:
            return value.decode("latin-1")
    return None
