"""Content generation through the real LLM layer: the openai SDK against the local wire server.

The wire server echoes the prompt, so the hosted answer is the prompt's own "answer shape"
JSON, whose slot name ``<placeholder>`` is not a slot name: the validator must refuse it and
the offline corpus path must answer, saying why. A failing provider must not be mistaken for a
model answer either (the offline provider answers then: its text is not kept).
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from content.generate import ContentBrief, generate_template
from haste.db import AIInteraction, session_scope
from pipelines.corpora.emails import load_email_corpus
from tests.support.llm_wire_server import OPENAI_PATH, WIRE_API_KEY, WireServer
from textai.llm.budgets import BudgetManager
from textai.llm.client import LLMClient
from textai.llm.config import parse_llm_config
from textai.llm.prompts import PromptRegistry
from textai.llm.provider_factory import build_provider
from textai.llm.providers import OpenAIProvider
from textai.llm.service import LLMService
from textai.llm.usage import UsageContext


class Retriever:
    """The seed corpus, best purpose/tone match first (no MiniLM)."""

    def search(self, query: str, *, k: int, purpose: Any, tone: Any) -> list[Any]:
        ranked = sorted(load_email_corpus(), key=lambda e: (e.purpose != purpose, e.tone != tone))
        return [SimpleNamespace(email=e, similarity=0.5) for e in ranked[:k]]


@pytest.fixture()
def service(module_pg_url: str, wire: WireServer) -> LLMService:
    wire.reset()
    config = parse_llm_config(
        {
            "providers": {
                "wire": {
                    "kind": "openai_compatible",
                    "model": "gpt-4o-mini",
                    "base_url": wire.openai_base_url,
                    "max_retries": 0,
                },
                "offline": {"kind": "offline", "model": "minilm-retrieval"},
            },
            "fallback_chain": ["wire", "offline"],
            "default_provider": "wire",
            "retry": {"max_attempts": 1},
            "cache": {"enabled": False},
        }
    )
    wire_provider = OpenAIProvider(
        "wire", "gpt-4o-mini", api_key=WIRE_API_KEY, base_url=wire.openai_base_url, max_retries=0
    )
    offline = build_provider(config.get_provider("offline"))
    client = LLMClient(config, providers={"wire": wire_provider, "offline": offline})
    registry = PromptRegistry()
    return LLMService(config, client, registry, BudgetManager(module_pg_url, config), module_pg_url)


def generate_fn(service: LLMService, request_id: str) -> Any:
    calls: list[Any] = []

    def generate(prompt_name: str, variables: dict[str, Any]) -> str:
        usage = UsageContext(None, None, feature="content_generate", request_id=request_id)
        completion = service.complete(prompt_name, variables, usage=usage)
        calls.append(completion)
        return completion.text

    generate.calls = calls  # type: ignore[attr-defined]
    return generate


BRIEF = ContentBrief(purpose="renewal", tone="formal", key_points=["audit logs included"])


def test_the_hosted_answer_is_validated_and_refused_then_the_corpus_answers(
    service: LLMService, wire: WireServer, module_pg_url: str
) -> None:
    request_id = uuid.uuid4().hex
    result = generate_template(
        BRIEF, generate_fn(service, request_id), llm_config=service.config, retriever=Retriever()
    )
    (sent,) = wire.get_requests(OPENAI_PATH)
    prompt = sent.body["messages"][-1]["content"]
    assert "Key points to make:\n- audit logs included" in prompt
    assert "deal.amount (money)" in prompt
    assert result.path == "offline"
    assert result.fallback_reason.startswith("the LLM answer is not a valid template: slots")
    assert "<placeholder>" in result.fallback_reason
    with session_scope(module_pg_url) as session:
        rows = session.scalars(
            select(AIInteraction).where(AIInteraction.request_id == request_id)
        ).all()
    assert [(r.feature, r.provider) for r in rows] == [("content_generate", "wire")]


def test_a_failing_provider_is_not_taken_for_an_answer(
    service: LLMService, wire: WireServer
) -> None:
    wire.fail_next(5, 500)
    result = generate_template(
        BRIEF, generate_fn(service, uuid.uuid4().hex), llm_config=service.config,
        retriever=Retriever(),
    )  # fmt: skip
    assert result.path == "offline"
    assert "hosted providers failed" in result.fallback_reason
