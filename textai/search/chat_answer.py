"""Offline answers of conversational search: citations and a templated sentence over the hits.

Every hit becomes a :class:`Citation` numbered from 1 (entity type, id, title and why it
matched: the filters it satisfies, the text it matched). :func:`template_answer` writes one
sentence that names every hit with its marker, e.g. "3 deals in healthcare, closed 2026-10-01
to 2026-12-31: Acme renewal ($50,000, closed won, closed 2026-11-02) [1], ...".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textai.search.hits import SearchHit
from textai.search.query_model import Filter, QueryVocabulary

#: Entity type -> (singular, plural) noun of the answer.
_NOUNS: dict[str, tuple[str, str]] = {
    "deal": ("deal", "deals"),
    "contact": ("contact", "contacts"),
    "company": ("company", "companies"),
    "email": ("email", "emails"),
    "transcript": ("call or meeting", "calls and meetings"),
}
#: Date fields -> the verb of their phrase.
_DATE_VERBS: dict[str, str] = {
    "closed_at": "closed",
    "expected_close_date": "closing",
    "created_at": "created",
    "occurred_at": "on",
    "amount": "worth",
}
_OP_WORDS: dict[str, str] = {">": "over", ">=": "at least", "<": "under", "<=": "at most"}


@dataclass(frozen=True)
class Citation:
    """One record an answer cites.

    Attributes:
        marker: The number of its ``[n]`` marker in the answer.
        doc_id: Document id (``"deal:<uuid>"``).
        entity_type: Entity type.
        entity_id: Id of the CRM row.
        title: Display title.
        why: Why it matched (filters satisfied, text matched, previous answer).

    """

    marker: int
    doc_id: str
    entity_type: str
    entity_id: str
    title: str
    why: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view."""
        return {
            "marker": self.marker,
            "doc_id": self.doc_id,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "title": self.title,
            "why": self.why,
        }


def _money(value: Any, currency: Any = None) -> str:
    """Format an amount: ``$50,000`` (USD) or ``50,000 EUR``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    text = f"{number:,.0f}"
    return f"${text}" if currency in (None, "", "USD") else f"{text} {currency}"


def _value_text(field_name: str, value: Any) -> str:
    """Format one filter value (amounts as money, dates as ISO, stage names readable)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if field_name in ("amount", "annual_revenue"):
        return _money(value)
    if isinstance(value, float) and value.is_integer():
        return f"{value:,.0f}"
    return str(value).replace("_", " ")


def describe_filter(flt: Filter, vocabulary: QueryVocabulary | None = None) -> str:
    """Describe one filter in words ("in healthcare", "over $50,000", "closed 2026-10-01 to ...").

    Args:
        flt: The filter.
        vocabulary: The index's vocabulary (an ``in`` list naming most values is then
            described by the values it leaves out: "industry not healthcare").

    Returns:
        The phrase.

    """
    name = flt.field.replace("_", " ")
    verb = _DATE_VERBS.get(flt.field, f"with {name}")
    value = flt.value
    if flt.op == "between":
        return f"{verb} {_value_text(flt.field, value[0])} to {_value_text(flt.field, value[1])}"
    if flt.op in _OP_WORDS:
        return f"{verb} {_OP_WORDS[flt.op]} {_value_text(flt.field, value)}"
    if flt.op in ("==", "in", "!=", "not in"):
        raw = value if isinstance(value, tuple) else (value,)
        values = [_value_text(flt.field, v) for v in raw]
        known = _known_values(flt.field, vocabulary)
        if flt.op in ("!=", "not in"):
            return _negated(flt.field, verb, values)
        named = {str(v).lower() for v in raw}
        left_out = [_value_text(flt.field, v) for v in known if str(v).lower() not in named]
        if flt.op == "in" and known and len(left_out) < len(values):
            return _negated(flt.field, verb, left_out) if left_out else f"any {name}"
        if flt.field in ("industry", "country"):
            return f"in {_joined(values)}" if values else f"no {name}"
        if flt.field == "stage":
            return f"at stage {_joined(values)}"
        return f"{verb} {_joined(values)}"
    return f"{verb} {flt.op} {_value_text(flt.field, value)}"


def _negated(field_name: str, verb: str, values: Sequence[str]) -> str:
    """Describe an exclusion: "not in healthcare", "with lifecycle stage not lead"."""
    if field_name in ("industry", "country"):
        return f"not in {_joined(values)}"
    return f"{verb} not {_joined(values)}"


def _joined(values: Sequence[str]) -> str:
    """Join values with commas and a final "or"."""
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + f" or {values[-1]}"


def _known_values(field_name: str, vocabulary: QueryVocabulary | None) -> tuple[str, ...]:
    """Return the vocabulary's values of a categorical field (empty when unknown)."""
    if vocabulary is None:
        return ()
    return {
        "industry": vocabulary.industries,
        "country": vocabulary.countries,
        "stage": vocabulary.stages,
        "lifecycle_stage": vocabulary.lifecycle_stages,
    }.get(field_name, ())


def describe_scope(filters: Sequence[Filter], vocabulary: QueryVocabulary | None = None) -> str:
    """Describe every filter, comma-separated ("in healthcare, over $50,000")."""
    return ", ".join(describe_filter(f, vocabulary) for f in filters)


def entity_noun(entity_types: Sequence[str], count: int) -> str:
    """Return the noun of a result count ("deal", "contacts", "records")."""
    singular, plural = (
        _NOUNS.get(entity_types[0], ("record", "records"))
        if len(entity_types) == 1
        else ("record", "records")
    )
    return singular if count == 1 else plural


def describe_record(hit: SearchHit) -> str:
    """Describe a hit in a few words: its title and key facts, by entity type.

    Args:
        hit: The hit.

    Returns:
        e.g. "Acme renewal ($50,000, closed won, closed 2026-11-02)".

    """
    doc = hit.doc
    a = doc.attributes
    facts: list[str] = []
    if doc.entity_type == "deal":
        if a.get("amount") is not None:
            facts.append(_money(a["amount"], a.get("currency")))
        if a.get("stage"):
            facts.append(str(a["stage"]).replace("_", " "))
        if a.get("closed_at"):
            facts.append(f"closed {a['closed_at']}")
        elif a.get("expected_close_date"):
            facts.append(f"closes {a['expected_close_date']}")
    elif doc.entity_type == "company":
        facts += [str(a[k]) for k in ("industry", "country") if a.get(k)]
        if a.get("employee_count") is not None:
            facts.append(f"{_value_text('employee_count', a['employee_count'])} employees")
    elif doc.entity_type == "contact":
        role = a.get("job_title")
        if role and a.get("company_name"):
            role = f"{role} at {a['company_name']}"
        facts += [str(x).replace("_", " ") for x in (role, a.get("lifecycle_stage")) if x]
    else:
        facts += [str(x) for x in (a.get("activity_type"), a.get("occurred_at")) if x]
    return f"{doc.title} ({', '.join(facts)})" if facts else doc.title


def _why(hit: SearchHit, filters: Sequence[Filter], text: str, restricted: bool) -> str:
    """Explain why a hit matched: the filters it satisfies, the text, the previous answer."""
    reasons = []
    for flt in filters:
        value = (
            hit.doc.entity_type if flt.field == "entity_type" else hit.doc.attributes.get(flt.field)
        )
        if flt.matches(value):
            reasons.append(f"{flt.field.replace('_', ' ')} {_value_text(flt.field, value)}")
    if text:
        scores = [
            f"{label} {score:.2f}"
            for label, score in (("semantic", hit.semantic_score), ("keyword", hit.keyword_score))
            if score is not None
        ]
        reasons.append(
            f"matches \u201c{text}\u201d" + (f" ({', '.join(scores)})" if scores else "")
        )
    if restricted:
        reasons.append("in the previous answer")
    return "; ".join(dict.fromkeys(reasons)) or f"a {hit.doc.entity_type} record"


def build_citations(
    hits: Sequence[SearchHit], filters: Sequence[Filter], text: str, restricted: bool = False
) -> list[Citation]:
    """Number the hits as citations, in rank order.

    Args:
        hits: The hits.
        filters: The (merged) filters of the search.
        text: Its free text ("" for a filter-only search).
        restricted: Whether the search was restricted to the previous answer's records.

    Returns:
        One citation per hit, markers 1..n.

    """
    return [
        Citation(
            i,
            hit.doc.doc_id,
            hit.doc.entity_type,
            hit.doc.entity_id,
            hit.doc.title,
            _why(hit, filters, text, restricted),
        )
        for i, hit in enumerate(hits, start=1)
    ]


def template_answer(
    hits: Sequence[SearchHit],
    *,
    entity_types: Sequence[str],
    filters: Sequence[Filter],
    text: str,
    total: int | None = None,
    vocabulary: QueryVocabulary | None = None,
) -> str:
    """Write the offline answer: the count, the scope and every hit with its ``[n]`` marker.

    Args:
        hits: The hits, best first (their markers are 1..n).
        entity_types: Entity types searched (the noun of the answer).
        filters: The (merged) filters.
        text: The free text ranked on ("" for a filter-only search).
        total: How many records match in all (filter-only searches), when known.
        vocabulary: The index's vocabulary (to describe exclusions).

    Returns:
        The answer.

    """
    scope = describe_scope(filters, vocabulary)
    about = f" matching \u201c{text}\u201d" if text else ""
    where = f" {scope}" if scope else ""
    if not hits:
        return f"No {entity_noun(entity_types, 0)}{about}{where} found."
    items = "; ".join(f"{describe_record(h)} [{i}]" for i, h in enumerate(hits, start=1))
    if text:
        head = f"Top {len(hits)} {entity_noun(entity_types, len(hits))}{about}{where}"
    else:
        count = total if total is not None and total >= len(hits) else len(hits)
        head = f"{count} {entity_noun(entity_types, count)}{where}"
        if count > len(hits):
            head += f"; the first {len(hits)}"
    return f"{head}: {items}."
