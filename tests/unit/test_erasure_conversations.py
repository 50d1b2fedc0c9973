"""Erasure reaches the conversational-search sessions (their turns are encrypted at rest)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from haste.db.content_tables import SearchConversation
from haste.db.models import Contact
from haste.db.session import session_scope
from pipelines.erasure import forget_in_database, remaining_in_database
from textai.search.chat_store import append_turn


def _turn(answer: str, cited: list[str]) -> dict[str, object]:
    return {"question": "who is hot?", "answer": answer, "cited_ids": cited, "result_ids": cited}


def _conversations(url: str) -> set[uuid.UUID]:
    with session_scope(url) as session:
        return set(session.scalars(select(SearchConversation.id)).all())


def test_forget_erases_the_sessions_that_name_the_contact_and_keeps_the_others(
    db_url: str,
) -> None:
    key = uuid.uuid4()
    with session_scope(db_url) as session:
        victim = Contact(first_name="Ada", last_name="Lovelace", email="ada@example.com")
        bystander = Contact(first_name="Alan", last_name="Turing", email="alan@example.com")
        session.add_all([victim, bystander])
        session.flush()
        victim_id, bystander_id = victim.id, bystander.id
    by_id, _ = append_turn(db_url, None, key, None, _turn("One lead.", [f"contact:{victim_id}"]))
    # The victim named in a later turn of a session that began about someone else.
    by_name, _ = append_turn(db_url, None, key, None, _turn("Alan.", [f"contact:{bystander_id}"]))
    append_turn(db_url, by_name, key, None, _turn("Then ADA LOVELACE, who replied.", []))
    by_email, _ = append_turn(db_url, None, key, None, _turn("Mail ada@example.com today.", []))
    kept, _ = append_turn(
        db_url, None, key, None, _turn("Alan Turing.", [f"contact:{bystander_id}"])
    )
    assert remaining_in_database(db_url, victim_id)["search_conversations"] == 1  # by its id

    removed = forget_in_database(db_url, victim_id)

    assert removed["search_conversations"] == 3
    assert removed["contacts"] == 1
    assert _conversations(db_url) == {kept}
    assert set(remaining_in_database(db_url, victim_id).values()) == {0}
    assert remaining_in_database(db_url, bystander_id)["search_conversations"] == 1
    assert {by_id, by_name, by_email}.isdisjoint(_conversations(db_url))


def test_forget_of_an_unknown_contact_keeps_every_session(db_url: str) -> None:
    kept, _ = append_turn(db_url, None, uuid.uuid4(), None, _turn("Nobody.", []))

    removed = forget_in_database(db_url, uuid.uuid4())

    assert removed["search_conversations"] == 0 and removed["contacts"] == 0
    assert _conversations(db_url) == {kept}
