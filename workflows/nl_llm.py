"""Natural language -> workflow definition: the LLM layer first, the offline rules as fallback.

:func:`definition_from_text` is the one entry point (the body of a "describe your workflow"
request). With a client whose route reaches a hosted provider (an API key set, or a local
OpenAI-compatible server), it renders the versioned prompt ``workflow_from_text``
(``configs/prompts/workflow_from_text.yaml``) with the description, the JSON schema of
:class:`~workflows.definition.WorkflowDefinition` and the catalogue, reads the first JSON object
of the answer and validates it. The providers take no JSON-schema parameter here (the
:class:`~textai.llm.providers.LLMRequest` carries none): the schema travels in the prompt and
the answer is validated afterwards.

The offline rules (:mod:`workflows.nl_parser`) answer when there is no client, when the route
reaches no hosted provider, when the providers fail, or when the answer does not validate or
names a webhook URL the description does not contain; ``fallback_reason`` says which. The
answer always says which ``path`` produced it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from textai.llm.answers import first_json_object, hosted_route
from workflows.catalog import ACTIONS, FIELDS, OPERATORS, TASK_CHANNELS, TRIGGER_EVENT_TYPES
from workflows.definition import WorkflowDefinition, parse_definition
from workflows.nl_parser import MAX_TEXT_CHARS, TABLES, parse_workflow_text

PROMPT_NAME = "workflow_from_text"
#: ``ai_interactions.feature`` of the calls (budgets and usage roll-ups).
FEATURE = "workflow_builder"
#: A ``generate(prompt_name, variables) -> text`` function (e.g. the LLM service's).
GenerateText = Callable[[str, dict[str, Any]], str]


@dataclass(frozen=True)
class ParsedWorkflow:
    """A definition read from a description, and how it was read.

    Attributes:
        definition: The validated definition.
        path: ``llm`` (a hosted model's answer) or ``offline`` (the rules).
        not_understood: Fragments of the text the offline rules did not use.
        assumptions: Choices the text left open (a default hour, a daily check...).
        provider: The provider that answered (``llm`` path).
        prompt_version: The prompt version used (``llm`` path, when known).
        fallback_reason: Why the LLM path was skipped or its answer not kept.
    """

    definition: WorkflowDefinition
    path: str
    not_understood: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    provider: str | None = None
    prompt_version: int | None = None
    fallback_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the definition as the body of ``POST /api/ai/workflows``)."""
        return {
            "definition": self.definition.model_dump(mode="json"),
            "path": self.path,
            "not_understood": list(self.not_understood),
            "assumptions": list(self.assumptions),
            "provider": self.provider,
            "prompt_version": self.prompt_version,
            "fallback_reason": self.fallback_reason,
        }


class LLMPathSkipped(Exception):
    """The LLM path could not run or its answer was refused (the message says why)."""


def describe_catalogue() -> str:
    """Return the catalogue as prompt text: fields, operators, events, actions, known values."""
    lines = ["Fields (name: kind, writable or computed, values):"]
    for name, spec in FIELDS.items():
        values = f", one of {', '.join(spec.choices)}" if spec.choices else ""
        access = "writable" if spec.writable else "computed"
        lines.append(f"- {name}: {spec.kind}, {access}{values}. {spec.doc}")
    lines.append("Operators: " + ", ".join(f"{op} ({'/'.join(sorted(kinds))})"
                                          for op, kinds in OPERATORS.items()))  # fmt: skip
    lines.append("Event types: " + ", ".join(TRIGGER_EVENT_TYPES))
    lines.append("Actions (type: required params; optional params):")
    for name, spec in ACTIONS.items():
        lines.append(f"- {name}: {', '.join(spec.required)}; {', '.join(spec.optional) or '-'}")
    lines.append(f"Task channels: {', '.join(TASK_CHANNELS)}")
    for kind, target in (("purpose", "send_email purpose"), ("tone", "send_email tone"),
                         ("industry", "company.industry"), ("country", "company.country"),
                         ("source", "contact.lead_source")):  # fmt: skip
        lines.append(f"Values of {target}: {', '.join(TABLES[kind])}")
    return "\n".join(lines)


def prompt_variables(text: str) -> dict[str, Any]:
    """Return the variables of the ``workflow_from_text`` prompt for a description."""
    schema = json.dumps(WorkflowDefinition.model_json_schema(), separators=(",", ":"))
    return {"description": text.strip(), "catalogue": describe_catalogue(), "schema": schema}


def definition_from_answer(answer: str, text: str) -> WorkflowDefinition:
    """Read and validate the workflow definition of an LLM answer.

    Args:
        answer: The model's text: one JSON object, possibly fenced or with prose around it.
        text: The description it answers (webhook URLs must come from it).

    Returns:
        The validated definition (``description`` defaults to ``text``).

    Raises:
        ValueError: When no JSON object is found, it does not validate, or it names a webhook
            URL the description does not contain.
    """
    document = first_json_object(answer)
    document.setdefault("description", text.strip())
    try:
        definition = parse_definition(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None
    for action in definition.actions:
        if action.type == "notify_webhook" and str(action.params["url"]) not in text:
            raise ValueError(f"webhook URL {action.params['url']!r} is not in the description")
    return definition


def _ask(
    client: Any, text: str, registry: Any, provider: str | None
) -> tuple[str, str, int | None]:
    """Return (answer, provider, prompt version) of the LLM path, or raise LLMPathSkipped."""
    variables = prompt_variables(text)
    if callable(client) and not hasattr(client, "config"):
        return client(PROMPT_NAME, variables), "llm_service", None
    if registry is None:
        from textai.llm.prompts import PromptRegistry

        registry = PromptRegistry()
    rendered = registry.render(PROMPT_NAME, variables)
    start = provider or rendered.model_config.provider or client.config.default_provider
    if not hosted_route(client.config, start):
        raise LLMPathSkipped(f"no hosted LLM provider on the route from {start!r}")
    metadata = {"feature": FEATURE, "prompt": rendered.variant}
    response = client.generate(rendered.to_request(metadata), provider=start)
    if client.config.get_provider(response.provider).kind == "offline":
        failed = ", ".join(response.fallbacks) or "none"
        raise LLMPathSkipped(f"the hosted providers failed ({failed}); no model answered")
    return response.text, response.provider, rendered.version


def definition_from_text(
    text: str,
    *,
    client: Any = None,
    registry: Any = None,
    provider: str | None = None,
) -> ParsedWorkflow:
    """Turn a description into a validated workflow definition (LLM first, then the rules).

    Args:
        text: The description, e.g. "when a lead becomes hot, create a call task for the owner".
        client: An :class:`~textai.llm.client.LLMClient`, or a ``generate(prompt_name,
            variables) -> text`` function (e.g. one going through the LLM service, for budgets
            and usage records); ``None`` uses the offline rules only.
        registry: The prompt registry (default: ``configs/prompts``).
        provider: Provider to start at (default: the prompt's, else ``default_provider``).

    Returns:
        The definition with the path used and, offline, what was not understood.

    Raises:
        ValueError: When the text is blank or too long, or when the LLM path gave nothing
            valid and the offline rules find no trigger or no action (both reasons given).
    """
    if not text or not text.strip() or len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"the description must hold 1 to {MAX_TEXT_CHARS} characters")
    reason = None
    if client is not None:
        try:
            answer, who, version = _ask(client, text, registry, provider)
        except LLMPathSkipped as skipped:
            reason = str(skipped)
        except (RuntimeError, ValueError, LookupError) as error:  # provider, budget, prompt
            reason = f"the LLM call failed: {error}"
        else:
            try:
                definition = definition_from_answer(answer, text)
                return ParsedWorkflow(definition, "llm", provider=who, prompt_version=version)
            except ValueError as error:
                reason = f"the LLM answer is not a valid workflow: {error}"
    try:
        definition, unread, assumptions = parse_workflow_text(text)
    except ValueError as error:
        raise ValueError(f"{error}; {reason}" if reason else str(error)) from None
    return ParsedWorkflow(definition, "offline", unread, assumptions, fallback_reason=reason)
