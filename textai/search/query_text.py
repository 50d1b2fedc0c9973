"""Query text basics: validation, content words, and the cues of questions, people, topics."""

from __future__ import annotations

import re
from typing import Any

from textai.search.query_model import MAX_QUERY_CHARS
from textai.text_patterns import has_word_char

#: A remainder with at least this many content words makes the query descriptive (text only).
DESCRIPTIVE_MIN_WORDS = 6


#: Command and function words that carry no search content.
GLUE_WORDS = frozenset(
    {
        "show", "me", "find", "list", "get", "give", "search", "for", "all", "any", "the", "a",
        "an", "with", "in", "from", "at", "of", "that", "are", "is", "which", "whose", "who",
        "where", "and", "or", "to", "by", "on", "over", "under", "please", "my", "our", "their",
        "those", "these", "there", "what", "were", "was", "be", "been", "have", "has", "had",
        "do", "does", "did", "ones", "one", "it", "its", "i", "we", "you", "they"
    }
)  # fmt: skip


#: A query opening like a question ("what", "did", "how"...).
QUESTION_CUE = re.compile(
    r"^(?:what|when|why|how|did|does|do|is|are|was|were|which|can|could|has|have|should|"
    r"will|would)\b"
)


#: A query opening like a person lookup ("who is", "contact details for"...).
PERSON_CUE = re.compile(
    r"^(?:who\s+is|who's|whos|find\s+(?:the\s+)?(?:person|contact)|look\s*up|lookup|"
    r"contact\s+(?:details|info(?:rmation)?)\s+(?:for|of)|phone\s+(?:number\s+)?(?:for|of)|"
    r"email\s+(?:address\s+)?(?:for|of)|details\s+(?:for|of|on)|profile\s+of)\b"
)


#: A word announcing a topic ("about", "regarding", "where"...).
TOPIC_CUE = re.compile(r"\b(?:about|regarding|mentioning|discussing|discussed|where|concerning)\b")


#: One word of a query (letters, digits and inner punctuation).
WORD = re.compile(r"[a-z0-9][a-z0-9'&.-]*", re.IGNORECASE)


def content_words(text: str) -> list[str]:
    """Return the non-glue words of a text."""
    return [w for w in WORD.findall(text.lower()) if w not in GLUE_WORDS]


def validate_query(text: Any) -> str:
    """Check a raw query and return it stripped.

    Args:
        text: The query.

    Returns:
        The query without surrounding whitespace.

    Raises:
        ValueError: When it is not a string, empty, longer than :data:`MAX_QUERY_CHARS` or has
            no letter or digit.

    """
    if not isinstance(text, str):
        raise ValueError(f"query must be a string, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise ValueError("query is empty")
    if len(stripped) > MAX_QUERY_CHARS:
        raise ValueError(f"query is longer than {MAX_QUERY_CHARS} characters ({len(stripped)})")
    if not has_word_char(stripped):
        raise ValueError(f"query {text!r} has no letter or digit")
    return stripped
