"""Tone and length of an email: greetings and sign-offs, contractions, word limits.

The offline provider writes its emails with these rules, and the email AI
(:mod:`textai.email.compose`, :mod:`textai.email.replies`) enforces them on any model's answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ToneStyle:
    """Markers of one tone.

    Attributes:
        greeting: Greeting line (``{first_name}`` is filled).
        sign_off: Sign-off line above the sender's name.
        opener: Sentence the body must open with (``None``: no constraint).
    """

    greeting: str
    sign_off: str
    opener: str | None = None


TONE_STYLES: dict[str, ToneStyle] = {
    "formal": ToneStyle("Dear {first_name},", "Kind regards,"),
    "casual": ToneStyle("Hi {first_name},", "Cheers,"),
    "friendly": ToneStyle("Hi {first_name},", "Best,", "I hope you're having a good week."),
}


_CONTRACTIONS: dict[str, str] = {
    "I'm": "I am",
    "I've": "I have",
    "I'd": "I would",
    "I'll": "I will",
    "you're": "you are",
    "you've": "you have",
    "you'd": "you would",
    "you'll": "you will",
    "we're": "we are",
    "we've": "we have",
    "we'd": "we would",
    "we'll": "we will",
    "it's": "it is",
    "that's": "that is",
    "there's": "there is",
    "don't": "do not",
    "doesn't": "does not",
    "didn't": "did not",
    "can't": "cannot",
    "won't": "will not",
    "isn't": "is not",
    "aren't": "are not",
    "wasn't": "was not",
    "haven't": "have not",
    "let's": "let us",
    "here's": "here is",
    "what's": "what is",
}


#: A greeting line (``Dear Ada,``, ``Hi there,``, ``Good morning team``).
GREETING_LINE = re.compile(
    r"^\s*(dear|hi|hello|hey|hiya|greetings|good (morning|afternoon|evening))\b[^\n]{0,60}$",
    re.IGNORECASE,
)


#: The start of a sign-off line (``Kind regards,``, ``Cheers``, ``Thanks, Tom``).
SIGN_OFF_PHRASE = re.compile(
    r"^\s*(kind regards|best regards|warm regards|regards|best wishes|best|cheers|thanks|"
    r"thank you|many thanks|sincerely|yours sincerely|yours faithfully|warmly|all the best|"
    r"talk soon|speak soon)\b[\s,.!]*",
    re.IGNORECASE,
)


def split_paragraphs(text: str) -> list[str]:
    """Split a body into non-empty paragraphs (blank-line separated)."""
    return [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def strip_greeting_and_sign_off(body: str) -> str:
    """Remove the greeting line at the top and the sign-off block at the bottom.

    Args:
        body: Email body.

    Returns:
        The content between greeting and sign-off.
    """
    lines = [line.rstrip() for line in body.strip().splitlines()]
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines and GREETING_LINE.match(lines[0]) and len(lines[0].split()) <= 8:
        first = lines.pop(0)
        rest_of_greeting = re.sub(
            r"^\s*(dear|hi|hello|hey|hiya|greetings|good (morning|afternoon|evening))\b"
            r"[^,!\n]*[,!]?",
            "",
            first,
            flags=re.IGNORECASE,
        ).strip()
        if rest_of_greeting:
            lines.insert(0, rest_of_greeting)
    while lines and not lines[-1].strip():
        lines.pop()
    # Sign-off: "<phrase>,\n<name>" or "<phrase>, <name>" or "<phrase>" on the last lines.
    for depth in (2, 1):
        if len(lines) >= depth:
            tail = [line.strip() for line in lines[-depth:]]
            phrase_line = tail[0]
            if SIGN_OFF_PHRASE.match(phrase_line) and len(phrase_line.split()) <= 6:
                name_ok = depth == 1 or (
                    len(tail[1].split()) <= 5 and not tail[1].endswith((".", "?", "!"))
                )
                if name_ok:
                    del lines[-depth:]
                    break
    return "\n".join(lines).strip()


def _expand_contractions(text: str) -> str:
    """Expand common contractions (formal tone)."""
    for short, long in _CONTRACTIONS.items():
        pattern = re.compile(rf"\b{re.escape(short)}\b", re.IGNORECASE)
        text = pattern.sub(
            lambda m, lng=long: lng[0].upper() + lng[1:] if m.group(0)[0].isupper() else lng, text
        )
    return text


def apply_tone(
    body: str, tone: str, first_name: str, sender_name: str, *, opener: bool = True
) -> str:
    """Rebuild greeting, opener and sign-off so the body carries the tone's markers.

    Args:
        body: Email body (with or without greeting and sign-off).
        tone: ``formal``, ``casual`` or ``friendly``.
        first_name: Recipient's first name.
        sender_name: Sender's name.
        opener: Add the tone's opener (friendly: ``I hope ...``) when the body lacks one;
            ``False`` for replies to complaints, which must open with an acknowledgement.

    Returns:
        The body: greeting, content, sign-off and sender name.
    """
    style = TONE_STYLES.get(tone, TONE_STYLES["friendly"])
    content = strip_greeting_and_sign_off(body)
    if tone == "formal":
        content = _expand_contractions(content).replace("!", ".")
        content = re.sub(r"\.{2,}", ".", content)
    if style.opener and opener:
        first_sentence = re.split(r"(?<=[.!?])\s", content.strip(), maxsplit=1)[0]
        if not re.search(r"\bhope\b", first_sentence, re.IGNORECASE):
            content = f"{style.opener}\n\n{content}" if content else style.opener
    greeting = style.greeting.format(first_name=first_name)
    parts = [greeting, content] if content else [greeting]
    return "\n\n".join(parts) + f"\n\n{style.sign_off}\n{sender_name}"


def count_words(text: str) -> int:
    """Return the number of whitespace-separated words."""
    return len(text.split())


def enforce_length(
    body: str, tone: str, first_name: str, sender_name: str, max_words: int
) -> tuple[str, bool]:
    """Cut the content at sentence boundaries until the whole body fits ``max_words``.

    Args:
        body: Body carrying the tone's markers (see :func:`apply_tone`).
        tone: The tone (to rebuild the markers).
        first_name: Recipient's first name.
        sender_name: Sender's name.
        max_words: Upper bound on the body's words.

    Returns:
        The body and whether it was cut.
    """
    if count_words(body) <= max_words:
        return body, False
    content = strip_greeting_and_sign_off(body)
    paragraphs = split_paragraphs(content)
    frame = count_words(apply_tone("", tone, first_name, sender_name))
    budget = max(10, max_words - frame)
    kept: list[str] = []
    used = 0
    for paragraph in paragraphs:
        sentences = re.split(r"(?<=[.!?])\s+", paragraph)
        taken = []
        for sentence in sentences:
            words = count_words(sentence)
            if used + words > budget:
                break
            taken.append(sentence)
            used += words
        if taken:
            kept.append(" ".join(taken))
        if len(taken) < len(sentences):
            break
    return apply_tone("\n\n".join(kept), tone, first_name, sender_name), True
