"""Content generation assistance: a brief -> a draft template with typed slots.

:func:`generate_template` asks the LLM layer first (versioned prompt ``content_generate``,
``configs/prompts/content_generate.yaml``) when a hosted provider is configured, and keeps the
answer only if it parses as a :class:`~content.slots.SlotTemplate` whose placeholders all have
slots with known CRM sources. Otherwise (no hosted provider, a failed call, an answer refused)
the offline path drafts from the nearest successful emails of the corpus (MiniLM retrieval,
:func:`textai.llm.email_index.get_default_email_index`): the email's names, companies, dates and
amounts become placeholders, each mapped to a typed slot (:data:`CORPUS_SLOTS`), the product is
written literally and the brief's key points are added as a short list before the sign-off.
The answer says which ``path`` produced it and, offline, why (``fallback_reason``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from content.slots import SlotSpec, SlotTemplate, describe_sources, parse_template
from textai.llm.answers import first_json_object, hosted_route

PROMPT_NAME = "content_generate"
#: ``ai_interactions.feature`` of the calls (budgets and usage roll-ups).
FEATURE = "content_generate"
#: Retrieved corpus emails tried, best first, by the offline path.
OFFLINE_CANDIDATES = 5
#: A ``generate(prompt_name, variables) -> text`` function (the LLM service's).
GenerateText = Callable[[str, dict[str, Any]], str]

KeyPoint = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]

#: Slot of each placeholder of the email corpus (``{product}`` is written literally).
CORPUS_SLOTS: dict[str, SlotSpec] = {
    "first_name": SlotSpec(type="str", source="contact.first_name"),
    "last_name": SlotSpec(type="str", source="contact.last_name"),
    "company": SlotSpec(type="str", source="company.name"),
    "industry": SlotSpec(type="str", source="company.industry"),
    "sender_name": SlotSpec(type="str", source="owner.full_name"),
    "date": SlotSpec(type="date", source="deal.expected_close_date"),
    "amount": SlotSpec(type="money", source="deal.amount"),
    "title": SlotSpec(type="str", source="contact.job_title", required=False, fallback="your role"),
    "pain_point": SlotSpec(
        type="str",
        source="insights.top_pain_point",
        required=False,
        fallback="the manual admin that slows sales teams down",
    ),
}


class ContentBrief(BaseModel):
    """What the draft is for.

    Attributes:
        purpose: e.g. ``renewal``, ``follow up after a demo`` (mapped to a corpus purpose).
        audience: The segment written to (``CFOs of mid-size healthcare companies``).
        tone: ``formal``, ``casual`` or ``friendly``.
        key_points: Points the draft must make (written as given).
        kind: ``email_template`` or ``sequence_step``.
        product: Product name, written literally.
        max_words: Most words of the body asked of the model.
    """

    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(min_length=1, max_length=200, pattern=r"\S")
    audience: str = Field("B2B buyers", min_length=1, max_length=300, pattern=r"\S")
    tone: Literal["formal", "casual", "friendly"] = "friendly"
    key_points: list[KeyPoint] = Field(default_factory=list, max_length=5)
    kind: Literal["email_template", "sequence_step"] = "email_template"
    product: str = Field("our platform", min_length=1, max_length=100, pattern=r"^[^{}]*\S[^{}]*$")
    max_words: int = Field(150, ge=30, le=400)


@dataclass(frozen=True)
class GeneratedContent:
    """A drafted template and how it was drafted.

    Attributes:
        template: The draft (valid: every placeholder has a typed slot).
        path: ``llm`` (a hosted model's answer) or ``offline`` (corpus retrieval).
        purpose: The corpus purpose the brief maps to.
        provider: Provider that answered (``llm`` path).
        fallback_reason: Why the LLM path was skipped or its answer refused.
        based_on: Corpus emails the offline draft comes from (id and similarity).
    """

    template: SlotTemplate
    path: str
    purpose: str
    provider: str | None = None
    fallback_reason: str | None = None
    based_on: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "template": self.template.model_dump(mode="json"),
            "path": self.path,
            "purpose": self.purpose,
            "provider": self.provider,
            "fallback_reason": self.fallback_reason,
            "based_on": list(self.based_on),
        }


class LLMPathSkipped(Exception):
    """The LLM path could not run or its answer was refused (the message says why)."""


def prompt_variables(brief: ContentBrief) -> dict[str, Any]:
    """Return the variables of the ``content_generate`` prompt for a brief."""
    return {
        "purpose": brief.purpose,
        "audience": brief.audience,
        "tone": brief.tone,
        "product": brief.product,
        "kind": brief.kind,
        "key_points": list(brief.key_points),
        "max_words": brief.max_words,
        "sources": describe_sources(),
    }


def template_from_answer(answer: str) -> SlotTemplate:
    """Read and validate the draft template of an LLM answer.

    Args:
        answer: The model's text: one JSON object ``{subject, body, slots}``, possibly fenced.

    Returns:
        The validated template.

    Raises:
        ValueError: When there is no JSON object, a placeholder has no slot, a slot names an
            unknown source or a type that does not fit it, or the draft uses no slot at all.
    """
    document = first_json_object(answer)
    if not isinstance(document.get("body"), str):
        raise ValueError("the answer has no body text")
    template = parse_template(document.get("subject"), document["body"], document.get("slots"))
    if not template.placeholders():
        raise ValueError("the draft uses no slot: it would not be personalised")
    return template


def _has_hosted_provider(llm_config: Any) -> bool:
    """Return whether the configured route reaches a hosted provider."""
    return bool(hosted_route(llm_config, llm_config.default_provider))


def _ask_llm(
    brief: ContentBrief, generate: GenerateText, llm_config: Any
) -> tuple[SlotTemplate, str]:
    """Return the LLM's validated draft and the provider, or raise LLMPathSkipped."""
    if llm_config is not None and not _has_hosted_provider(llm_config):
        raise LLMPathSkipped("no hosted LLM provider is configured")
    try:
        answer = generate(PROMPT_NAME, prompt_variables(brief))
    except (RuntimeError, ValueError, LookupError) as error:  # provider, budget, prompt
        raise LLMPathSkipped(f"the LLM call failed: {error}") from None
    calls = getattr(generate, "calls", None) or []
    provider = getattr(calls[-1], "provider", None) if calls else None
    answered_offline = (
        llm_config is not None
        and provider is not None
        and llm_config.get_provider(provider).kind == "offline"
    )
    if answered_offline:
        raise LLMPathSkipped("the hosted providers failed; only the offline provider answered")
    try:
        return template_from_answer(answer), provider or "llm_service"
    except ValueError as error:
        raise LLMPathSkipped(f"the LLM answer is not a valid template: {error}") from None


def _escape(text: str) -> str:
    """Return text with its braces doubled (literal in a template)."""
    return text.replace("{", "{{").replace("}", "}}")


def _add_key_points(body: str, points: list[str]) -> str:
    """Insert the key points as a short list before the last paragraph (the sign-off)."""
    if not points:
        return body
    block = "A few points worth sharing:\n" + "\n".join(f"- {_escape(p.strip())}" for p in points)
    paragraphs = body.split("\n\n")
    at = len(paragraphs) - 1 if len(paragraphs) > 1 else 1
    return "\n\n".join([*paragraphs[:at], block, *paragraphs[at:]])


def template_from_email(subject: str, body: str, brief: ContentBrief) -> SlotTemplate:
    """Turn a corpus email into a template with typed slots.

    Names, companies, dates and amounts left in the text become placeholders
    (:func:`textai.email.templates.abstract_email_text`); ``{product}`` becomes the brief's
    product; every other placeholder gets its :data:`CORPUS_SLOTS` slot.

    Raises:
        ValueError: When the email holds a placeholder with no known slot.
    """
    from textai.email.templates import abstract_email_text

    texts = []
    for text in (subject, body):
        text = abstract_email_text(text)
        text = text.replace("{product}", _escape(brief.product))
        texts.append(text)
    draft_subject, draft_body = texts[0], _add_key_points(texts[1], list(brief.key_points))
    names = set(re.findall(r"(?<!\{)\{([a-z_]+)\}(?!\})", f"{draft_subject}\n{draft_body}"))
    unknown = sorted(names - set(CORPUS_SLOTS))
    if unknown:
        raise ValueError(f"placeholders with no known slot: {', '.join(unknown)}")
    slots = {name: CORPUS_SLOTS[name] for name in sorted(names)}
    return SlotTemplate(subject=draft_subject, body=draft_body, slots=slots)


def draft_offline(brief: ContentBrief, retriever: Any = None) -> tuple[SlotTemplate, list, str]:
    """Draft from the nearest successful corpus emails.

    Args:
        brief: The brief.
        retriever: An index with ``search(query, k=, purpose=, tone=)`` returning items with
            ``email`` and ``similarity`` (default: the seed corpus MiniLM index).

    Returns:
        The template, the emails it is based on (id, similarity, reply rate) and the purpose.

    Raises:
        ValueError: When no retrieved email can be turned into a template.
    """
    from pipelines.corpora.emails import normalise_purpose

    if retriever is None:
        from textai.llm.email_index import get_default_email_index

        retriever = get_default_email_index()
    purpose = normalise_purpose(brief.purpose, default="follow_up")
    query = (
        f"{purpose.replace('_', ' ')} email ({brief.tone}) to {brief.audience}. {brief.purpose}. "
        + " ".join(brief.key_points)
    )
    hits = retriever.search(query, k=OFFLINE_CANDIDATES, purpose=purpose, tone=brief.tone)
    problems = []
    for hit in hits:
        email = hit.email
        try:
            template = template_from_email(email.subject, email.body, brief)
        except ValueError as error:
            problems.append(f"{email.id}: {error}")
            continue
        based_on = [
            {
                "email_id": email.id,
                "similarity": round(float(hit.similarity), 4),
                "reply_rate": round(float(email.reply_rate), 4),
            }
        ]
        return template, based_on, purpose
    detail = "; ".join(problems) or "the corpus returned no email"
    raise ValueError(f"no corpus email could be turned into a template ({detail})")


def generate_template(
    brief: ContentBrief,
    generate: GenerateText | None = None,
    *,
    llm_config: Any = None,
    retriever: Any = None,
) -> GeneratedContent:
    """Draft a template with typed slots from a brief (hosted LLM first, then the corpus).

    Args:
        brief: The brief.
        generate: The LLM layer's ``generate(prompt_name, variables) -> text`` (``None``:
            offline only). When it records its completions in ``calls`` (the TextAI
            deployment's does), an answer of the offline provider is not kept.
        llm_config: The LLM configuration; with it, the LLM is only asked when its route
            reaches a hosted provider.
        retriever: The corpus index of the offline path (default: the MiniLM seed index).

    Returns:
        The draft, its path, and why the LLM path was not used (if it was not).

    Raises:
        ValueError: When neither path produced a valid template.
    """
    from pipelines.corpora.emails import normalise_purpose

    reason = "no LLM client was given"
    if generate is not None:
        try:
            template, provider = _ask_llm(brief, generate, llm_config)
        except LLMPathSkipped as skipped:
            reason = str(skipped)
        else:
            purpose = normalise_purpose(brief.purpose, default="follow_up")
            return GeneratedContent(template, "llm", purpose, provider=provider)
    template, based_on, purpose = draft_offline(brief, retriever)
    return GeneratedContent(template, "offline", purpose, fallback_reason=reason, based_on=based_on)
