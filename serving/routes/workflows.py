"""Workflow automation: CRUD, dry runs, the builder and action recommendations.

``/api/ai/workflows`` (role ``manager`` or ``admin``: permission ``automate``) stores
workflow definitions (:mod:`workflows.definition`); a bad definition is a 422 naming the
field, a name taken a 409, a cycle with the enabled workflows a 422. Each route admits the
call, calls one domain function and records the call.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from serving.core import usage_identity
from serving.dependencies import Automate, Core, Predict
from serving.errors import ERROR_RESPONSES, ApiError
from serving.idempotency import IdempotentRoute
from textai.text_patterns import NON_BLANK_PATTERN
from workflows.definition import WorkflowDefinition, parse_definition
from workflows.errors import WorkflowConflictError, WorkflowInvalidError, WorkflowNotFoundError
from workflows.store import (
    create_workflow,
    delete_workflow,
    get_workflow,
    list_workflows,
    set_workflow_enabled,
    update_workflow,
)

router = APIRouter(route_class=IdempotentRoute, tags=["workflows"], responses=ERROR_RESPONSES)
WorkflowId = Annotated[uuid.UUID, Path(description="The workflow's id.")]


class WorkflowRequest(WorkflowDefinition):
    """A workflow definition, and whether the engine runs it."""

    enabled: bool = True


class SimulateRequest(BaseModel):
    """Window of a dry run (default: the whole history)."""

    model_config = ConfigDict(extra="forbid")
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None

    @model_validator(mode="after")
    def _check_window(self) -> SimulateRequest:
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must be before until")
        return self


class SimulateDraftRequest(SimulateRequest):
    """Dry run of a definition that is not stored."""

    definition: WorkflowDefinition


class SuggestRequest(BaseModel):
    """Draft workflows: from a description, or mined from the CRM's history."""

    model_config = ConfigDict(extra="forbid")
    description: str | None = Field(
        None,
        min_length=3,
        max_length=2000,
        pattern=NON_BLANK_PATTERN,
        description="e.g. 'when a hot lead has not been contacted in 3 days, create a call task "
        "for the owner'. Omit it to mine the activity sequences that precede the outcome.",
    )
    outcome: Literal["won", "replied"] = "won"
    top: int = Field(3, ge=1, le=10)


class RecommendationsRequest(BaseModel):
    """Which actions to rank for a contact."""

    model_config = ConfigDict(extra="forbid")
    contact_id: uuid.UUID = Field(description="The CRM contact.")
    top: int = Field(3, ge=1, le=5)


def _fail(error: Exception) -> ApiError:
    """Map a workflow error to its HTTP status."""
    if isinstance(error, WorkflowNotFoundError):
        return ApiError(404, str(error))
    if isinstance(error, WorkflowConflictError):
        return ApiError(409, str(error))
    return ApiError(422, str(error))


def _definition(request: WorkflowRequest) -> WorkflowDefinition:
    return WorkflowDefinition.model_validate(request.model_dump(exclude={"enabled"}))


@router.post("/api/ai/workflows", status_code=201)
def create(core: Core, context: Automate, request: WorkflowRequest) -> dict[str, Any]:
    """Store a workflow (version 1); enabled workflows run on events and schedules."""
    try:
        return create_workflow(
            core.database_url, _definition(request), context.principal.limit_key, request.enabled
        )
    except (WorkflowConflictError, WorkflowInvalidError) as error:
        raise _fail(error) from error


@router.get("/api/ai/workflows")
def list_all(core: Core, context: Automate) -> dict[str, Any]:
    """Every workflow with its version, state and run count."""
    return {"workflows": list_workflows(core.database_url)}


@router.get("/api/ai/workflows/{workflow_id:uuid}")
def read(core: Core, context: Automate, workflow_id: WorkflowId) -> dict[str, Any]:
    """One workflow with its versions and latest runs (each action's status)."""
    try:
        return get_workflow(core.database_url, str(workflow_id))
    except WorkflowNotFoundError as error:
        raise _fail(error) from error


@router.put("/api/ai/workflows/{workflow_id:uuid}")
def replace(
    core: Core, context: Automate, workflow_id: WorkflowId, request: WorkflowRequest
) -> dict[str, Any]:
    """Replace the definition (a new version; runs keep the version they ran) and state."""
    try:
        update_workflow(
            core.database_url, str(workflow_id), _definition(request), context.principal.limit_key
        )
        return set_workflow_enabled(core.database_url, str(workflow_id), request.enabled)
    except (WorkflowNotFoundError, WorkflowConflictError, WorkflowInvalidError) as error:
        raise _fail(error) from error


@router.delete("/api/ai/workflows/{workflow_id:uuid}", status_code=204, response_class=Response)
def remove(core: Core, context: Automate, workflow_id: WorkflowId) -> Response:
    """Delete a workflow with its versions and runs (the audit trail keeps every run)."""
    try:
        delete_workflow(core.database_url, str(workflow_id))
    except WorkflowNotFoundError as error:
        raise _fail(error) from error
    return Response(status_code=204)


def _simulate(
    core: Core, definition: WorkflowDefinition, request: SimulateRequest
) -> dict[str, Any]:
    from workflows.simulate import simulate_workflow

    try:
        return simulate_workflow(
            core.database_url, definition, since=request.since, until=request.until
        )
    except ValueError as error:
        raise ApiError(422, str(error)) from error


@router.post("/api/ai/workflows/{workflow_id:uuid}/simulate")
def simulate_stored(
    core: Core, context: Automate, workflow_id: WorkflowId, request: SimulateRequest
) -> dict[str, Any]:
    """Replay the CRM's history through a stored workflow: fires, on whom, their outcomes."""
    try:
        stored = get_workflow(core.database_url, str(workflow_id))
    except WorkflowNotFoundError as error:
        raise _fail(error) from error
    result = _simulate(core, parse_definition(stored["definition"]), request)
    return {"workflow_id": stored["id"], "version": stored["version"], **result}


@router.post("/api/ai/workflows/simulate")
def simulate_draft(core: Core, context: Automate, request: SimulateDraftRequest) -> dict[str, Any]:
    """Replay the CRM's history through a definition that is not stored yet."""
    return _simulate(core, request.definition, request)


@router.post("/api/ai/workflows/suggest")
async def suggest(core: Core, context: Automate, request: SuggestRequest) -> dict[str, Any]:
    """Draft workflows from a description (LLM layer) or from mined activity sequences."""
    from workflows.suggestions import suggest_workflows

    inputs = request.model_dump()
    if request.description:  # through the LLM layer (TextAI): budgets, redaction, usage
        result = await core.call_text(
            context, "workflow_suggest", inputs, "draft_workflow", inputs, usage_identity(context)
        )
    else:
        try:
            result = await run_in_threadpool(
                suggest_workflows, core.database_url, None, request.outcome, request.top
            )
        except ValueError as error:
            raise ApiError(422, str(error)) from error
    if not result.get("llm"):  # no LLM call was made: record the suggestion here
        await core.record(
            [context.interaction("workflow_suggest", inputs, result, result.get("source"))]
        )
    return result


@router.post("/api/ai/workflows/recommendations")
async def recommendations(
    core: Core, context: Predict, request: RecommendationsRequest
) -> dict[str, Any]:
    """Rank candidate actions for a contact by their estimated lift (associational)."""
    from workflows.recommend import recommend_actions

    contact = request.contact_id
    if not core.require_consent(context, "workflow_recommendations", contact):
        raise ApiError(404, f"contact {contact} not found in the CRM")
    found = await run_in_threadpool(core.lookup.find, str(contact))
    try:
        result = await run_in_threadpool(
            recommend_actions,
            core.database_url,
            core.settings.data_dir,
            contact,
            request.top,
            dt.datetime.now(dt.UTC),
            found.row if found is not None else None,
        )
    except LookupError as error:
        raise ApiError(404, str(error)) from error
    except FileNotFoundError as error:
        raise ApiError(503, str(error), headers={"Retry-After": "60"}) from error
    await core.record(
        [
            context.interaction(
                "workflow_recommendations", request.model_dump(mode="json"), result, result["model"]
            )
        ]
    )
    return result
