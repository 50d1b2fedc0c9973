"""Body-size limits per path: upload routes (recordings) get their own, larger, limit.

The gateway refuses bodies over ``limits.max_body_bytes`` (256 KiB) before reading them; an
audio upload of several MB would never get in. :class:`PathBodySizeLimits` applies a
configured limit to named upload paths and the gateway's limit to every other path, each
answered 413 with the setting to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from serving.middleware import BodySizeLimit


class UploadBodySizeLimit(BodySizeLimit):
    """A :class:`BodySizeLimit` whose 413 names the upload setting that bounds it.

    Args:
        app: The wrapped app.
        max_bytes: Largest body accepted.
        setting: Where the limit is configured (named in the 413).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, setting: str) -> None:
        super().__init__(app, max_bytes)
        self.setting = setting

    def message(self) -> dict[str, Any]:
        """Return the 413 body."""
        return {"detail": f"the upload is larger than {self.max_bytes} bytes ({self.setting})"}


class PathBodySizeLimits:
    """Apply an upload limit to the listed paths and ``max_bytes`` to all others.

    Args:
        app: The wrapped app.
        max_bytes: The gateway's limit (``limits.max_body_bytes``).
        uploads: Path -> ``(max_bytes, setting)`` of each upload route.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        uploads: Mapping[str, tuple[int, str]] | None = None,
    ) -> None:
        self.default = BodySizeLimit(app, max_bytes)
        self.uploads = {
            path: UploadBodySizeLimit(app, limit, setting)
            for path, (limit, setting) in (uploads or {}).items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pick the limit of the request's path."""
        limiter = self.uploads.get(scope.get("path", "")) if scope["type"] == "http" else None
        await (limiter or self.default)(scope, receive, send)
