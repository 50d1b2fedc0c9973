"""Categorical filters of queries: deal and lifecycle stages, industries and countries.

* deal stages ("won", "closed lost", "in negotiation", "open deals") and lifecycle stages
  ("MQLs", "customers");
* industries from the data's vocabulary, case-insensitive, with simple synonyms ("health care",
  "medical" -> healthcare), in a filter context ("in healthcare", "healthcare deals");
* countries ("in Germany", "UK", "French companies").

Each is recognised only when the data has the value (:mod:`textai.search.vocabulary_patterns`).
"""

from __future__ import annotations

import re
from typing import Any

from textai.search.entity_words import ENTITY_AFTER
from textai.search.parse_state import ParseState
from textai.search.query_model import OPEN_STAGES, Filter
from textai.search.vocabulary_patterns import VocabularyPatterns

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
            state.filters.append(Filter("lifecycle_stage", "==", value))
            state.consume(m.start(), m.end())
    for regex, stages in STAGE_PATTERNS:
        known = tuple(s for s in stages if s in patterns.stages)
        m = re.search(regex, state.working())
        if m is None or not known:
            continue
        value: Any = known[0] if len(known) == 1 else known
        state.filters.append(Filter("stage", "==" if len(known) == 1 else "in", value))
        state.consume(m.start(), m.end())


def parse_industries(state: ParseState, patterns: VocabularyPatterns, strict: bool) -> None:
    """Find industries in a filter context ("in healthcare", "fintech companies").

    Args:
        state: The parse state; one ``==`` or ``in`` industry filter is added.
        patterns: The data's vocabulary.
        strict: Ignore synonyms (for long queries, where "health" is more likely a topic).

    """
    found: list[str] = []
    for m in patterns.industry_re.finditer(state.working()):
        phrase = re.sub(r"[\s-]+", " ", m.group("ind"))
        followed = ENTITY_AFTER.match(state.low[m.end() :])
        listed = found and re.search(r"(?:\bor|\band|,|/)\s*$", state.low[: m.start()])
        if not (m.group("pre") or m.group("suf") or followed or listed):
            continue
        if strict and phrase in patterns.weak:
            continue
        value = patterns.industries.get(phrase)
        if value is None:
            continue
        if value not in found:
            found.append(value)
        state.consume(m.start(), m.end())
    if len(found) == 1:
        state.filters.append(Filter("industry", "==", found[0]))
    elif found:
        state.filters.append(Filter("industry", "in", tuple(found)))


def parse_countries(state: ParseState, patterns: VocabularyPatterns) -> None:
    """Find countries by name, adjective or an upper-case code (US, UK).

    Args:
        state: The parse state; one ``==`` or ``in`` country filter is added.
        patterns: The data's vocabulary.

    """
    found: list[str] = []
    for m in patterns.country_re.finditer(state.working()):
        alias = m.group("c")
        adjective = alias.endswith(("an", "ish", "ch", "ss", "ese")) and alias not in (
            "america", "britain", "great britain",
        )  # fmt: skip
        followed = ENTITY_AFTER.match(state.low[m.end() :])
        if adjective and not (m.group("pre") or followed):
            continue
        value = patterns.countries[alias]
        if value not in found:
            found.append(value)
        state.consume(m.start(), m.end())
    for m in patterns.upper_re.finditer(state.working_original_case()):
        code = patterns.upper.get(m.group("c"))
        if code:
            if code not in found:
                found.append(code)
            state.consume(m.start(), m.end())
    if len(found) == 1:
        state.filters.append(Filter("country", "==", found[0]))
    elif found:
        state.filters.append(Filter("country", "in", tuple(found)))
