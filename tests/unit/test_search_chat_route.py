"""``POST /api/ai/search/chat`` in-process: the route over the TextAI method, without Ray.

The gateway's app runs over the stand-in core of ``test_gateway_app``; its ``call_text`` calls
the real ``TextAI.search_chat`` method (the deployment's class, its index and LLM parts
replaced by the small index of ``test_search_chat`` and an offline-only LLM configuration).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from haste.db import upgrade_database
from serving.errors import ApiError
from serving.http import create_api
from serving.text_app import TextAI, TextAIError
from tests.unit.test_gateway_app import KEY, StubCore
from tests.unit.test_search_chat import DOCS
from textai.llm.config import parse_llm_config
from textai.search.index import HybridIndex

OFFLINE = parse_llm_config(
    {
        "default_provider": "offline",
        "fallback_chain": ["offline"],
        "providers": {"offline": {"kind": "offline", "model": "m"}},
    }
)


class ChatCore(StubCore):
    """The stand-in core with a TextAI replica answering ``search_chat`` in-process."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        upgrade_database(self.database_url)
        import numpy as np

        vectors = np.random.default_rng(0).normal(size=(len(DOCS), 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        replica = TextAI.func_or_class({"database_url": self.database_url})
        index = HybridIndex().build(DOCS, embeddings=vectors)
        replica._search_index = lambda: index  # type: ignore[method-assign]
        replica._llm = lambda: SimpleNamespace(config=OFFLINE)  # type: ignore[method-assign]
        replica._complete = lambda *args: None  # type: ignore[method-assign]
        self.replica = replica
        self.key_id: str | None = str(uuid.uuid4())
        self.records: list[Any] = []

    async def call_text(self, context: Any, feature: str, inputs: dict, method: str, *args: Any):
        body, usage = args
        try:
            return getattr(self.replica, method)(body, {**usage, "api_key_id": self.key_id})
        except TextAIError as error:
            raise self.refuse(context, feature, error.status_code, error.message, inputs) from None

    async def record(self, records: list[Any]) -> None:
        self.records.extend(records)

    def refuse(self, context: Any, feature: str, status: int, message: str, inputs: dict) -> Any:
        return ApiError(status, message)


@pytest.fixture()
def core(tmp_path: Path) -> ChatCore:
    return ChatCore(tmp_path)


def test_a_conversation_over_the_route(core: ChatCore) -> None:
    client = TestClient(create_api(core), headers={"X-API-Key": KEY})
    first = client.post("/api/ai/search/chat", json={"message": "deals over 10k"})
    assert first.status_code == 200, first.text
    cid = first.json()["conversation_id"]
    second = client.post(
        "/api/ai/search/chat", json={"conversation_id": cid, "message": "only in healthcare"}
    )
    body = second.json()
    assert second.status_code == 200 and (body["turn"], body["refined_from_previous"]) == (2, True)
    assert [f["field"] for f in body["filters"]["filters"]] == ["amount", "industry"]
    assert body["path"] == "offline" and body["citations"] and body["answer"].endswith(".")
    (_, record) = core.records
    assert record.input_data == {"message": "only in healthcare", "conversation_id": cid}
    assert record.output_data["cited"] == [c["doc_id"] for c in body["citations"]]
    core.key_id = str(uuid.uuid4())  # another API key
    foreign = client.post("/api/ai/search/chat", json={"conversation_id": cid, "message": "and?"})
    assert foreign.status_code == 404 and cid in foreign.json()["detail"]


@pytest.mark.parametrize(
    "payload",
    [
        {"message": ""},
        {"message": "   "},
        {"message": "x" * 501},
        {"message": "deals", "limit": 0},
        {"message": "deals", "conversation_id": "not-a-uuid"},
        {"message": "deals", "entity_types": ["planet"]},
        {"message": "deals", "debug": True},
    ],
)
def test_bad_input_is_422(core: ChatCore, payload: dict[str, Any]) -> None:
    client = TestClient(create_api(core), headers={"X-API-Key": KEY})
    response = client.post("/api/ai/search/chat", json=payload)
    assert response.status_code == 422 and response.json()["errors"]
    assert core.records == []
