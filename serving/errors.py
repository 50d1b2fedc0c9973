"""One error model for every route of the gateway.

Every refusal is ``{"detail": "<message>"}`` with its HTTP status; invalid input (422) adds
``errors``, one ``{"field", "message"}`` per bad field. :data:`ERROR_RESPONSES` documents these
in the OpenAPI schema, so generated clients know every status a route can answer.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field


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
    401: "Missing or unknown API key.",
    403: "The key's role lacks the permission, or the contact refused AI processing.",
    404: "The contact, deal, account or record does not exist.",
    422: "Invalid input: `errors` names each bad field.",
    429: "Rate limit of the key exceeded (see `Retry-After`).",
    503: "A model or deployment is not available yet.",
}

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


def install_error_handlers(api: FastAPI) -> None:
    """Register the error model's handlers on an app."""
    api.add_exception_handler(RequestValidationError, answer_validation_error)
