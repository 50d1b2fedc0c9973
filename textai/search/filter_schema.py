"""The filter set of a search query as a pydantic model: its JSON schema and its validation.

:class:`QueryFilters` is what the LLM path (:mod:`textai.search.query_llm`) asks a model for
and validates: entity types, exact filters and the free-text remainder. Unknown keys are
refused by the model (``extra="forbid"``); :func:`validate_filters` then checks each filter
against the catalogue (:data:`FIELD_KINDS`) and the values of the indexed data (a
:class:`~textai.search.query_model.QueryVocabulary`): a field the search does not know, an
operator its kind does not take or a categorical value the data does not hold is refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from textai.search.lead_bands import load_score_bands
from textai.search.query_model import (
    ACTIVITY_FIELD_PREFIX,
    ACTIVITY_KINDS,
    NO_ACTIVITY_FIELD_PREFIX,
    Filter,
    QueryVocabulary,
)

EntityType = Literal["contact", "company", "deal", "email", "transcript"]
Intent = Literal["find_entity", "filter_list", "lookup_person", "question", "topic_search"]
Operator = Literal[">", ">=", "<", "<=", "==", "in", "between", "!=", "not in"]
Scalar = str | float
#: Filterable field -> kind (``number``, ``date`` or the name of its value list).
FIELD_KINDS: dict[str, str] = {
    "amount": "number", "employee_count": "number", "annual_revenue": "number",
    "lead_score": "number", "stage": "stages", "lifecycle_stage": "lifecycle_stages",
    "industry": "industries", "country": "countries", "lead_score_band": "bands",
    "activity_type": "activity_types", "direction": "directions",
    "created_at": "date", "expected_close_date": "date", "closed_at": "date",
    "occurred_at": "date",
    **{f"{prefix}{kind}": "date" for prefix in (ACTIVITY_FIELD_PREFIX, NO_ACTIVITY_FIELD_PREFIX)
       for kind in ACTIVITY_KINDS},
}  # fmt: skip
#: Operators each kind of field takes.
KIND_OPS: dict[str, tuple[str, ...]] = {
    "number": (">", ">=", "<", "<=", "==", "between"),
    "date": (">", ">=", "<", "<=", "between"),
    "category": ("==", "!=", "in", "not in"),
}
_FIXED_VALUES: dict[str, tuple[str, ...]] = {
    "activity_types": ("email", "call", "meeting"),
    "directions": ("inbound", "outbound"),
}


class FilterSpec(BaseModel):
    """One filter of the answer."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(max_length=64, description="A field of the catalogue.")
    op: Operator
    value: Scalar | list[Scalar] = Field(
        description="A number, an ISO date, a catalogue value, or a list of them for in / "
        "not in / between ([low, high])."
    )


class QueryFilters(BaseModel):
    """The structured form of a search query."""

    model_config = ConfigDict(extra="forbid")

    entity_types: list[EntityType] = Field(default_factory=list, max_length=5)
    filters: list[FilterSpec] = Field(default_factory=list, max_length=20)
    text: str = Field(default="", max_length=512, description="Free-text remainder (often '').")
    intent: Intent = "filter_list"


def catalogue_values(vocabulary: QueryVocabulary) -> dict[str, tuple[str, ...]]:
    """Return the allowed values of every categorical kind for a vocabulary.

    Args:
        vocabulary: The indexed data's vocabulary.

    Returns:
        Kind -> allowed values.

    """
    return {
        "stages": tuple(vocabulary.stages),
        "lifecycle_stages": tuple(vocabulary.lifecycle_stages),
        "industries": tuple(vocabulary.industries),
        "countries": tuple(vocabulary.countries),
        "bands": tuple(name for name, _ in load_score_bands()),
        **_FIXED_VALUES,
    }


def describe_catalogue(vocabulary: QueryVocabulary) -> str:
    """Return the catalogue as prompt text: fields, their kinds, operators and values.

    Args:
        vocabulary: The indexed data's vocabulary.

    Returns:
        One line per field.

    """
    values = catalogue_values(vocabulary)
    lines = ["Fields (name: kind; operators; values):"]
    for name, kind in FIELD_KINDS.items():
        group = kind if kind in ("number", "date") else "category"
        listed = f"; one of {', '.join(values[kind])}" if kind in values else ""
        lines.append(f"- {name}: {group}; {' '.join(KIND_OPS[group])}{listed}")
    lines.append(
        "Entity types: contact, company, deal, email, transcript (calls and meetings). "
        "activity.<kind> holds for records with such an activity in the window; "
        "no_activity.<kind> for records without one."
    )
    return "\n".join(lines)


def _convert(field_name: str, kind: str, op: str, value: Any, allowed: dict) -> Any:
    """Return a filter value converted to its kind, or raise ValueError."""
    group = kind if kind in ("number", "date") else "category"
    if op not in KIND_OPS[group]:
        raise ValueError(f"{field_name}: operator {op!r} does not apply to a {group} field")
    many = op in ("in", "not in", "between")
    items = value if isinstance(value, list) else [value]
    if many != isinstance(value, list) or (op == "between" and len(items) != 2) or not items:
        raise ValueError(f"{field_name}: operator {op!r} does not take the value {value!r}")
    out: list[Any] = []
    for item in items:
        if group == "number":
            if isinstance(item, str):
                raise ValueError(f"{field_name}: {item!r} is not a number")
            out.append(float(item))
        elif group == "date":
            try:
                out.append(dt.date.fromisoformat(str(item)))
            except ValueError:
                raise ValueError(f"{field_name}: {item!r} is not an ISO date") from None
        else:
            known = {v.lower(): v for v in allowed[kind]}
            if str(item).lower() not in known:
                raise ValueError(f"{field_name}: {item!r} is not a value of the data")
            out.append(known[str(item).lower()])
    return tuple(out) if many else out[0]


def validate_filters(document: Any, vocabulary: QueryVocabulary) -> tuple[QueryFilters, list]:
    """Validate an answer against the schema and the catalogue.

    Args:
        document: The parsed JSON answer.
        vocabulary: The indexed data's vocabulary.

    Returns:
        ``(model, filters)`` with the :class:`~textai.search.query_model.Filter` s.

    Raises:
        ValueError: When the answer does not validate (the first problem is told).

    """
    try:
        model = QueryFilters.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"{where}: {first['msg']}") from None
    allowed = catalogue_values(vocabulary)
    filters: list[Filter] = []
    for spec in model.filters:
        kind = FIELD_KINDS.get(spec.field)
        if kind is None:
            raise ValueError(f"unknown filter field {spec.field!r}")
        value = _convert(spec.field, kind, spec.op, spec.value, allowed)
        filters.append(Filter(spec.field, spec.op, value))
    return model, filters
