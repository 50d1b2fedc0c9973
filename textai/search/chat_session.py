"""One turn of a stored search conversation: load the caller's turns, answer, save the turn."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from textai.search.chat import ChatTurn, GenerateText, answer_turn
from textai.search.chat_store import append_turn, load_turns


def converse(
    database_url: str,
    index: Any,
    body: Mapping[str, Any],
    identity: Mapping[str, Any],
    *,
    generate: GenerateText | None = None,
    llm_config: Any = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Answer a message of a conversation and store the turn.

    Args:
        database_url: The CRM database (``search_conversations``).
        index: The :class:`~textai.search.index.HybridIndex`.
        body: ``message``, optional ``conversation_id`` (``None``: a new conversation),
            ``limit`` and ``entity_types``.
        identity: The caller: ``api_key_id`` and ``user_id`` (conversations are scoped to the
            key).
        generate: The LLM layer's ``generate(prompt_name, variables)`` (see
            :func:`~textai.search.chat.answer_turn`).
        llm_config: The LLM configuration.
        today: Reference date of relative time phrases.

    Returns:
        The reply with ``conversation_id`` and ``turn`` (numbered from 1).

    Raises:
        ConversationNotFoundError: When the id is unknown or another key's.
        ConversationFullError: When the conversation holds its maximum of turns.
        ValueError: On an unparseable message or a bad limit / entity type.

    """
    conversation_id = body.get("conversation_id")
    key = identity.get("api_key_id")
    turns = load_turns(database_url, conversation_id, key) if conversation_id else []
    previous = ChatTurn.from_record(turns[-1]) if turns else None
    reply = answer_turn(
        index,
        body["message"],
        previous,
        limit=int(body.get("limit") or 5),
        entity_types=body.get("entity_types"),
        generate=generate,
        llm_config=llm_config,
        today=today,
    )
    record = {**reply.turn.to_record(), "at": dt.datetime.now(dt.UTC).isoformat()}
    stored_id, number = append_turn(
        database_url, conversation_id, key, identity.get("user_id"), record
    )
    return {"conversation_id": str(stored_id), "turn": number, **reply.to_dict()}
