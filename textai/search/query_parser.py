"""Natural-language search queries -> structured filters, entity types, remainder and intent.

:func:`parse_query` is rule based (no LLM; :mod:`textai.search.query_llm` puts a hosted model
in front of it). It runs the extractors in order, each consuming the span it recognises; a
value in the scope of a negation ("not", "excluding", "other than", "except") gives a ``!=`` /
``not in`` filter (:mod:`textai.search.negation`):

* (first) number words and shorthands rewritten as digits: "fifty thousand", "50k+", "1.5m"
  (:mod:`textai.search.number_words`, text2num);
* amounts, employee counts, revenue, lead scores and company sizes
  (:mod:`textai.search.number_filters`);
* lead-score bands: "hot leads" (:mod:`textai.search.score_bands`, the platform's thresholds);
* deal / lifecycle stages, industries (the data's values, synonyms, misspellings) and
  countries (:mod:`textai.search.category_filters`);
* activity facts: "replied to an email", "had a meeting", "called"
  (:mod:`textai.search.activity_phrases`), whose time phrase becomes an ``activity.<kind>``
  filter instead of a date of the record;
* time phrases and their date field, open-ended and explicit dates included
  (:mod:`textai.search.time_phrases`, dateparser);
* entity type words: deals, contacts/people/leads, companies/accounts, emails,
  calls/meetings/transcripts (:mod:`textai.search.entity_words`).

What is left once those spans are removed is the free-text remainder used for ranking. A long,
descriptive query (at least :data:`~textai.search.query_text.DESCRIPTIVE_MIN_WORDS` content
words left, e.g. a paraphrase of a call) is searched as text: incidental phrases such as
"tomorrow" or "more than $20" in it are not turned into filters; only a leading entity word
("calls where ...") is kept. The intent comes from :func:`~textai.search.intents.rule_intent`
unless a classifier is given.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from textai.search.activity_filters import EVER
from textai.search.activity_phrases import (
    ActivityCue,
    activity_field,
    cue_of_time,
    parse_activity_cues,
)
from textai.search.category_filters import parse_countries, parse_industries, parse_stages
from textai.search.documents import ENTITY_TYPES
from textai.search.entity_words import LEAD_WORDS, parse_entities
from textai.search.intents import rule_intent
from textai.search.number_filters import parse_amounts, parse_sizes
from textai.search.number_words import normalise_numbers
from textai.search.parse_state import ParseState
from textai.search.query_model import Filter, ParsedQuery, QueryVocabulary
from textai.search.query_text import (
    DESCRIPTIVE_MIN_WORDS,
    GLUE_WORDS,
    PERSON_CUE,
    WORD,
    content_words,
    validate_query,
)
from textai.search.score_bands import parse_score_bands
from textai.search.time_phrases import default_date_field, parse_times
from textai.search.time_ranges import date_filter
from textai.search.vocabulary_patterns import vocabulary_patterns

_COMMAND = re.compile(
    r"^\s*(?:(?:please\s+)?(?:show|find|list|get|give|search|look\s+up|lookup|display|pull"
    r"|fetch|bring\s+up)(?:\s+me)?(?:\s+(?:for|all|any|the|every))*\s+)",
    re.IGNORECASE,
)


def _clean_remainder(text: str) -> str:
    """Strip command words and glue-only leftovers from the free-text remainder."""
    text = _COMMAND.sub("", text).strip(" ,;:?!.")
    words = text.split()
    while words and words[0].lower() in GLUE_WORDS:
        words.pop(0)
    while words and words[-1].lower().strip("?!.,") in GLUE_WORDS:
        words.pop()
    text = " ".join(words)
    return text if content_words(text) else ""


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
        intent_classifier: Intent model (e.g.
            :func:`~textai.search.intents.recognize_intent`); default
            :func:`~textai.search.intents.rule_intent`.

    Returns:
        The :class:`ParsedQuery`.

    Raises:
        ValueError: On an empty / non-string / overlong query or an inverted range.

    """
    raw = validate_query(text)
    today = today or dt.date.today()
    vocab = vocabulary or QueryVocabulary()
    patterns = vocabulary_patterns(vocab)
    words = len(WORD.findall(raw))
    normal = normalise_numbers(raw)
    low = "".join(c.lower() if len(c.lower()) == 1 else c for c in normal)
    state = ParseState(raw=normal, low=low, consumed=[False] * len(normal))
    state.protect_names(vocab.names)
    parse_amounts(state)
    parse_score_bands(state)
    parse_stages(state, patterns)
    cues = parse_activity_cues(state)
    parse_times(state, today)
    parse_industries(state, patterns, strict=words > 12)
    parse_countries(state, patterns)
    parse_sizes(state)
    parse_entities(state)
    remainder = _clean_remainder(state.remainder())

    if len(content_words(remainder)) >= DESCRIPTIVE_MIN_WORDS:
        return _descriptive_query(raw, state, intent_classifier)
    entities = _entities(state)
    filters, entities = _with_date_filters(state, entities, cues)
    if "transcript" in entities and len(state.activity_words) == 1:
        (kind,) = state.activity_words
        if kind != "any":
            filters.append(Filter("activity_type", "==", kind))
    ordered = tuple(e for e in ENTITY_TYPES if e in entities)
    provisional = ParsedQuery(remainder, ordered, tuple(filters), "find_entity", raw)
    intent = intent_classifier(raw) if intent_classifier else rule_intent(raw, provisional)
    if intent == "lookup_person" and not ordered and PERSON_CUE.match(low.strip()):
        ordered = ("contact",)  # "who is Ada Lopez": a person, not the deals naming her
    return ParsedQuery(remainder, ordered, tuple(filters), intent, raw)


def _descriptive_query(
    raw: str, state: ParseState, intent_classifier: Callable[[str], str] | None
) -> ParsedQuery:
    """Parse a descriptive query: searched as text, keeping only a leading entity word."""
    lead = [
        e
        for pos, e in state.entity_spans
        if all(w.lower() in LEAD_WORDS for w in WORD.findall(raw[:pos]))
    ]
    text = _clean_remainder(raw) or raw
    intent = (intent_classifier or rule_intent)(raw)
    return ParsedQuery(text, tuple(dict.fromkeys(lead)), (), intent, raw)


def _entities(state: ParseState) -> list[str]:
    """Return the entity types of a filter query, named or implied by its filters."""
    entities = list(state.entities)
    first = min(state.entity_spans)[1] if state.entity_spans else None
    if first in ("email", "transcript"):
        # "emails from healthcare contacts": the people / companies only qualify the activity.
        entities = [e for e in entities if e in ("email", "transcript")]
    fields_found = {f.field for f in state.filters}
    if not entities:
        if fields_found & {"amount", "stage"}:
            entities = ["deal"]
        elif fields_found & {"lifecycle_stage", "lead_score", "lead_score_band"}:
            entities = ["contact"]
        elif fields_found & {"employee_count", "annual_revenue"}:
            entities = ["company"]
    return entities


def _with_date_filters(
    state: ParseState, entities: list[str], cues: list[ActivityCue]
) -> tuple[list[Filter], list[str]]:
    """Add the date filters of the pending time phrases and the activity facts, in query order.

    A time phrase right after an activity cue ("replied to an email last week") is the window
    of an activity filter on the contact / company / deal (``activity.<kind>``); a cue without
    a time phrase filters on "ever". On a query about emails or calls themselves, the cue
    selects their kind and the time their ``occurred_at``. Any other phrase without a verb
    filters the default date field of the entity types; a query with no entity type at all
    gets the one its date field implies (close dates: deals, activity times: emails and
    transcripts, activity facts: contacts).

    Returns:
        ``(filters, entities)``.

    """
    filters = list(state.filters)
    activities_only = bool(entities) and all(e in ("email", "transcript") for e in entities)
    owned: set[ActivityCue] = set()
    for position, verb_field, mod, span in sorted(state.pending_dates, key=lambda p: p[0]):
        cue = cue_of_time(cues, state, position)
        if cue is not None and not activities_only:
            owned.add(cue)
            filters.append(date_filter(activity_field(cue), mod, span))
            continue
        field_name = verb_field or default_date_field(entities)
        if cue is not None:
            field_name = "occurred_at"
        filters.append(date_filter(field_name, mod, span))
        if not state.entities and not entities:
            if field_name in ("expected_close_date", "closed_at"):
                entities = ["deal"]
            elif field_name == "occurred_at":
                entities = ["email", "transcript"]
    for cue in cues:
        if activities_only:
            filters.extend(_activity_kind_filters(cue))
        elif cue not in owned and (cue.subject or cue.negated):
            filters.append(Filter(activity_field(cue), ">=", EVER))
    if not entities and any(f.field.startswith(("activity.", "no_activity.")) for f in filters):
        entities = ["contact"]
    return filters, entities


def _activity_kind_filters(cue: ActivityCue) -> list[Filter]:
    """Return the filters a cue puts on emails / calls themselves ("emails they replied to")."""
    if cue.kind == "email_received":
        return [Filter("direction", "==", "inbound")]
    if cue.kind == "email_sent":
        return [Filter("direction", "==", "outbound")]
    if cue.kind in ("call", "meeting"):
        return [Filter("activity_type", "==", cue.kind)]
    return []
