"""LLMService end to end: the openai SDK against the local wire server, on real PostgreSQL.

The wire server (tests/support/llm_wire_server.py) echoes the user message, so what the
"provider" received is both recorded and returned: the tests check that no name, email, phone
or company of the contact ever reached it, and that the answer has them restored.
"""

from __future__ import annotations

import json
import re
import textwrap
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from haste.db import (
    AIInteraction,
    AIPrompt,
    Company,
    Contact,
    PromptTestResult,
    Team,
    User,
    session_scope,
)
from tests.support.llm_wire_server import OPENAI_PATH, WIRE_API_KEY, WireServer
from textai.llm.budgets import BudgetManager
from textai.llm.client import LLMClient
from textai.llm.config import LLMConfig, parse_llm_config
from textai.llm.prompt_model import InteractionNotFoundError, PromptVersionConflictError
from textai.llm.prompt_records import prompt_stats, record_feedback, record_prompt_use
from textai.llm.prompt_testing import run_prompt_tests
from textai.llm.prompts import PromptRegistry
from textai.llm.providers import LLMRequest, LLMResponse, OpenAIProvider, Provider, ProviderError
from textai.llm.redaction import ConsentError, ContactNotFoundError
from textai.llm.service import LLMService
from textai.llm.usage import UsageContext, cost_of, to_billable, usage_rollup

API_KEY = WIRE_API_KEY
NOTE_PROMPT = """
name: contact_note
category: crm
description: A follow-up note to a contact.
versions:
  - version: 1
    system: "You write CRM notes. Copy placeholders such as [PERSON_1] exactly."
    template: |
      Draft a follow-up note to {{ contact_name }} ({{ contact_email }}, phone {{ contact_phone }})
      of {{ company }}. Topic: {{ topic }}
    variables:
      contact_name: {type: str, max_length: 200}
      contact_email: {type: str}
      contact_phone: {type: str}
      company: {type: str}
      topic: {type: str, default: "the renewal"}
    model_config: {provider: openai, temperature: 0.3, max_tokens: 200}
  - version: 2
    template: |
      Note for {{ contact_name }} at {{ company }} ({{ contact_email }}, {{ contact_phone }}):
      {{ topic }}
    variables:
      contact_name: {type: str, max_length: 200}
      contact_email: {type: str}
      contact_phone: {type: str}
      company: {type: str}
      topic: {type: str, default: "the renewal"}
    model_config: {provider: openai, temperature: 0.3, max_tokens: 200}
ab_test: {1: 50, 2: 50}
tests:
  - name: mentions the topic
    variables: {contact_name: Ada, contact_email: a@b.io, contact_phone: "555-0100",
                company: Acme, topic: pricing review}
    assert:
      - {contains: "pricing review"}
      - {max_words: 200}
  - name: deliberately failing
    version: 1
    variables: {contact_name: Ada, contact_email: a@b.io, contact_phone: "555-0100",
                company: Acme}
    assert:
      - {regex: "(?i)as an ai"}
"""


class OfflineDouble(Provider):
    """The offline end of the chain: records what it got, answers or fails on demand."""

    def __init__(self) -> None:
        self.name, self.model = "offline", "minilm-retrieval"
        self.fail = False
        self.requests: list[LLMRequest] = []

    def generate(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        if self.fail:
            raise ProviderError("offline model down", provider=self.name, retryable=False)
        return LLMResponse(
            f"offline: {request.messages[-1].content}", "offline", self.model, 0, 0, 0.5, 0.0
        )


@pytest.fixture(scope="module")
def crm(module_pg_url: str) -> dict[str, Any]:
    """Two teams with a user each, a consenting contact and a non-consenting one."""
    with session_scope(module_pg_url) as session:
        teams = [Team(name="Team North"), Team(name="Team South")]
        session.add_all(teams)
        session.flush()
        users = [
            User(email="rep.north@haste.test", full_name="Rep North", team_id=teams[0].id),
            User(email="rep.south@haste.test", full_name="Rep South", team_id=teams[1].id),
        ]
        company = Company(name="Analytical Engines Ltd")
        session.add_all([*users, company])
        session.flush()
        ada = Contact(
            first_name="Ada",
            last_name="Lovelace",
            email="ada.lovelace@analytical.io",
            phone="+44 20 7946 0958",
            company_id=company.id,
            ai_consent=True,
        )
        charles = Contact(
            first_name="Charles",
            last_name="Babbage",
            email="charles@analytical.io",
            ai_consent=False,
        )
        session.add_all([ada, charles])
        session.flush()
        return {
            "teams": [t.id for t in teams],
            "users": [u.id for u in users],
            "ada": ada.id,
            "charles": charles.id,
        }


def build_config(wire: WireServer, *, cache: bool = False) -> LLMConfig:
    return parse_llm_config(
        {
            "providers": {
                "openai": {
                    "kind": "openai",
                    "model": "gpt-4o-mini",
                    "base_url": wire.openai_base_url,
                    "max_retries": 0,
                    "input_price_per_mtok": 0.15,
                    "output_price_per_mtok": 0.60,
                },
                "offline": {"kind": "offline", "model": "minilm-retrieval"},
            },
            "fallback_chain": ["openai", "offline"],
            "default_provider": "openai",
            "retry": {"max_attempts": 1},
            "cache": {"enabled": cache},
            "budgets": [
                {"scope": "team", "id": "*", "monthly_limit_usd": 1, "degrade_to": "offline"},
                {"scope": "global", "id": "*", "monthly_limit_usd": 100},
            ],
        }
    )


@pytest.fixture()
def offline() -> OfflineDouble:
    return OfflineDouble()


@pytest.fixture()
def registry(tmp_path: Path) -> PromptRegistry:
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "contact_note.yaml").write_text(textwrap.dedent(NOTE_PROMPT), encoding="utf-8")
    return PromptRegistry(folder)


def build_service(
    module_pg_url: str,
    wire: WireServer,
    registry: PromptRegistry,
    offline: OfflineDouble,
    **kw: Any,
) -> LLMService:
    config = build_config(wire, **kw)
    openai = OpenAIProvider(
        "openai",
        "gpt-4o-mini",
        api_key=API_KEY,
        base_url=wire.openai_base_url,
        max_retries=0,
        input_price_per_mtok=0.15,
        output_price_per_mtok=0.60,
        token_limit_param="max_completion_tokens",
    )
    client = LLMClient(config, providers={"openai": openai, "offline": offline})
    return LLMService(config, client, registry, BudgetManager(module_pg_url, config), module_pg_url)


@pytest.fixture()
def service(
    module_pg_url: str, wire: WireServer, registry: PromptRegistry, offline: OfflineDouble
) -> LLMService:
    wire.reset()
    return build_service(module_pg_url, wire, registry, offline)


def ada_variables(topic: str = "the renewal; call 020 7946 0958 first") -> dict[str, str]:
    return {
        "contact_name": "Ada Lovelace",
        "contact_email": "ada.lovelace@analytical.io",
        "contact_phone": "+44 20 7946 0958",
        "company": "Analytical Engines Ltd",
        "topic": topic,
    }


def sent_to_provider(wire: WireServer) -> str:
    return "\n".join(json.dumps(r.body) for r in wire.get_requests(OPENAI_PATH))


def interaction(module_pg_url: str, request_id: str) -> AIInteraction:
    with session_scope(module_pg_url) as session:
        row = session.scalar(select(AIInteraction).where(AIInteraction.request_id == request_id))
        assert row is not None
        return row


def test_pii_never_reaches_the_provider_and_is_restored(
    service: LLMService, wire: WireServer, crm: dict[str, Any], module_pg_url: str
) -> None:
    usage = UsageContext(crm["users"][0], crm["teams"][0], "notes")
    completion = service.complete(
        "contact_note", ada_variables(), usage=usage, contact_ids=[crm["ada"]], version=1
    )
    sent = sent_to_provider(wire)
    assert len(wire.get_requests(OPENAI_PATH)) == 1
    for secret in ("ada", "lovelace", "analytical", "7946", "0958", "@"):
        assert not re.search(rf"(?<![a-z]){re.escape(secret)}", sent, re.IGNORECASE), secret
    assert "[PERSON_1]" in sent and "[EMAIL_1]" in sent and "[PHONE_1]" in sent
    assert "[COMPANY_1]" in sent
    assert completion.text.startswith(
        "echo: Draft a follow-up note to Ada Lovelace (ada.lovelace@analytical.io, phone "
        "+44 20 7946 0958) of Analytical Engines Ltd. Topic: the renewal; call "
        "+44 20 7946 0958 first"
    )
    assert completion.redacted_count == 5
    assert (completion.provider, completion.prompt_version) == ("openai", 1)
    expected = to_billable(
        cost_of(
            service.config.get_provider("openai"), completion.input_tokens, completion.output_tokens
        )
    )
    assert completion.cost_usd == expected > 0
    row = interaction(module_pg_url, completion.request_id)
    assert (row.feature, row.provider, row.variant) == ("notes", "openai", "contact_note@v1")
    assert row.cost_usd == expected
    assert row.tokens_used == completion.input_tokens + completion.output_tokens
    assert row.input_data["contact_id"] == str(crm["ada"])
    assert row.team_id == crm["teams"][0] and row.error_message is None


def test_offline_route_is_not_redacted(
    service: LLMService, offline: OfflineDouble, crm: dict[str, Any], wire: WireServer
) -> None:
    usage = UsageContext(crm["users"][0], crm["teams"][0], "notes")
    completion = service.complete(
        "contact_note",
        ada_variables(),
        usage=usage,
        contact_ids=[crm["ada"]],
        provider="offline",
    )
    assert completion.provider == "offline" and completion.redacted_count == 0
    assert "Ada Lovelace" in offline.requests[-1].messages[0].content
    assert completion.cost_usd == 0 and wire.get_requests(OPENAI_PATH) == []


def test_non_consenting_contact_is_refused_before_any_call(
    service: LLMService, wire: WireServer, crm: dict[str, Any], module_pg_url: str
) -> None:
    usage = UsageContext(crm["users"][0], crm["teams"][0], "notes", request_id=uuid.uuid4().hex)
    with pytest.raises(ConsentError) as caught:
        service.complete(
            "contact_note", ada_variables(), usage=usage, contact_ids=[crm["ada"], crm["charles"]]
        )
    assert f"contact {crm['charles']} has not consented to AI processing" in str(caught.value)
    assert wire.requests == []
    row = interaction(module_pg_url, str(usage.request_id))
    assert "has not consented" in (row.error_message or "") and row.cost_usd == 0
    with pytest.raises(ContactNotFoundError):
        service.complete(
            "contact_note",
            ada_variables(),
            usage=UsageContext(None, None, "notes"),
            contact_ids=[uuid.uuid4()],
        )
    assert wire.requests == []


def test_usage_rollups_match_recorded_costs_and_budgets(
    module_pg_url: str,
    wire: WireServer,
    registry: PromptRegistry,
    crm: dict[str, Any],
    offline: OfflineDouble,
) -> None:
    wire.reset()
    features = [f"roll_a_{uuid.uuid4().hex[:6]}", f"roll_b_{uuid.uuid4().hex[:6]}"]
    service = build_service(module_pg_url, wire, registry, offline)
    before = {row["team"]: row["cost_usd"] for row in usage_rollup(module_pg_url, by="team")}
    spent_before = {s.scope_id: s.spent_usd for s in service.budgets.status()}
    costs: dict[tuple[str, str], Decimal] = {}
    for index in range(6):
        team, user = crm["teams"][index % 2], crm["users"][index % 2]
        feature = features[index % 3 % 2]
        completion = service.complete(
            "contact_note",
            ada_variables(topic=f"topic number {index} " + "word " * index),
            usage=UsageContext(user, team, feature),
            contact_ids=[crm["ada"]],
        )
        key = (str(team), feature)
        costs[key] = costs.get(key, Decimal(0)) + completion.cost_usd
    by_feature = {row["feature"]: row for row in usage_rollup(module_pg_url, by="feature")}
    for feature in features:
        expected = sum((c for (_, f), c in costs.items() if f == feature), Decimal(0))
        assert by_feature[feature]["cost_usd"] == expected
        assert by_feature[feature]["errors"] == 0
    assert by_feature[features[0]]["calls"] == 4 and by_feature[features[1]]["calls"] == 2
    by_team = {row["team"]: row for row in usage_rollup(module_pg_url, by="team")}
    status = {s.scope_id: s.spent_usd for s in service.budgets.status()}
    for team in crm["teams"]:
        added = sum((c for (t, _), c in costs.items() if t == str(team)), Decimal(0))
        previous = before.get(str(team), Decimal(0))
        assert by_team[str(team)]["cost_usd"] - previous == added
        assert status[str(team)] - spent_before.get(str(team), Decimal(0)) == added
    tokens = sum(row["total_tokens"] for row in usage_rollup(module_pg_url, by="provider"))
    with session_scope(module_pg_url) as session:
        assert tokens == session.scalar(
            select(func.sum(AIInteraction.tokens_used)).where(
                AIInteraction.interaction_type == "llm"
            )
        )


def test_provider_failure_releases_the_reservation(
    service: LLMService,
    wire: WireServer,
    offline: OfflineDouble,
    crm: dict[str, Any],
    module_pg_url: str,
) -> None:
    team = str(crm["teams"][1])
    spent = {s.scope_id: s.spent_usd for s in service.budgets.status()}.get(team, Decimal(0))
    wire.fail_next(1, status=400, path=OPENAI_PATH)
    offline.fail = True
    usage = UsageContext(crm["users"][1], crm["teams"][1], "notes", request_id=uuid.uuid4().hex)
    with pytest.raises(ProviderError, match="every LLM provider failed"):
        service.complete("contact_note", ada_variables(), usage=usage, contact_ids=[crm["ada"]])
    after = {s.scope_id: s.spent_usd for s in service.budgets.status()}.get(team, Decimal(0))
    assert after == spent
    row = interaction(module_pg_url, str(usage.request_id))
    assert "every LLM provider failed" in (row.error_message or "")
    assert row.variant and row.variant.startswith("contact_note@v")


def test_cache_hit_costs_nothing(
    module_pg_url: str,
    wire: WireServer,
    registry: PromptRegistry,
    crm: dict[str, Any],
    offline: OfflineDouble,
) -> None:
    wire.reset()
    service = build_service(module_pg_url, wire, registry, offline, cache=True)
    usage = UsageContext(crm["users"][0], crm["teams"][0], "cached")
    first = service.complete(
        "contact_note", ada_variables(), usage=usage, version=2, contact_ids=[crm["ada"]]
    )
    second = service.complete(
        "contact_note", ada_variables(), usage=usage, version=2, contact_ids=[crm["ada"]]
    )
    assert not first.cached and second.cached and second.cost_usd == 0
    assert second.text == first.text and len(wire.get_requests(OPENAI_PATH)) == 1


def test_ab_version_is_sticky_per_contact(service: LLMService, crm: dict[str, Any]) -> None:
    usage = UsageContext(crm["users"][0], crm["teams"][0], "notes")
    versions = {
        service.complete(
            "contact_note", ada_variables(), usage=usage, contact_ids=[crm["ada"]]
        ).prompt_version
        for _ in range(3)
    }
    expected = service.registry.choose_version("contact_note", str(crm["ada"]))
    assert versions == {expected}


def test_prompt_tests_are_stored(
    module_pg_url: str, wire: WireServer, registry: PromptRegistry, offline: OfflineDouble
) -> None:
    service = build_service(module_pg_url, wire, registry, offline)
    report = run_prompt_tests(registry, "contact_note", service.client, url=module_pg_url)
    assert [(r.version, r.case_name, r.passed) for r in report.results] == [
        (1, "mentions the topic", True),
        (1, "deliberately failing", False),
        (2, "mentions the topic", True),
    ]
    assert report.pass_rate_by_version() == {1: 0.5, 2: 1.0}
    assert all(r.provider == "openai" for r in report.results)
    with session_scope(module_pg_url) as session:
        rows = session.execute(
            select(PromptTestResult, AIPrompt.version)
            .join(AIPrompt, AIPrompt.id == PromptTestResult.prompt_id)
            .where(PromptTestResult.run_id == report.run_id)
        ).all()
    assert sorted((v, r.case_name, r.passed) for r, v in rows) == [
        (1, "deliberately failing", False),
        (1, "mentions the topic", True),
        (2, "mentions the topic", True),
    ]
    failed = next(r for r, _ in rows if not r.passed)
    assert failed.assertions["checks"][0]["kind"] == "regex"
    assert failed.output.startswith("echo:") and failed.tokens_used > 0

    repo = PromptRegistry()
    summary = run_prompt_tests(repo, "conversation_summary", service.client, url=module_pg_url)
    with session_scope(module_pg_url) as session:
        stored = session.scalar(
            select(func.count()).where(PromptTestResult.run_id == summary.run_id)
        )
    assert stored == len(summary.results) == 3
    assert "conversation_summary" in summary.to_markdown()


def test_prompt_sync_stats_and_feedback(
    module_pg_url: str,
    wire: WireServer,
    registry: PromptRegistry,
    offline: OfflineDouble,
    crm: dict[str, Any],
    tmp_path: Path,
) -> None:
    registry.sync_to_db(module_pg_url)
    again = registry.sync_to_db(module_pg_url)
    assert again.inserted == [] and again.updated == []
    assert sorted(again.unchanged) == ["contact_note@v1", "contact_note@v2"]
    service = build_service(module_pg_url, wire, registry, offline)
    usage = UsageContext(crm["users"][0], crm["teams"][0], "stats")
    done = [
        service.complete(
            "contact_note", ada_variables(), usage=usage, version=v, contact_ids=[crm["ada"]]
        )
        for v in (1, 1, 2)
    ]
    record_feedback(module_pg_url, done[0].request_id, 5)
    record_feedback(module_pg_url, done[1].request_id, 2)
    with pytest.raises(ValueError, match="1 to 5"):
        record_feedback(module_pg_url, done[2].request_id, 9)
    with pytest.raises(InteractionNotFoundError):
        record_feedback(module_pg_url, "no-such-request", 3)
    extra = record_prompt_use(
        module_pg_url, "contact_note", 2, latency_ms=10.0, tokens=7, feedback=4
    )
    assert interaction(module_pg_url, extra).variant == "contact_note@v2"
    stats = {s["version"]: s for s in prompt_stats(module_pg_url, "contact_note")}
    with session_scope(module_pg_url) as session:
        rows = session.execute(
            select(AIInteraction.variant, AIInteraction.tokens_used, AIInteraction.feedback_score)
            .where(AIInteraction.variant.like("contact_note@v%"))
            .where(AIInteraction.error_message.is_(None))
        ).all()
        stored = {
            p.version: p.performance_stats
            for p in session.scalars(select(AIPrompt).where(AIPrompt.name == "contact_note"))
        }
    for version in (1, 2):
        mine = [r for r in rows if r.variant == f"contact_note@v{version}"]
        assert stats[version]["mean_tokens"] == pytest.approx(
            sum(r.tokens_used for r in mine) / len(mine), abs=1e-3
        )
        scores = [r.feedback_score for r in mine if r.feedback_score is not None]
        assert stats[version]["feedback_count"] == len(scores)
        assert stored[version]["calls"] == stats[version]["calls"]
    assert stats[2]["mean_feedback"] == 4.0
    assert stats[1]["mean_latency_ms"] is not None and stats[1]["calls"] >= 2

    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "contact_note.yaml").write_text(
        textwrap.dedent(NOTE_PROMPT).replace("Draft a follow-up note", "Write a note"),
        encoding="utf-8",
    )
    with pytest.raises(PromptVersionConflictError, match="add version 3"):
        PromptRegistry(changed).sync_to_db(module_pg_url)
