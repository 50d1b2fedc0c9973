"""Idempotency keys: one request per caller and key; replays, conflicts, leases, expiry."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import update

from haste.db import IdempotencyKey, session_scope, upgrade_database
from haste.idempotency import (
    CLAIM_LEASE,
    KEY_TTL,
    Claim,
    IdempotencyConflict,
    RecordedAnswer,
    claim_key,
    complete_key,
    fingerprint_request,
    prune_keys,
    release_key,
)


@pytest.fixture()
def url(tmp_path: Path) -> str:
    database = f"sqlite:///{tmp_path / 'haste.db'}"
    upgrade_database(database)
    return database


FP = fingerprint_request("POST", "/api/ai/lead-score", "", b'{"contact_id": "a"}')


def test_fingerprint_ignores_json_formatting_but_not_content() -> None:
    same = fingerprint_request("post", "/api/ai/lead-score", "", b'{ "contact_id":"a" }')
    assert same == FP
    assert fingerprint_request("POST", "/api/ai/lead-score", "", b'{"contact_id": "b"}') != FP
    assert fingerprint_request("POST", "/api/ai/search", "", b'{"contact_id": "a"}') != FP
    assert fingerprint_request("GET", "/u", "b=2&a=1", b"") == fingerprint_request(
        "GET", "/u", "a=1&b=2", b""
    )
    assert fingerprint_request("POST", "/x", "", b"\xff\xfe") != fingerprint_request(
        "POST", "/x", "", b"\xff"
    )


def test_first_claim_then_replay_of_the_recorded_answer(url: str) -> None:
    claim = claim_key(url, "key-1", "r1", FP, "POST /api/ai/lead-score")
    assert claim == Claim("key-1", "r1")
    complete_key(url, claim, 200, json.dumps({"score": 7}))
    assert claim_key(url, "key-1", "r1", FP, "POST /api/ai/lead-score") == RecordedAnswer(
        200, '{"score": 7}'
    )


def test_same_key_of_another_caller_is_its_own_request(url: str) -> None:
    complete_key(url, claim_key(url, "key-1", "r1", FP, "POST /x"), 200, "{}")
    assert isinstance(claim_key(url, "key-2", "r1", FP, "POST /x"), Claim)


def test_reuse_for_another_request_is_422_and_while_running_409(url: str) -> None:
    claim_key(url, "key-1", "r1", FP, "POST /api/ai/lead-score")
    other = fingerprint_request("POST", "/api/ai/search", "", b'{"query": "x"}')
    with pytest.raises(IdempotencyConflict) as conflict:
        claim_key(url, "key-1", "r1", other, "POST /api/ai/search")
    assert conflict.value.status_code == 422
    assert "POST /api/ai/lead-score" in conflict.value.message
    with pytest.raises(IdempotencyConflict) as running:
        claim_key(url, "key-1", "r1", FP, "POST /api/ai/lead-score")
    assert running.value.status_code == 409


def test_released_key_runs_again(url: str) -> None:
    claim = claim_key(url, "key-1", "r1", FP, "POST /x")
    release_key(url, claim)
    assert isinstance(claim_key(url, "key-1", "r1", FP, "POST /x"), Claim)


def _age(url: str, by: dt.timedelta) -> None:
    with session_scope(url) as session:
        session.execute(update(IdempotencyKey).values(created_at=dt.datetime.now(dt.UTC) - by))


def test_stale_claim_is_taken_over_and_expired_keys_are_forgotten(url: str) -> None:
    claim_key(url, "key-1", "r1", FP, "POST /x")
    _age(url, CLAIM_LEASE + dt.timedelta(seconds=5))  # its replica died mid-request
    assert isinstance(claim_key(url, "key-1", "r1", FP, "POST /x"), Claim)
    complete_key(url, Claim("key-1", "r1"), 200, "{}")
    _age(url, KEY_TTL + dt.timedelta(minutes=1))
    other = fingerprint_request("POST", "/y", "", b"{}")
    assert isinstance(claim_key(url, "key-1", "r1", other, "POST /y"), Claim)
    _age(url, KEY_TTL + dt.timedelta(minutes=1))
    assert prune_keys(url) == 1


def test_a_running_claim_of_a_dead_owner_is_taken_over_at_once(url: str) -> None:
    claim_key(url, "key-1", "r1", FP, "POST /x", owner="actor:dead")
    with pytest.raises(IdempotencyConflict):  # its owner still runs: wait
        claim_key(url, "key-1", "r1", FP, "POST /x", "actor:b", owner_alive=lambda _: True)
    taken = claim_key(url, "key-1", "r1", FP, "POST /x", "actor:b", owner_alive=lambda _: False)
    assert taken == Claim("key-1", "r1")


def test_nul_characters_are_replaced_before_they_reach_the_database() -> None:
    from haste.records import without_nul

    assert without_nul({"a\x00": ["x\x00y", 1, None]}) == {"a\ufffd": ["x\ufffdy", 1, None]}
