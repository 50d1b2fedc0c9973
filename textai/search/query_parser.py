"""Natural-language search queries -> structured filters, entity types, intent and suggestions.

:func:`parse_query` is rule based (regular expressions, no LLM). It recognises

* amounts: "over 50k", "above $1.2m", "under 10,000", "between 20k and 40k", "at least 500
  employees" (employee count), "revenue over $10m" (annual revenue);
* industries from the data's vocabulary, case-insensitive, with simple synonyms ("health care",
  "medical" -> healthcare), in a filter context ("in healthcare", "healthcare deals");
* deal stages ("won", "closed lost", "in negotiation", "open deals") and lifecycle stages
  ("MQLs", "customers");
* time phrases relative to ``today``: "closing this quarter", "next month", "created last week",
  "in 2026", "Q3", "since March", "last 30 days"; the verb picks the date field (closing ->
  expected close date, won/lost/closed -> close time, created/added/new -> creation date,
  sent/held -> activity time), otherwise the entity type does;
* entity type words (deals, contacts/people/leads, companies/accounts, emails,
  calls/meetings/transcripts), countries ("in Germany", "UK", "French companies") and company
  size words ("small companies", "mid-market").

What is left once those spans are removed is the free-text remainder used for ranking. A long,
descriptive query (at least :data:`DESCRIPTIVE_MIN_WORDS` content words left, e.g. a paraphrase
of a call) is searched as text: incidental phrases such as "tomorrow" or "more than $20" in it
are not turned into filters; only a leading entity word ("calls where ...") is kept.

:func:`recognize_intent` is a nearest-centroid classifier over all-MiniLM-L6-v2 embeddings of
the labelled phrases in ``configs/search_intents.yaml``; :func:`rule_intent` is its
model-free fallback used by :func:`parse_query`. :func:`suggest_queries` completes a prefix
from entity names, industries, countries and popular query templates.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from textai.search.documents import ENTITY_TYPES
from textai.search.intents import rule_intent
from textai.search.query_model import (
    OPEN_STAGES,
    Filter,
    ParsedQuery,
    QueryVocabulary,
)
from textai.search.query_text import (
    _GLUE,
    _PERSON,
    _WORD,
    DESCRIPTIVE_MIN_WORDS,
    _content_words,
    validate_query,
)
from textai.search.time_ranges import _date_filter, _time_range

#: Industry synonyms -> canonical industry (only canonical values present in the data are used).
INDUSTRY_SYNONYMS: dict[str, str] = {
    "saas": "software", "tech": "software", "technology": "software",
    "financial services": "fintech", "finance": "fintech", "banking": "fintech",
    "payments": "fintech",
    "health care": "healthcare", "health": "healthcare", "medical": "healthcare",
    "hospitals": "healthcare", "hospital": "healthcare", "pharma": "healthcare",
    "ecommerce": "retail", "e-commerce": "retail", "retailers": "retail",
    "manufacturers": "manufacturing", "manufacturer": "manufacturing",
    "industrial": "manufacturing",
    "edtech": "education", "schools": "education", "universities": "education",
    "higher ed": "education",
    "shipping": "logistics", "transport": "logistics", "transportation": "logistics",
    "supply chain": "logistics", "freight": "logistics",
    "publishing": "media", "publishers": "media", "entertainment": "media",
    "non-profit": "nonprofit", "non profit": "nonprofit", "not-for-profit": "nonprofit",
    "not for profit": "nonprofit", "charity": "nonprofit", "charities": "nonprofit",
    "ngo": "nonprofit", "ngos": "nonprofit",
    "public sector": "government", "gov": "government", "govt": "government",
}  # fmt: skip
#: Country names / adjectives (lower case) -> ISO 3166 alpha-2 code.
COUNTRY_ALIASES: dict[str, str] = {
    "united states": "US", "usa": "US", "u.s.": "US", "america": "US", "american": "US",
    "united kingdom": "GB", "uk": "GB", "u.k.": "GB", "britain": "GB", "great britain": "GB",
    "england": "GB", "british": "GB",
    "germany": "DE", "german": "DE", "canada": "CA", "canadian": "CA",
    "france": "FR", "french": "FR", "australia": "AU", "australian": "AU",
    "netherlands": "NL", "the netherlands": "NL", "holland": "NL", "dutch": "NL",
    "india": "IN", "indian": "IN", "spain": "ES", "spanish": "ES", "italy": "IT",
    "italian": "IT", "japan": "JP", "japanese": "JP", "ireland": "IE", "irish": "IE",
    "sweden": "SE", "swedish": "SE", "brazil": "BR", "brazilian": "BR", "mexico": "MX",
    "singapore": "SG", "switzerland": "CH", "swiss": "CH",
}  # fmt: skip
#: ISO codes accepted as written in upper case in the query (others clash with English words).
_UPPER_CODES: dict[str, str] = {"US": "US", "USA": "US", "UK": "GB", "GB": "GB"}
_ISO_NAMES: dict[str, str] = {
    "US": "united states", "GB": "united kingdom", "DE": "germany", "CA": "canada",
    "FR": "france", "AU": "australia", "NL": "netherlands", "IN": "india",
}  # fmt: skip

_ENTITY_WORDS: dict[str, str] = {
    "deal": r"deals?|opportunit(?:y|ies)|opps?|pipeline",
    "contact": r"contacts?|people|persons?|leads?|prospects?|decision[- ]makers?",
    "company": (
        r"compan(?:y|ies)|accounts?(?!\s+(?:manager|executive|research|owner))"
        r"|organi[sz]ations?|orgs?|businesses|firms?"
    ),
    "email": r"e-?mails?|mails?|messages?|inbox",
    "transcript": r"(?:phone\s+)?calls?|meetings?|transcripts?|conversations?|demos?",
}
#: An entity (or customer) word right after a category: "fintech companies", "German deals".
_ENTITY_AFTER = re.compile(
    r"\s+(?:\w+\s+)?(?:" + "|".join(_ENTITY_WORDS.values()) + r"|customers?|clients?)\b"
)
_CALL_WORDS = re.compile(r"^(?:phone\s+)?calls?$")
_MEETING_WORDS = re.compile(r"^(?:meetings?|demos?)$")

#: Words that may precede a leading entity word of a descriptive query ("show me calls ...").
_LEAD_WORDS = frozenset(
    {"show", "me", "find", "list", "get", "search", "for", "all", "any", "the", "my", "our", "a"}
)
_COMMAND = re.compile(
    r"^\s*(?:(?:please\s+)?(?:show|find|list|get|give|search|look\s+up|lookup|display|pull"
    r"|fetch|bring\s+up)(?:\s+me)?(?:\s+(?:for|all|any|the|every))*\s+)",
    re.IGNORECASE,
)

_SUFFIX = r"k|mm|m|bn|thousand|million|billion|grand"
_NUM = rf"\$?\s?(\d+(?:,\d{{3}})*(?:\.\d+)?)\s?({_SUFFIX})?(?![\w])"
_MULT = {
    "": 1.0, "k": 1e3, "thousand": 1e3, "grand": 1e3, "m": 1e6, "mm": 1e6, "million": 1e6,
    "bn": 1e9, "billion": 1e9,
}  # fmt: skip
_CMP = {
    ">": r"over|above|more\s+than|greater\s+than|bigger\s+than|larger\s+than|higher\s+than"
    r"|exceeding|in\s+excess\s+of|>",
    ">=": r"at\s+least|minimum(?:\s+of)?|no\s+less\s+than|not\s+less\s+than|>=",
    "<": r"under|below|less\s+than|smaller\s+than|lower\s+than|fewer\s+than|<",
    "<=": r"at\s+most|up\s+to|maximum(?:\s+of)?|no\s+more\s+than|not\s+more\s+than|<=",
}
_AMOUNT_CMP = re.compile(
    rf"(?:\b(?:worth|valued\s+at|with|of|amount|value|size|revenue|arr|headcount)\s+)?"
    rf"(?P<cmp>{'|'.join(f'(?:{v})' for v in _CMP.values())})\s*{_NUM}"
)
_AMOUNT_BETWEEN = re.compile(
    rf"(?:\b(?:worth|valued\s+at|with|of|amount|value|revenue)\s+)?"
    rf"(?:between\s+{_NUM}\s*(?:and|to|-|–)\s*{_NUM}|from\s+{_NUM}\s*(?:to|-|–)\s*{_NUM})"
)
_EMPLOYEE_AFTER = re.compile(
    r"^\s*(?:employees|employee|staff|people|headcount|workers|ftes?|persons)\b"
)
_EMPLOYEE_BEFORE = re.compile(r"(?:employees|headcount|staff|team\s+size|size)\W*(?:\w+\W+)?$")
_REVENUE_BEFORE = re.compile(r"(?:revenue|arr|turnover|sales\s+volume)\W*(?:\w+\W+)?$")

_STAGE_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"closed[\s-]+won|\bwon\b(?!')", ("closed_won",)),
    (r"closed[\s-]+lost|\blost\b", ("closed_lost",)),
    (r"\bclosed\s+(?=deals?|opportunit)", ("closed_won", "closed_lost")),
    (r"\b(?:in\s+)?negotiation(?:\s+stage)?|\bnegotiating\b", ("negotiation",)),
    (r"\b(?:in\s+)?(?:the\s+)?proposal(?:\s+stage|\s+sent)?", ("proposal",)),
    (r"\b(?:in\s+)?qualification(?:\s+stage)?|\bqualifying\b", ("qualification",)),
    (r"\b(?:in\s+)?prospecting(?:\s+stage)?", ("prospecting",)),
    (r"\b(?:open|active|ongoing)\s+(?=deals?|opportunit|opps?\b)", OPEN_STAGES),
)
_LIFECYCLE_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\bmqls?\b|\bmarketing[\s-]+qualified(?:\s+leads?)?", "marketing_qualified_lead"),
    (r"\bsqls?\b|\bsales[\s-]+qualified(?:\s+leads?)?", "sales_qualified_lead"),
    (r"\bcustomers\b|\bclients\b", "customer"),
)

_VERB_FIELDS: tuple[tuple[str, str], ...] = (
    (r"expected\s+to\s+close|close\s+date|due\s+to\s+close|closing|closes|close",
     "expected_close_date"),
    (r"closed|won|lost|signed", "closed_at"),
    (r"created|added|new|joined|signed\s+up|registered|entered|opened", "created_at"),
    (r"sent|received|held|happened|logged|took\s+place|had|scheduled|occurred", "occurred_at"),
)  # fmt: skip
_VERB = re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p, _ in _VERB_FIELDS) + r")\b")
_MODS = r"since|before|after|until|by|in|during|for|within|on|from|of|over"
_TIME_PREFIX = (
    r"(?:\b(?P<verb>"
    + "|".join(p for p, _ in _VERB_FIELDS)
    + r")\s+)?(?:\b(?P<mod>"
    + _MODS
    + r")\s+)?(?:the\s+)?"
)
_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_TIME_BODIES: tuple[tuple[str, str], ...] = (
    ("rel_n", r"(?P<rel>last|past|next|coming)\s+(?P<n>\d{1,3})\s+"
              r"(?P<unit>days?|weeks?|months?|years?)"),
    ("rel", r"(?P<rel>this|current|last|previous|past|next|coming)\s+"
            r"(?P<unit>week|month|quarter|year)"),
    ("quarter", r"q(?P<q>[1-4])(?:\s*(?:of\s+)?(?P<y>(?:19|20)\d{2}))?"),
    ("quarter", r"(?P<y>(?:19|20)\d{2})\s*q(?P<q>[1-4])"),
    ("iso", r"(?P<iso>\d{4}-\d{2}-\d{2})"),
    ("month", rf"(?P<mon>{_MONTHS})(?:\s+(?P<y>(?:19|20)\d{{2}}))?"),
    ("year", r"(?P<y>(?:19|20)\d{2})"),
    ("day", r"(?P<day>today|yesterday|tomorrow)"),
    ("ytd", r"(?P<ytd>year[\s-]+to[\s-]+date|ytd)"),
    ("soon", r"(?P<soon>soon)"),
)  # fmt: skip
_TIME_RES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(_TIME_PREFIX + r"\b" + body + r"\b")) for kind, body in _TIME_BODIES
)


# --------------------------------------------------------------------------------------------
# Data types
# --------------------------------------------------------------------------------------------


#: Company-size words -> employee-count filter arguments.
_SIZE_PATTERNS: tuple[tuple[str, tuple[str, str, Any]], ...] = (
    (r"\b(?:small(?:er)?|tiny)\s+(?=compan|businesses|firms|accounts|orgs?)|\bstartups?\b|\bsmbs?\b",
     ("employee_count", "<", 50.0)),
    (r"\bmid[\s-]?(?:sized?|market)\b", ("employee_count", "between", (50.0, 999.0))),
    (r"\b(?:large|big|bigger|larger)\s+(?=compan|businesses|firms|accounts|orgs?)",
     ("employee_count", ">=", 1000.0)),
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _parse_number(digits: str, suffix: str | None) -> float:
    """Turn "1,200" + "k" into 1_200_000.0."""
    return float(digits.replace(",", "")) * _MULT[(suffix or "").lower()]


@lru_cache(maxsize=16)
def _vocabulary_patterns(vocab: QueryVocabulary) -> dict[str, Any]:
    """Compile the industry and country patterns of a vocabulary (cached per vocabulary)."""
    lower = {v.lower().replace("_", " "): v for v in vocab.industries}
    industries: dict[str, str] = dict(lower)
    weak: set[str] = set()
    for phrase, canonical in INDUSTRY_SYNONYMS.items():
        target = next((v for k, v in lower.items() if k == canonical), None)
        if target is not None and phrase not in industries:
            industries[phrase] = target
            weak.add(phrase)
    names = sorted(industries, key=len, reverse=True)
    alternation = "|".join(re.escape(n).replace(r"\ ", r"[\s-]+") for n in names)
    industry_re = re.compile(
        rf"(?P<pre>\b(?:in|from|within|across|for)\s+(?:the\s+)?)?\b(?P<ind>{alternation})\b"
        rf"(?P<suf>\s+(?:sector|industry|industries|space|vertical|market)\b)?"
    )
    stored = {c.lower(): c for c in vocab.countries}
    countries: dict[str, str] = {}
    for alias, code in COUNTRY_ALIASES.items():
        if code.lower() in stored:
            countries[alias] = stored[code.lower()]
        elif _ISO_NAMES.get(code, "") in stored:
            countries[alias] = stored[_ISO_NAMES[code]]
    for value in vocab.countries:
        if len(value) > 3:
            countries[value.lower()] = value
    country_names = sorted(countries, key=len, reverse=True)
    country_re = re.compile(
        r"(?P<pre>\b(?:in|from|based\s+in|located\s+in|headquartered\s+in|across)\s+)?"
        rf"\b(?P<c>{'|'.join(re.escape(n) for n in country_names)})(?![\w.])"
    )
    upper = {code: stored.get(target.lower()) for code, target in _UPPER_CODES.items()}
    upper_re = re.compile(
        r"(?P<pre>\b(?:in|from|based\s+in|located\s+in)\s+)?\b(?P<c>"
        + "|".join(code for code, value in upper.items() if value)
        + r")\b"
        if any(upper.values())
        else r"(?!x)x"
    )
    stage_values = {s.lower() for s in vocab.stages}
    lifecycle_values = {s.lower() for s in vocab.lifecycle_stages}
    return {
        "industries": industries,
        "weak": weak,
        "industry_re": industry_re,
        "countries": countries,
        "country_re": country_re,
        "upper": upper,
        "upper_re": upper_re,
        "stages": stage_values,
        "lifecycle": lifecycle_values,
    }


@dataclass
class _State:
    """Mutable parse state: the text, its consumed characters and what was found."""

    raw: str
    low: str
    consumed: list[bool]
    protected: list[bool] = field(default_factory=list)
    filters: list[Filter] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    entity_spans: list[tuple[int, str]] = field(default_factory=list)
    activity_words: set[str] = field(default_factory=set)
    pending_dates: list[tuple[int, str | None, str | None, tuple[dt.date, dt.date]]] = field(
        default_factory=list
    )

    def working(self) -> str:
        """Return the lower-case text with consumed and protected characters blanked out."""
        hidden = self.protected or [False] * len(self.low)
        return "".join(
            " " if used or keep else c
            for c, used, keep in zip(self.low, self.consumed, hidden, strict=True)
        )

    def protect_names(self, names: frozenset[str]) -> None:
        """Hide spans naming a known company from the filter rules (they stay in the text)."""
        self.protected = [False] * len(self.low)
        if not names:
            return
        squeezed = re.sub(r"\s", " ", self.low)
        for name in names:
            start = squeezed.find(name)
            while start >= 0:
                end = start + len(name)
                before_ok = start == 0 or not squeezed[start - 1].isalnum()
                after_ok = end == len(squeezed) or not squeezed[end].isalnum()
                if before_ok and after_ok:
                    for i in range(start, end):
                        self.protected[i] = True
                start = squeezed.find(name, start + 1)

    def consume(self, start: int, end: int) -> None:
        """Mark ``[start, end)`` as consumed (protected characters stay in the text)."""
        hidden = self.protected or [False] * len(self.low)
        for i in range(start, end):
            if not hidden[i]:
                self.consumed[i] = True

    def remainder(self) -> str:
        """Return the original text minus consumed spans, whitespace collapsed."""
        kept = "".join(" " if used else c for c, used in zip(self.raw, self.consumed, strict=True))
        return " ".join(kept.split())


def _parse_amounts(state: _State) -> None:
    """Find amount / employee-count / revenue comparisons and ranges."""
    for pattern in (_AMOUNT_BETWEEN, _AMOUNT_CMP):
        while True:
            m = pattern.search(state.working())
            if m is None:
                break
            end = m.end()
            if pattern is _AMOUNT_BETWEEN:
                groups = m.groups()
                d1, s1, d2, s2 = groups[0:4] if groups[0] is not None else groups[4:8]
                if s2 and not s1 and _parse_number(d1, s2) <= _parse_number(d2, s2):
                    s1 = s2  # "between 20 and 40k" -> both in thousands
                low, high = _parse_number(d1, s1), _parse_number(d2, s2)
                if low > high:
                    raise ValueError(
                        f"amount range in {state.raw!r} is inverted: {low:g} is above {high:g}"
                    )
                op, value = "between", (low, high)
            else:
                op = next(k for k, v in _CMP.items() if re.fullmatch(v, m.group("cmp").strip()))
                value = _parse_number(m.group(2), m.group(3))
            before = state.low[: m.start()]
            after = _EMPLOYEE_AFTER.match(state.low[end:])
            if after is not None:
                field_name = "employee_count"
                end += after.end()
            elif _EMPLOYEE_BEFORE.search(before) or re.search(
                r"\b(?:headcount|employees|staff)\b", m.group(0)
            ):
                field_name = "employee_count"
            elif _REVENUE_BEFORE.search(before) or re.search(r"\b(?:revenue|arr)\b", m.group(0)):
                field_name = "annual_revenue"
            else:
                field_name = "amount"
            state.filters.append(Filter(field_name, op, value))
            state.consume(m.start(), end)


def _parse_stages(state: _State, patterns: dict[str, Any]) -> None:
    """Find lifecycle stages (MQL, customers...) and deal stages (won, in negotiation...)."""
    for regex, value in _LIFECYCLE_PATTERNS:
        if value.lower() not in patterns["lifecycle"]:
            continue
        m = re.search(regex, state.working())
        if m is not None:
            state.filters.append(Filter("lifecycle_stage", "==", value))
            state.consume(m.start(), m.end())
    for regex, stages in _STAGE_PATTERNS:
        known = tuple(s for s in stages if s in patterns["stages"])
        m = re.search(regex, state.working())
        if m is None or not known:
            continue
        value: Any = known[0] if len(known) == 1 else known
        state.filters.append(Filter("stage", "==" if len(known) == 1 else "in", value))
        state.consume(m.start(), m.end())


def _parse_times(state: _State, today: dt.date) -> None:
    """Find time phrases; their date field is resolved once entity types are known."""
    while True:
        working = state.working()
        best: tuple[re.Match[str], tuple[dt.date, dt.date]] | None = None
        for kind, regex in _TIME_RES:
            for m in regex.finditer(working):
                span = _time_range(kind, m, today)
                if span is not None:
                    if best is None or m.start() < best[0].start():
                        best = (m, span)
                    break
        if best is None:
            return
        m, span = best
        verb_field = _verb_field(m.group("verb")) if m.group("verb") else None
        if verb_field is None:
            verbs = list(_VERB.finditer(state.low[: m.start()]))
            verb_field = _verb_field(verbs[-1].group(0)) if verbs else None
        mod = m.group("mod")
        state.pending_dates.append((m.start(), verb_field, mod, span))
        state.consume(m.start(), m.end())


def _verb_field(verb: str) -> str | None:
    """Map a verb ("closing", "created"...) to its date field."""
    for pattern, field_name in _VERB_FIELDS:
        if re.fullmatch(pattern, verb.strip()):
            return field_name
    return None


def _parse_industries(state: _State, patterns: dict[str, Any], strict: bool) -> None:
    """Find industries in a filter context ("in healthcare", "fintech companies")."""
    found: list[str] = []
    for m in patterns["industry_re"].finditer(state.working()):
        phrase = re.sub(r"[\s-]+", " ", m.group("ind"))
        followed = _ENTITY_AFTER.match(state.low[m.end() :])
        listed = found and re.search(r"(?:\bor|\band|,|/)\s*$", state.low[: m.start()])
        if not (m.group("pre") or m.group("suf") or followed or listed):
            continue
        if strict and phrase in patterns["weak"]:
            continue
        value = patterns["industries"].get(phrase)
        if value is None:
            continue
        if value not in found:
            found.append(value)
        state.consume(m.start(), m.end())
    if len(found) == 1:
        state.filters.append(Filter("industry", "==", found[0]))
    elif found:
        state.filters.append(Filter("industry", "in", tuple(found)))


def _parse_countries(state: _State, patterns: dict[str, Any]) -> None:
    """Find countries by name, adjective or an upper-case code (US, UK)."""
    found: list[str] = []
    for m in patterns["country_re"].finditer(state.working()):
        alias = m.group("c")
        adjective = alias.endswith(("an", "ish", "ch", "ss", "ese")) and alias not in (
            "america", "britain", "great britain",
        )  # fmt: skip
        followed = _ENTITY_AFTER.match(state.low[m.end() :])
        if adjective and not (m.group("pre") or followed):
            continue
        value = patterns["countries"][alias]
        if value not in found:
            found.append(value)
        state.consume(m.start(), m.end())
    for m in patterns["upper_re"].finditer(_blank(state)):
        code = patterns["upper"].get(m.group("c"))
        if code:
            if code not in found:
                found.append(code)
            state.consume(m.start(), m.end())
    if len(found) == 1:
        state.filters.append(Filter("country", "==", found[0]))
    elif found:
        state.filters.append(Filter("country", "in", tuple(found)))


def _blank(state: _State) -> str:
    """Return the original-case text with consumed / protected characters blanked."""
    hidden = state.protected or [False] * len(state.raw)
    return "".join(
        " " if used or keep else c
        for c, used, keep in zip(state.raw, state.consumed, hidden, strict=True)
    )


def _parse_sizes(state: _State) -> None:
    """Find company-size words ("small companies", "mid-market", "startups")."""
    for regex, (field_name, op, value) in _SIZE_PATTERNS:
        m = re.search(regex, state.working())
        if m is not None:
            state.filters.append(Filter(field_name, op, value))
            state.consume(m.start(), m.end())


def _parse_entities(state: _State) -> None:
    """Find entity type words (deals, contacts, companies, emails, calls/meetings)."""
    for entity, alternation in _ENTITY_WORDS.items():
        for m in re.finditer(rf"\b(?:{alternation})\b", state.working()):
            if entity not in state.entities:
                state.entities.append(entity)
            state.entity_spans.append((m.start(), entity))
            if entity == "transcript":
                word = m.group(0)
                if _CALL_WORDS.match(word):
                    state.activity_words.add("call")
                elif _MEETING_WORDS.match(word):
                    state.activity_words.add("meeting")
                else:
                    state.activity_words.add("any")
            state.consume(m.start(), m.end())


def _clean_remainder(text: str) -> str:
    """Strip command words and glue-only leftovers from the free-text remainder."""
    text = _COMMAND.sub("", text).strip(" ,;:?!.")
    words = text.split()
    while words and words[0].lower() in _GLUE:
        words.pop(0)
    while words and words[-1].lower().strip("?!.,") in _GLUE:
        words.pop()
    text = " ".join(words)
    return text if _content_words(text) else ""


def parse_query(
    text: str,
    today: dt.date | None = None,
    *,
    vocabulary: QueryVocabulary | None = None,
    intent_classifier: Callable[[str], str] | None = None,
) -> ParsedQuery:
    """Parse a natural-language query into filters, entity types, remainder text and intent.

    Args:
        text: The user's query, e.g. "deals over 50k in healthcare closing this quarter".
        today: Reference date of relative time phrases (default: today).
        vocabulary: Categorical values of the data (default: the synthetic CRM's).
        intent_classifier: Intent model (e.g. :func:`recognize_intent`); default
            :func:`rule_intent`.

    Returns:
        The :class:`ParsedQuery`.

    Raises:
        ValueError: On an empty / non-string / overlong query or an inverted range.

    """
    raw = validate_query(text)
    today = today or dt.date.today()
    vocab = vocabulary or QueryVocabulary()
    patterns = _vocabulary_patterns(vocab)
    words = len(_WORD.findall(raw))
    low = "".join(c.lower() if len(c.lower()) == 1 else c for c in raw)
    state = _State(raw=raw, low=low, consumed=[False] * len(raw))
    state.protect_names(vocab.names)
    _parse_amounts(state)
    _parse_stages(state, patterns)
    _parse_times(state, today)
    _parse_industries(state, patterns, strict=words > 12)
    _parse_countries(state, patterns)
    _parse_sizes(state)
    _parse_entities(state)
    remainder = _clean_remainder(state.remainder())

    if len(_content_words(remainder)) >= DESCRIPTIVE_MIN_WORDS:
        # A descriptive query: search it as text, keeping only a leading entity word.
        lead = [
            e
            for pos, e in state.entity_spans
            if all(w.lower() in _LEAD_WORDS for w in _WORD.findall(raw[:pos]))
        ]
        parsed = ParsedQuery(
            text=_clean_remainder(raw) or raw, entity_types=tuple(dict.fromkeys(lead)), raw=raw
        )
        intent = (intent_classifier or rule_intent)(raw)
        return ParsedQuery(parsed.text, parsed.entity_types, (), intent, raw)

    entities = list(state.entities)
    first = min(state.entity_spans)[1] if state.entity_spans else None
    if first in ("email", "transcript"):
        # "emails from healthcare contacts": the people / companies only qualify the activity.
        entities = [e for e in entities if e in ("email", "transcript")]
    fields_found = {f.field for f in state.filters}
    if not entities:
        if fields_found & {"amount", "stage"}:
            entities = ["deal"]
        elif "lifecycle_stage" in fields_found:
            entities = ["contact"]
        elif fields_found & {"employee_count", "annual_revenue"}:
            entities = ["company"]
    filters = list(state.filters)
    for _, verb_field, mod, span in sorted(state.pending_dates, key=lambda p: p[0]):
        field_name = verb_field or _default_date_field(entities)
        filters.append(_date_filter(field_name, mod, span))
        if not state.entities and not entities:
            if field_name in ("expected_close_date", "closed_at"):
                entities = ["deal"]
            elif field_name == "occurred_at":
                entities = ["email", "transcript"]
    if "transcript" in entities and len(state.activity_words) == 1:
        (kind,) = state.activity_words
        if kind != "any":
            filters.append(Filter("activity_type", "==", kind))
    ordered = tuple(e for e in ENTITY_TYPES if e in entities)
    provisional = ParsedQuery(remainder, ordered, tuple(filters), "find_entity", raw)
    intent = intent_classifier(raw) if intent_classifier else rule_intent(raw, provisional)
    if intent == "lookup_person" and not ordered and _PERSON.match(low.strip()):
        ordered = ("contact",)  # "who is Ada Lopez": a person, not the deals naming her
    return ParsedQuery(remainder, ordered, tuple(filters), intent, raw)


def _default_date_field(entities: Sequence[str]) -> str:
    """Return the date field of a verb-less time phrase for the query's entity types."""
    if entities and all(e == "deal" for e in entities):
        return "expected_close_date"
    if entities and all(e in ("email", "transcript") for e in entities):
        return "occurred_at"
    return "created_at"


# --------------------------------------------------------------------------------------------
# Intent
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Suggestions
# --------------------------------------------------------------------------------------------
