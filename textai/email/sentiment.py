"""Sentiment of emails: a thin wrapper over the platform's trained sentiment model.

The model (``training.text.sentiment``) is a classifier over MiniLM embeddings trained on the
real Twitter US Airline Sentiment and UCI sentiment sentences; its ``predict_proba`` returns
``(n, 3)`` probabilities over (negative, neutral, positive). :func:`analyze_email_sentiment`
turns them into one record per email. When no model is available,
:func:`~textai.llm.incoming_email.estimate_lexicon_sentiment` is a small keyword fallback
(clearly reported as such through ``source="lexicon"``); it is only a safety net, never a
substitute for the model.

:func:`load_default_sentiment_model` only loads a model that a flow trained
(``haste train-text``, :mod:`flows.text_models`): serving never trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from haste.settings import Settings, get_settings
from textai.llm.incoming_email import SENTIMENT_LABELS, estimate_lexicon_sentiment
from training.text.registry import trained_text_model_paths


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


def load_default_sentiment_model(settings: Settings | None = None) -> Any:
    """Load the trained sentiment model of this home; never trains.

    The model is found with :func:`training.text.registry.trained_text_model_paths`; train it
    with ``haste train-text`` (the text-models flow) first.

    Args:
        settings: Platform settings (defaults to :func:`haste.settings.get_settings`).

    Returns:
        The loaded model (``predict_proba``, ``predict``, ``score``).

    Raises:
        TextModelsNotTrainedError: When the text models have not been trained yet (the
            message says how to train them).
    """
    # Imported here: it imports torch, which only a loaded model needs.
    from training.text.sentiment_model import load_sentiment_model

    paths = trained_text_model_paths(settings or get_settings())
    return load_sentiment_model(paths["sentiment"])
