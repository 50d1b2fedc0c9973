"""How the offline provider replies to an incoming email: one intent, or numbered suggestions.

Replies to negative messages open with an acknowledgement; a day/time the message proposes
and its question are echoed back. The sentiment (when the caller gives none) and the order of
the intents come from the keyword rules of :mod:`textai.llm.incoming_email`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipelines.corpora.emails import PLACEHOLDER_DEFAULTS, TONES
from textai.llm.email_tone import apply_tone
from textai.llm.incoming_email import estimate_lexicon_sentiment, rank_reply_intents
from textai.llm.offline_reading import recipient_first_name, reply_specifics

_ACK_OPENERS: dict[str, str] = {
    "formal": "I am sorry to hear about this, and thank you for bringing it to my attention.",
    "casual": "Sorry about this, and thanks for telling me straight.",
    "friendly": "I'm really sorry to hear about this, and thank you for letting me know.",
}
_REPLY_BODIES: dict[str, dict[str, str]] = {
    "accept": {
        "negative": "You are right to expect better. I have taken this on personally and will "
        "make sure it is resolved, and I will confirm once it is done.",
        "default": "Thank you for your note. That works for us, and I will take care of the "
        "next steps on our side and confirm shortly.",
    },
    "decline": {
        "negative": "I understand why you are asking. Unfortunately we cannot do exactly that, "
        "but I would like to propose an alternative that addresses the problem.",
        "default": "Thank you for thinking of us. Unfortunately we are not able to do that at "
        "the moment, but I would be glad to suggest an alternative that could work.",
    },
    "ask_info": {
        "negative": "So that I can fix this quickly, could you share a few details: when the "
        "problem started, which users are affected and any error messages you saw?",
        "default": "Before I come back to you properly, could you share a little more detail "
        "on what you need and your timeline, so I can give you an accurate answer?",
    },
    "schedule": {
        "negative": "I would like to talk this through properly. Could we have a 15-minute call "
        "today or tomorrow, at a time that suits you?",
        "default": "Would a short call help? I am free on Tuesday at 10:00 or Thursday at "
        "15:00, and happy to work around your calendar.",
    },
}


def write_reply(variables: Mapping[str, Any]) -> str:
    """Write a reply: one email for one intent, or numbered one-line suggestions.

    With an ``intent`` (the ``email_reply`` prompt) the answer is a full email; without
    one (e.g. the ``reply_suggestion`` prompt) it is ``n`` numbered suggestions, one per
    intent in the order that fits the message.

    Args:
        variables: ``incoming_email``, ``intent``, ``sentiment``, ``acknowledge``,
            ``recipient_name``, ``sender_name``, ``tone``, ``n``.

    Returns:
        The reply (or the numbered suggestions).
    """
    incoming = str(variables.get("incoming_email") or "")
    sentiment = str(variables.get("sentiment") or "").lower()
    if sentiment not in {"negative", "neutral", "positive"}:
        sentiment = estimate_lexicon_sentiment(incoming)["label"]
    acknowledge = variables.get("acknowledge") in (True, "true", "True", "yes")
    negative = sentiment == "negative" or acknowledge
    tone = str(variables.get("tone") or "friendly").lower()
    if tone not in TONES:
        tone = "casual" if tone == "concise" else "friendly"
    specifics = reply_specifics(incoming)
    intent = str(variables.get("intent") or "").lower()
    if intent in _REPLY_BODIES:
        parts = [reply_content(intent, sentiment, negative, tone, specifics)]
        first_name = recipient_first_name(variables) or "there"
        sender = str(variables.get("sender_name") or PLACEHOLDER_DEFAULTS["sender_name"])
        return apply_tone("\n\n".join(parts), tone, first_name, sender, opener=not negative)
    try:
        n = max(1, min(len(_REPLY_BODIES), int(variables.get("n") or 3)))
    except (TypeError, ValueError):
        n = 3
    intents = rank_reply_intents(incoming, "negative" if negative else sentiment)
    lines = [
        f"{i}. {reply_content(name, sentiment, negative, tone, specifics)}"
        for i, name in enumerate(intents[:n], 1)
    ]
    return "\n".join(lines)


def reply_content(
    intent: str, sentiment: str, negative: bool, tone: str, specifics: Mapping[str, str]
) -> str:
    """Return the body of one reply (acknowledgement, intent sentence, specifics).

    Args:
        intent: ``accept``, ``decline``, ``ask_info`` or ``schedule``.
        sentiment: The incoming message's sentiment label.
        negative: Whether the reply must open with an acknowledgement.
        tone: ``formal``, ``casual`` or ``friendly``.
        specifics: What the reply can echo (``when``, ``question``).

    Returns:
        The reply's content, without greeting or sign-off.
    """
    parts = []
    if negative:
        parts.append(_ACK_OPENERS[tone])
    elif sentiment == "positive":
        parts.append("Thank you for the kind words.")
    else:
        parts.append("Thank you for your message.")
    when, question = specifics.get("when"), specifics.get("question")
    if intent == "schedule" and when and not negative:
        parts.append(f"{when} works for me; I will send an updated invitation.")
    elif intent == "accept" and question and not negative:
        parts.append(
            f'On your question ("{question}"), I will come back to you today with a clear answer.'
        )
    elif intent == "ask_info" and question and not negative:
        parts.append(
            f'So that I answer "{question}" accurately, could you share a little '
            "more about what you need and your timeline?"
        )
    else:
        parts.append(_REPLY_BODIES[intent]["negative" if negative else "default"])
    return " ".join(parts)
