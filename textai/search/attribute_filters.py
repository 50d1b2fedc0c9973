"""Exact filters of the hybrid index: entity types and attribute filters, evaluated on columns.

Filters (entity types, exact :class:`~textai.search.query_model.Filter` s parsed from the query
or passed explicitly) are applied to every document *before* ranking, so each hit satisfies
them. Each attribute is read once into a typed numpy column (dates, numbers or lower-case
text) and every filter is a vectorised comparison on it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from textai.search.activity_filters import activity_mask
from textai.search.documents import ENTITY_TYPES, SearchDocument
from textai.search.query_model import (
    ACTIVITY_FIELD_PREFIX,
    NEGATED_OPS,
    NO_ACTIVITY_FIELD_PREFIX,
    Filter,
)


def coerce_filter(value: Filter | Mapping[str, Any]) -> Filter:
    """Turn a filter or a ``{"field", "op", "value"}`` mapping (e.g. from JSON) into a Filter.

    ISO date strings become :class:`datetime.date` objects and lists become tuples.

    Args:
        value: A :class:`Filter` or a mapping.

    Returns:
        The filter.

    Raises:
        ValueError: When the mapping lacks a key or has an invalid operator / range.

    """
    if isinstance(value, Filter):
        return value
    try:
        field_name, op, raw = value["field"], value["op"], value["value"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"a filter needs field, op and value: {value!r}") from exc

    def convert(item: Any) -> Any:
        if isinstance(item, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", item):
            return dt.date.fromisoformat(item)
        if isinstance(item, int) and not isinstance(item, bool):
            return float(item)
        return item

    converted = tuple(convert(v) for v in raw) if isinstance(raw, list | tuple) else convert(raw)
    return Filter(str(field_name), str(op), converted)


class AttributeTable:
    """Documents' entity types and attributes as typed columns, for exact filtering.

    Attributes:
        documents: The documents, in index order.
        fields: Attribute names present in at least one document.

    """

    def __init__(self, documents: Sequence[SearchDocument]) -> None:
        """Collect the entity types and attribute names (columns are built on first use).

        Args:
            documents: The indexed documents.

        """
        self.documents = documents
        self.fields: set[str] = {key for d in documents for key in d.attributes}
        self._types = np.array([d.entity_type for d in documents], dtype=object)
        self._columns: dict[tuple[str, str], np.ndarray] = {}

    @property
    def entity_types(self) -> np.ndarray:
        """Entity type of every document, in index order."""
        return self._types

    def column(self, field_name: str, kind: str) -> np.ndarray:
        """Return (cached) attribute values of every document as a typed numpy column.

        Args:
            field_name: Attribute name.
            kind: ``"date"`` (``datetime64[D]``, NaT when missing), ``"number"`` (float64, NaN
                when missing) or ``"text"`` (lower-case strings, ``None`` when missing).

        Returns:
            One value per document.

        """
        key = (field_name, kind)
        if key not in self._columns:
            values = [d.attributes.get(field_name) for d in self.documents]
            if kind == "date":
                column = pd.to_datetime(
                    pd.Series([None if v is None else str(v)[:10] for v in values], dtype=object),
                    errors="coerce",
                    format="%Y-%m-%d",
                ).to_numpy(dtype="datetime64[D]")
            elif kind == "number":
                column = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(
                    dtype=np.float64
                )
            else:
                column = np.array(
                    [None if v is None else str(v).lower() for v in values], dtype=object
                )
            self._columns[key] = column
        return self._columns[key]

    def mask(
        self,
        entity_types: Sequence[str] | None = None,
        filters: Sequence[Filter] = (),
        *,
        strict: bool = True,
    ) -> np.ndarray:
        """Return which documents pass the entity types and every filter (exactly).

        Args:
            entity_types: Allowed entity types (``None`` / empty: all).
            filters: Filters that must all hold; a missing attribute fails.
            strict: Reject a filter on a field no document has (``False``: it matches
                nothing, as for fields parsed from a query).

        Returns:
            Boolean array over :attr:`documents`.

        Raises:
            ValueError: On an unknown entity type or (``strict``) filter field.

        """
        mask = np.ones(len(self.documents), dtype=bool)
        if entity_types:
            unknown = set(entity_types) - set(ENTITY_TYPES)
            if unknown:
                raise ValueError(f"unknown entity types {sorted(unknown)}")
            mask &= np.isin(self._types, list(entity_types))
        for flt in filters:
            if flt.field.startswith((ACTIVITY_FIELD_PREFIX, NO_ACTIVITY_FIELD_PREFIX)):
                mask &= activity_mask(self, flt)
                continue
            if flt.field not in self.fields and flt.field != "entity_type":
                if flt.negated and not strict:
                    continue  # no document has the field: none has the excluded value
                if strict and self.documents:
                    raise ValueError(f"unknown filter field {flt.field!r}")
                mask[:] = False
                continue
            mask &= self._filter_column(flt)
        return mask

    def _filter_column(self, flt: Filter) -> np.ndarray:
        """Evaluate one filter on every document (a negated one holds for missing values)."""
        if flt.negated:
            positive = Filter(flt.field, NEGATED_OPS[flt.op], flt.value)
            return ~self._filter_column(positive)
        if flt.field == "entity_type":
            values = flt.value if isinstance(flt.value, tuple) else (flt.value,)
            return np.isin(self._types, list(values))
        if flt.is_date:
            column = self.column(flt.field, "date")
            value = (
                tuple(np.datetime64(v, "D") for v in flt.value)
                if isinstance(flt.value, tuple)
                else np.datetime64(flt.value, "D")
            )
            valid = ~np.isnat(column)
        elif flt.is_numeric:
            column = self.column(flt.field, "number")
            value = (
                tuple(float(v) for v in flt.value)
                if isinstance(flt.value, tuple)
                else float(flt.value)
            )
            valid = ~np.isnan(column)
        else:
            column = self.column(flt.field, "text")
            value = (
                tuple(str(v).lower() for v in flt.value)
                if isinstance(flt.value, tuple)
                else str(flt.value).lower()
            )
            valid = np.array([v is not None for v in column], dtype=bool)
        out = np.zeros(len(column), dtype=bool)
        out[valid] = _compare(column[valid], flt.op, value)
        return out


def _compare(values: np.ndarray, op: str, value: Any) -> np.ndarray:
    """Compare column values with a filter's operator and (converted) value."""
    if op == "==":
        res = values == value
    elif op == "in":
        res = np.isin(values, list(value))
    elif op == "between":
        res = (values >= value[0]) & (values <= value[1])
    elif op == ">":
        res = values > value
    elif op == ">=":
        res = values >= value
    elif op == "<":
        res = values < value
    else:
        res = values <= value
    return np.asarray(res, dtype=bool)
