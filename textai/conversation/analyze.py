"""Conversation analysis (``POST /api/ai/conversation/analyze``) and its storage.

:class:`ConversationAnalyzer` turns a transcript into a :class:`ConversationAnalysis`:

* ``summary``: extractive MiniLM summary (optionally rewritten by an injected LLM provider);
* ``topics``: TextTiling segments labelled with TF-IDF keywords;
* ``sentiment_by_speaker``: per speaker, the mean turn score in [-1, 1] (``P(positive) -
  P(negative)`` of the sentiment model) and a time series over turn windows; plus
  ``overall_sentiment``;
* ``action_items``: sentences the action-item classifier (trained on the email-intent data)
  marks positive, with speaker, turn, probability, an owner guess and a due phrase;
* ``key_moments``: sentiment swings, competitor mentions, pricing/objection/next-step mentions
  and price questions, each with its turn and reason;
* ``competitor_mentions`` and ``alerts`` (competitor list from ``configs/conversation.yaml``);
* ``coaching``: talk ratio (share of words), longest monologue, question rate (per minute with
  timestamps, else per 100 turns), interruption-like quick switches, and ``coaching_tips``.

:func:`store_conversation_insight` writes the ``conversation_insights`` row (creating the
``activities`` row when no activity is given).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from textai.conversation.summarize import (
    Embedder,
    RequestBuilder,
    SummaryUnit,
    build_units,
    summarize_abstractive,
    summarize_extractive,
)
from textai.conversation.topics import detect_topics, pool_turn_embeddings
from textai.conversation.transcript import (
    Turn,
    clean_text,
    count_words,
    format_transcript,
    is_question,
    parse_transcript,
    split_sentences,
)

logger = logging.getLogger(__name__)

SENTIMENT_LABELS: tuple[str, str, str] = ("negative", "neutral", "positive")
_DEFAULT_CONFIG_FILE = "conversation.yaml"


class SentimentModelLike(Protocol):
    """What the analyzer needs from the sentiment model."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Return ``(n, 3)`` probabilities over (negative, neutral, positive)."""
        ...


class ActionItemModelLike(Protocol):
    """What the analyzer needs from the action-item classifier."""

    def predict_proba(self, sentences: Sequence[str]) -> np.ndarray:
        """Return ``(n,)`` probabilities that each sentence is an action item."""
        ...


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Competitor:
    """A competitor and the names it goes by.

    Attributes:
        name: Canonical name (reported in mentions and alerts).
        aliases: Other spellings.
    """

    name: str
    aliases: tuple[str, ...] = ()

    def compile_pattern(self) -> re.Pattern[str]:
        """Return the case-insensitive whole-word regex of the name and its aliases."""
        return _compile_phrases([self.name, *self.aliases])


def _compile_phrases(phrases: Sequence[str]) -> re.Pattern[str]:
    """Compile whole-word, case-insensitive alternatives (plural/possessive forms allowed)."""
    parts = sorted(
        {re.escape(p.strip()).replace(r"\ ", r"\s+") for p in phrases if p.strip()},
        key=len,
        reverse=True,
    )
    if not parts:
        return re.compile(r"(?!x)x")
    return re.compile(rf"(?<![\w-])(?:{'|'.join(parts)})(?:e?s|'s|’s)?(?![\w-])", re.I)


def parse_competitors(items: Sequence[str | Mapping[str, Any] | Competitor]) -> list[Competitor]:
    """Normalise a competitor list (names, ``{name, aliases}`` dicts or :class:`Competitor`).

    Args:
        items: Configured competitors.

    Returns:
        Competitors, duplicates removed.

    Raises:
        ValueError: For an item without a name.
    """
    result: list[Competitor] = []
    seen: set[str] = set()
    for item in items:
        if isinstance(item, Competitor):
            competitor = item
        elif isinstance(item, str):
            competitor = Competitor(item.strip())
        elif isinstance(item, Mapping) and item.get("name"):
            competitor = Competitor(
                str(item["name"]).strip(), tuple(str(a) for a in item.get("aliases") or ())
            )
        else:
            raise ValueError(f"a competitor needs a name: {item!r}")
        if competitor.name and competitor.name.lower() not in seen:
            seen.add(competitor.name.lower())
            result.append(competitor)
    return result


def _split_phrases(text: str) -> tuple[str, ...]:
    """Split a ``|``-separated list of phrases (compact literals for the defaults)."""
    return tuple(part.strip() for part in text.split("|") if part.strip())


@dataclass(frozen=True)
class ConversationConfig:
    """Settings of the analyzer (``configs/conversation.yaml``; defaults mirror the file)."""

    competitors: tuple[Competitor, ...] = (
        Competitor("Salesforce", ("SFDC", "Sales Cloud")),
        Competitor("HubSpot", ("Hub Spot",)),
        Competitor("Pipedrive"),
        Competitor("Zoho", ("Zoho CRM",)),
    )
    pricing_keywords: tuple[str, ...] = _split_phrases(
        "price | pricing | cost | budget | discount | quote | invoice | per seat | "
        "per user | license | licence | subscription | fee | payment | expensive | "
        "cheaper | afford | dollars | euros | ROI | pricing sheet | price list"
    )
    objection_keywords: tuple[str, ...] = _split_phrases(
        "too expensive | not sure | concern | concerned | worried | problem | issue | "
        "not interested | already use | already using | hesitant | not a priority | "
        "no budget | can't justify | too complicated | too long | doesn't work | "
        "don't need | risk | pushback | disappointed | frustrated | unhappy | cancel"
    )
    next_step_keywords: tuple[str, ...] = _split_phrases(
        "next step | follow up | follow-up | send over | send you | send me | schedule | "
        "set up a call | book a | demo | trial | pilot | proposal | contract | sign | "
        "kick-off | kickoff | onboarding | circle back | touch base | by monday | "
        "by tuesday | by wednesday | by thursday | by friday | next week | tomorrow"
    )
    summary_max_words: int = 80
    summary_diversity: float = 0.3
    summary_lead_bias: float = 0.1
    llm_max_words: int = 80
    max_segments: int = 5
    topic_keywords: int = 5
    sentiment_max_points: int = 12
    swing_threshold: float = 0.6
    label_threshold: float = 0.2
    action_item_threshold: float | None = None
    action_item_min_words: int = 3
    action_item_require_cue: bool = True
    action_item_cue_free_probability: float = 0.9
    max_moments_per_type: int = 5
    rep_roles: tuple[str, ...] = _split_phrases(
        "rep | sales | sales rep | seller | agent | host | ae | sdr | bdr | "
        "account executive | account manager | csm | internal | presenter"
    )
    talk_ratio_max: float = 0.65
    talk_ratio_min: float = 0.25
    monologue_max_words: int = 150
    monologue_max_seconds: float = 90.0
    min_questions_per_minute: float = 0.2
    min_questions_per_100_turns: float = 10.0
    interruption_words_per_second: float = 4.0


_YAML_KEYS: dict[tuple[str, str], str] = {
    ("keywords", "pricing"): "pricing_keywords",
    ("keywords", "objection"): "objection_keywords",
    ("keywords", "next_step"): "next_step_keywords",
    ("summary", "max_words"): "summary_max_words",
    ("summary", "diversity"): "summary_diversity",
    ("summary", "lead_bias"): "summary_lead_bias",
    ("summary", "llm_max_words"): "llm_max_words",
    ("topics", "max_segments"): "max_segments",
    ("topics", "top_k"): "topic_keywords",
    ("sentiment", "max_points"): "sentiment_max_points",
    ("sentiment", "swing_threshold"): "swing_threshold",
    ("sentiment", "label_threshold"): "label_threshold",
    ("action_items", "threshold"): "action_item_threshold",
    ("action_items", "min_words"): "action_item_min_words",
    ("action_items", "require_cue"): "action_item_require_cue",
    ("action_items", "cue_free_probability"): "action_item_cue_free_probability",
    ("key_moments", "max_per_type"): "max_moments_per_type",
    ("coaching", "rep_roles"): "rep_roles",
    ("coaching", "talk_ratio_max"): "talk_ratio_max",
    ("coaching", "talk_ratio_min"): "talk_ratio_min",
    ("coaching", "monologue_max_words"): "monologue_max_words",
    ("coaching", "monologue_max_seconds"): "monologue_max_seconds",
    ("coaching", "min_questions_per_minute"): "min_questions_per_minute",
    ("coaching", "min_questions_per_100_turns"): "min_questions_per_100_turns",
    ("coaching", "interruption_words_per_second"): "interruption_words_per_second",
}


def get_default_config_path() -> Path:
    """Return ``configs/conversation.yaml`` of the repository."""
    from haste.settings import CONFIG_DIR

    return CONFIG_DIR / _DEFAULT_CONFIG_FILE


def load_conversation_config(path: str | Path | None = None) -> ConversationConfig:
    """Load the analyzer settings from YAML (missing keys keep their defaults).

    Args:
        path: YAML file; defaults to ``configs/conversation.yaml`` (defaults only when absent).

    Returns:
        The configuration.

    Raises:
        ValueError: When the file is not a mapping.
    """
    file = Path(path) if path is not None else get_default_config_path()
    if not file.exists():
        if path is not None:
            raise FileNotFoundError(f"conversation config not found: {file}")
        return ConversationConfig()
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{file} must hold a mapping, got {type(data).__name__}")
    values: dict[str, Any] = {}
    if "competitors" in data:
        values["competitors"] = tuple(parse_competitors(data["competitors"] or []))
    for (section, key), attribute in _YAML_KEYS.items():
        block = data.get(section) or {}
        if isinstance(block, Mapping) and key in block:
            value = block[key]
            values[attribute] = tuple(value) if isinstance(value, list) else value
    return ConversationConfig(**values)


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass
class ConversationAnalysis:
    """Everything the analyzer found in one conversation (``to_dict()`` is the API body)."""

    summary: str
    summary_method: str
    topics: list[dict[str, Any]]
    sentiment_by_speaker: dict[str, dict[str, Any]]
    overall_sentiment: dict[str, Any]
    action_items: list[dict[str, Any]]
    key_moments: list[dict[str, Any]]
    competitor_mentions: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    coaching: dict[str, Any]
    coaching_tips: list[str]
    speakers: list[str]
    participants: list[dict[str, Any]]
    meeting_type: str | None
    n_turns: int
    word_count: int
    duration_seconds: float | None
    transcript: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self, *, include_transcript: bool = False) -> dict[str, Any]:
        """Return a JSON-ready dict.

        Args:
            include_transcript: Include the normalised transcript text.

        Returns:
            The analysis as plain Python types.
        """
        data = asdict(self)
        if not include_transcript:
            data.pop("transcript")
        return data


# --------------------------------------------------------------------------------------------
# Building blocks (pure functions, unit-tested)
# --------------------------------------------------------------------------------------------


def label_sentiment(score: float, threshold: float = 0.2) -> str:
    """Map a score in [-1, 1] to negative/neutral/positive.

    Args:
        score: Sentiment score.
        threshold: Scores beyond ±threshold are positive/negative.

    Returns:
        The label.
    """
    if score > threshold:
        return "positive"
    if score < -threshold:
        return "negative"
    return "neutral"


def compute_talk_ratio(turns: Sequence[Turn]) -> dict[str, float]:
    """Share of spoken words per speaker (cleaned words; sums to 1).

    Args:
        turns: Parsed turns.

    Returns:
        ``{speaker: share}`` in order of first appearance.
    """
    words: dict[str, int] = {}
    for turn in turns:
        words[turn.speaker] = words.get(turn.speaker, 0) + turn.word_count
    total = sum(words.values())
    return {speaker: (count / total if total else 0.0) for speaker, count in words.items()}


def find_longest_monologue(turns: Sequence[Turn]) -> dict[str, Any] | None:
    """Longest run of consecutive turns by one speaker, in words.

    Args:
        turns: Parsed turns.

    Returns:
        ``{speaker, words, turns, start_turn, end_turn, seconds}`` (``seconds`` from the next
        speaker's timestamp when both are known, else ``None``), or ``None`` without turns.
    """
    best: dict[str, Any] | None = None
    start = 0
    while start < len(turns):
        end = start
        while end + 1 < len(turns) and turns[end + 1].speaker == turns[start].speaker:
            end += 1
        words = sum(turn.word_count for turn in turns[start : end + 1])
        if best is None or words > best["words"]:
            seconds = None
            if end + 1 < len(turns):
                first, after = turns[start].timestamp, turns[end + 1].timestamp
                if first is not None and after is not None and after >= first:
                    seconds = after - first
            best = {
                "speaker": turns[start].speaker,
                "words": words,
                "turns": end - start + 1,
                "start_turn": turns[start].index,
                "end_turn": turns[end].index,
                "seconds": seconds,
            }
        start = end + 1
    return best


def measure_duration(turns: Sequence[Turn]) -> float | None:
    """Seconds from the first to the last turn timestamp (``None`` without two timestamps).

    Args:
        turns: Parsed turns.

    Returns:
        Duration in seconds, or ``None``.
    """
    stamps = [turn.timestamp for turn in turns if turn.timestamp is not None]
    if len(stamps) < 2 or max(stamps) <= min(stamps):
        return None
    return float(max(stamps) - min(stamps))


def compute_question_rate(turns: Sequence[Turn]) -> dict[str, Any]:
    """Questions asked (sentences ending in ``?``), overall and per speaker.

    The rate is per minute when the transcript has timestamps (duration = last minus first
    turn timestamp), else per 100 turns (per 100 of the speaker's own turns in ``by_speaker``).

    Args:
        turns: Parsed turns.

    Returns:
        ``{questions, rate, unit, duration_seconds, by_speaker: {speaker: {questions, rate}}}``
        with ``unit`` ``per_minute`` or ``per_100_turns``.
    """
    per_speaker: dict[str, int] = {}
    turns_per_speaker: dict[str, int] = {}
    for turn in turns:
        questions = sum(is_question(s) for s in split_sentences(clean_text(turn.text)))
        per_speaker[turn.speaker] = per_speaker.get(turn.speaker, 0) + questions
        turns_per_speaker[turn.speaker] = turns_per_speaker.get(turn.speaker, 0) + 1
    total = sum(per_speaker.values())
    duration = measure_duration(turns)
    if duration is not None:
        minutes = duration / 60.0
        unit = "per_minute"
        rate = total / minutes
        by_speaker = {
            speaker: {"questions": count, "rate": count / minutes}
            for speaker, count in per_speaker.items()
        }
    else:
        unit = "per_100_turns"
        rate = 100.0 * total / len(turns) if turns else 0.0
        by_speaker = {
            speaker: {"questions": count, "rate": 100.0 * count / turns_per_speaker[speaker]}
            for speaker, count in per_speaker.items()
        }
    return {
        "questions": total,
        "rate": rate,
        "unit": unit,
        "duration_seconds": duration,
        "by_speaker": by_speaker,
    }


_CUT_OFF = re.compile(r"(?:-{1,2}|—|–|…|\.\.\.|\{disfmarker\})\s*$")


def count_interruptions(turns: Sequence[Turn], words_per_second: float = 4.0) -> dict[str, Any]:
    """Count interruption-like quick switches, attributed to the speaker who cut in.

    A switch counts when the previous turn looks cut off (ends with ``-``, ``--``, ``—``,
    ``...`` or ``{disfmarker}``) or, with timestamps, when the new speaker started sooner than
    the previous turn could be said at ``words_per_second``.

    Args:
        turns: Parsed turns.
        words_per_second: Fastest plausible speaking pace.

    Returns:
        ``{count, by_speaker, method}``.
    """
    by_speaker: dict[str, int] = {}
    for previous, turn in itertools.pairwise(turns):
        if turn.speaker == previous.speaker:
            continue
        cut_off = bool(_CUT_OFF.search(previous.text.strip()))
        if not cut_off and previous.timestamp is not None and turn.timestamp is not None:
            gap = turn.timestamp - previous.timestamp
            cut_off = 0 <= gap < previous.word_count / words_per_second
        if cut_off:
            by_speaker[turn.speaker] = by_speaker.get(turn.speaker, 0) + 1
    method = "cut-off markers" + (
        " and timestamps" if any(t.timestamp is not None for t in turns) else ""
    )
    return {"count": sum(by_speaker.values()), "by_speaker": by_speaker, "method": method}


def find_competitor_mentions(
    turns: Sequence[Turn], competitors: Sequence[Competitor]
) -> list[dict[str, Any]]:
    """Find every competitor mention.

    Args:
        turns: Parsed turns.
        competitors: Competitors to look for.

    Returns:
        ``{competitor, matched, turn_index, speaker, timestamp, text}`` per mention, in order.
    """
    patterns = [(competitor, competitor.compile_pattern()) for competitor in competitors]
    mentions = []
    for turn in turns:
        text = clean_text(turn.text)
        for competitor, pattern in patterns:
            for match in pattern.finditer(text):
                mentions.append(
                    {
                        "competitor": competitor.name,
                        "matched": match.group(0),
                        "turn_index": turn.index,
                        "speaker": turn.speaker,
                        "timestamp": turn.timestamp,
                        "text": _cut_snippet(text, match.start(), match.end()),
                    }
                )
    return mentions


def _cut_snippet(text: str, start: int, end: int, width: int = 90) -> str:
    """Return up to ``width`` characters each side of a match, with ellipses when cut."""
    left = max(0, start - width)
    right = min(len(text), end + width)
    return ("…" if left else "") + text[left:right].strip() + ("…" if right < len(text) else "")


def build_competitor_alerts(
    mentions: Sequence[Mapping[str, Any]],
    *,
    negative_turns: set[int] | None = None,
    objection_turns: set[int] | None = None,
    pricing_turns: set[int] | None = None,
    reps: set[str] | None = None,
) -> list[dict[str, Any]]:
    """Group competitor mentions into one alert per competitor.

    Severity is ``high`` when the competitor comes up in a negative, objection or pricing
    turn, or at least twice by non-rep speakers; ``medium`` otherwise.

    Args:
        mentions: From :func:`find_competitor_mentions`.
        negative_turns: Turn indexes with negative sentiment.
        objection_turns: Turn indexes with objection keywords.
        pricing_turns: Turn indexes with pricing keywords.
        reps: Speakers known to be sales reps.

    Returns:
        Alerts ``{type, competitor, severity, mentions, turns, speakers, message, reasons}``.
    """
    negative_turns = negative_turns or set()
    objection_turns = objection_turns or set()
    pricing_turns = pricing_turns or set()
    reps = reps or set()
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for mention in mentions:
        grouped.setdefault(mention["competitor"], []).append(mention)
    alerts = []
    for competitor, items in grouped.items():
        turns = sorted({item["turn_index"] for item in items})
        speakers = sorted({item["speaker"] for item in items})
        reasons = []
        if set(turns) & negative_turns:
            reasons.append("mentioned with negative sentiment")
        if set(turns) & objection_turns:
            reasons.append("mentioned in an objection")
        if set(turns) & pricing_turns:
            reasons.append("mentioned while discussing price")
        if sum(item["speaker"] not in reps for item in items) >= 2:
            reasons.append("raised repeatedly by the other party")
        severity = "high" if reasons else "medium"
        alerts.append(
            {
                "type": "competitor_mention",
                "competitor": competitor,
                "severity": severity,
                "mentions": len(items),
                "turns": turns,
                "speakers": speakers,
                "reasons": reasons,
                "message": (
                    f"{competitor} mentioned {len(items)} time{'s' if len(items) > 1 else ''} "
                    f"by {', '.join(speakers)} (turn{'s' if len(turns) > 1 else ''} "
                    f"{', '.join(str(t) for t in turns)})"
                    + (f": {'; '.join(reasons)}" if reasons else "")
                ),
            }
        )
    return alerts


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


def _index_names(
    speakers: Sequence[str], participants: Sequence[Mapping[str, Any]]
) -> dict[str, str]:
    """Map lowercase full and first names of participants/speakers to a speaker name."""
    names: dict[str, str] = {}
    for speaker in speakers:
        if re.fullmatch(r"(?i)(?:person|speaker|spk)\s*\d+", speaker):
            continue
        names[speaker.lower()] = speaker
        first = speaker.split()[0].lower()
        if len(first) > 2:
            names.setdefault(first, speaker)
    for participant in participants:
        name = str(participant.get("name") or "").strip()
        if not name:
            continue
        target = _match_speaker(name, speakers) or name
        names.setdefault(name.lower(), target)
        first = name.split()[0].lower()
        if len(first) > 2:
            names.setdefault(first, target)
    return names


def _match_speaker(name: str, speakers: Sequence[str]) -> str | None:
    """Return the speaker label matching a participant name (exact, then first name)."""
    lowered = name.lower().strip()
    for speaker in speakers:
        if speaker.lower() == lowered:
            return speaker
    first = lowered.split()[0] if lowered else ""
    for speaker in speakers:
        if first and speaker.lower().split()[0] == first:
            return speaker
    return None


def identify_reps(
    speakers: Sequence[str],
    participants: Sequence[Mapping[str, Any]],
    rep_roles: Sequence[str],
) -> set[str]:
    """Return the speakers whose participant role is a sales-rep role.

    Args:
        speakers: Speaker labels of the transcript.
        participants: ``{"name", "role"}`` dicts (``is_rep: true`` also marks a rep).
        rep_roles: Roles that mark a rep (case-insensitive).

    Returns:
        Speaker labels of the reps (empty when unknown).
    """
    roles = {role.lower() for role in rep_roles}
    reps: set[str] = set()
    for participant in participants:
        role = str(participant.get("role") or "").strip().lower()
        if role in roles or participant.get("is_rep") is True:
            speaker = _match_speaker(str(participant.get("name") or ""), speakers)
            if speaker is not None:
                reps.add(speaker)
    return reps


def build_coaching_tips(
    coaching: Mapping[str, Any],
    config: ConversationConfig,
    *,
    reps: set[str],
    n_speakers: int,
    has_next_step: bool,
    competitor_alerts: Sequence[Mapping[str, Any]],
    objection_count: int,
) -> list[str]:
    """Turn coaching metrics into short recommendations.

    Tips are about the reps when they are known, else about every speaker.

    Args:
        coaching: ``talk_ratio``, ``longest_monologue``, ``question_rate``, ``interruptions``.
        config: Thresholds.
        reps: Coached speakers (empty: everyone).
        n_speakers: Number of speakers.
        has_next_step: Whether a next step was mentioned.
        competitor_alerts: Competitor alerts.
        objection_count: Number of objection mentions.

    Returns:
        Recommendations, most important first.
    """
    tips: list[str] = []
    coached = reps or set(coaching["talk_ratio"])
    for speaker, share in coaching["talk_ratio"].items():
        if speaker not in coached:
            continue
        if share > config.talk_ratio_max and n_speakers >= 2:
            tips.append(
                f"{speaker} talked {share:.0%} of the time (above "
                f"{config.talk_ratio_max:.0%}): listen more — ask open questions and pause "
                "to let the other side speak."
            )
        elif reps and n_speakers == 2 and share < config.talk_ratio_min:
            tips.append(
                f"{speaker} talked only {share:.0%} of the time: lead the conversation more — "
                "summarise, propose and steer towards a next step."
            )
    monologue = coaching.get("longest_monologue")
    if monologue and monologue["speaker"] in coached:
        too_long = monologue["words"] > config.monologue_max_words or (
            monologue.get("seconds") is not None
            and monologue["seconds"] > config.monologue_max_seconds
        )
        if too_long:
            length = f"{monologue['words']} words"
            if monologue.get("seconds") is not None:
                length += f", {monologue['seconds']:.0f} s"
            tips.append(
                f"{monologue['speaker']} spoke {length} without a break (turns "
                f"{monologue['start_turn']}-{monologue['end_turn']}): break long monologues "
                "up with check-in questions."
            )
    rates = coaching["question_rate"]
    floor = (
        config.min_questions_per_minute
        if rates["unit"] == "per_minute"
        else config.min_questions_per_100_turns
    )
    unit = "per minute" if rates["unit"] == "per_minute" else "per 100 turns"
    for speaker, stats in rates["by_speaker"].items():
        if reps and speaker in reps and stats["rate"] < floor:
            tips.append(
                f"{speaker} asked {stats['questions']} question"
                f"{'s' if stats['questions'] != 1 else ''} ({stats['rate']:.2f} {unit}, "
                f"target ≥ {floor:g}): ask more discovery questions."
            )
    if not reps and rates["rate"] < floor and n_speakers >= 2:
        tips.append(
            f"Few questions were asked ({rates['rate']:.2f} {unit}, target ≥ {floor:g}): "
            "use open discovery questions to understand needs."
        )
    interruptions = coaching.get("interruptions") or {}
    for speaker, count in (interruptions.get("by_speaker") or {}).items():
        if speaker in coached and count >= 3:
            tips.append(f"{speaker} cut in {count} times: let the other party finish.")
    for alert in competitor_alerts:
        tips.append(
            f"{alert['competitor']} came up ({alert['mentions']}x): prepare the competitive "
            "battle card and differentiate on value, not price."
        )
    if objection_count:
        tips.append(
            f"{objection_count} objection{'s' if objection_count > 1 else ''} raised: "
            "acknowledge, ask a clarifying question, then answer with evidence."
        )
    if not has_next_step and n_speakers >= 2:
        tips.append("No next step was agreed: close with a concrete, dated next step.")
    return tips


# --------------------------------------------------------------------------------------------
# Analyzer
# --------------------------------------------------------------------------------------------


class ConversationAnalyzer:
    """Analyse conversations with injected models (real ones or test doubles).

    Args:
        sentiment_model: Object with ``predict_proba(texts) -> (n, 3)`` over
            (negative, neutral, positive) (``training.text.sentiment.SentimentModel``).
        action_item_model: Object with ``predict_proba(sentences) -> (n,)``
            (``training.text.action_items.ActionItemClassifier``).
        competitors: Competitor names (or ``{name, aliases}`` dicts) that raise alerts.
        llm: Optional LLM provider with ``generate(request)`` for an abstractive summary.
        config: Keywords and thresholds (defaults: ``configs/conversation.yaml`` values).
        embed: Embedding function (defaults to MiniLM ``features.text_embeddings.embed_texts``).
        request_builder: ``(prompt, max_words) -> request`` for the LLM provider.
    """

    def __init__(
        self,
        sentiment_model: SentimentModelLike,
        action_item_model: ActionItemModelLike,
        competitors: Sequence[str | Mapping[str, Any]],
        llm: Any = None,
        *,
        config: ConversationConfig | None = None,
        embed: Embedder | None = None,
        request_builder: RequestBuilder | None = None,
    ) -> None:
        self.sentiment_model = sentiment_model
        self.action_item_model = action_item_model
        self.competitors = parse_competitors(competitors)
        self.llm = llm
        self.config = config or ConversationConfig()
        self._embed = embed
        self._uses_default_embedder = embed is None
        self.request_builder = request_builder
        self._patterns = {
            "pricing": _compile_phrases(self.config.pricing_keywords),
            "objection": _compile_phrases(self.config.objection_keywords),
            "next_step": _compile_phrases(self.config.next_step_keywords),
        }

    @classmethod
    def from_settings(
        cls,
        settings: Any = None,
        *,
        config_path: str | Path | None = None,
        llm: Any = None,
    ) -> ConversationAnalyzer:
        """Build the analyzer from the trained text models and ``configs/conversation.yaml``.

        Never trains: the text models come from the text-models flow (``haste train-text``).

        Args:
            settings: Platform settings (defaults to :func:`haste.settings.get_settings`).
            config_path: Conversation config file (defaults to ``configs/conversation.yaml``).
            llm: Optional LLM provider for abstractive summaries.

        Returns:
            The analyzer.

        Raises:
            TextModelsNotTrainedError: When the text models have not been trained yet.
        """
        from haste.settings import get_settings
        from training.text import action_items, sentiment
        from training.text.registry import trained_text_model_paths

        paths = trained_text_model_paths(settings or get_settings())
        config = load_conversation_config(config_path)
        return cls(
            sentiment.load_sentiment_model(paths["sentiment"]),
            action_items.load_action_item_model(paths["action_items"]),
            list(config.competitors),
            llm,
            config=config,
        )

    @property
    def embed(self) -> Embedder:
        """Return the embedding function (MiniLM unless one was injected)."""
        if self._embed is None:
            from features.text_embeddings import embed_texts

            self._embed = embed_texts
        return self._embed

    # -- steps ---------------------------------------------------------------------------------

    def _score_turns(self, turns: Sequence[Turn]) -> tuple[list[float | None], np.ndarray]:
        """Score every turn's sentiment (``None`` for wordless turns).

        Returns:
            Per-turn scores and the mean probability over scored turns.
        """
        texts = [clean_text(turn.text) for turn in turns]
        scored = [i for i, text in enumerate(texts) if count_words(text) > 0]
        scores: list[float | None] = [None] * len(turns)
        if not scored:
            return scores, np.full(3, 1 / 3)
        proba = np.asarray(
            self.sentiment_model.predict_proba([texts[i] for i in scored]), dtype=np.float64
        )
        labels = tuple(getattr(self.sentiment_model, "labels", SENTIMENT_LABELS))
        order = (
            [labels.index(name) for name in SENTIMENT_LABELS]
            if set(labels) == set(SENTIMENT_LABELS)
            else [0, 1, 2]
        )
        proba = proba[:, order]
        for row, index in zip(proba, scored, strict=True):
            scores[index] = float(row[2] - row[0])
        return scores, proba.mean(axis=0)

    def _score_speakers(
        self, turns: Sequence[Turn], scores: Sequence[float | None]
    ) -> dict[str, dict[str, Any]]:
        """Per speaker: mean score, label, number of scored turns and a windowed series."""
        n_turns = len(turns)
        window = max(4, math.ceil(n_turns / max(self.config.sentiment_max_points, 1)))
        result: dict[str, dict[str, Any]] = {}
        for speaker in dict.fromkeys(turn.speaker for turn in turns):
            values = [
                s
                for turn, s in zip(turns, scores, strict=True)
                if turn.speaker == speaker and s is not None
            ]
            series = []
            for start in range(0, n_turns, window):
                block = [
                    s
                    for turn, s in zip(
                        turns[start : start + window], scores[start : start + window], strict=True
                    )
                    if turn.speaker == speaker and s is not None
                ]
                if block:
                    series.append(
                        {
                            "window": start // window,
                            "start_turn": turns[start].index,
                            "end_turn": turns[min(start + window, n_turns) - 1].index,
                            "timestamp": turns[start].timestamp,
                            "score": round(float(np.mean(block)), 4),
                            "turns": len(block),
                        }
                    )
            mean = float(np.mean(values)) if values else 0.0
            result[speaker] = {
                "score": round(mean, 4),
                "label": label_sentiment(mean, self.config.label_threshold),
                "turns": len(values),
                "series": series,
            }
        return result

    def _extract_action_items(
        self,
        turns: Sequence[Turn],
        units: Sequence[SummaryUnit],
        participants: Sequence[Mapping[str, Any]],
        vectors: np.ndarray | None = None,
    ) -> list[dict[str, Any]]:
        """Classify sentences and describe the positive ones (owner guess and due phrase).

        When the sentences were embedded with the platform's MiniLM (no injected embedder) and
        the classifier accepts embeddings (``predict_proba_embeddings``), the vectors are
        reused instead of embedding every sentence a second time.
        """
        keep = [i for i, u in enumerate(units) if u.words >= self.config.action_item_min_words]
        candidates = [units[i] for i in keep]
        if not candidates:
            return []
        cfg = self.config
        reuse = getattr(self.action_item_model, "predict_proba_embeddings", None)
        if self._uses_default_embedder and vectors is not None and callable(reuse):
            raw = reuse(np.asarray(vectors)[keep])
        else:
            raw = self.action_item_model.predict_proba([u.text for u in candidates])
        proba = np.asarray(raw, dtype=np.float64).reshape(-1)
        threshold = self.config.action_item_threshold
        if threshold is None:
            threshold = float(getattr(self.action_item_model, "threshold", 0.5) or 0.5)
        speakers = list(dict.fromkeys(turn.speaker for turn in turns))
        names = _index_names(speakers, participants)
        position = {turn.index: i for i, turn in enumerate(turns)}
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        for unit, probability in zip(candidates, proba, strict=True):
            key = unit.text.lower()
            if probability < threshold or key in seen:
                continue
            needs_cue = (
                cfg.action_item_require_cue and probability < cfg.action_item_cue_free_probability
            )
            if needs_cue and not has_action_cue(unit.text):
                continue
            seen.add(key)
            turn = turns[position[unit.turn_index]]
            owner, reason = guess_owner(
                unit.text,
                unit.speaker,
                names=names,
                addressee=_find_addressee(turns, position[unit.turn_index]),
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

    def _find_keyword_hits(
        self, turns: Sequence[Turn], units: Sequence[SummaryUnit], reps: set[str]
    ) -> dict[str, Any]:
        """Return pricing/objection/next-step hits (one per sentence) and price questions.

        Objections only count from the other party when the reps are known.
        """
        hits: dict[str, list[dict[str, Any]]] = {name: [] for name in self._patterns}
        hits["price_question"] = []
        position = {turn.index: i for i, turn in enumerate(turns)}
        for unit in units:
            for name, pattern in self._patterns.items():
                match = pattern.search(unit.text)
                if match is None or (name == "objection" and unit.speaker in reps):
                    continue
                entry = {
                    "turn_index": unit.turn_index,
                    "speaker": unit.speaker,
                    "timestamp": turns[position[unit.turn_index]].timestamp,
                    "text": unit.text,
                    "keyword": match.group(0).lower(),
                }
                hits[name].append(entry)
                if name == "pricing" and is_question(unit.text):
                    hits["price_question"].append(entry)
        return hits

    def _find_sentiment_swings(
        self, turns: Sequence[Turn], scores: Sequence[float | None]
    ) -> list[dict[str, Any]]:
        """Strongest sentiment swings vs the same speaker's previous three turns."""
        history: dict[str, list[float]] = {}
        swings: list[tuple[float, int]] = []
        for i, (turn, score) in enumerate(zip(turns, scores, strict=True)):
            if score is None:
                continue
            past = history.setdefault(turn.speaker, [])
            if past and turn.word_count >= 3:
                swings.append((score - float(np.mean(past[-3:])), i))
            past.append(score)
        moments = []
        limit = self.config.max_moments_per_type
        threshold = self.config.swing_threshold
        drops = sorted((s for s in swings if s[0] <= -threshold), key=lambda s: s[0])[:limit]
        rises = sorted((s for s in swings if s[0] >= threshold), key=lambda s: -s[0])[:limit]
        for kind, items in (("sentiment_drop", drops), ("sentiment_rise", rises)):
            for delta, i in items:
                turn = turns[i]
                moments.append(
                    {
                        "type": kind,
                        "turn_index": turn.index,
                        "speaker": turn.speaker,
                        "timestamp": turn.timestamp,
                        "text": clean_text(turn.text)[:300],
                        "score": round(float(scores[i] or 0.0), 4),
                        "reason": (
                            f"{turn.speaker}'s sentiment {'fell' if delta < 0 else 'rose'} by "
                            f"{abs(delta):.2f} to {scores[i]:+.2f} versus their previous turns"
                        ),
                    }
                )
        return moments

    def _collect_key_moments(
        self,
        turns: Sequence[Turn],
        scores: Sequence[float | None],
        hits: Mapping[str, list[dict[str, Any]]],
        mentions: Sequence[Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        """Combine sentiment swings, competitor mentions and keyword hits, in turn order."""
        limit = self.config.max_moments_per_type
        moments = self._find_sentiment_swings(turns, scores)
        reasons = {
            "price_question": "question about price",
            "pricing": "pricing discussed ({keyword})",
            "objection": "objection raised ({keyword})",
            "next_step": "next step mentioned ({keyword})",
        }
        taken: set[tuple[str, int]] = set()
        for mention in mentions:
            key = ("competitor_mention", mention["turn_index"])
            if key in taken:
                continue
            taken.add(key)
            moments.append(
                {
                    "type": "competitor_mention",
                    "turn_index": mention["turn_index"],
                    "speaker": mention["speaker"],
                    "timestamp": mention["timestamp"],
                    "text": mention["text"],
                    "reason": f"competitor {mention['competitor']} mentioned",
                }
            )
        question_turns = {hit["turn_index"] for hit in hits["price_question"]}
        for kind in ("price_question", "objection", "next_step", "pricing"):
            count = 0
            for hit in hits[kind]:
                if kind == "pricing" and hit["turn_index"] in question_turns:
                    continue
                key = (kind, hit["turn_index"])
                if key in taken or count >= limit:
                    continue
                taken.add(key)
                count += 1
                moments.append(
                    {
                        "type": kind,
                        "turn_index": hit["turn_index"],
                        "speaker": hit["speaker"],
                        "timestamp": hit["timestamp"],
                        "text": hit["text"],
                        "reason": reasons[kind].format(keyword=hit["keyword"]),
                    }
                )
        moments.sort(key=lambda moment: (moment["turn_index"], moment["type"]))
        return moments

    # -- entry point ---------------------------------------------------------------------------

    def analyze(
        self,
        transcript: str | list[dict[str, Any]],
        participants: list[dict[str, Any]] | None = None,
        meeting_type: str | None = None,
    ) -> ConversationAnalysis:
        """Analyse one conversation.

        Args:
            transcript: Transcript text or a list of ``{"speaker", "content"}`` dicts.
            participants: ``{"name", "role", ...}`` dicts; a role in ``rep_roles`` marks the
                coached speaker(s), names help guess action-item owners.
            meeting_type: Free text (``discovery call``, ``demo``, ``internal meeting``...).

        Returns:
            The analysis.

        Raises:
            ValueError: When the transcript is empty or cannot be parsed.
        """
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[name] = round((now - clock) * 1000, 2)
            clock = now

        turns = parse_transcript(transcript)
        participant_list = [dict(p) for p in (participants or [])]
        speakers = list(dict.fromkeys(turn.speaker for turn in turns))
        units = build_units(turns)
        lap("parse")
        vectors = np.asarray(self.embed([unit.text for unit in units]), dtype=np.float32)
        lap("embed")
        cfg = self.config
        summary = summarize_extractive(
            turns,
            max_words=cfg.summary_max_words,
            diversity=cfg.summary_diversity,
            lead_bias=cfg.summary_lead_bias,
            units=units,
            embeddings=vectors,
        )
        summary = summarize_abstractive(
            self.llm,
            turns,
            summary,
            max_words=cfg.llm_max_words,
            meeting_type=meeting_type,
            request_builder=self.request_builder,
        )
        lap("summary")
        turn_vectors = pool_turn_embeddings(
            len(turns), [unit.turn_index - turns[0].index for unit in units], vectors
        )
        topics = detect_topics(
            turns, turn_vectors, max_segments=cfg.max_segments, top_k=cfg.topic_keywords
        )
        lap("topics")
        scores, mean_proba = self._score_turns(turns)
        by_speaker = self._score_speakers(turns, scores)
        valid = [s for s in scores if s is not None]
        overall_score = float(np.mean(valid)) if valid else 0.0
        overall = {
            "score": round(overall_score, 4),
            "label": label_sentiment(overall_score, cfg.label_threshold),
            "distribution": {
                name: round(float(p), 4)
                for name, p in zip(SENTIMENT_LABELS, mean_proba, strict=True)
            },
            "turn_scores": [None if s is None else round(s, 4) for s in scores],
        }
        lap("sentiment")
        action_items = self._extract_action_items(turns, units, participant_list, vectors)
        lap("action_items")
        reps = identify_reps(speakers, participant_list, cfg.rep_roles)
        hits = self._find_keyword_hits(turns, units, reps)
        mentions = find_competitor_mentions(turns, self.competitors)
        alerts = build_competitor_alerts(
            mentions,
            negative_turns={
                turn.index
                for turn, s in zip(turns, scores, strict=True)
                if s is not None and s < -cfg.label_threshold
            },
            objection_turns={hit["turn_index"] for hit in hits["objection"]},
            pricing_turns={hit["turn_index"] for hit in hits["pricing"]},
            reps=reps,
        )
        key_moments = self._collect_key_moments(turns, scores, hits, mentions)
        talk_ratio = compute_talk_ratio(turns)
        coaching = {
            "talk_ratio": {k: round(v, 4) for k, v in talk_ratio.items()},
            "words_by_speaker": {
                speaker: sum(t.word_count for t in turns if t.speaker == speaker)
                for speaker in speakers
            },
            "turns_by_speaker": {
                speaker: sum(t.speaker == speaker for t in turns) for speaker in speakers
            },
            "longest_monologue": find_longest_monologue(turns),
            "question_rate": compute_question_rate(turns),
            "interruptions": count_interruptions(turns, cfg.interruption_words_per_second),
            "reps": sorted(reps),
        }
        tips = build_coaching_tips(
            {**coaching, "talk_ratio": talk_ratio},
            cfg,
            reps=reps,
            n_speakers=len(speakers),
            has_next_step=bool(hits["next_step"]) or bool(action_items),
            competitor_alerts=alerts,
            objection_count=len({hit["turn_index"] for hit in hits["objection"]}),
        )
        lap("moments_coaching")
        return ConversationAnalysis(
            summary=summary.text,
            summary_method=summary.method,
            topics=[topic.to_dict() for topic in topics],
            sentiment_by_speaker=by_speaker,
            overall_sentiment=overall,
            action_items=action_items,
            key_moments=key_moments,
            competitor_mentions=mentions,
            alerts=alerts,
            coaching=coaching,
            coaching_tips=tips,
            speakers=speakers,
            participants=participant_list,
            meeting_type=meeting_type,
            n_turns=len(turns),
            word_count=sum(turn.word_count for turn in turns),
            duration_seconds=measure_duration(turns),
            transcript=format_transcript(turns),
            timings_ms=timings,
        )


# --------------------------------------------------------------------------------------------
# API body and storage
# --------------------------------------------------------------------------------------------


class Participant(BaseModel):
    """A conversation participant (as in the spec's ``Participant[]``)."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, description="Name as it appears in the transcript.")
    role: str | None = Field(None, description="e.g. rep, customer, prospect, manager.")
    email: str | None = None


class ConversationAnalyzeRequest(BaseModel):
    """Body of ``POST /api/ai/conversation/analyze``."""

    model_config = ConfigDict(extra="forbid")

    transcript: str | list[dict[str, Any]] = Field(
        description="Transcript text ('Speaker: text' lines) or [{speaker, content}] turns."
    )
    participants: list[Participant] = Field(default_factory=list)
    meeting_type: str | None = Field(None, max_length=100)
    activity_id: uuid.UUID | None = Field(None, description="Existing call/meeting activity.")
    contact_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    store: bool = Field(True, description="Write the analysis to conversation_insights.")


def _choose_activity_type(meeting_type: str | None, n_speakers: int) -> str:
    """Return ``call`` or ``meeting`` for a new activity row."""
    if meeting_type:
        lowered = meeting_type.lower()
        if "call" in lowered or "phone" in lowered:
            return "call"
        return "meeting"
    return "call" if n_speakers <= 2 else "meeting"


def store_conversation_insight(
    database_url: str,
    analysis: ConversationAnalysis,
    activity_id: uuid.UUID | str | None = None,
    contact_id: uuid.UUID | str | None = None,
    user_id: uuid.UUID | str | None = None,
) -> uuid.UUID:
    """Write a ``conversation_insights`` row (and its ``activities`` row when needed).

    Columns: ``transcript`` (normalised ``[hh:mm:ss] Speaker: text`` lines), ``summary``,
    ``topics`` (segments), ``sentiment_scores`` (``{"overall", "by_speaker"}``),
    ``action_items`` and ``key_moments`` as ``{"moments", "competitor_mentions", "alerts",
    "coaching", "coaching_tips", "meeting_type", "participants", "summary_method"}`` (the
    table has no coaching/alert columns, so they travel with the moments).

    When ``activity_id`` is ``None`` an ``activities`` row of type ``call`` (two speakers or a
    "call" meeting type) or ``meeting`` is created in the same transaction, holding the
    transcript as its body and ``contact_id``/``user_id``.

    Args:
        database_url: SQLAlchemy URL of the CRM database (migrated).
        analysis: The analysis to store.
        activity_id: The analysed call/meeting activity, if it exists.
        contact_id: Contact of the new activity.
        user_id: User (rep) of the new activity.

    Returns:
        The ``conversation_insights`` row id.
    """
    from haste.db import Activity, ConversationInsight, session_scope

    def as_uuid(value: uuid.UUID | str | None) -> uuid.UUID | None:
        return None if value is None else uuid.UUID(str(value))

    with session_scope(database_url) as session:
        activity = as_uuid(activity_id)
        if activity is None:
            subject = (analysis.meeting_type or "Conversation").strip()
            if analysis.topics:
                subject = f"{subject}: {analysis.topics[0]['label']}"
            row = Activity(
                contact_id=as_uuid(contact_id),
                user_id=as_uuid(user_id),
                type=_choose_activity_type(analysis.meeting_type, len(analysis.speakers)),
                subject=subject[:500],
                body=analysis.transcript,
                occurred_at=dt.datetime.now(dt.UTC),
                details={
                    "source": "conversation_analysis",
                    "meeting_type": analysis.meeting_type,
                    "speakers": analysis.speakers,
                    "n_turns": analysis.n_turns,
                    "duration_seconds": analysis.duration_seconds,
                },
            )
            session.add(row)
            session.flush()
            activity = row.id
        insight = ConversationInsight(
            activity_id=activity,
            transcript=analysis.transcript,
            summary=analysis.summary,
            topics=analysis.topics,
            sentiment_scores={
                "overall": analysis.overall_sentiment,
                "by_speaker": analysis.sentiment_by_speaker,
            },
            action_items=analysis.action_items,
            key_moments={
                "moments": analysis.key_moments,
                "competitor_mentions": analysis.competitor_mentions,
                "alerts": analysis.alerts,
                "coaching": analysis.coaching,
                "coaching_tips": analysis.coaching_tips,
                "meeting_type": analysis.meeting_type,
                "participants": analysis.participants,
                "summary_method": analysis.summary_method,
            },
        )
        session.add(insight)
        session.flush()
        return insight.id


def analyze_request(
    analyzer: ConversationAnalyzer,
    request: ConversationAnalyzeRequest,
    database_url: str | None = None,
    *,
    store: Callable[..., uuid.UUID] = store_conversation_insight,
) -> dict[str, Any]:
    """Serve one ``POST /api/ai/conversation/analyze`` body: analyse, store, return the dict.

    Args:
        analyzer: The analyzer.
        request: The validated body.
        database_url: CRM database URL (defaults to the configured one).
        store: Storage function (injected in tests).

    Returns:
        ``analysis.to_dict()`` plus ``insight_id`` (``None`` when ``store`` is false).

    Raises:
        ValueError: When the transcript is empty or cannot be parsed (serve it as a 422).
    """
    analysis = analyzer.analyze(
        request.transcript,
        [participant.model_dump() for participant in request.participants],
        request.meeting_type,
    )
    body = analysis.to_dict()
    body["insight_id"] = None
    if request.store:
        if database_url is None:
            from haste.db import default_database_url

            database_url = default_database_url()
        body["insight_id"] = str(
            store(database_url, analysis, request.activity_id, request.contact_id, request.user_id)
        )
    return body
