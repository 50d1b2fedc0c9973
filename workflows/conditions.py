"""Evaluate a workflow's conditions on a context (:mod:`workflows.context`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workflows.definition import Condition


def _as_text(value: Any) -> str:
    """Return a value as lower-case text for string comparisons."""
    return str(value).strip().lower()


def condition_holds(condition: Condition, context: Mapping[str, Any]) -> bool:
    """Return whether one condition holds.

    A field without a value (``None``: no activity yet, no deal, no score) satisfies only
    ``is_not_set`` and ``ne``/``not_in``; every comparison with it is false. Strings compare
    case-insensitively.
    """
    value = context.get(condition.field)
    op, target = condition.op, condition.value
    if op == "is_set":
        return value is not None
    if op == "is_not_set":
        return value is None
    if value is None:
        return op in {"ne", "not_in"}
    if isinstance(value, str):
        value = _as_text(value)
        target = [_as_text(t) for t in target] if isinstance(target, list) else _as_text(target)
    if op == "eq":
        return value == target
    if op == "ne":
        return value != target
    if op == "in":
        return value in target  # type: ignore[operator]
    if op == "not_in":
        return value not in target  # type: ignore[operator]
    if op == "contains":
        return str(target) in str(value)
    number, bound = float(value), float(target)  # type: ignore[arg-type]
    return {
        "gt": number > bound,
        "gte": number >= bound,
        "lt": number < bound,
        "lte": number <= bound,
    }[op]


def conditions_hold(conditions: Sequence[Condition], context: Mapping[str, Any]) -> bool:
    """Return whether every condition holds (no condition: true)."""
    return all(condition_holds(condition, context) for condition in conditions)
