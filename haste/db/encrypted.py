"""Column types that encrypt sensitive AI data at rest (see :mod:`haste.crypto`).

:class:`EncryptedText` and :class:`EncryptedJSON` are ``TEXT`` columns holding
``enc1:<key id>:<Fernet token>``: the ORM and Core statements built on the models encrypt on
write and decrypt on read, with the process's :func:`haste.crypto.active_keyring`. Legacy
plaintext (rows written before migration ``0007``) reads back unchanged. What cannot be done on
an encrypted column is querying inside it (``LIKE``, JSON operators): the values that filters
need live in plain columns (e.g. ``ai_interactions.contact_id``).

The encrypted columns (:func:`encrypted_columns` lists them from the metadata):

* ``ai_interactions.input_data`` / ``output_data``: prompts with CRM data, generated text;
* ``activities.body``: email bodies, call notes and transcripts;
* ``conversation_insights.transcript``, ``summary``, ``action_items``, ``key_moments``;
* ``review_items.payload``: email drafts and actions waiting for a manager;
* ``search_conversations.turns``: questions about the CRM and the records cited;
* ``ai_jobs.result``: analyses of long transcripts;
* ``idempotency_keys.response_body``: recorded answers (generated emails) replayed on retries.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Column, Dialect, MetaData, Text
from sqlalchemy.types import TypeDecorator

from haste.crypto import active_keyring


class EncryptedText(TypeDecorator[str]):
    """A string encrypted at rest (``TEXT`` holding ``enc1:<key id>:<token>``)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """Encrypt a string (``None`` stays SQL ``NULL``)."""
        if value is None:
            return None
        return active_keyring().encrypt(str(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        """Decrypt a stored value (legacy plaintext is returned as it is)."""
        if value is None:
            return None
        return active_keyring().decrypt(value)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON document encrypted at rest (``TEXT`` holding ``enc1:<key id>:<token>``)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """Serialise (``json.dumps``) and encrypt a document (``None`` stays SQL ``NULL``)."""
        if value is None:
            return None
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return active_keyring().encrypt(text)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        """Decrypt and parse a stored document (legacy plaintext JSON is parsed as it is)."""
        if value is None:
            return None
        return json.loads(active_keyring().decrypt(value))


#: The encrypted column types.
ENCRYPTED_TYPES: tuple[type, ...] = (EncryptedText, EncryptedJSON)


def encrypted_columns(metadata: MetaData) -> dict[str, list[Column[Any]]]:
    """Return the encrypted columns of every table: table name -> columns."""
    found: dict[str, list[Column[Any]]] = {}
    for table in metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, ENCRYPTED_TYPES)]
        if columns:
            found[table.name] = columns
    return found
