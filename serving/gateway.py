"""Admission of gateway calls: API key, role, rate limit, request id; and their audit records.

Framework-free: failures are :class:`GatewayError` with the HTTP status, message and headers the
ingress turns into the response (401/403 for keys and roles, 429 with ``Retry-After``).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from haste.records import InteractionRecord
from serving.auth import ANONYMOUS, Authenticator, AuthError, Principal
from serving.rate_limit import RateLimiter

MAX_REQUEST_ID = 64
#: A request id: 1 to 64 visible ASCII characters (no spaces, no control characters).
REQUEST_ID_PATTERN = rf"^[!-~]{{1,{MAX_REQUEST_ID}}}$"
REQUEST_ID = re.compile(REQUEST_ID_PATTERN)


class GatewayError(Exception):
    """A refused call: HTTP status, message and extra response headers."""

    def __init__(self, status_code: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True)
class CallContext:
    """An admitted call: who, which request, since when."""

    principal: Principal
    request_id: str
    client_request_id: bool
    started: float = field(default_factory=time.perf_counter)
    #: What answered (``model_version``, ``variant``), for the request metrics.
    labels: dict[str, str] = field(default_factory=dict)

    def elapsed_ms(self) -> int:
        """Return the milliseconds since the call was admitted."""
        return round((time.perf_counter() - self.started) * 1000)

    def interaction(
        self,
        feature: str,
        input_data: dict[str, Any],
        output_data: dict[str, Any],
        model_used: str | None,
        **extra: Any,
    ) -> InteractionRecord:
        """Return the audit record of this call, with the caller's identity filled in.

        Args:
            feature: Endpoint feature (``lead_score``, ``email_compose``...).
            input_data: Request payload (as recorded).
            output_data: Response payload (or the error).
            model_used: Model reference.
            **extra: Other :class:`InteractionRecord` fields (variant, tokens, cost...).

        Returns:
            The record.
        """
        extra.setdefault("response_time_ms", self.elapsed_ms())
        if extra.get("variant"):
            self.labels.setdefault("variant", str(extra["variant"]))
        if model_used and "@v" in model_used:
            self.labels.setdefault("model_version", model_used.rsplit("@v", 1)[1])
        return InteractionRecord(
            interaction_type=feature,
            feature=feature,
            input_data=input_data,
            output_data=output_data,
            model_used=model_used,
            user_id=self.principal.user_id,
            team_id=self.principal.team_id,
            api_key_id=self.principal.api_key_id,
            request_id=self.request_id,
            **extra,
        )

    def refusal(
        self, feature: str, input_data: dict[str, Any], status: int, message: str
    ) -> InteractionRecord:
        """Return the audit record of this call refused with HTTP ``status``."""
        return self.interaction(
            feature, input_data, {"status": status}, None, error_message=f"{status}: {message}"
        )


def read_api_key(headers: Mapping[str, str]) -> str | None:
    """Return the key from ``X-API-Key`` or an ``Authorization: Bearer`` header."""
    key = headers.get("x-api-key")
    if key:
        return key
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def admit_call(
    headers: Mapping[str, str],
    permission: str,
    authenticator: Authenticator | None,
    limiter: RateLimiter,
    default_limit: int,
    default_request_id: str | None = None,
    client_sent: bool | None = None,
) -> CallContext:
    """Authenticate, authorise and rate-limit one call.

    Args:
        headers: Request headers (lower-case names, as Starlette gives them).
        permission: Permission the endpoint needs (see :data:`serving.auth.ROLE_PERMISSIONS`).
        authenticator: Key authenticator (None: authentication is switched off).
        limiter: Rate limiter.
        default_limit: Requests per minute of keys without their own limit.
        default_request_id: Request id when the client sent none (Ray Serve's, so the audit
            trail and the logs share it); a new uuid4 without one.
        client_sent: Whether the client sent the ``X-Request-ID`` (behind Ray's proxy, which
            adds one to every request); None: it did when the header is there.

    Returns:
        The call context.

    Raises:
        GatewayError: 401, 403, 422 (bad request id) or 429 (with ``Retry-After``).
    """
    request_id = headers.get("x-request-id")
    if request_id is not None and not REQUEST_ID.fullmatch(request_id):
        raise GatewayError(
            422, f"X-Request-ID must be 1 to {MAX_REQUEST_ID} visible ASCII characters"
        )
    if authenticator is None:
        principal = ANONYMOUS
    else:
        try:
            principal = authenticator.authenticate(read_api_key(headers))
            principal.require(permission)
        except AuthError as error:
            auth_headers = {"WWW-Authenticate": "ApiKey"} if error.status_code == 401 else {}
            raise GatewayError(error.status_code, error.message, auth_headers) from error
    limit = principal.rate_limit_per_minute or default_limit
    decision = limiter.hit(principal.limit_key, limit)
    if not decision.allowed:
        raise GatewayError(
            429,
            f"rate limit of {limit} requests per minute exceeded for this API key; "
            f"retry in {decision.retry_after_s} s",
            {
                "Retry-After": str(decision.retry_after_s),
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": "0",
            },
        )
    return CallContext(
        principal=principal,
        request_id=request_id or default_request_id or uuid.uuid4().hex,
        client_request_id=request_id is not None if client_sent is None else client_sent,
    )
