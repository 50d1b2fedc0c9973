"""Tables of content intelligence (:mod:`content`) and conversational search.

* ``content_items``: the content library: email templates, sequence steps, documents and case
  studies, subject lines; a template's typed slots are in ``slots``;
* ``content_sends``: one item sent to one contact (optionally about a deal), with when it was
  opened, clicked and replied to, and whether the contact's deal was won afterwards;
* ``search_conversations``: one conversational-search session (``POST /api/ai/search/chat``):
  the turns (question, parsed filters, cited records), scoped to the API key that opened it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from haste.db.encrypted import EncryptedJSON
from haste.db.models import Base, JSONType, utcnow

#: Kinds of content item.
CONTENT_KINDS: tuple[str, ...] = (
    "email_template",
    "sequence_step",
    "document",
    "case_study",
    "subject_line",
)


class ContentItem(Base):
    """One piece of content of the library.

    Attributes:
        id: Primary key.
        kind: One of :data:`CONTENT_KINDS`.
        name: Unique human name (``"ROI case study - healthcare"``).
        subject: Subject line (templates, sequence steps, subject lines).
        body: Text with ``{slot}`` placeholders (templates, steps) or a summary (documents).
        slots: Typed slots of the body: ``{name: {"type": ..., "source": ...}}``.
        sequence_name: Sequence a step belongs to.
        step_number: Position of a step in its sequence (1-based).
        topic: Free topic label (``roi``, ``security``, ``onboarding``...).
        is_active: Whether the item may be recommended.
        created_at: Creation time.
    """

    __tablename__ = "content_items"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(30), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    slots: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    sequence_name: Mapped[str | None] = mapped_column(String(200))
    step_number: Mapped[int | None] = mapped_column(Integer)
    topic: Mapped[str | None] = mapped_column(String(50))
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow
    )


class ContentSend(Base):
    """One content item sent to one contact, and what the contact did with it.

    Attributes:
        id: Primary key.
        content_id: Item sent (``CASCADE``).
        contact_id: Recipient (``CASCADE``: erasing a contact erases its sends).
        deal_id: Deal the send was about (``SET NULL``).
        user_id: Sender (``SET NULL``).
        sent_at: When it was sent.
        opened_at: First open, if any.
        clicked_at: First click, if any.
        replied_at: Reply, if any.
        won: Whether the contact's deal was won within the attribution window after the send.
        source: ``crm`` (recorded sends), ``synthetic`` (the demo generator) or ``recommended``.
    """

    __tablename__ = "content_sends"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    content_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("content_items.id", ondelete="CASCADE"), nullable=False, index=True
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    deal_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("deals.id", ondelete="SET NULL")
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )
    sent_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, index=True
    )
    opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    clicked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    replied_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    won: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    source: Mapped[str] = mapped_column(String(20), nullable=False, default="crm")


class SearchConversation(Base):
    """One conversational-search session and its turns.

    Attributes:
        id: Primary key (the ``conversation_id`` clients send back).
        api_key_id: API key that opened it (only that key may continue it).
        user_id: User of that key.
        turns: The turns, oldest first: question, merged filters, answer, cited record ids
            (encrypted at rest).
        created_at: When it was opened.
        updated_at: Last turn.
    """

    __tablename__ = "search_conversations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    turns: Mapped[list[Any]] = mapped_column(EncryptedJSON(), nullable=False, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow
    )
