"""Reading an incoming email without a model: keyword sentiment and the order of reply intents.

The offline provider answers replies with these rules; the email AI uses
:func:`estimate_lexicon_sentiment` as its fallback when the trained sentiment model is not
given (:mod:`textai.email.sentiment`) and :func:`rank_reply_intents` to order its suggestions
(:mod:`textai.email.replies`).
"""

from __future__ import annotations

import re
from typing import Any

#: The sentiment labels, in the column order of a model's ``predict_proba``.
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


_SCHEDULE_CUES = re.compile(
    r"\b(meet|meeting|call|demo|calendar|schedule|available|availability|time slot|slot|"
    r"next week|this week|monday|tuesday|wednesday|thursday|friday|when (are|would|could))\b",
    re.IGNORECASE,
)


_INFO_CUES = re.compile(
    r"\?|\b(could you|can you|would you|please send|what is|what are|how (do|does|much|many))\b",
    re.IGNORECASE,
)


def estimate_lexicon_sentiment(text: str) -> dict[str, Any]:
    """Return a keyword-count sentiment estimate (the fallback when no model is loaded).

    Args:
        text: The email text.

    Returns:
        A record shaped like those of
        :func:`textai.email.sentiment.analyze_email_sentiment`, with ``source="lexicon"``.
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


def rank_reply_intents(email_text: str, sentiment_label: str) -> list[str]:
    """Order the reply intents by how well they fit the incoming email.

    Negative emails get ``ask_info`` (understand the problem), then ``schedule`` (talk it
    through), ``accept``, ``decline``; emails about meeting times lead with ``schedule``;
    everything else leads with ``accept``.

    Args:
        email_text: The incoming email.
        sentiment_label: Its sentiment label.

    Returns:
        All four intents, best first.
    """
    if sentiment_label == "negative":
        return ["ask_info", "schedule", "accept", "decline"]
    if _SCHEDULE_CUES.search(email_text or ""):
        return ["schedule", "accept", "ask_info", "decline"]
    if len(_INFO_CUES.findall(email_text or "")) >= 2:
        return ["accept", "ask_info", "schedule", "decline"]
    return ["accept", "schedule", "ask_info", "decline"]
