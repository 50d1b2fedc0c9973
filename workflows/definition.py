"""A workflow as data: trigger → conditions → a DAG of actions, validated against the catalogue.

The same pydantic models are the body of ``POST /api/ai/workflows`` (so a bad definition is a
422 naming the field), what the builder (:mod:`workflows.builder`) drafts and what the store
versions. Example::

    {
      "name": "Call hot leads nobody contacted",
      "trigger": {"type": "score_band", "to_band": "hot"},
      "conditions": [{"field": "contact.days_since_last_contacted", "op": "gte", "value": 3}],
      "actions": [{"id": "call", "type": "create_task",
                   "params": {"title": "Call this hot lead", "channel": "call"}}]
    }

Cycles are refused twice over: inside a workflow (``after`` edges between its actions) and
across workflows (an ``update_field`` action whose field fires a ``field_updated`` trigger
that leads back, :func:`find_workflow_cycle`).
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workflows.catalog import (
    ACTIONS,
    BANDS,
    EMAIL_PURPOSES,
    EMAIL_TONES,
    FIELDS,
    OPERATORS,
    PREDICTION_MODELS,
    TASK_CHANNELS,
    TRIGGER_EVENT_TYPES,
    UNARY_OPERATORS,
)

#: Name pattern of action ids: short, URL- and log-friendly.
ACTION_ID_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
#: Characters a workflow name must contain at least one of (no blank names).
NAME_PATTERN = r"[0-9A-Za-z]"
MAX_CONDITIONS = 20
MAX_ACTIONS = 20

Scalar = float | int | str | bool


def _known(kind: str, value: str, known: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``known``, else raise a ValueError listing them."""
    if value not in known:
        raise ValueError(f"unknown {kind} {value!r}; known: {', '.join(known)}")
    return value


class EventTrigger(BaseModel):
    """Fires on a CRM event of the real-time engine (``email_replied``, ``page_view``...)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["event"]
    event_type: str = Field(description="One of the event types of POST /api/ai/events.")

    @field_validator("event_type")
    @classmethod
    def _check_event(cls, value: str) -> str:
        return _known("event type", value, TRIGGER_EVENT_TYPES)


class ScoreBandTrigger(BaseModel):
    """Fires when a lead score crosses into ``to_band`` (from ``from_band`` if given)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["score_band"]
    to_band: Literal["cold", "warm", "hot"]
    from_band: Literal["cold", "warm", "hot"] | None = None

    @model_validator(mode="after")
    def _check_bands(self) -> ScoreBandTrigger:
        if self.from_band == self.to_band:
            raise ValueError("from_band and to_band are the same band: it never crosses")
        return self


class ScheduleTrigger(BaseModel):
    """Fires on a schedule for every contact that meets the conditions (Prefect runs it)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["schedule"]
    every: Literal["hour", "day", "week"] = "day"
    at_hour: int = Field(9, ge=0, le=23, description="UTC hour of daily and weekly runs.")


class PredictionTrigger(BaseModel):
    """Fires when a model's output for a contact crosses a threshold (checked on schedule)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["prediction_threshold"]
    model: Literal["lead_score", "trigger_prediction"]
    op: Literal["gte", "lte"] = "gte"
    threshold: float = Field(description="0-100 for lead_score, 0-1 for trigger_prediction.")

    @model_validator(mode="after")
    def _check_range(self) -> PredictionTrigger:
        top = 100.0 if self.model == "lead_score" else 1.0
        if not 0.0 <= self.threshold <= top:
            raise ValueError(f"threshold of {self.model} must lie in [0, {top:g}]")
        return self

    @property
    def field(self) -> str:
        """The context field holding the model's output."""
        return PREDICTION_MODELS[self.model]


class FieldUpdatedTrigger(BaseModel):
    """Fires when a workflow's ``update_field`` action sets ``field`` (chains workflows)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["field_updated"]
    field: str

    @field_validator("field")
    @classmethod
    def _check_field(cls, value: str) -> str:
        _known("field", value, list(FIELDS))
        if not FIELDS[value].writable:
            raise ValueError(f"field {value!r} is computed, never updated: it cannot fire")
        return value


Trigger = Annotated[
    EventTrigger | ScoreBandTrigger | ScheduleTrigger | PredictionTrigger | FieldUpdatedTrigger,
    Field(discriminator="type"),
]


class Condition(BaseModel):
    """``field op value``; every condition of a workflow must hold."""

    model_config = ConfigDict(extra="forbid")
    field: str = Field(description="A catalogue field, e.g. contact.days_since_last_contacted.")
    op: str = Field(description="eq, ne, in, not_in, gt, gte, lt, lte, contains, is_set...")
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _check(self) -> Condition:
        spec = FIELDS.get(self.field)
        if spec is None:
            _known("field", self.field, list(FIELDS))
            raise AssertionError  # pragma: no cover - _known raised
        _known("operator", self.op, list(OPERATORS))
        if spec.kind not in OPERATORS[self.op]:
            raise ValueError(
                f"operator {self.op!r} does not apply to {spec.kind} field {self.field!r}"
            )
        if self.op in UNARY_OPERATORS:
            if self.value is not None:
                raise ValueError(f"operator {self.op!r} takes no value")
            return self
        if self.value is None:
            raise ValueError(f"condition on {self.field!r} with {self.op!r} needs a value")
        values = self.value if isinstance(self.value, list) else [self.value]
        if self.op in {"in", "not_in"} and not isinstance(self.value, list):
            raise ValueError(f"operator {self.op!r} needs a list of values")
        if self.op not in {"in", "not_in"} and isinstance(self.value, list):
            raise ValueError(f"operator {self.op!r} takes one value, not a list")
        for item in values:
            _check_value(self.field, item)
        return self


def _check_value(field: str, value: Any) -> None:
    """Raise a ValueError when ``value`` does not fit ``field``'s type or choices."""
    spec = FIELDS[field]
    if spec.kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError(f"field {field!r} is a number, got {value!r}")
    if spec.kind == "bool" and not isinstance(value, bool):
        raise ValueError(f"field {field!r} is true or false, got {value!r}")
    if spec.kind == "string":
        if not isinstance(value, str):
            raise ValueError(f"field {field!r} is text, got {value!r}")
        if spec.choices is not None and value not in spec.choices:
            raise ValueError(
                f"{value!r} is not a value of {field!r}; known: {', '.join(spec.choices)}"
            )


class Action(BaseModel):
    """One step: ``type`` with its ``params``, run after the actions listed in ``after``."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=ACTION_ID_PATTERN, description="Unique within the workflow.")
    type: str = Field(description="create_task, enrol_sequence, send_email, update_field...")
    params: dict[str, Scalar] = Field(default_factory=dict)
    after: list[str] = Field(default_factory=list, max_length=MAX_ACTIONS)

    @model_validator(mode="after")
    def _check_params(self) -> Action:
        spec = ACTIONS.get(self.type)
        if spec is None:
            _known("action type", self.type, list(ACTIONS))
            raise AssertionError  # pragma: no cover - _known raised
        missing = [name for name in spec.required if name not in self.params]
        if missing:
            raise ValueError(f"action {self.id!r} ({self.type}) needs {', '.join(missing)}")
        unknown = sorted(set(self.params) - set(spec.required) - set(spec.optional))
        if unknown:
            allowed = ", ".join(spec.required + spec.optional)
            raise ValueError(
                f"action {self.id!r} ({self.type}) does not take {', '.join(unknown)}; "
                f"it takes {allowed}"
            )
        _check_action_params(self.id, self.type, self.params)
        return self


def _check_action_params(action_id: str, kind: str, params: Mapping[str, Any]) -> None:
    """Check the values of an action's parameters (types, ranges, known names)."""
    for name in ("title", "sequence", "reason"):
        if name in params and (not isinstance(params[name], str) or not params[name].strip()):
            raise ValueError(f"action {action_id!r}: {name} must be non-blank text")
    if "due_in_days" in params:
        due = params["due_in_days"]
        if isinstance(due, bool) or not isinstance(due, int) or not 0 <= due <= 90:
            raise ValueError(f"action {action_id!r}: due_in_days must be a whole number 0-90")
    if "channel" in params:
        _known("task channel", str(params["channel"]), TASK_CHANNELS)
    if "purpose" in params:
        _known("email purpose", str(params["purpose"]), EMAIL_PURPOSES)
    if "tone" in params:
        _known("email tone", str(params["tone"]), EMAIL_TONES)
    if kind == "update_field":
        field = str(params["field"])
        _known("field", field, list(FIELDS))
        if not FIELDS[field].writable:
            raise ValueError(f"action {action_id!r}: field {field!r} is computed and cannot be set")
        _check_value(field, params["value"])
    if kind == "notify_webhook":
        url = str(params["url"])
        if not url.lower().startswith(("http://", "https://")) or len(url) > 2000:
            raise ValueError(f"action {action_id!r}: url must be an absolute http(s) URL")


class WorkflowDefinition(BaseModel):
    """A whole workflow definition (the body of ``POST /api/ai/workflows``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    description: str = Field("", max_length=2000)
    trigger: Trigger
    conditions: list[Condition] = Field(default_factory=list, max_length=MAX_CONDITIONS)
    actions: list[Action] = Field(min_length=1, max_length=MAX_ACTIONS)

    @model_validator(mode="after")
    def _check_actions(self) -> WorkflowDefinition:
        ids = [action.id for action in self.actions]
        duplicated = sorted({name for name in ids if ids.count(name) > 1})
        if duplicated:
            raise ValueError(f"action ids must be unique; repeated: {', '.join(duplicated)}")
        for action in self.actions:
            unknown = [name for name in action.after if name not in ids]
            if unknown:
                raise ValueError(
                    f"action {action.id!r} runs after unknown action(s) {', '.join(unknown)}"
                )
        self.action_order()
        return self

    def action_order(self) -> list[Action]:
        """Return the actions in an order that respects every ``after`` edge.

        Raises:
            ValueError: When the ``after`` edges form a cycle (named in the message).
        """
        sorter = graphlib.TopologicalSorter({a.id: set(a.after) for a in self.actions})
        try:
            order = list(sorter.static_order())
        except graphlib.CycleError as error:
            cycle = " -> ".join(error.args[1])
            raise ValueError(f"actions form a cycle: {cycle}") from error
        by_id = {action.id: action for action in self.actions}
        return [by_id[name] for name in order]

    def updated_fields(self) -> set[str]:
        """Return the fields this workflow's ``update_field`` actions set."""
        return {str(a.params["field"]) for a in self.actions if a.type == "update_field"}

    def condition_fields(self) -> set[str]:
        """Return the fields the conditions (and a prediction trigger) read."""
        fields = {condition.field for condition in self.conditions}
        if isinstance(self.trigger, PredictionTrigger):
            fields.add(self.trigger.field)
        return fields


def find_workflow_cycle(workflows: Mapping[str, WorkflowDefinition]) -> list[str] | None:
    """Return a cycle of workflows that would fire each other forever, or ``None``.

    Workflow A leads to B when one of A's ``update_field`` actions sets the field B's
    ``field_updated`` trigger watches (A may lead to itself).

    Args:
        workflows: Name or id -> definition (the enabled workflows, the new one included).

    Returns:
        The names along the cycle, first repeated at the end, or ``None``.
    """
    graph: dict[str, set[str]] = {name: set() for name in workflows}
    for source, definition in workflows.items():
        fields = definition.updated_fields()
        for target, other in workflows.items():
            trigger = other.trigger
            if isinstance(trigger, FieldUpdatedTrigger) and trigger.field in fields:
                graph[target].add(source)
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        return list(error.args[1])
    return None


def parse_definition(document: Mapping[str, Any]) -> WorkflowDefinition:
    """Validate a JSON document as a workflow definition (raises pydantic's ValidationError)."""
    return WorkflowDefinition.model_validate(document)


__all__ = [
    "BANDS",
    "Action",
    "Condition",
    "EventTrigger",
    "FieldUpdatedTrigger",
    "PredictionTrigger",
    "ScheduleTrigger",
    "ScoreBandTrigger",
    "Trigger",
    "WorkflowDefinition",
    "find_workflow_cycle",
    "parse_definition",
]
