"""Key moments of a call: sentiment swings, competitor mentions and keyword hits.

Keyword hits are pricing, objection and next-step phrases (from the conversation config) and
questions about price; together with sentiment swings and competitor mentions they make the
turn-ordered ``key_moments`` of an analysis.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from textai.conversation.config import ConversationConfig, compile_phrases
from textai.conversation.summarize import SummaryUnit
from textai.conversation.transcript import Turn, clean_text, is_question

_REASONS = {
    "price_question": "question about price",
    "pricing": "pricing discussed ({keyword})",
    "objection": "objection raised ({keyword})",
    "next_step": "next step mentioned ({keyword})",
}


def compile_keyword_patterns(config: ConversationConfig) -> dict[str, re.Pattern[str]]:
    """Compile the pricing, objection and next-step phrases of a config.

    Args:
        config: The conversation config.

    Returns:
        ``{"pricing", "objection", "next_step"}`` patterns.
    """
    return {
        "pricing": compile_phrases(config.pricing_keywords),
        "objection": compile_phrases(config.objection_keywords),
        "next_step": compile_phrases(config.next_step_keywords),
    }


def find_keyword_hits(
    turns: Sequence[Turn],
    units: Sequence[SummaryUnit],
    patterns: Mapping[str, re.Pattern[str]],
    reps: set[str],
) -> dict[str, list[dict[str, Any]]]:
    """Return keyword hits (one per sentence and pattern) and price questions.

    Objections only count from the other party when the reps are known.

    Args:
        turns: The conversation's turns.
        units: Its sentences.
        patterns: Patterns by hit kind (:func:`compile_keyword_patterns`).
        reps: The reps' speaker names.

    Returns:
        Hits by kind (the patterns' kinds plus ``price_question``), each a dict with
        ``turn_index``, ``speaker``, ``timestamp``, ``text`` and ``keyword``.
    """
    hits: dict[str, list[dict[str, Any]]] = {name: [] for name in patterns}
    hits["price_question"] = []
    position = {turn.index: i for i, turn in enumerate(turns)}
    for unit in units:
        for name, pattern in patterns.items():
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


def find_sentiment_swings(
    turns: Sequence[Turn],
    scores: Sequence[float | None],
    *,
    limit: int,
    threshold: float,
) -> list[dict[str, Any]]:
    """Strongest sentiment swings versus the same speaker's previous three turns.

    Args:
        turns: The conversation's turns.
        scores: Per-turn sentiment scores (``None`` for unscored turns).
        limit: Most drops and most rises kept.
        threshold: Smallest swing that counts.

    Returns:
        ``sentiment_drop`` moments (strongest first) then ``sentiment_rise`` moments.
    """
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


def collect_key_moments(
    turns: Sequence[Turn],
    scores: Sequence[float | None],
    hits: Mapping[str, list[dict[str, Any]]],
    mentions: Sequence[Mapping[str, Any]],
    *,
    limit: int,
    swing_threshold: float,
) -> list[dict[str, Any]]:
    """Combine sentiment swings, competitor mentions and keyword hits, in turn order.

    One moment per kind and turn; a pricing hit on a turn that asks about price is only the
    price question.

    Args:
        turns: The conversation's turns.
        scores: Per-turn sentiment scores.
        hits: Keyword hits (:func:`find_keyword_hits`).
        mentions: Competitor mentions.
        limit: Most moments per kind (swings and keyword hits).
        swing_threshold: Smallest sentiment swing that counts.

    Returns:
        Moments with ``type``, ``turn_index``, ``speaker``, ``timestamp``, ``text`` and
        ``reason``, sorted by turn then type.
    """
    moments = find_sentiment_swings(turns, scores, limit=limit, threshold=swing_threshold)
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
                    "reason": _REASONS[kind].format(keyword=hit["keyword"]),
                }
            )
    moments.sort(key=lambda moment: (moment["turn_index"], moment["type"]))
    return moments
