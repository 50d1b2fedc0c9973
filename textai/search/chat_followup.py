"""Follow-up questions of a search conversation: detection and filter merging.

A message is a **follow-up** of the previous turn when it opens with a refining cue ("only",
"just", "and", "what about", "which of those", "of these", "excluding"...), refers back to the
previous results ("those", "them", "these ones") or, with no entity word and no free text of its
own, only adds filters ("in healthcare", "closed this quarter"). A follow-up's filters are merged
into the previous turn's (:func:`merge_filters`): a filter on a field already filtered replaces
that filter, except that a lower and an upper bound of the same number or date are both kept;
other filters are added. "excluding X" turns X's categorical filters into their complement over
the index's vocabulary ("industry in every industry but healthcare").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from textai.search.entity_words import ENTITY_WORDS
from textai.search.query_model import Filter, ParsedQuery, QueryVocabulary
from textai.search.query_text import content_words
from textai.text_patterns import has_word_char

#: A refining opening; the matched text is removed before the rest is parsed.
_CUE = re.compile(
    r"^\s*(?:(?:and|but|ok(?:ay)?|so|now)\s*,?\s+)?"
    r"(?P<cue>only|just|what\s+about|how\s+about|and(?:\s+also)?|also|plus|then|now"
    r"|(?:which|what|how\s+many)\s+of\s+(?:those|these|them|the(?:se|m)?\s+results?)"
    r"|(?:out\s+)?of\s+(?:those|these|them)|among\s+(?:those|these|them)"
    r"|narrow\s+(?:it|that|those|them|this)\s+(?:down\s+)?to|filter\s+(?:those|them|these)\s+(?:to|by)"
    r"|limit\s+(?:it|that|those|them)\s+to|same\s+(?:but|for)"
    r"|(?P<exclude>excluding|exclude|except(?:\s+for)?|without|but\s+not|not))"
    r"\b[\s,:]*",
    re.IGNORECASE,
)
#: Words pointing back at the previous results.
_ANAPHORA = re.compile(
    r"\b(?:those|these|them|they|the\s+same|that\s+list|these\s+results|the\s+results)\b",
    re.IGNORECASE,
)
#: Words of a follow-up that carry no search content of their own.
_FOLLOW_UP_WORDS = frozenset(
    {
        "only", "just", "about", "now", "also", "ones", "those", "these", "them", "they",
        "which", "of", "same", "results", "please", "ok", "okay", "so", "then", "plus", "but",
        "how", "many", "among", "out", "show", "list",
    }
)  # fmt: skip
#: An explicit entity word ("deals", "contacts", "calls"...).
_ENTITY_WORD = re.compile(r"\b(?:" + "|".join(ENTITY_WORDS.values()) + r")\b", re.IGNORECASE)
#: Lower bounds and upper bounds (kept together on one field).
_LOWER, _UPPER = frozenset({">", ">="}), frozenset({"<", "<="})
#: Operators of a positive filter (others, e.g. a parser's negations, are kept as they are).
_POSITIVE_OPS = frozenset({"==", "in", "between", ">", ">=", "<", "<="})


@dataclass(frozen=True)
class FollowUp:
    """How a message relates to the previous turn.

    Attributes:
        is_follow_up: Whether it refines the previous turn.
        rest: The message without its refining cue (what is parsed).
        refers_back: Whether it points at the previous results ("which of those").
        excludes: Whether it excludes what it names ("excluding healthcare").
        names_entities: Whether it names entity types of its own ("what about contacts?"); an
            entity word of a message pointing back ("which of those ... companies") does not.
        cue: The refining cue found ("only", "what about"...), if any.

    """

    is_follow_up: bool
    rest: str
    refers_back: bool = False
    excludes: bool = False
    names_entities: bool = False
    cue: str | None = None


def split_cue(message: str) -> tuple[str | None, str, bool]:
    """Split a refining cue off a message.

    Args:
        message: The user's message.

    Returns:
        ``(cue, rest, excludes)``: the cue ("only", "what about"...; ``None`` when there is
        none), the rest of the message to parse (the whole message when nothing is left), and
        whether the cue excludes ("excluding", "except", "without", "not").

    """
    text = " ".join(message.split())
    match = _CUE.match(text)
    if not match:
        return None, text, False
    rest = text[match.end() :].strip()
    if not has_word_char(rest):  # "what about?": nothing left to parse but the cue
        rest = text
    return " ".join(match.group("cue").lower().split()), rest, bool(match.group("exclude"))


def detect_follow_up(message: str, has_previous: bool, parsed_rest: ParsedQuery) -> FollowUp:
    """Decide whether a message refines the previous turn or asks a new question.

    A message is a follow-up when it opens with a refining cue, points back at the previous
    results ("those", "them"; unless it also names an entity type and describes what it wants
    in three words or more), or only adds filters with no entity word of its own.

    Args:
        message: The user's message.
        has_previous: Whether the conversation has a previous turn.
        parsed_rest: The parse of the message without its cue (see :func:`split_cue`).

    Returns:
        The :class:`FollowUp` decision (never a follow-up without a previous turn).

    """
    cue, rest, excludes = split_cue(message)
    own_words = len(content_words(clean_follow_up_text(parsed_rest.text)))
    filters_only = bool(parsed_rest.filters) and own_words == 0
    refers_back = bool(_ANAPHORA.search(message))
    names_entities = bool(_ENTITY_WORD.search(rest))
    follow = has_previous and (
        cue is not None
        or (refers_back and not (names_entities and own_words >= 3))
        or (filters_only and not names_entities)
    )
    # "which of those were with healthcare companies": the entity word qualifies "those"
    switches = names_entities and not (refers_back and follow)
    return FollowUp(follow, rest, refers_back and follow, excludes, switches, cue)


def clean_follow_up_text(text: str) -> str:
    """Return a follow-up's free text without the words that only point back.

    Args:
        text: The parse's free-text remainder ("only", "them", "about fintech"...).

    Returns:
        The remaining content words joined ("" when none are left).

    """
    words = [w for w in text.split() if w.lower().strip("?!.,;:") not in _FOLLOW_UP_WORDS]
    kept = " ".join(words)
    return kept if content_words(kept) else ""


def _bound_kind(flt: Filter) -> str:
    """Return ``lower``, ``upper`` or ``exact`` for a filter."""
    if flt.op in _LOWER:
        return "lower"
    if flt.op in _UPPER:
        return "upper"
    return "exact"


def merge_filters(previous: Sequence[Filter], new: Sequence[Filter]) -> tuple[Filter, ...]:
    """Merge a follow-up's filters into the previous turn's.

    A new filter replaces the previous filters on its field, except that a lower bound and an
    upper bound of one field are both kept ("over 50k" then "and under 200k"). Filters on other
    fields are kept, in their order, followed by the new ones.

    Args:
        previous: The previous turn's (merged) filters.
        new: The follow-up's own filters.

    Returns:
        The merged filters.

    """
    merged = list(previous)
    for flt in new:
        kind = _bound_kind(flt)
        merged = [
            old
            for old in merged
            if old.field != flt.field or {kind, _bound_kind(old)} == {"lower", "upper"}
        ]
        merged.append(flt)
    return tuple(merged)


def _vocabulary_values(vocabulary: QueryVocabulary, field_name: str) -> tuple[str, ...] | None:
    """Return the known values of a categorical field (``None`` when it is not categorical)."""
    return {
        "industry": vocabulary.industries,
        "country": vocabulary.countries,
        "stage": vocabulary.stages,
        "lifecycle_stage": vocabulary.lifecycle_stages,
    }.get(field_name)


def exclusion_filters(
    filters: Sequence[Filter], vocabulary: QueryVocabulary
) -> tuple[tuple[Filter, ...], list[str]]:
    """Turn the filters an "excluding ..." message names into their complements.

    Categorical filters (industry, country, stage, lifecycle stage) become ``in`` every other
    value of the vocabulary; a filter the parser already negated is kept as it is.

    Args:
        filters: The filters parsed from what follows "excluding".
        vocabulary: The index's vocabulary.

    Returns:
        ``(filters, not_understood)``: the complements and the fields that cannot be excluded.

    """
    out: list[Filter] = []
    skipped: list[str] = []
    for flt in filters:
        values = _vocabulary_values(vocabulary, flt.field)
        if flt.op not in _POSITIVE_OPS:
            out.append(flt)
        elif values is not None and flt.op in ("==", "in"):
            named = {str(v).lower() for v in (flt.value if flt.op == "in" else (flt.value,))}
            others = tuple(v for v in values if v.lower() not in named)
            out.append(Filter(flt.field, "in", others))
        else:
            skipped.append(flt.field)
    return tuple(out), skipped
