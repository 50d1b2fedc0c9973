"""Talk metrics of a call: sentiment labels, talk ratio, monologues, questions, interruptions."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

from textai.conversation.transcript import (
    Turn,
    clean_text,
    is_question,
    split_sentences,
)


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
