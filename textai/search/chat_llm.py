"""LLM answers of conversational search, with every citation checked against the hits.

When a hosted provider is configured (an API key set, or a local OpenAI-compatible server),
:func:`llm_answer` renders the versioned prompt ``search_answer``
(``configs/prompts/search_answer.yaml``) with the question, the search's scope and the numbered
hits, and keeps the model's prose only when it cites at least one hit and every ``[n]`` marker
it writes is a real hit; otherwise :class:`AnswerRefused` says why and the caller keeps the
offline template (``fallback_reason``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from textai.search.chat_answer import describe_record
from textai.search.hits import SearchHit

PROMPT_NAME = "search_answer"
#: ``ai_interactions.feature`` of the calls.
FEATURE = "search_chat"
#: A ``generate(prompt_name, variables) -> text`` function (e.g. the LLM service's).
GenerateText = Callable[[str, dict[str, Any]], str]
#: A citation marker of an answer: ``[3]``.
MARKER = re.compile(r"\[(\d{1,4})\]")
#: Characters of one record's text given to the model.
RECORD_TEXT_CHARS = 300
#: Longest answer kept, in characters.
MAX_ANSWER_CHARS = 4000


class AnswerRefused(Exception):
    """The LLM path could not run or its answer was not kept (the message says why)."""


def hosted_providers(config: Any, start: str | None = None) -> list[str]:
    """Return the providers of a route that may answer: hosted, with a key when one is needed.

    Args:
        config: The :class:`~textai.llm.config.LLMConfig`.
        start: Provider the call starts at (``None``: the default provider).

    Returns:
        Their names, in route order (empty: only the offline provider would answer).

    """
    names = []
    for name in config.route(start or config.default_provider):
        spec = config.get_provider(name)
        keyed = spec.kind == "openai_compatible" or bool(os.environ.get(spec.api_key_env or ""))
        if spec.kind != "offline" and keyed:
            names.append(name)
    return names


def records_text(hits: Sequence[SearchHit]) -> str:
    """Return the hits as numbered prompt lines: marker, type, title, facts and a text excerpt."""
    lines = []
    for i, hit in enumerate(hits, start=1):
        excerpt = " ".join(hit.doc.text.split())[:RECORD_TEXT_CHARS]
        lines.append(f"[{i}] {hit.doc.entity_type}: {describe_record(hit)}. {excerpt}")
    return "\n".join(lines)


def prompt_variables(question: str, scope: str, hits: Sequence[SearchHit]) -> dict[str, Any]:
    """Return the variables of the ``search_answer`` prompt.

    Args:
        question: The user's message.
        scope: The search's filters in words ("deals in healthcare, closed ...").
        hits: The hits, best first.

    Returns:
        ``question``, ``scope``, ``records`` and ``count``.

    """
    return {
        "question": question,
        "scope": scope or "no filters",
        "records": records_text(hits),
        "count": len(hits),
    }


def cited_markers(text: str, n_hits: int) -> list[int]:
    """Return the markers an answer cites, in first-cited order, checking each is a hit.

    Args:
        text: The answer.
        n_hits: Number of hits (valid markers are 1..n_hits).

    Returns:
        The distinct markers.

    Raises:
        AnswerRefused: When a marker names no hit or no hit is cited.

    """
    markers = [int(m) for m in MARKER.findall(text)]
    invented = sorted({m for m in markers if not 1 <= m <= n_hits})
    if invented:
        names = ", ".join(f"[{m}]" for m in invented)
        raise AnswerRefused(f"the LLM answer cites {names}, which is not one of the {n_hits} hits")
    if not markers:
        raise AnswerRefused("the LLM answer cites no record")
    return list(dict.fromkeys(markers))


def llm_answer(
    generate: GenerateText,
    question: str,
    scope: str,
    hits: Sequence[SearchHit],
) -> tuple[str, list[int]]:
    """Ask the model for the answer's prose and check its citations.

    Args:
        generate: ``generate(prompt_name, variables) -> text`` (the LLM service's, so budgets,
            redaction and usage records apply).
        question: The user's message.
        scope: The search's filters in words.
        hits: The hits (at least one).

    Returns:
        ``(answer, cited markers)``.

    Raises:
        AnswerRefused: When the call fails or the answer is empty, too long or cites a record
            that is not a hit (or none).

    """
    try:
        text = generate(PROMPT_NAME, prompt_variables(question, scope, hits))
    except (RuntimeError, ValueError, LookupError, PermissionError) as error:
        raise AnswerRefused(f"the LLM call failed: {error}") from error
    text = (text or "").strip()
    if not text:
        raise AnswerRefused("the LLM answer is empty")
    if len(text) > MAX_ANSWER_CHARS:
        raise AnswerRefused(f"the LLM answer is longer than {MAX_ANSWER_CHARS} characters")
    return text, cited_markers(text, len(hits))
