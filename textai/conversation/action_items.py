"""Action items of a call: commitment cues, owners and due dates."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from textai.conversation.transcript import (
    Turn,
)

_SELF_COMMITMENT = re.compile(
    r"\b(?:i\s*(?:'|’)?ll|i\s+will|i\s+am\s+going\s+to|i'm\s+going\s+to|i\s+can|i\s+shall|"
    r"let\s+me|i'm\s+gonna|i\s+need\s+to|i\s+have\s+to|i'd\s+be\s+happy\s+to)\b",
    re.I,
)


_TEAM_COMMITMENT = re.compile(
    r"\b(?:we\s*(?:'|’)?ll|we\s+will|we\s+are\s+going\s+to|we're\s+"
    r"going\s+to|we\s+can|let's|let\s+us)\b",
    re.I,
)


_OWNER_VERB = (
    r"(?:\s+(?:will|'ll|shall|can|could|should|is\s+going\s+to|needs?\s+to|has\s+to|"
    r"to\s+\w+|takes|owns|handles))"
)


_ADDRESSEE = re.compile(r"\b(?:you|your)\b|^\s*(?:please|kindly)\b", re.I)


_DUE = re.compile(
    r"\b(?:by|before|on|until|no later than)\s+(?:(?:the\s+)?end\s+of\s+(?:the\s+)?"
    r"(?:day|week|month|quarter)|(?:next\s+)?(?:monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday)|tomorrow|tonight|noon|(?:the\s+)?\d{1,2}(?:st|nd|rd|th)?(?:\s+of\s+\w+)?|"
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)\w*\.?\s+\d{1,2}(?:st|nd|rd|th)?|"
    r"\d{1,2}(?::\d{2})?\s*(?:am|pm))\b"
    r"|\b(?:tomorrow|tonight|next\s+week|this\s+week|end\s+of\s+(?:the\s+)?(?:day|week|month))\b",
    re.I,
)


def guess_owner(
    sentence: str,
    speaker: str,
    *,
    names: Mapping[str, str],
    addressee: str | None,
) -> tuple[str | None, str | None]:
    """Guess who owns an action item.

    Order: a participant named as the doer ("Bob will send...", "Bob, can you...") -> that
    participant; a self-commitment ("I'll", "I will", "let me") -> the speaker; a request to
    "you" -> the participant addressed by name ("..., Bob?"), else the addressee;
    "we'll"/"let's" -> the speaker (for the team); any other named participant -> that
    participant.

    Args:
        sentence: The action-item sentence.
        speaker: Who said it.
        names: Lowercase name or first name -> participant/speaker name.
        addressee: The other party of the exchange (next or previous different speaker).

    Returns:
        ``(owner, reason)``; ``(None, None)`` when nothing points to an owner.
    """
    lowered = sentence.lower()
    named: list[tuple[str, str]] = []
    for alias, person in sorted(names.items(), key=lambda item: -len(item[0])):
        if person == speaker or any(person == other for _, other in named):
            continue
        if re.search(rf"(?<![\w-]){re.escape(alias)}(?![\w-])", lowered):
            named.append((alias, person))
    for alias, person in named:
        as_doer = rf"(?<![\w-]){re.escape(alias)}{_OWNER_VERB}"
        if re.search(as_doer, lowered) or re.match(rf"\s*{re.escape(alias)}\s*,", lowered):
            return person, "named as the owner"
    if _SELF_COMMITMENT.search(sentence):
        return speaker, "speaker committed (I will / I'll)"
    if _ADDRESSEE.search(sentence):
        for alias, person in named:
            if re.search(rf",\s*{re.escape(alias)}\s*[?.!]*\s*$", lowered):
                return person, "request addressed to a named participant"
        if addressee is not None:
            return addressee, "request addressed to the other party"
    if _TEAM_COMMITMENT.search(sentence):
        return speaker, "speaker committed for the team (we'll)"
    if named:
        return named[0][1], "named in the sentence"
    return None, None


_ACTION_CUE = re.compile(
    r"\b(?:could|can|would|will|shall)\s+(?:you|we)\b|\bplease\b|\blet(?:'s|\s+me|\s+us)\b|"
    r"\b(?:i|we|you|they|he|she)\s*(?:'|’)?ll\b|\b(?:i|we)\s+will\b|"
    r"\b(?:need|needs|have|has|got)\s+to\b|\b(?:should|must)\b|\bgoing\s+to\b|\bgonna\b|"
    r"\b(?:make\s+sure|remember\s+to|don't\s+forget|action\s+item|follow\s+up|to-?do)\b|"
    r"^\s*(?:send|schedule|book|call|email|share|review|prepare|set\s+up|check|confirm|"
    r"update|draft|forward|loop|invite|follow)\b",
    re.I,
)


def has_action_cue(sentence: str) -> bool:
    """Return whether a sentence has a request, commitment, obligation or deadline cue.

    Used as a precision filter on top of the classifier, which was trained on email requests:
    spoken acknowledgements ("Great, thank you so much.") otherwise pass its low threshold.

    Args:
        sentence: A sentence.

    Returns:
        ``True`` when a cue (could you / I'll / need to / please / imperative / deadline) is
        present.
    """
    return bool(_ACTION_CUE.search(sentence)) or find_due(sentence) is not None


def find_due(sentence: str) -> str | None:
    """Return the deadline phrase of a sentence ("by Thursday", "next week"), if any.

    Args:
        sentence: A sentence.

    Returns:
        The matched phrase or ``None``.
    """
    match = _DUE.search(sentence)
    return match.group(0) if match else None


def _find_addressee(turns: Sequence[Turn], position: int) -> str | None:
    """Return the speaker addressed at a turn: the next different speaker, else the previous."""
    speaker = turns[position].speaker
    for index in range(position + 1, len(turns)):
        if turns[index].speaker != speaker:
            return turns[index].speaker
    for index in range(position - 1, -1, -1):
        if turns[index].speaker != speaker:
            return turns[index].speaker
    return None
