"""Tables of the gateway's own bookkeeping (not CRM data): idempotency keys and jobs.

Kept apart from :mod:`haste.db.models` (the spec's schema and the platform's AI tables) so
that module stays readable; both share :class:`~haste.db.models.Base`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from haste.db.encrypted import EncryptedJSON, EncryptedText
from haste.db.models import Base, utcnow


class IdempotencyKey(Base):
    """One ``X-Request-ID`` a caller sent, the request it named and the answer it got.

    A retried request with the same key, endpoint and body is answered from here; the same key
    with another endpoint or body is refused (422); a key whose first request is still running
    is answered 409.

    Attributes:
        scope: Who sent it: the API key id, or ``anonymous`` when authentication is off.
        key: The client's ``X-Request-ID``.
        fingerprint: SHA-256 of the method, path, query and canonical JSON body.
        endpoint: ``METHOD /path`` of the first request (for the error message).
        owner: The process running it (a Ray actor id): a claim whose owner died is taken over.
        status_code: HTTP status of the recorded answer (``None`` while it runs).
        response_body: The recorded answer's body (JSON text, encrypted at rest).
        created_at: When the first request claimed the key.
        completed_at: When its answer was recorded.
    """

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(300), nullable=False)
    owner: Mapped[str | None] = mapped_column(String(100))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(EncryptedText())
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, index=True
    )
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AIJob(Base):
    """A long AI task run in the background (e.g. a long transcript's analysis).

    Attributes:
        id: Job id (in the status URL).
        scope: Who submitted it (API key id, or ``anonymous``): only they can read it.
        kind: What it does (``conversation_analyze``).
        status: ``queued``, ``running``, ``succeeded`` or ``failed``.
        request_id: Request id of the submitting call (audit trail).
        result: The answer, once succeeded (encrypted at rest).
        error: What went wrong, once failed.
        created_at: Submission time.
        finished_at: When it succeeded or failed.
    """

    __tablename__ = "ai_jobs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    scope: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(50), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="queued")
    request_id: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[Any | None] = mapped_column(EncryptedJSON())
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow
    )
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
