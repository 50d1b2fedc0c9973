"""``POST /api/ai/workflows/suggest`` in one call: drafts from a sentence or from mined history.

* With a description: :func:`workflows.nl_llm.definition_from_text` (a hosted LLM provider
  through the LLM layer when one is configured with its key, the offline rules otherwise).
* Without: the activity sequences before won deals or first replies are mined with PrefixSpan
  and the best patterns drafted as workflows (:mod:`workflows.builder`).

Both answers have the same shape: ``source`` and ``workflows`` (each with a ``definition``
that can be posted to ``/api/ai/workflows`` as it is).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textai.llm.answers import hosted_route
from workflows.builder import suggest_workflows_from_db
from workflows.nl_llm import definition_from_text


def draft_from_text(
    description: str,
    generate: Callable[[str, dict[str, Any]], str] | None = None,
    llm_config: Any = None,
) -> dict[str, Any]:
    """Return the workflow a description asks for (``ValueError`` when none can be read).

    Args:
        description: e.g. "when a lead becomes hot, create a call task for the owner".
        generate: The LLM layer's ``generate(prompt, variables)``; used only when
            ``llm_config`` has a hosted provider (the offline provider writes no JSON).
        llm_config: The LLM configuration (:class:`textai.llm.config.LLMConfig`).
    """
    hosted = (
        generate is not None
        and llm_config is not None
        and bool(hosted_route(llm_config, llm_config.default_provider))
    )
    parsed = definition_from_text(description, client=generate if hosted else None)
    item = parsed.to_dict()
    definition = item.pop("definition")
    source = f"llm:{parsed.provider}" if parsed.path == "llm" else "offline_rules"
    return {"source": source, "workflows": [{"definition": definition, **item}]}


def suggest_workflows(
    url: str, description: str | None, outcome: str = "won", top: int = 3
) -> dict[str, Any]:
    """Return drafted workflows: from ``description`` (offline rules) or mined from the CRM.

    Raises:
        ValueError: A description with no trigger or action, or bad mining parameters.
    """
    if description:
        return draft_from_text(description)
    result = suggest_workflows_from_db(url, outcome=outcome, top=top).to_dict()
    return {"source": "prefixspan", **result}
