"""Activity-fact filters: records with (or without) an email, call or meeting in a time window.

A filter on ``activity.<kind>`` ("replied to an email last week", "had a meeting yesterday",
"called in the last 3 days") is not a date of the record itself: it holds for a contact,
company or deal that has an activity document of that kind whose ``occurred_at`` passes the
filter's date comparison, and for such an activity document itself. The activity documents of
the index are joined to their contact, company and deal by the ids they carry
(:func:`textai.search.documents.documents_from_frames` writes them).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from textai.search.query_model import (
    ACTIVITY_FIELD_PREFIX,
    ACTIVITY_KINDS,
    NO_ACTIVITY_FIELD_PREFIX,
    Filter,
)

#: The index's :class:`~textai.search.attribute_filters.AttributeTable` (not imported: that
#: module imports this one).
AttributeTable = Any

#: Earliest date: the value of an activity filter with no time ("contacts who replied").
EVER = dt.date(1900, 1, 1)
#: Owner id attribute of an activity document -> the entity type it points to.
_OWNERS: tuple[tuple[str, str], ...] = (
    ("contact_id", "contact"),
    ("company_id", "company"),
    ("deal_id", "deal"),
)


def activity_kind(flt: Filter) -> str:
    """Return the kind of an activity filter (``call``, ``email_received``...).

    Args:
        flt: A filter on ``activity.<kind>`` or ``no_activity.<kind>``.

    Returns:
        The kind.

    Raises:
        ValueError: When the kind is unknown or the value is not a date.

    """
    kind = flt.field.removeprefix(NO_ACTIVITY_FIELD_PREFIX).removeprefix(ACTIVITY_FIELD_PREFIX)
    if kind not in ACTIVITY_KINDS:
        raise ValueError(f"unknown activity kind {kind!r}; expected one of {ACTIVITY_KINDS}")
    if not flt.is_date:
        raise ValueError(f"activity filter {flt.field!r} compares dates, got {flt.value!r}")
    return kind


def _kind_mask(table: AttributeTable, kind: str) -> np.ndarray:
    """Return which documents are activities of ``kind``."""
    types = table.entity_types
    mask = np.isin(types, ["email", "transcript"])
    if kind == "any":
        return mask
    activity = table.column("activity_type", "text")
    if kind in ("call", "meeting"):
        return mask & (activity == kind)
    mask &= activity == "email"
    if kind == "email":
        return mask
    direction = table.column("direction", "text")
    return mask & (direction == ("inbound" if kind == "email_received" else "outbound"))


def activity_mask(table: AttributeTable, flt: Filter) -> np.ndarray:
    """Return which documents pass an activity filter.

    Args:
        table: The index's attribute table.
        flt: A filter on ``activity.<kind>`` with a date comparison (``!=`` / ``not in``
            excluded).

    Returns:
        Boolean array over the table's documents: activities of the kind in the window, and
        the contacts, companies and deals they belong to; for ``no_activity.<kind>``, the
        contacts, companies and deals that have none.

    Raises:
        ValueError: On an unknown kind, a non-date value or a negated operator.

    """
    kind = activity_kind(flt)
    if flt.negated:
        raise ValueError(f"activity filter {flt.field!r} cannot use {flt.op!r}")
    n = len(table.documents)
    if n == 0:
        return np.zeros(0, dtype=bool)
    when = Filter("occurred_at", flt.op, flt.value)
    hits = _kind_mask(table, kind) & table.mask(None, (when,), strict=False)
    out = hits.copy()
    types = table.entity_types
    ids = np.array([d.entity_id for d in table.documents], dtype=object)
    for attribute, entity in _OWNERS:
        owners = table.column(attribute, "text")[hits]
        wanted = {o for o in owners if o is not None}
        if wanted:
            out |= (types == entity) & np.isin(np.char.lower(ids.astype(str)), list(wanted))
    if flt.field.startswith(NO_ACTIVITY_FIELD_PREFIX):
        return np.isin(types, [entity for _, entity in _OWNERS]) & ~out
    return out
