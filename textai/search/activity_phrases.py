"""Activity facts of queries: "replied to an email last week", "had a meeting yesterday".

A verb phrase naming something a contact did with us (or we with them) is an activity fact, not
a date of the record: "contacts who replied to an email last week" filters contacts having an
inbound email last week (``activity.email_received``), never their creation date. The cue is
found and consumed before the time phrases; the time phrase right after it (a few words at
most, no other date verb between) becomes the activity filter's window
(:func:`activity_field`); a cue without one means "ever" ("leads we have called"). A negated
cue ("haven't called since March", "not contacted in the last 30 days") filters the records
with no such activity (``no_activity.<kind>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from textai.search.negation import claim_negation
from textai.search.parse_state import ParseState
from textai.search.query_model import ACTIVITY_FIELD_PREFIX, NO_ACTIVITY_FIELD_PREFIX

_EMAIL = r"(?:e-?mails?|messages?|outreach|sequence|newsletter|mail)"
#: Activity cue -> kind, tried in order (the first kind whose cue matches a span wins).
ACTIVITY_CUES: tuple[tuple[str, str], ...] = (
    (rf"(?:replied|responded|wrote\s+back|answered|got\s+back\s+to\s+us|reply|replies|respond)"
     rf"(?:\s+to)?(?:\s+(?:an?|our|my|the|any|one\s+of\s+our))?(?:\s+{_EMAIL})?"
     r"|e-?mailed\s+(?:us|me)|sent\s+us\s+an?\s+e-?mail|(?:wrote|emailed)\s+to\s+us",
     "email_received"),
    (rf"(?:we\s+)?(?:e-?mailed|mailed|sent\s+(?:an?\s+|the\s+)?{_EMAIL}(?:\s+to)?"
     rf"|got\s+an?\s+e-?mail\s+from\s+us|received\s+an?\s+e-?mail\s+from\s+us)",
     "email_sent"),
    (r"(?:called|phoned|rang|cold[\s-]called|spoke(?:\s+(?:to|with))?|talked(?:\s+(?:to|with))?"
     r"|had\s+(?:an?\s+)?(?:phone\s+)?call(?:\s+with)?|(?:got|were|was|been)\s+on\s+a\s+call"
     r"|picked\s+up\s+the\s+phone|call(?=\s+(?:them|him|her)))", "call"),
    (r"(?:met(?:\s+with)?|had\s+(?:an?\s+)?(?:meeting|demo|call\s+and\s+meeting)s?(?:\s+with)?"
     r"|(?:booked|attended|took|scheduled)\s+(?:an?\s+)?(?:meeting|demo)s?"
     r"|sat\s+down\s+with|meet(?=\s+(?:them|him|her|with)))", "meeting"),
    (r"(?:contacted|reached\s+out(?:\s+to)?|touched\s+base(?:\s+with)?|engaged(?:\s+with)?"
     r"|interacted(?:\s+with)?|heard\s+from|been\s+in\s+touch(?:\s+with)?"
     r"|got\s+in\s+touch(?:\s+with)?|followed\s+up(?:\s+with)?|talked\s+to|contact(?=\s+them)"
     r"|been\s+active|had\s+(?:any\s+)?activity)", "any"),
)  # fmt: skip
_CUE_RE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rf"\b(?:{pattern})\b"), kind) for pattern, kind in ACTIVITY_CUES
)
#: A subject before a cue without a time phrase: "who replied", "leads we called".
_SUBJECT_BEFORE = re.compile(
    r"\b(?:who|that|we|they|i|you|have|has|had|having|ve|which|were|was|never|not|n't|haven't"
    r"|hasn't|didn't|recently|already|ones|everyone|anyone|people|contacts|leads)\s+$"
)
#: Words between a cue and its time phrase that hand the time phrase to another date.
_OTHER_DATE_VERB = re.compile(r"\b(?:created|added|joined|closing|closes|closed|won|lost|signed)\b")


@dataclass(frozen=True)
class ActivityCue:
    """One activity fact found in a query.

    Attributes:
        start: First character of the cue.
        end: One past its last character.
        kind: Activity kind (``email_received``, ``email_sent``, ``call``, ``meeting``, ``any``).
        negated: Whether a negation scopes it ("haven't called").
        subject: Whether a subject or relative pronoun stands before it ("who replied").

    """

    start: int
    end: int
    kind: str
    negated: bool
    subject: bool


def parse_activity_cues(state: ParseState) -> list[ActivityCue]:
    """Find and consume the activity cues of a query.

    Args:
        state: The parse state.

    Returns:
        The cues, in query order.

    """
    cues: list[ActivityCue] = []
    for regex, kind in _CUE_RE:
        for m in regex.finditer(state.working()):
            before = state.low[: m.start()]
            subject = bool(_SUBJECT_BEFORE.search(before)) or not before.strip()
            negated = claim_negation(state, m.start())
            cues.append(ActivityCue(m.start(), m.end(), kind, negated, subject))
            state.consume(m.start(), m.end())
    return sorted(cues, key=lambda c: c.start)


def activity_field(cue: ActivityCue) -> str:
    """Return the filter field of a cue: ``activity.<kind>`` or ``no_activity.<kind>``.

    Args:
        cue: The cue.

    Returns:
        The field name.

    """
    return (NO_ACTIVITY_FIELD_PREFIX if cue.negated else ACTIVITY_FIELD_PREFIX) + cue.kind


def cue_of_time(cues: list[ActivityCue], state: ParseState, position: int) -> ActivityCue | None:
    """Return the cue whose window is the time phrase at ``position`` (``None``: none).

    The nearest cue before the phrase owns it when at most four words and no other date verb
    ("created", "closing"...) stand between them.

    Args:
        cues: The query's cues.
        state: The parse state.
        position: First character of the time phrase.

    Returns:
        The cue, or ``None``.

    """
    before = [c for c in cues if c.end <= position]
    if not before:
        return None
    cue = before[-1]
    gap = state.low[cue.end : position]
    if len(gap.split()) > 4 or _OTHER_DATE_VERB.search(gap):
        return None
    return cue
