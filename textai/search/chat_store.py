"""Search conversations in the database (``search_conversations``), scoped to the API key.

A conversation belongs to the API key that opened it: :func:`load_turns` and
:func:`append_turn` answer :class:`ConversationNotFoundError` for an unknown id *and* for
another key's conversation, so a caller can never tell whether someone else's conversation
exists. Callers without a key (authentication disabled) share the key-less scope.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from haste.db import SearchConversation, session_scope

#: Turns one conversation may hold; a longer one must be started anew.
MAX_TURNS = 50


class ConversationNotFoundError(LookupError):
    """No conversation with this id for this API key."""


class ConversationFullError(RuntimeError):
    """The conversation holds :data:`MAX_TURNS` turns."""


def _as_uuid(value: Any) -> uuid.UUID | None:
    """Return a UUID (``None`` for an empty value)."""
    if value is None or value == "":
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _owned(session: Any, conversation_id: Any, api_key_id: Any, *, lock: bool = False) -> Any:
    """Return the caller's conversation row, or raise :class:`ConversationNotFoundError`."""
    key = _as_uuid(api_key_id)
    try:
        cid = _as_uuid(conversation_id)
    except ValueError:
        cid = None
    query = select(SearchConversation).where(SearchConversation.id == cid)
    query = query.where(
        SearchConversation.api_key_id.is_(None)
        if key is None
        else SearchConversation.api_key_id == key
    )
    row = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if cid is None or row is None:
        raise ConversationNotFoundError(f"conversation {conversation_id} not found")
    return row


def load_turns(database_url: str, conversation_id: Any, api_key_id: Any) -> list[dict[str, Any]]:
    """Return the stored turns of the caller's conversation, oldest first.

    Args:
        database_url: The CRM database.
        conversation_id: The conversation's id.
        api_key_id: The caller's API key id (``None``: key-less caller).

    Returns:
        The turn records.

    Raises:
        ConversationNotFoundError: When the id is unknown or belongs to another key.
        ConversationFullError: When no further turn may be added.

    """
    with session_scope(database_url) as session:
        turns = list(_owned(session, conversation_id, api_key_id).turns or [])
    if len(turns) >= MAX_TURNS:
        raise ConversationFullError(
            f"conversation {conversation_id} already holds {MAX_TURNS} turns; start a new one"
        )
    return turns


def append_turn(
    database_url: str,
    conversation_id: Any,
    api_key_id: Any,
    user_id: Any,
    record: dict[str, Any],
) -> tuple[uuid.UUID, int]:
    """Store a turn: in the caller's conversation, or in a new one when no id is given.

    Args:
        database_url: The CRM database.
        conversation_id: The conversation's id (``None``: open a new conversation).
        api_key_id: The caller's API key id.
        user_id: The key's user.
        record: The turn's JSON record.

    Returns:
        ``(conversation id, turn number)`` (turns count from 1).

    Raises:
        ConversationNotFoundError: When the id is unknown or belongs to another key.
        ConversationFullError: When the conversation is full.

    """
    with session_scope(database_url) as session:
        if conversation_id is None:
            row = SearchConversation(
                api_key_id=_as_uuid(api_key_id), user_id=_as_uuid(user_id), turns=[]
            )
            session.add(row)
        else:
            row = _owned(session, conversation_id, api_key_id, lock=True)
        turns = list(row.turns or [])
        if len(turns) >= MAX_TURNS:
            raise ConversationFullError(f"conversation {row.id} already holds {MAX_TURNS} turns")
        row.turns = [*turns, record]  # a new list: the JSON column sees the change
        session.flush()
        return row.id, len(row.turns)
