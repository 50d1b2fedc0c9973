"""Unit tests of conversational search: follow-ups, filter merging, citations, LLM path, storage.

The index is a small hand-made CRM (deals, a company, contacts) with fixed random vectors;
searches with free text use ``mode="keyword"`` (BM25) so no encoder is loaded.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import numpy as np
import pytest

from tests.support.llm_wire_server import OPENAI_PATH, running_wire_server
from textai.llm.client import LLMClient
from textai.llm.config import parse_llm_config
from textai.llm.prompts import PromptRegistry
from textai.search import chat_store
from textai.search.chat import ChatTurn, answer_turn
from textai.search.chat_followup import detect_follow_up, exclusion_filters, merge_filters
from textai.search.chat_session import converse
from textai.search.documents import SearchDocument
from textai.search.index import HybridIndex
from textai.search.query_model import Filter, QueryVocabulary
from textai.search.query_parser import parse_query

TODAY = dt.date(2026, 11, 15)
KEY_ENV = "HASTE_TEST_SEARCH_CHAT_KEY"


def _deal(
    i: int,
    name: str,
    amount: float,
    stage: str,
    industry: str,
    closed: str | None,
    close: str | None = None,
    country: str = "US",
) -> SearchDocument:
    attributes = {
        "amount": amount,
        "currency": "USD",
        "stage": stage,
        "industry": industry,
        "country": country,
        "closed_at": closed,
        "expected_close_date": close,
    }
    return SearchDocument(
        f"deal:d{i}",
        "deal",
        f"d{i}",
        name,
        f"{name}: {stage.replace('_', ' ')} deal worth {amount:,.0f} USD ({industry}).",
        {k: v for k, v in attributes.items() if v is not None},
    )


DOCS = [
    _deal(1, "Acme renewal", 50_000, "closed_won", "healthcare", "2026-11-02"),
    _deal(2, "Beta expansion", 20_000, "closed_lost", "healthcare", "2026-10-12"),
    _deal(3, "Gamma pilot", 80_000, "negotiation", "healthcare", None, "2026-12-20"),
    _deal(4, "Delta platform renewal", 120_000, "closed_won", "software", "2026-11-20"),
    _deal(5, "Epsilon renewal", 30_000, "closed_won", "healthcare", "2026-05-02", country="DE"),
    _deal(6, "Zeta licence", 9_000, "proposal", "retail", None, "2027-01-15"),
    SearchDocument("company:c1", "company", "c1", "Acme Health", "Acme Health, hospitals.",
                   {"industry": "healthcare", "country": "US", "employee_count": 120.0}),
    SearchDocument("contact:p1", "contact", "p1", "Ada Lopez", "Ada Lopez, VP Sales.",
                   {"industry": "healthcare", "country": "US", "job_title": "VP Sales",
                    "company_name": "Acme Health", "lifecycle_stage": "customer"}),
    SearchDocument("contact:p2", "contact", "p2", "Bo Chen", "Bo Chen, CTO.",
                   {"industry": "software", "country": "US", "job_title": "CTO",
                    "lifecycle_stage": "lead"}),
]  # fmt: skip


@pytest.fixture(scope="module")
def index() -> HybridIndex:
    vectors = np.random.default_rng(0).normal(size=(len(DOCS), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return HybridIndex().build(DOCS, embeddings=vectors)


def chat(index: HybridIndex, messages: list[str], **kwargs: Any) -> list[Any]:
    """Answer messages in order as one conversation; return the replies."""
    replies, previous = [], None
    for message in messages:
        reply = answer_turn(index, message, previous, today=TODAY, **kwargs)
        replies.append(reply)
        previous = reply.turn
    return replies


def ids(reply: Any) -> set[str]:
    return {h.doc.doc_id for h in reply.hits}


# ------------------------------------------------------------------ follow-up detection


@pytest.mark.parametrize(
    ("message", "follow", "refers_back", "excludes"),
    [
        ("only in healthcare", True, False, False),
        ("just the ones in Germany", True, False, False),
        ("which of those closed this quarter?", True, True, False),
        ("of these, which are in negotiation", True, True, False),
        ("and over 100k", True, False, False),
        ("what about fintech?", True, False, False),
        ("excluding healthcare", True, False, True),
        ("closed this quarter", True, False, False),  # filters only, no entity of its own
        ("show me companies in retail", False, False, False),
        ("contacts who asked about pricing discounts and onboarding", False, False, False),
        ("Acme renewal", False, False, False),
    ],
)
def test_follow_ups_are_told_from_new_questions(
    message: str, follow: bool, refers_back: bool, excludes: bool
) -> None:
    from textai.search.chat_followup import split_cue

    parsed = parse_query(split_cue(message)[1], TODAY)
    decision = detect_follow_up(message, True, parsed)
    assert (decision.is_follow_up, decision.refers_back, decision.excludes) == (
        follow,
        refers_back,
        excludes,
    )
    assert not detect_follow_up(message, False, parsed).is_follow_up  # nothing to refine


def test_merging_replaces_a_field_keeps_both_bounds_and_adds_the_rest() -> None:
    previous = (Filter("industry", "==", "healthcare"), Filter("amount", ">", 50_000.0))
    merged = merge_filters(previous, [Filter("industry", "==", "software")])
    assert merged == (Filter("amount", ">", 50_000.0), Filter("industry", "==", "software"))
    bounded = merge_filters(merged, [Filter("amount", "<", 200_000.0)])
    assert (
        Filter("amount", ">", 50_000.0) in bounded and Filter("amount", "<", 200_000.0) in bounded
    )
    raised = merge_filters(bounded, [Filter("amount", ">", 90_000.0)])
    assert [f for f in raised if f.field == "amount"] == [
        Filter("amount", "<", 200_000.0),
        Filter("amount", ">", 90_000.0),
    ]
    added = merge_filters(previous, [Filter("country", "==", "DE")])
    assert added == (*previous, Filter("country", "==", "DE"))


def test_exclusion_is_the_complement_over_the_vocabulary() -> None:
    vocabulary = QueryVocabulary(industries=("healthcare", "retail", "software"))
    out, skipped = exclusion_filters(
        [Filter("industry", "==", "healthcare"), Filter("amount", ">", 5.0)], vocabulary
    )
    assert out == (Filter("industry", "in", ("retail", "software")),)
    assert skipped == ["amount"]


# ------------------------------------------------------------------ conversations


def test_three_turns_refine_the_first_question(index: HybridIndex) -> None:
    first, second, third = chat(
        index,
        ["show me deals over 10k", "only in healthcare", "which of those closed this quarter?"],
    )
    assert ids(first) == {"deal:d1", "deal:d2", "deal:d3", "deal:d4", "deal:d5"}
    assert not first.turn.refined_from_previous
    assert second.turn.refined_from_previous and ids(second) == {
        "deal:d1", "deal:d2", "deal:d3", "deal:d5"}  # fmt: skip
    assert third.turn.refined_from_previous and ids(third) == {"deal:d1", "deal:d2"}
    fields = {f.field: f for f in third.turn.filters}
    assert set(fields) == {"amount", "industry", "closed_at"}
    assert fields["closed_at"].value == (dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    assert third.turn.answer.startswith("2 deals worth over $10,000, in healthcare, closed 2026-10")
    assert "Acme renewal ($50,000, closed won, closed 2026-11-02) [1]" in third.turn.answer


def test_offline_citations_are_exactly_the_hits(index: HybridIndex) -> None:
    (reply,) = chat(index, ["healthcare deals"])
    assert [c.doc_id for c in reply.citations] == [h.doc.doc_id for h in reply.hits]
    assert [c.marker for c in reply.citations] == list(range(1, len(reply.hits) + 1))
    markers = [int(m) for m in re.findall(r"\[(\d+)\]", reply.turn.answer)]
    assert markers == [c.marker for c in reply.citations]
    for citation, hit in zip(reply.citations, reply.hits, strict=True):
        assert citation.title == hit.doc.title and citation.entity_id == hit.doc.entity_id
        assert "industry healthcare" in citation.why
    assert reply.turn.cited_ids == reply.turn.result_ids and reply.turn.path == "offline"


def test_a_value_alone_replaces_the_filter_and_excluding_complements_it(
    index: HybridIndex,
) -> None:
    _, software, excluded = chat(
        index, ["deals in healthcare", "what about software?", "excluding software"]
    )
    assert [f.to_dict() for f in software.turn.filters] == [
        {"field": "industry", "op": "==", "value": "software"}
    ]
    assert ids(software) == {"deal:d4"}
    assert ids(excluded) == {"deal:d1", "deal:d2", "deal:d3", "deal:d5", "deal:d6"}
    assert "deals not in software:" in excluded.turn.answer


def test_naming_another_entity_keeps_only_the_filters_it_has(index: HybridIndex) -> None:
    _, contacts, new = chat(
        index, ["deals over 10k in healthcare", "what about contacts?", "show me companies"]
    )
    assert contacts.turn.entity_types == ("contact",)
    assert [f.field for f in contacts.turn.filters] == ["industry"] and ids(contacts) == {
        "contact:p1"}  # fmt: skip
    assert not new.turn.refined_from_previous and new.turn.filters == ()


def test_those_after_a_ranked_answer_is_limited_to_its_records(index: HybridIndex) -> None:
    first, second = chat(
        index,
        ["renewal deals", "which of those are with healthcare companies?"],
        mode="keyword",
        limit=2,
    )
    assert first.turn.text == "renewal" and len(first.hits) == 2
    assert second.turn.restricted_to_previous and second.turn.entity_types == ("deal",)
    assert ids(second) <= ids(first) and ids(second)
    assert all(h.doc.attributes["industry"] == "healthcare" for h in second.hits)
    assert all("in the previous answer" in c.why for c in second.citations)


def test_a_turn_survives_its_stored_record(index: HybridIndex) -> None:
    (reply,) = chat(index, ["healthcare deals closing this quarter"])
    restored = ChatTurn.from_record(reply.turn.to_record())
    assert restored == reply.turn


def test_no_match_is_said_and_cites_nothing(index: HybridIndex) -> None:
    (reply,) = chat(index, ["deals over 5000k"])
    assert reply.hits == [] and reply.citations == []
    assert reply.turn.answer.startswith("No deals worth over $5,000,000")


# ------------------------------------------------------------------ LLM path


def test_llm_prose_is_kept_only_when_every_citation_is_a_hit(index: HybridIndex) -> None:
    prompts: list[dict[str, Any]] = []

    def answering(text: str) -> Any:
        def generate(name: str, variables: dict[str, Any]) -> str:
            prompts.append({"name": name, **variables})
            return text

        return generate

    prose = "Acme renewal [1] closed; Gamma [3] is open."
    good = answer_turn(index, "healthcare deals", today=TODAY, generate=answering(prose))
    assert (good.turn.path, good.fallback_reason) == ("llm", None)
    assert [c.marker for c in good.citations] == [1, 3]
    assert good.turn.cited_ids == (good.hits[0].doc.doc_id, good.hits[2].doc.doc_id)
    assert prompts[0]["name"] == "search_answer" and prompts[0]["records"].startswith("[1] deal:")
    for text, reason in (
        ("Acme renewal [1] and the Omega deal [9].", "cites [9]"),
        ("Several deals closed.", "cites no record"),
        ("", "empty"),
    ):
        refused = answer_turn(index, "healthcare deals", today=TODAY, generate=answering(text))
        assert refused.turn.path == "offline" and reason in refused.fallback_reason
        assert [c.doc_id for c in refused.citations] == [h.doc.doc_id for h in refused.hits]

    def failing(name: str, variables: dict[str, Any]) -> str:
        raise RuntimeError("provider down")

    failed = answer_turn(index, "healthcare deals", today=TODAY, generate=failing)
    assert failed.turn.path == "offline" and "provider down" in failed.fallback_reason


def test_an_offline_only_configuration_never_calls_the_model(index: HybridIndex) -> None:
    config = parse_llm_config(
        {
            "default_provider": "offline",
            "fallback_chain": ["offline"],
            "providers": {"offline": {"kind": "offline", "model": "m"}},
        }
    )

    def generate(name: str, variables: dict[str, Any]) -> str:
        raise AssertionError("the offline path must not call the model")

    reply = answer_turn(index, "healthcare deals", today=TODAY, generate=generate,
                        llm_config=config)  # fmt: skip
    assert reply.turn.path == "offline" and reply.fallback_reason is None


def test_llm_path_over_the_openai_wire_format(
    index: HybridIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real prompt through the OpenAI SDK; the wire server echoes it (with its markers)."""
    monkeypatch.setenv(KEY_ENV, "wire-key")
    registry = PromptRegistry()
    with running_wire_server(api_key="wire-key") as server:
        config = parse_llm_config(
            {
                "default_provider": "local",
                "fallback_chain": ["local", "offline"],
                "providers": {"local": {"kind": "openai_compatible", "model": "wire-model",
                                        "base_url": server.openai_base_url,
                                        "api_key_env": KEY_ENV, "timeout_s": 5,
                                        "max_retries": 0},
                              "offline": {"kind": "offline", "model": "minilm-retrieval"}},
                "retry": {"max_attempts": 1},
                "cache": {"enabled": False},
            }
        )  # fmt: skip
        client = LLMClient(config)

        def generate(name: str, variables: dict[str, Any]) -> str:
            request = registry.render(name, variables).to_request({"feature": "search_chat"})
            return client.generate(request).text

        echoed = answer_turn(index, "healthcare deals", today=TODAY, generate=generate,
                             llm_config=config)  # fmt: skip
        invented = answer_turn(index, "healthcare deals: renewal [12]?", today=TODAY,
                               generate=generate, llm_config=config, mode="keyword")  # fmt: skip
        (first, _) = server.get_requests(OPENAI_PATH)
    prompt = first.body["messages"][-1]["content"]
    assert "Question: healthcare deals" in prompt and "[1] deal: " in prompt
    assert echoed.turn.path == "llm" and echoed.turn.answer.startswith("echo: Question:")
    assert len(echoed.citations) == len(echoed.hits)  # the echo repeats every record's marker
    assert invented.turn.path == "offline" and "cites [12]" in invented.fallback_reason


# ------------------------------------------------------------------ storage


def test_conversations_are_scoped_to_the_api_key(
    index: HybridIndex, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, other = (
        {"api_key_id": str(uuid.uuid4()), "user_id": None},
        {"api_key_id": str(uuid.uuid4())},
    )
    first = converse(db_url, index, {"message": "deals over 10k"}, key, today=TODAY)
    cid = first["conversation_id"]
    second = converse(db_url, index, {"message": "only in healthcare", "conversation_id": cid},
                      key, today=TODAY)  # fmt: skip
    assert (first["turn"], second["turn"]) == (1, 2) and second["conversation_id"] == cid
    assert second["refined_from_previous"] and len(second["filters"]["filters"]) == 2
    for caller in (other, {"api_key_id": None}):
        with pytest.raises(chat_store.ConversationNotFoundError):
            converse(db_url, index, {"message": "and in DE", "conversation_id": cid}, caller)
    with pytest.raises(chat_store.ConversationNotFoundError):
        converse(db_url, index, {"message": "x", "conversation_id": str(uuid.uuid4())}, key)
    stored = chat_store.load_turns(db_url, cid, key["api_key_id"])
    assert [t["question"] for t in stored] == ["deals over 10k", "only in healthcare"]
    assert stored[1]["cited_ids"] == [c["doc_id"] for c in second["citations"]]
    assert stored[1]["filters"] == second["filters"]["filters"] and stored[1]["answer"]
    monkeypatch.setattr(chat_store, "MAX_TURNS", 2)
    with pytest.raises(chat_store.ConversationFullError):
        converse(db_url, index, {"message": "and in DE", "conversation_id": cid}, key)
