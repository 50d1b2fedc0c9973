"""Search query -> filters through a hosted LLM, validated, with the rule parser as fallback.

:func:`parse_with_llm` is the entry point. With a client whose route reaches a hosted
provider (an API key set, or a local OpenAI-compatible server), it renders the versioned prompt
``search_filters`` (``configs/prompts/search_filters.yaml``) with the query, today's date, the
catalogue of fields and of the values present in the indexed data, and the JSON schema of
:class:`~textai.search.filter_schema.QueryFilters`; it reads the first JSON object of the
answer and validates it (:func:`~textai.search.filter_schema.validate_filters`: unknown
fields, operators or values refused). The providers take no JSON-schema parameter here: the
schema travels in the prompt and the answer is validated afterwards.

The rules (:func:`~textai.search.query_parser.parse_query`) answer when there is no client,
when the route reaches no hosted provider, when the providers fail or when the answer does not
validate; ``fallback_reason`` says which and ``path`` says who answered (``llm`` or
``rules``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from textai.llm.answers import first_json_object, hosted_route
from textai.search.filter_schema import QueryFilters, describe_catalogue, validate_filters
from textai.search.query_model import ParsedQuery, QueryVocabulary
from textai.search.query_parser import parse_query
from textai.search.query_text import validate_query

PROMPT_NAME = "search_filters"
#: ``ai_interactions.feature`` of the calls (budgets and usage roll-ups).
FEATURE = "search"


class LLMPathSkipped(Exception):
    """The LLM path could not run (the message says why)."""


def prompt_variables(text: str, today: dt.date, vocabulary: QueryVocabulary) -> dict[str, Any]:
    """Return the variables of the ``search_filters`` prompt.

    Args:
        text: The query.
        today: Reference date of relative time phrases.
        vocabulary: The indexed data's vocabulary.

    Returns:
        ``query``, ``today``, ``catalogue`` and ``schema``.

    """
    schema = json.dumps(QueryFilters.model_json_schema(), separators=(",", ":"))
    return {
        "query": text.strip(),
        "today": today.isoformat(),
        "catalogue": describe_catalogue(vocabulary),
        "schema": schema,
    }


def parsed_from_answer(answer: str, text: str, vocabulary: QueryVocabulary) -> ParsedQuery:
    """Read and validate the filters of an LLM answer.

    Args:
        answer: The model's text.
        text: The query it answers.
        vocabulary: The indexed data's vocabulary.

    Returns:
        The parse, with ``path="llm"``.

    Raises:
        ValueError: When no JSON object is found or it does not validate.

    """
    model, filters = validate_filters(first_json_object(answer), vocabulary)
    types = tuple(dict.fromkeys(model.entity_types))
    return ParsedQuery(model.text.strip(), types, tuple(filters), model.intent, text, "llm")


def _ask(client: Any, variables: dict[str, Any], registry: Any, provider: str | None) -> str:
    """Return the LLM answer, or raise LLMPathSkipped."""
    if callable(client) and not hasattr(client, "config"):
        return client(PROMPT_NAME, variables)
    if registry is None:
        from textai.llm.prompts import PromptRegistry

        registry = PromptRegistry()
    rendered = registry.render(PROMPT_NAME, variables)
    start = provider or rendered.model_config.provider or client.config.default_provider
    if start == "default":
        start = client.config.default_provider
    if not hosted_route(client.config, start):
        raise LLMPathSkipped(f"no hosted LLM provider on the route from {start!r}")
    metadata = {"feature": FEATURE, "prompt": rendered.variant}
    response = client.generate(rendered.to_request(metadata), provider=start)
    if client.config.get_provider(response.provider).kind == "offline":
        failed = ", ".join(response.fallbacks) or "none"
        raise LLMPathSkipped(f"the hosted providers failed ({failed}); no model answered")
    return response.text


def parse_with_llm(
    text: str,
    today: dt.date | None = None,
    *,
    client: Any = None,
    vocabulary: QueryVocabulary | None = None,
    registry: Any = None,
    provider: str | None = None,
    intent_classifier: Callable[[str], str] | None = None,
) -> ParsedQuery:
    """Parse a query with a hosted LLM when one is configured, else (or on failure) the rules.

    Args:
        text: The query.
        today: Reference date of relative time phrases (default: today).
        client: An :class:`~textai.llm.client.LLMClient`, or a ``generate(prompt_name,
            variables) -> text`` function; ``None`` uses the rules only.
        vocabulary: The indexed data's vocabulary (default: the synthetic CRM's).
        registry: The prompt registry (default: ``configs/prompts``).
        provider: Provider to start at (default: the prompt's, else ``default_provider``).
        intent_classifier: Intent model of the rule path.

    Returns:
        The parse; ``path`` is ``llm`` or ``rules`` and ``fallback_reason`` tells why the LLM
        path was not kept.

    Raises:
        ValueError: On an empty / non-string / overlong query (the rules' checks).

    """
    raw = validate_query(text)
    today = today or dt.date.today()
    vocab = vocabulary or QueryVocabulary()
    reason = None
    if client is not None:
        try:
            answer = _ask(client, prompt_variables(raw, today, vocab), registry, provider)
        except LLMPathSkipped as skipped:
            reason = str(skipped)
        except (RuntimeError, ValueError, LookupError) as error:  # provider, budget, prompt
            reason = f"the LLM call failed: {error}"
        else:
            try:
                return parsed_from_answer(answer, raw, vocab)
            except ValueError as error:
                reason = f"the LLM answer is not a valid filter set: {error}"
    parsed = parse_query(raw, today, vocabulary=vocab, intent_classifier=intent_classifier)
    return dataclasses.replace(parsed, fallback_reason=reason)
