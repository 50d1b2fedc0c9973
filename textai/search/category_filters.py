"""Categorical filters of queries: deal and lifecycle stages, industries and countries.

* deal stages ("won", "closed lost", "in negotiation", "open deals") and lifecycle stages
  ("MQLs", "customers");
* industries from the data's vocabulary, case-insensitive, with simple synonyms ("health care",
  "medical" -> healthcare), in a filter context ("in healthcare", "healthcare deals");
* countries ("in Germany", "UK", "French companies").

Each is recognised only when the data has the value (:mod:`textai.search.vocabulary_patterns`).
A value in a negation's scope ("not closed won", "excluding retail", "outside the UK") gives a
``!=`` / ``not in`` filter (:mod:`textai.search.negation`).
"""

from __future__ import annotations

import re
from typing import Any

from textai.search.entity_words import ENTITY_AFTER
from textai.search.negation import claim_negation, negate_op, negation_before
from textai.search.parse_state import ParseState
from textai.search.query_model import OPEN_STAGES, Filter
from textai.search.vocabulary_patterns import VocabularyPatterns, fuzzy_industry

#: Only command words before a phrase: it leads the query ("insurers in Germany").
_LEADING = re.compile(
    r"^\s*(?:(?:show|find|list|get|give|all|any|the|me|our|my|us|please|search|for)\s+)*$"
)
#: A preposition after a leading industry phrase.
_PREP_AFTER = re.compile(r"^\s+(?:in|from|based|located|with|that|who|which|over|under)\b")
#: A word in an industry's filter context: "in X", "X companies", "X sector".
_INDUSTRY_SLOT = re.compile(
    r"\b(?:in|from|within|across)\s+(?:the\s+)?(?P<a>[a-z][a-z&-]{4,})\b(?![\s-]*\d)"
    r"|\b(?P<b>[a-z][a-z&-]{4,})(?=\s+(?:sector|industry|industries|space|vertical|market)\b"
    r"|\s+(?:compan(?:y|ies)|deals?|accounts?|contacts?|leads?|customers?|clients?|firms?"
    r"|businesses|prospects?|opportunit(?:y|ies))\b)"
)

#: Deal-stage phrases -> the stages they select.
STAGE_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"closed[\s-]+won|\bwon\b(?!')", ("closed_won",)),
    (r"closed[\s-]+lost|\blost\b", ("closed_lost",)),
    (r"\bclosed\s+(?=deals?|opportunit)", ("closed_won", "closed_lost")),
    (r"\b(?:in\s+)?negotiation(?:\s+stage)?|\bnegotiating\b", ("negotiation",)),
    (r"\b(?:in\s+)?(?:the\s+)?proposal(?:\s+stage|\s+sent)?", ("proposal",)),
    (r"\b(?:in\s+)?qualification(?:\s+stage)?|\bqualifying\b", ("qualification",)),
    (r"\b(?:in\s+)?prospecting(?:\s+stage)?", ("prospecting",)),
    (r"\b(?:open|active|ongoing)\s+(?=deals?|opportunit|opps?\b)", OPEN_STAGES),
    (
        r"\bclosed\b(?=\s*(?:$|[,.;?!]|\band\b|\bor\b|\bin\b|\bwith\b))",
        ("closed_won", "closed_lost"),
    ),
)
#: Lifecycle-stage phrases -> the lifecycle stage.
LIFECYCLE_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\bmqls?\b|\bmarketing[\s-]+qualified(?:\s+leads?)?", "marketing_qualified_lead"),
    (r"\bsqls?\b|\bsales[\s-]+qualified(?:\s+leads?)?", "sales_qualified_lead"),
    (r"\bcustomers\b|\bclients\b", "customer"),
)


def parse_stages(state: ParseState, patterns: VocabularyPatterns) -> None:
    """Find lifecycle stages (MQL, customers...) and deal stages (won, in negotiation...).

    Args:
        state: The parse state; a filter is added and its span consumed per stage phrase.
        patterns: The data's vocabulary (a stage the data lacks is not recognised).

    """
    for regex, value in LIFECYCLE_PATTERNS:
        if value.lower() not in patterns.lifecycle:
            continue
        m = re.search(regex, state.working())
        if m is not None:
            op = negate_op("==", claim_negation(state, m.start()))
            state.filters.append(Filter("lifecycle_stage", op, value))
            state.consume(m.start(), m.end())
    for regex, stages in STAGE_PATTERNS:
        known = tuple(s for s in stages if s in patterns.stages)
        m = re.search(regex, state.working())
        if m is None or not known:
            continue
        value: Any = known[0] if len(known) == 1 else known
        op = negate_op("==" if len(known) == 1 else "in", claim_negation(state, m.start()))
        state.filters.append(Filter("stage", op, value))
        state.consume(m.start(), m.end())


def add_category_filters(state: ParseState, field_name: str, found: list[tuple[str, bool]]) -> None:
    """Add the filters of the values found for one field: kept ones, then excluded ones.

    Args:
        state: The parse state.
        field_name: The attribute (``industry``, ``country``...).
        found: ``(value, negated)`` in query order.

    """
    for negated in (False, True):
        values = list(dict.fromkeys(v for v, neg in found if neg is negated))
        if len(values) == 1:
            state.filters.append(Filter(field_name, negate_op("==", negated), values[0]))
        elif values:
            state.filters.append(Filter(field_name, negate_op("in", negated), tuple(values)))


def parse_industries(state: ParseState, patterns: VocabularyPatterns, strict: bool) -> None:
    """Find industries in a filter context ("in healthcare", "fintech companies").

    Args:
        state: The parse state; one ``==`` or ``in`` industry filter is added.
        patterns: The data's vocabulary.
        strict: Ignore synonyms (for long queries, where "health" is more likely a topic).

    """
    found: list[tuple[str, bool]] = []
    for m in patterns.industry_re.finditer(state.working()):
        phrase = re.sub(r"[\s-]+", " ", m.group("ind"))
        followed = ENTITY_AFTER.match(state.low[m.end() :])
        listed = found and re.search(r"(?:\bor|\band|,|/|\bnor)\s*$", state.low[: m.start()])
        leading = _LEADING.match(state.low[: m.start()]) and _PREP_AFTER.match(state.low[m.end() :])
        excluded = negation_before(state, m.start()) is not None
        if not (m.group("pre") or m.group("suf") or followed or listed or leading or excluded):
            continue
        if strict and phrase in patterns.weak:
            continue
        value = patterns.industries.get(phrase)
        if value is None:
            continue
        negated = claim_negation(state, m.start()) or bool(listed and found[-1][1])
        found.append((value, negated))
        state.consume(m.start(), m.end())
    if not strict:
        for m in _INDUSTRY_SLOT.finditer(state.working()):
            group = "a" if m.group("a") else "b"
            value = fuzzy_industry(m.group(group), patterns)
            if value is not None:
                found.append((value, claim_negation(state, m.start())))
                state.consume(m.start(), m.end())
    add_category_filters(state, "industry", found)


def parse_countries(state: ParseState, patterns: VocabularyPatterns) -> None:
    """Find countries by name, adjective or an upper-case code (US, UK).

    Args:
        state: The parse state; one ``==`` or ``in`` country filter is added.
        patterns: The data's vocabulary.

    """
    found: list[tuple[str, bool]] = []
    for m in patterns.country_re.finditer(state.working()):
        alias = m.group("c")
        adjective = alias.endswith(("an", "ish", "ch", "ss", "ese")) and alias not in (
            "america", "britain", "great britain",
        )  # fmt: skip
        followed = ENTITY_AFTER.match(state.low[m.end() :])
        if adjective and not (m.group("pre") or followed):
            continue
        found.append((patterns.countries[alias], _negated_item(state, m.start(), found)))
        state.consume(m.start(), m.end())
    for m in patterns.upper_re.finditer(state.working_original_case()):
        code = patterns.upper.get(m.group("c"))
        if code:
            found.append((code, _negated_item(state, m.start(), found)))
            state.consume(m.start(), m.end())
    add_category_filters(state, "country", found)


def _negated_item(state: ParseState, start: int, found: list[tuple[str, bool]]) -> bool:
    """Return whether a list item is negated: by its own cue or as the next item of one."""
    listed = found and re.search(r"(?:\bor|\band|,|/|\bnor)\s*$", state.low[:start])
    return claim_negation(state, start) or bool(listed and found[-1][1])
