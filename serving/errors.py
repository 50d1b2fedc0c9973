"""One error model for every route of the gateway.

Every refusal is ``{"detail": "<message>"}`` with its HTTP status; invalid input (422) adds
``errors``, one ``{"field", "message"}`` per bad field. :data:`ERROR_RESPONSES` documents these
in the OpenAPI schema, so generated clients know every status a route can answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from serving.metrics import count_dependency_error


class ApiError(HTTPException):
    """A refused call: HTTP status, message and extra response headers."""

    def __init__(self, status_code: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(status_code=status_code, detail=message, headers=headers or None)
        self.message = message


class FieldError(BaseModel):
    """One invalid field of a request."""

    field: str = Field(description="Dotted path of the field (``body`` for the whole body).")
    message: str


class ErrorResponse(BaseModel):
    """The body of every error answer."""

    detail: str = Field(description="What went wrong, in words.")
    errors: list[FieldError] | None = Field(None, description="Invalid fields (422 only).")


_DESCRIPTIONS = {
    400: "The body could not be read (not UTF-8 / not JSON text).",
    401: "Missing or unknown API key.",
    403: "The key's role lacks the permission, or the contact refused AI processing.",
    404: "The contact, deal, account or record does not exist.",
    409: "A request with this `X-Request-ID` is still running (see `Retry-After`), or the "
    "change conflicts with stored state (a workflow name taken, a review already decided).",
    413: "The body is larger than the gateway's limit (`limits.max_body_bytes`).",
    422: "Invalid input (`errors` names each bad field), or an `X-Request-ID` reused for "
    "another request.",
    429: "Rate limit of the key exceeded (see `Retry-After`).",
    503: "A model, deployment or dependency (database, broker) is unavailable or over its "
    "time budget; retry after `Retry-After` seconds.",
}

#: Seconds a client is asked to wait after a 503 from an unavailable dependency.
RETRY_AFTER_S = 5

logger = logging.getLogger("ray.serve")

#: OpenAPI ``responses`` of the error statuses every admitted route may answer.
ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"model": ErrorResponse, "description": text} for status, text in _DESCRIPTIONS.items()
}


async def answer_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """Answer invalid input with a 422 whose ``detail`` names each bad field."""
    problems = [
        {
            "field": ".".join(str(part) for part in issue["loc"][1:]) or "body",
            "message": issue["msg"],
        }
        for issue in error.errors()
    ]
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return JSONResponse(
        status_code=422, content={"detail": f"invalid request: {summary}", "errors": problems}
    )


def dependency_errors() -> dict[type[BaseException], tuple[str, str]]:
    """Return the exceptions meaning "a dependency is down": (dependency, what to tell)."""
    from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError
    from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    from streaming.broker import BrokerUnavailableError

    database = ("database", "the CRM database is unavailable")
    redis = ("redis", "the cache/rate-limit store is unavailable")
    deployment = ("deployment", "a model deployment is unavailable or over capacity")
    return {
        OperationalError: database,
        InterfaceError: database,
        DisconnectionError: database,
        PoolTimeoutError: database,
        RedisConnectionError: redis,
        RedisTimeoutError: redis,
        ActorDiedError: deployment,
        ActorUnavailableError: deployment,
        DeploymentUnavailableError: deployment,
        BackPressureError: deployment,
        GetTimeoutError: ("deployment", "a model deployment did not answer within its time budget"),
        BrokerUnavailableError: (
            "broker",
            "the message broker is unavailable; nothing was accepted",
        ),
    }


def install_error_handlers(api: FastAPI) -> None:
    """Register the error model's handlers on an app.

    Invalid input is a 422 naming each field; a dependency that is down (database, Redis, a
    deployment) is a 503 with ``Retry-After``, logged once per request, never a 500.
    """
    api.add_exception_handler(RequestValidationError, answer_validation_error)
    api.add_exception_handler(405, answer_method_not_allowed)
    from sqlalchemy.exc import DataError

    api.add_exception_handler(DataError, answer_unstorable)
    for kind, (dependency, message) in dependency_errors().items():
        api.add_exception_handler(kind, _answer_unavailable(dependency, message))


def _routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Yield every route, those of included routers too (FastAPI keeps them nested)."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from _routes(nested.routes)
        else:
            yield route


async def answer_method_not_allowed(request: Request, error: Exception) -> JSONResponse:
    """Answer 405 with every method the path supports in ``Allow``.

    Starlette's router names only the methods of the first route matching the path, and a
    path served by several routes (``GET`` and ``POST /api/ai/webhooks``) has more: every
    documented route whose pattern (path convertors included, e.g. ``{workflow_id:uuid}``)
    matches the path adds its methods.
    """
    path = request.url.path
    methods: set[str] = set()
    for route in _routes(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is None or not getattr(route, "include_in_schema", False):
            continue
        if regex.fullmatch(path):
            methods |= {method.upper() for method in getattr(route, "methods", None) or ()}
    return JSONResponse(
        status_code=405,
        content={"detail": getattr(error, "detail", "Method Not Allowed")},
        headers={"Allow": ", ".join(sorted(methods))} if methods else None,
    )


async def answer_unstorable(request: Request, error: Exception) -> JSONResponse:
    """Answer a value the database refused (a NUL character, a number out of range) with 422."""
    logger.warning("422 on %s: the database refused a value (%s)", request.url.path, error)
    return JSONResponse(
        status_code=422,
        content={"detail": "a value of the request cannot be stored (e.g. a NUL character)"},
    )


def _answer_unavailable(
    dependency: str, message: str
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    """Return a handler answering ``message`` with 503 and ``Retry-After``.

    Each answer is counted under ``dependency`` (``database``, ``redis``, ``deployment``).
    """

    async def answer(request: Request, error: Exception) -> JSONResponse:
        logger.warning("503 on %s: %s (%s)", request.url.path, message, type(error).__name__)
        count_dependency_error(dependency)
        return JSONResponse(
            status_code=503,
            content={"detail": f"{message}; retry in {RETRY_AFTER_S} s"},
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    return answer
