"""Query suggestions: templates filled from the CRM's own vocabulary (index or documents)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from textai.search.documents import SearchDocument
from textai.search.index import HybridIndex
from textai.search.query_model import DEFAULT_COUNTRIES, DEFAULT_INDUSTRIES

#: Popular query templates, most popular first (``{industry}`` / ``{country}`` are filled in).
QUERY_TEMPLATES: tuple[str, ...] = (
    "deals closing this quarter",
    "deals over 50k in {industry}",
    "open deals in negotiation",
    "won deals this quarter",
    "{industry} companies in {country}",
    "contacts created last week",
    "calls about pricing",
    "emails about the contract",
    "meetings last month",
    "marketing qualified leads in {industry}",
    "large companies in {industry}",
    "deals closing next month",
)


def _suggestion_vocabulary(source: Any) -> tuple[list[str], list[str], list[str]]:
    """Return (entity names, industries, countries) of documents or an index."""
    documents = getattr(source, "documents", source)
    cache_owner = source if hasattr(source, "documents") else None
    cached = getattr(cache_owner, "_suggest_cache", None) if cache_owner is not None else None
    if cached is not None:
        return cached
    names: dict[str, int] = {}
    industries: dict[str, int] = {}
    countries: dict[str, int] = {}
    for doc in documents:
        if doc.entity_type in ("company", "contact", "deal") and doc.title:
            names[doc.title] = names.get(doc.title, 0) + (2 if doc.entity_type == "company" else 1)
        for key, counter in (("industry", industries), ("country", countries)):
            value = doc.attributes.get(key)
            if isinstance(value, str) and value:
                counter[value] = counter.get(value, 0) + 1
    out = (
        sorted(names, key=lambda n: (-names[n], n)),
        sorted(industries, key=lambda n: (-industries[n], n)),
        sorted(countries, key=lambda n: (-countries[n], n)),
    )
    if cache_owner is not None:
        with contextlib.suppress(AttributeError):
            cache_owner._suggest_cache = out
    return out


def suggest_queries(
    prefix: str,
    documents_or_index: HybridIndex | Sequence[SearchDocument],
    limit: int = 5,
) -> list[str]:
    """Suggest query completions for a typed prefix.

    Completions come, in order, from: the last partial word completed with an industry, a
    country, an entity word or a stage; entity names (companies, contacts, deals) starting with
    the prefix or with a word starting with it; popular query templates filled with the data's
    most common industry / country.

    Args:
        prefix: What the user typed so far (may be empty).
        documents_or_index: A :class:`~textai.search.index.HybridIndex` or its documents.
        limit: Maximum number of suggestions.

    Returns:
        Up to ``limit`` distinct suggestions.

    """
    if limit <= 0:
        return []
    names, industries, countries = _suggestion_vocabulary(documents_or_index)
    top_industry = industries[0] if industries else DEFAULT_INDUSTRIES[0]
    top_country = countries[0] if countries else DEFAULT_COUNTRIES[0]
    templates = [t.format(industry=top_industry, country=top_country) for t in QUERY_TEMPLATES] + [
        f"deals over 50k in {ind}" for ind in industries[1:]
    ]
    typed = " ".join((prefix or "").split())
    low = typed.lower()
    out: list[str] = []

    def add(candidate: str) -> None:
        if candidate and candidate.lower() != low and candidate not in out:
            out.append(candidate)

    if not low:
        for template in templates:
            add(template)
        return out[:limit]
    head, _, last = low.rpartition(" ")
    ends_with_space = (prefix or "").endswith(" ")
    if last and not ends_with_space:
        words = [*industries, *countries, "deals", "contacts", "companies", "emails", "calls",
                 "meetings", "negotiation", "proposal", "qualification", "prospecting",
                 "this quarter", "next month", "last week"]  # fmt: skip
        for word in words:
            if word.lower().startswith(last) and word.lower() != last:
                add((typed[: len(head)] + " " if head else "") + word)
    for name in names:
        name_low = name.lower()
        if name_low.startswith(low):
            add(name)
        if len(out) >= limit * 3:
            break
    if len(out) < limit:
        for name in names:
            if any(w.startswith(low) for w in name.lower().split()[1:]):
                add(name)
            if len(out) >= limit * 3:
                break
    for template in templates:
        if template.lower().startswith(low):
            add(template)
    return out[:limit]
