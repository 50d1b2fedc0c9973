"""Feedback authorisation and idempotent audit writes."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from haste.api_keys import create_api_key, ensure_user
from haste.db import AIInteraction, upgrade_database
from haste.records import InteractionRecord, record_interactions
from tests.support.platform import interactions
from textai.llm.prompt_model import InteractionNotFoundError
from textai.llm.prompt_records import FeedbackCaller, record_feedback


@pytest.fixture()
def url(tmp_path: Path) -> str:
    database = f"sqlite:///{tmp_path / 'haste.db'}"
    upgrade_database(database)
    return database


def _caller(url: str, role: str, team: str = "Sales") -> FeedbackCaller:
    """Create a user and key of ``role`` in ``team`` and return them as a feedback caller."""
    user_id = ensure_user(url, f"{uuid.uuid4().hex[:8]}@hastecrm.example", role, team)
    _, key_id = create_api_key(url, user_id, "test", role)
    from haste.db import User, session_scope

    with session_scope(url) as session:
        team_id = session.get(User, user_id).team_id
    return FeedbackCaller(user_id, key_id, team_id, role)


def _record(url: str, caller: FeedbackCaller, request_id: str) -> None:
    record = InteractionRecord(
        "email_subject",
        {},
        {},
        None,
        user_id=caller.user_id,
        team_id=caller.team_id,
        api_key_id=caller.api_key_id,
        request_id=request_id,
    )
    record_interactions(url, [record])


def _rows(url: str, request_id: str) -> list[AIInteraction]:
    return interactions(SimpleNamespace(database_url=url), request_id=request_id)


def test_a_rep_rates_only_their_own_calls(url: str) -> None:
    owner, stranger = _caller(url, "rep"), _caller(url, "rep")
    _record(url, owner, "r1")
    with pytest.raises(InteractionNotFoundError):
        record_feedback(url, "r1", 1, stranger)
    assert _rows(url, "r1")[0].feedback_score is None
    record_feedback(url, "r1", 4, owner)
    assert _rows(url, "r1")[0].feedback_score == 4


def test_a_manager_rates_their_teams_calls_an_admin_any(url: str) -> None:
    _record(url, _caller(url, "rep", "Sales"), "r2")
    with pytest.raises(InteractionNotFoundError):
        record_feedback(url, "r2", 2, _caller(url, "manager", "Support"))
    record_feedback(url, "r2", 3, _caller(url, "manager", "Sales"))
    assert _rows(url, "r2")[0].feedback_score == 3
    record_feedback(url, "r2", 5, _caller(url, "admin", "Support"))
    assert _rows(url, "r2")[0].feedback_score == 5


def test_a_call_already_recorded_is_not_recorded_twice(url: str) -> None:
    caller = _caller(url, "rep")
    _record(url, caller, "r3")
    _record(url, caller, "r3")  # the gateway refusing what the LLM layer already recorded
    _record(url, _caller(url, "rep"), "r3")  # another caller's own request with the same id
    assert len(_rows(url, "r3")) == 2
