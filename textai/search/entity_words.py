"""Entity-type vocabulary of queries: the words naming deals, contacts, companies, activities.

The entity types themselves are :data:`textai.search.documents.ENTITY_TYPES`; this module
maps the words of a query ("opportunities", "people", "accounts", "inbox", "phone calls") to
them.
"""

from __future__ import annotations

import re

from textai.search.parse_state import ParseState

#: Entity type -> regular-expression alternation of the words naming it.
ENTITY_WORDS: dict[str, str] = {
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
ENTITY_AFTER = re.compile(
    r"\s+(?:\w+\s+)?(?:" + "|".join(ENTITY_WORDS.values()) + r"|customers?|clients?)\b"
)
#: Words that may precede a leading entity word of a descriptive query ("show me calls ...").
LEAD_WORDS = frozenset(
    {"show", "me", "find", "list", "get", "search", "for", "all", "any", "the", "my", "our", "a"}
)
_CALL_WORDS = re.compile(r"^(?:phone\s+)?calls?$")
_MEETING_WORDS = re.compile(r"^(?:meetings?|demos?)$")


def parse_entities(state: ParseState) -> None:
    """Find entity type words (deals, contacts, companies, emails, calls/meetings).

    Args:
        state: The parse state; entity types, their positions and the activity kinds named
            (call, meeting or any) are recorded, and the words consumed.

    """
    for entity, alternation in ENTITY_WORDS.items():
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
