"""Reply suggestions to an incoming email: intents ranked by sentiment, acknowledgement, drafts."""

from __future__ import annotations

import logging
import re
from typing import Any

from pipelines.corpora.emails import (
    Tone,
)
from textai.email.model_answers import parse_email_text, resolve_placeholders
from textai.email.models import (
    INTENTS,
    GenerateFn,
    ReplySuggestion,
)
from textai.email.sentiment import analyze_email_sentiment
from textai.llm.email_tone import (
    GREETING_LINE,
    SIGN_OFF_PHRASE,
)
from textai.llm.incoming_email import rank_reply_intents

logger = logging.getLogger(__name__)

_ACKNOWLEDGEMENT = re.compile(
    r"\b(sorry|apologi[sz]e|apologies|understand|hear you|thank you for (raising|flagging|"
    r"letting|telling|your patience|your honest)|acknowledge)\b",
    re.IGNORECASE,
)


_ACK_SENTENCE = (
    "I'm sorry for the frustration this has caused, and thank you for telling me directly."
)


def extract_sender_first_name(email_text: str) -> str | None:
    """Return the first name signed at the bottom of an email, when one is recognisable."""
    lines = [line.strip() for line in (email_text or "").strip().splitlines() if line.strip()]
    for line in reversed(lines[-3:]):
        if SIGN_OFF_PHRASE.match(line) and "," in line:
            tail = line.split(",", 1)[1].strip()
            if re.fullmatch(r"[A-Z][a-zA-Z'-]+(\s[A-Z][a-zA-Z'-]+)?", tail):
                return tail.split()[0]
            continue
        if re.fullmatch(r"[-–—\s]*[A-Z][a-zA-Z'-]+(\s[A-Z][a-zA-Z'-]+)?", line):
            return line.strip("-–— ").split()[0]
    return None


def ensure_acknowledgement(reply: str) -> tuple[str, bool]:
    """Make the first sentence after the greeting acknowledge the sender's frustration.

    Args:
        reply: Reply text (greeting optional).

    Returns:
        The reply (a leading ``I hope ...`` opener removed) and whether an acknowledgement
        sentence had to be inserted.
    """
    lines = reply.strip().splitlines()
    greeting = ""
    if lines and GREETING_LINE.match(lines[0]) and len(lines[0].split()) <= 8:
        greeting = lines.pop(0).strip()
    content = "\n".join(lines).strip()
    # A cheerful opener ("I hope you're having a good week.") has no place in a reply to a
    # complaint: drop it before checking the first sentence.
    content = re.sub(r"^I hope [^.!?\n]{0,80}[.!]\s*", "", content).strip()
    first_sentence = re.split(r"(?<=[.!?])\s", content, maxsplit=1)[0] if content else ""
    if _ACKNOWLEDGEMENT.search(first_sentence):
        rebuilt = f"{greeting}\n\n{content}" if greeting else content
        return rebuilt, False
    content = f"{_ACK_SENTENCE} {content}".strip()
    return (f"{greeting}\n\n{content}" if greeting else content), True


def suggest_replies(
    email_text: str,
    generate: GenerateFn,
    n: int = 3,
    *,
    sentiment_model: Any = None,
    sender_name: str | None = None,
    recipient_name: str | None = None,
    tone: Tone = "friendly",
    prompt_name: str = "email_reply",
) -> list[ReplySuggestion]:
    """Suggest ``n`` replies to an incoming email, one per intent.

    Args:
        email_text: The incoming email.
        generate: ``(prompt_name, variables) -> text`` (see ``configs/prompts/email_reply.yaml``).
        n: Number of suggestions (1-4: one per intent).
        sentiment_model: The trained sentiment model (``predict_proba``); ``None`` falls back
            to a keyword estimate.
        sender_name: Who signs the replies.
        recipient_name: Who the replies are for (parsed from the email's sign-off if omitted).
        tone: Tone of the replies.
        prompt_name: Prompt rendered by ``generate``.

    Returns:
        Up to ``n`` suggestions with distinct texts, best-fitting intent first.

    Raises:
        ValueError: When ``email_text`` is empty or ``n`` is not in 1-4.
    """
    if not email_text or not email_text.strip():
        raise ValueError("email_text must not be empty")
    if not 1 <= n <= len(INTENTS):
        raise ValueError(f"n must be between 1 and {len(INTENTS)}, got {n}")
    sentiment = analyze_email_sentiment([email_text], sentiment_model)[0]
    label = sentiment["label"]
    name = recipient_name or extract_sender_first_name(email_text) or ""
    values = {"first_name": name or None, "sender_name": sender_name}
    suggestions: list[ReplySuggestion] = []
    seen: set[str] = set()
    for intent in rank_reply_intents(email_text, label):
        variables = {
            "incoming_email": email_text.strip()[:4000],
            "intent": intent,
            "sentiment": label,
            "acknowledge": label == "negative",
            "recipient_name": name,
            "sender_name": sender_name or "",
            "tone": tone,
        }
        raw = generate(prompt_name, variables)
        _, text = parse_email_text(raw or "")
        text, _ = resolve_placeholders(text, values, label="reply")
        if not text.strip():
            logger.warning("empty reply suggestion for intent %s", intent)
            continue
        acknowledged = False
        if label == "negative":
            text, _ = ensure_acknowledgement(text)
            acknowledged = True
        key = re.sub(r"\W+", " ", text.lower()).strip()
        if key in seen:
            continue
        seen.add(key)
        suggestions.append(
            ReplySuggestion(
                text=text.strip(),
                intent=intent,
                sentiment=label,
                sentiment_score=float(sentiment["score"]),
                acknowledged=acknowledged,
            )
        )
        if len(suggestions) >= n:
            break
    return suggestions
