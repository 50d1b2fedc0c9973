"""Sentiment of a conversation: per turn, per speaker over time, and overall."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from textai.conversation.talk_metrics import label_sentiment
from textai.conversation.transcript import Turn, clean_text, count_words

SENTIMENT_LABELS: tuple[str, str, str] = ("negative", "neutral", "positive")


class SentimentModelLike(Protocol):
    """What the analyzer needs from the sentiment model."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Return ``(n, 3)`` probabilities over (negative, neutral, positive)."""
        ...


def score_turns(
    model: SentimentModelLike, turns: Sequence[Turn]
) -> tuple[list[float | None], np.ndarray]:
    """Score every turn's sentiment as ``P(positive) - P(negative)`` (``None`` if wordless).

    The model's columns are reordered to (negative, neutral, positive) when it names its
    ``labels``.

    Args:
        model: The sentiment model.
        turns: The conversation's turns.

    Returns:
        Per-turn scores in [-1, 1] and the mean probability over scored turns.
    """
    texts = [clean_text(turn.text) for turn in turns]
    scored = [i for i, text in enumerate(texts) if count_words(text) > 0]
    scores: list[float | None] = [None] * len(turns)
    if not scored:
        return scores, np.full(3, 1 / 3)
    proba = np.asarray(model.predict_proba([texts[i] for i in scored]), dtype=np.float64)
    labels = tuple(getattr(model, "labels", SENTIMENT_LABELS))
    order = (
        [labels.index(name) for name in SENTIMENT_LABELS]
        if set(labels) == set(SENTIMENT_LABELS)
        else [0, 1, 2]
    )
    proba = proba[:, order]
    for row, index in zip(proba, scored, strict=True):
        scores[index] = float(row[2] - row[0])
    return scores, proba.mean(axis=0)


def score_speakers(
    turns: Sequence[Turn],
    scores: Sequence[float | None],
    *,
    max_points: int,
    label_threshold: float,
) -> dict[str, dict[str, Any]]:
    """Per speaker: mean score, label, number of scored turns and a windowed series.

    Args:
        turns: The conversation's turns.
        scores: Per-turn scores (``None`` for unscored turns).
        max_points: Most points of a speaker's series (sets the window of turns).
        label_threshold: Score magnitude beyond which a speaker is positive/negative.

    Returns:
        ``{speaker: {"score", "label", "turns", "series"}}`` in order of first turn.
    """
    n_turns = len(turns)
    window = max(4, math.ceil(n_turns / max(max_points, 1)))
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
            "label": label_sentiment(mean, label_threshold),
            "turns": len(values),
            "series": series,
        }
    return result


def summarize_overall_sentiment(
    scores: Sequence[float | None], mean_proba: np.ndarray, *, label_threshold: float
) -> dict[str, Any]:
    """Describe the whole conversation's sentiment.

    Args:
        scores: Per-turn scores (``None`` for unscored turns).
        mean_proba: Mean (negative, neutral, positive) probability over scored turns.
        label_threshold: Score magnitude beyond which the conversation is positive/negative.

    Returns:
        ``{"score", "label", "distribution", "turn_scores"}``.
    """
    valid = [s for s in scores if s is not None]
    overall_score = float(np.mean(valid)) if valid else 0.0
    return {
        "score": round(overall_score, 4),
        "label": label_sentiment(overall_score, label_threshold),
        "distribution": {
            name: round(float(p), 4) for name, p in zip(SENTIMENT_LABELS, mean_proba, strict=True)
        },
        "turn_scores": [None if s is None else round(s, 4) for s in scores],
    }
