"""Content generation assistance: the LLM answer's validation and the offline corpus path."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from content.generate import (
    PROMPT_NAME,
    ContentBrief,
    generate_template,
    template_from_answer,
    template_from_email,
)
from content.personalise import MissingSlotsError, render_template
from pipelines.corpora.emails import load_email_corpus
from textai.llm.config import LLMConfig, ProviderConfig

GOOD = {
    "subject": "{company} and your renewal",
    "body": "Hi {first_name},\n\nYour plan renews on {renewal}. Since {news_line}\n\nBest,\n{me}",
    "slots": {
        "company": {"type": "str", "source": "company.name"},
        "first_name": {"type": "str", "source": "contact.first_name"},
        "renewal": {"type": "date", "source": "deal.expected_close_date"},
        "news_line": {
            "type": "str",
            "source": "company.news",
            "required": False,
            "fallback": "we last spoke, a lot has shipped.",
        },
        "me": {"type": "str", "source": "owner.full_name"},
    },
}
BRIEF = ContentBrief(
    purpose="renewal",
    audience="finance leaders at mid-size healthcare companies",
    tone="formal",
    key_points=["audit logs are now included", "price locked for 12 months"],
    product="hasteCRM",
)


def hosted_config() -> LLMConfig:
    """A route that reaches a (local, OpenAI-compatible) hosted provider."""
    return LLMConfig(
        providers={
            "local": ProviderConfig(
                kind="openai_compatible", model="m", base_url="http://127.0.0.1:9/v1"
            ),
            "offline": ProviderConfig(kind="offline", model="minilm-retrieval"),
        },
        fallback_chain=["local", "offline"],
        default_provider="local",
    )


class FakeGenerate:
    """``generate(prompt, variables)`` answering a fixed text, recording its completions."""

    def __init__(self, answer: str, provider: str = "local") -> None:
        self.answer, self.provider = answer, provider
        self.asked: list[tuple[str, dict[str, Any]]] = []
        self.calls: list[Any] = []

    def __call__(self, prompt_name: str, variables: dict[str, Any]) -> str:
        self.asked.append((prompt_name, variables))
        self.calls.append(SimpleNamespace(provider=self.provider))
        return self.answer


class CorpusRetriever:
    """Stand-in for the MiniLM index: the corpus emails of the purpose, in file order."""

    def __init__(self, emails: list[Any] | None = None) -> None:
        self.emails = emails if emails is not None else load_email_corpus()
        self.queries: list[tuple[str, str | None, str | None]] = []

    def search(self, query: str, *, k: int, purpose: str | None, tone: str | None) -> list[Any]:
        self.queries.append((query, purpose, tone))
        ranked = sorted(self.emails, key=lambda e: (e.purpose != purpose, e.tone != tone))
        return [SimpleNamespace(email=e, similarity=0.5) for e in ranked[:k]]


# ------------------------------------------------------------------ the LLM answer


def test_a_valid_llm_answer_is_kept_with_its_typed_slots() -> None:
    generate = FakeGenerate("Here you go:\n```json\n" + json.dumps(GOOD) + "\n```")
    result = generate_template(BRIEF, generate, llm_config=hosted_config(),
                               retriever=CorpusRetriever())  # fmt: skip
    assert result.path == "llm" and result.provider == "local"
    assert result.fallback_reason is None and result.based_on == []
    assert result.template.slots["renewal"].type == "date"
    prompt, variables = generate.asked[0]
    assert prompt == PROMPT_NAME
    assert variables["key_points"] == list(BRIEF.key_points)
    assert "deal.expected_close_date (date)" in variables["sources"]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("I cannot help with that.", "holds no JSON object"),
        (json.dumps({"subject": "x", "slots": {}}), "no body text"),
        (
            json.dumps({**GOOD, "body": GOOD["body"] + " PS {discount}"}),
            r"placeholders without a slot spec: \{discount\}",
        ),
        (
            json.dumps(
                {**GOOD, "slots": {**GOOD["slots"], "me": {"type": "str", "source": "me.name"}}}
            ),
            "unknown slot source 'me.name'",
        ),
        (json.dumps({"subject": "Hi", "body": "Hello there, all good?"}), "uses no slot"),
        (json.dumps({**GOOD, "body": "Hi {first_name"}), "unbalanced"),
    ],
)
def test_a_bad_llm_answer_falls_back_to_the_corpus_with_the_reason(
    answer: str, reason: str
) -> None:
    result = generate_template(BRIEF, FakeGenerate(answer), llm_config=hosted_config(),
                               retriever=CorpusRetriever())  # fmt: skip
    assert result.path == "offline"
    assert result.fallback_reason.startswith("the LLM answer is not a valid template")
    assert re.search(reason, result.fallback_reason)
    assert result.based_on and result.based_on[0]["email_id"].startswith("seed-renewal")


def test_template_from_answer_names_the_unknown_placeholder() -> None:
    with pytest.raises(ValueError, match=r"\{discount\}"):
        template_from_answer(json.dumps({**GOOD, "body": "Hi {first_name}, {discount}"}))


def test_no_hosted_provider_means_no_llm_call() -> None:
    generate = FakeGenerate(json.dumps(GOOD))
    result = generate_template(BRIEF, generate, llm_config=LLMConfig(),
                               retriever=CorpusRetriever())  # fmt: skip
    assert generate.asked == []
    assert (result.path, result.fallback_reason) == (
        "offline",
        "no hosted LLM provider is configured",
    )


def test_an_answer_of_the_offline_provider_is_not_kept() -> None:
    generate = FakeGenerate(json.dumps(GOOD), provider="offline")
    result = generate_template(BRIEF, generate, llm_config=hosted_config(),
                               retriever=CorpusRetriever())  # fmt: skip
    assert result.path == "offline" and "hosted providers failed" in result.fallback_reason


def test_a_failing_llm_call_falls_back() -> None:
    def broken(prompt: str, variables: dict[str, Any]) -> str:
        raise RuntimeError("budget exceeded")

    result = generate_template(BRIEF, broken, retriever=CorpusRetriever())
    assert result.path == "offline"
    assert result.fallback_reason == "the LLM call failed: budget exceeded"


# ------------------------------------------------------------------ the offline path


def test_the_offline_draft_is_a_valid_template_from_the_nearest_corpus_email() -> None:
    retriever = CorpusRetriever()
    result = generate_template(BRIEF, None, retriever=retriever)
    assert result.path == "offline" and result.purpose == "renewal"
    assert retriever.queries[0][1:] == ("renewal", "formal")
    template = result.template
    assert "{product}" not in template.body and "hasteCRM" in template.body
    assert "- audit logs are now included\n- price locked for 12 months" in template.body
    assert template.body.rstrip().endswith("{sender_name}")
    assert set(template.placeholders()) <= set(template.slots)
    assert template.slots["first_name"].source == "contact.first_name"
    assert template.slots["sender_name"].source == "owner.full_name"


def test_the_offline_draft_refuses_to_render_without_its_required_values() -> None:
    template = generate_template(BRIEF, None, retriever=CorpusRetriever()).template
    with pytest.raises(MissingSlotsError, match="first_name"):
        render_template(template, {"company.name": "Acme"})


def test_real_names_left_in_an_email_become_placeholders() -> None:
    body = "Hi Ada,\n\nAcme Corp renews on 4 December 2026 at $12,000.\n\nBest,\nGrace Hopper"
    template = template_from_email("Renewal", body, BRIEF)
    assert template.body.startswith("Hi {first_name},")
    assert "{company} renews on {date} at {amount}." in template.body
    assert template.body.endswith("{sender_name}")
    assert template.slots["amount"].type == "money"


def test_an_email_with_an_unknown_placeholder_is_skipped() -> None:
    emails = load_email_corpus()
    odd = emails[0].model_copy(
        update={
            "id": "odd",
            "purpose": "renewal",
            "tone": "formal",
            "body": "Hi {first_name}, {x_y}",
        }
    )
    retriever = CorpusRetriever([odd, *emails])
    assert retriever.search("", k=1, purpose="renewal", tone="formal")[0].email.id == "odd"
    result = generate_template(BRIEF, None, retriever=retriever)
    assert result.based_on[0]["email_id"].startswith("seed-renewal")
    assert "{x_y}" not in result.template.body


def test_no_usable_email_is_a_clear_error() -> None:
    odd = load_email_corpus()[0].model_copy(update={"body": "Hi {first_name}, {coupon_code}."})
    with pytest.raises(ValueError, match="coupon_code"):
        generate_template(BRIEF, None, retriever=CorpusRetriever([odd]))


# ------------------------------------------------------------------ the brief


@pytest.mark.parametrize(
    "brief",
    [
        {},
        {"purpose": "  "},
        {"purpose": "x" * 201},
        {"purpose": "intro", "tone": "rude"},
        {"purpose": "intro", "key_points": ["a"] * 6},
        {"purpose": "intro", "key_points": [""]},
        {"purpose": "intro", "product": "{evil}"},
        {"purpose": "intro", "max_words": 5},
        {"purpose": "intro", "kind": "case_study"},
        {"purpose": "intro", "colour": "red"},
    ],
)
def test_bad_briefs_are_refused(brief: dict) -> None:
    with pytest.raises(ValidationError):
        ContentBrief.model_validate(brief)
