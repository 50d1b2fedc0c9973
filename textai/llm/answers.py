"""Shared helpers of the features that ask a hosted LLM for structured answers.

Workflow drafting, search-filter parsing, content generation and executive summaries all
follow one pattern: ask a hosted provider only when one can answer (:func:`hosted_route`),
read the first JSON object of its text (:func:`first_json_object`), validate it, and fall back
to an offline path otherwise.
"""

from __future__ import annotations

import json
import os
from typing import Any


def hosted_route(config: Any, start: str | None) -> list[str]:
    """Return the providers of a route that may answer: hosted, keyed when a key is needed.

    Args:
        config: The :class:`~textai.llm.config.LLMConfig`.
        start: The provider the call starts at (``None``: the default provider).

    Returns:
        Provider names (empty: only the offline provider could answer).
    """
    names = []
    for name in config.route(start):
        spec = config.get_provider(name)
        keyed = spec.kind == "openai_compatible" or bool(os.environ.get(spec.api_key_env or ""))
        if spec.kind != "offline" and keyed:
            names.append(name)
    return names


def first_json_object(answer: str | None) -> dict[str, Any]:
    """Return the first JSON object of a model's text (fenced or with prose around it).

    Args:
        answer: The model's text.

    Returns:
        The object.

    Raises:
        ValueError: When the text holds no JSON object.
    """
    decoder = json.JSONDecoder()
    text = answer or ""
    for start in (i for i, char in enumerate(text) if char == "{"):
        try:
            document, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(document, dict):
            return document
    raise ValueError("the answer holds no JSON object")
