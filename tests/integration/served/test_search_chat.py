"""Conversational search on the served platform: a 3-turn conversation, key scoping, bad input."""

from __future__ import annotations

import uuid

import httpx

from tests.support.platform import interactions, new_key


def test_a_conversation_refines_its_question_and_cites_its_records(api, platform) -> None:
    settings, *_ = platform
    turns, conversation_id = [], None
    for message in ("deals over 20k", "only in healthcare", "which of those closed this quarter?"):
        request_id = uuid.uuid4().hex
        response = api.post(
            "/api/ai/search/chat",
            json={"conversation_id": conversation_id, "message": message, "limit": 5},
            headers={"X-Request-ID": request_id},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        conversation_id = body["conversation_id"]
        turns.append(body)
        (row,) = interactions(settings, request_id=request_id)
        assert row.input_data["message"] == message and row.feature == "search_chat"
        assert row.output_data["cited"] == [c["doc_id"] for c in body["citations"]]
    first, second, third = turns
    assert [t["turn"] for t in turns] == [1, 2, 3] and first["results"]
    assert not first["refined_from_previous"] and second["refined_from_previous"]
    fields = [[f["field"] for f in t["filters"]["filters"]] for t in turns]
    assert fields[0] == ["amount"] and fields[1] == ["amount", "industry"]
    assert fields[2] == ["amount", "industry", "closed_at"] and third["refined_from_previous"]
    for turn in turns:
        assert turn["path"] == "offline"  # no hosted provider is configured
        assert [c["doc_id"] for c in turn["citations"]] == [h["doc_id"] for h in turn["results"]]
        for hit in turn["results"]:
            assert hit["entity_type"] == "deal" and hit["attributes"]["amount"] > 20_000
    assert all(h["attributes"]["industry"] == "healthcare" for h in second["results"])
    assert all(f"[{c['marker']}]" in second["answer"] for c in second["citations"])


def test_another_key_cannot_continue_a_conversation(api, platform) -> None:
    settings, *_ = platform
    started = api.post("/api/ai/search/chat", json={"message": "companies in fintech"})
    assert started.status_code == 200, started.text
    conversation_id = started.json()["conversation_id"]
    other = httpx.post(
        f"{api.base_url}/api/ai/search/chat",
        json={"conversation_id": conversation_id, "message": "only in Germany"},
        headers={"X-API-Key": new_key(settings, "rep")},
    )
    assert other.status_code == 404 and "not found" in other.json()["detail"]
    unknown = api.post(
        "/api/ai/search/chat", json={"conversation_id": str(uuid.uuid4()), "message": "and in US"}
    )
    assert unknown.status_code == 404
    assert api.post("/api/ai/search/chat", json={"message": ""}).status_code == 422
