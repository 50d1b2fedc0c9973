"""Sentiment of emails: a thin wrapper over the platform's trained sentiment model.

The model (``training.text.sentiment``) is a classifier over MiniLM embeddings trained on the
real Twitter US Airline Sentiment and UCI sentiment sentences; its ``predict_proba`` returns
``(n, 3)`` probabilities over (negative, neutral, positive). :func:`analyze_email_sentiment`
turns them into one record per email. When no model is available,
:func:`estimate_lexicon_sentiment` is a small keyword fallback (clearly reported as such through
``source="lexicon"``); it is only a safety net, never a substitute for the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")

_NEGATIVE_CUES = re.compile(
    r"\b(disappoint\w*|frustrat\w*|unacceptable|angry|annoy\w*|terrible|awful|worst|"
    r"useless|broken|complain\w*|cancel\w*|refund|ridiculous|still waiting|no one|nobody|"
    r"fed up|unhappy|poor|failed|failing|never again|waste)\b",
    re.IGNORECASE,
)
_POSITIVE_CUES = re.compile(
    r"\b(thank\w*|great|excellent|love|happy|pleased|delighted|perfect|appreciate\w*|"
    r"awesome|fantastic|glad|excited|impressed)\b",
    re.IGNORECASE,
)


class SentimentModel(Protocol):
    """What :func:`analyze_email_sentiment` needs from a sentiment model."""

    def predict_proba(self, texts: Sequence[str]) -> Any:
        """Return ``(n, 3)`` probabilities over (negative, neutral, positive)."""
        ...


def analyze_email_sentiment(
    texts: Sequence[str], model: SentimentModel | None
) -> list[dict[str, Any]]:
    """Score the sentiment of each email.

    Args:
        texts: Email texts.
        model: The trained sentiment model; ``None`` uses the lexicon fallback.

    Returns:
        One dict per text: ``label`` (negative/neutral/positive, the most probable class),
        ``score`` (P(positive) - P(negative), in [-1, 1]), ``probabilities`` (by label) and
        ``source`` (``model`` or ``lexicon``).
    """
    if len(texts) == 0:
        return []
    if model is None:
        return [estimate_lexicon_sentiment(text) for text in texts]
    proba = np.asarray(model.predict_proba([str(t) for t in texts]), dtype=float)
    if proba.ndim != 2 or proba.shape != (len(texts), len(SENTIMENT_LABELS)):
        raise ValueError(
            f"sentiment model returned shape {proba.shape}, expected ({len(texts)}, 3)"
        )
    results = []
    for row in proba:
        probabilities = {
            label: round(float(p), 4) for label, p in zip(SENTIMENT_LABELS, row, strict=True)
        }
        results.append(
            {
                "label": SENTIMENT_LABELS[int(np.argmax(row))],
                "score": round(float(row[2] - row[0]), 4),
                "probabilities": probabilities,
                "source": "model",
            }
        )
    return results


def estimate_lexicon_sentiment(text: str) -> dict[str, Any]:
    """Return a keyword-count sentiment estimate (fallback when no model is loaded).

    Args:
        text: The email text.

    Returns:
        The same record shape as :func:`analyze_email_sentiment`, with ``source="lexicon"``.
    """
    negative = len(_NEGATIVE_CUES.findall(text or ""))
    positive = len(_POSITIVE_CUES.findall(text or ""))
    total = negative + positive
    if total == 0:
        probabilities = {"negative": 0.15, "neutral": 0.7, "positive": 0.15}
    else:
        p_neg = 0.8 * negative / total + 0.1
        p_pos = 0.8 * positive / total + 0.1
        probabilities = {"negative": p_neg, "neutral": 0.0, "positive": p_pos}
        norm = 1.0 / (p_neg + p_pos)
        probabilities = {k: v * norm * 0.9 for k, v in probabilities.items()}
        probabilities["neutral"] = 0.1
    label = max(SENTIMENT_LABELS, key=lambda name: (probabilities[name], name == "neutral"))
    return {
        "label": label,
        "score": round(probabilities["positive"] - probabilities["negative"], 4),
        "probabilities": {k: round(v, 4) for k, v in probabilities.items()},
        "source": "lexicon",
    }


def load_default_sentiment_model(settings: Any = None) -> Any:
    """Load the trained sentiment model; never trains (flows do: ``haste train-text``).

    Args:
        settings: Platform settings (defaults to :func:`haste.settings.get_settings`).

    Returns:
        The loaded model (``predict_proba``, ``predict``, ``score``).

    Raises:
        TextModelsNotTrainedError: When the text models have not been trained yet.
    """
    from haste.settings import get_settings
    from training.text.registry import trained_text_model_paths
    from training.text.sentiment_model import load_sentiment_model

    paths = trained_text_model_paths(settings or get_settings())
    return load_sentiment_model(paths["sentiment"])
