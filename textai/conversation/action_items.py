"""Action items of a call: the classifier's sentences, commitment cues, owners and due dates."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from textai.conversation.config import ConversationConfig
from textai.conversation.participants import index_names
from textai.conversation.summarize import SummaryUnit
from textai.conversation.transcript import Turn


class ActionItemModelLike(Protocol):
    """What the analyzer needs from the action-item classifier."""

    def predict_proba(self, sentences: Sequence[str]) -> np.ndarray:
        """Return ``(n,)`` probabilities that each sentence is an action item."""
        ...


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


def find_addressee(turns: Sequence[Turn], position: int) -> str | None:
    """Return the speaker addressed at a turn: the next different speaker, else the previous.

    Args:
        turns: The conversation's turns.
        position: Position of the turn in ``turns``.

    Returns:
        The addressed speaker, or ``None`` when nobody else speaks.
    """
    speaker = turns[position].speaker
    for index in range(position + 1, len(turns)):
        if turns[index].speaker != speaker:
            return turns[index].speaker
    for index in range(position - 1, -1, -1):
        if turns[index].speaker != speaker:
            return turns[index].speaker
    return None


def extract_action_items(
    model: ActionItemModelLike,
    turns: Sequence[Turn],
    units: Sequence[SummaryUnit],
    participants: Sequence[Mapping[str, Any]],
    config: ConversationConfig,
    vectors: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Classify sentences and describe the positive ones (owner guess and due phrase).

    Sentences shorter than ``action_item_min_words`` are skipped; below
    ``action_item_cue_free_probability`` a sentence also needs an action cue when
    ``action_item_require_cue`` is set. Duplicate sentences are reported once.

    Args:
        model: The action-item classifier; its ``threshold`` applies unless the config sets
            ``action_item_threshold``.
        turns: The conversation's turns.
        units: Its sentences.
        participants: ``{"name", ...}`` dicts (names help guess owners).
        config: Thresholds.
        vectors: The sentences' MiniLM embeddings, reused instead of embedding every
            sentence again when the classifier accepts them (``predict_proba_embeddings``);
            pass them only when they come from the platform's MiniLM.

    Returns:
        Items with ``text``, ``speaker``, ``turn_index``, ``timestamp``, ``probability``,
        ``owner``, ``owner_reason`` and ``due``, in sentence order.
    """
    keep = [i for i, u in enumerate(units) if u.words >= config.action_item_min_words]
    candidates = [units[i] for i in keep]
    if not candidates:
        return []
    reuse = getattr(model, "predict_proba_embeddings", None)
    if vectors is not None and callable(reuse):
        raw = reuse(np.asarray(vectors)[keep])
    else:
        raw = model.predict_proba([u.text for u in candidates])
    proba = np.asarray(raw, dtype=np.float64).reshape(-1)
    threshold = config.action_item_threshold
    if threshold is None:
        threshold = float(getattr(model, "threshold", 0.5) or 0.5)
    speakers = list(dict.fromkeys(turn.speaker for turn in turns))
    names = index_names(speakers, participants)
    position = {turn.index: i for i, turn in enumerate(turns)}
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for unit, probability in zip(candidates, proba, strict=True):
        key = unit.text.lower()
        if probability < threshold or key in seen:
            continue
        needs_cue = (
            config.action_item_require_cue and probability < config.action_item_cue_free_probability
        )
        if needs_cue and not has_action_cue(unit.text):
            continue
        seen.add(key)
        turn = turns[position[unit.turn_index]]
        owner, reason = guess_owner(
            unit.text,
            unit.speaker,
            names=names,
            addressee=find_addressee(turns, position[unit.turn_index]),
        )
        items.append(
            {
                "text": unit.text,
                "speaker": unit.speaker,
                "turn_index": unit.turn_index,
                "timestamp": turn.timestamp,
                "probability": round(float(probability), 4),
                "owner": owner,
                "owner_reason": reason,
                "due": find_due(unit.text),
            }
        )
    return items
