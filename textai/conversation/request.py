"""The analyse-a-conversation request (the API's one model) and how it is served.

:class:`ConversationAnalyzeRequest` is the one definition of the body of
``POST /api/ai/conversation/analyze``: the gateway validates requests with it and
:func:`analyze_request` serves it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from textai.conversation.analyze import ConversationAnalyzer
from textai.conversation.insight_store import store_conversation_insight
from textai.text_patterns import NON_BLANK_PATTERN, WORD_CHAR_PATTERN

#: Longest transcript accepted, in characters (about three hours of speech).
MAX_TRANSCRIPT_CHARS = 200_000
#: Most turns in a structured transcript.
MAX_TURNS = 2_000

#: Text of at most ``MAX_TRANSCRIPT_CHARS`` characters with a letter or digit (the schema says
#: so: ``pattern``).
TranscriptText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TRANSCRIPT_CHARS, pattern=WORD_CHAR_PATTERN)
]


class TranscriptTurn(BaseModel):
    """One turn of a structured transcript."""

    model_config = ConfigDict(extra="forbid")

    speaker: str = Field(min_length=1, max_length=100, pattern=NON_BLANK_PATTERN)
    content: str = Field(min_length=1, max_length=20_000, pattern=WORD_CHAR_PATTERN)
    timestamp: float | None = Field(None, ge=0)


class Participant(BaseModel):
    """A conversation participant (``role`` rep/customer marks who is coached)."""

    name: str = Field(min_length=1, max_length=100)
    role: str | None = Field(None, max_length=50)
    email: str | None = Field(None, max_length=320)


class ConversationAnalyzeRequest(BaseModel):
    """Body of ``POST /api/ai/conversation/analyze`` (as in the product spec).

    The one definition: the gateway validates requests with it and :func:`analyze_request`
    serves it. Every limit is in the schema (no hidden validator), so a client generated from
    the OpenAPI document never sends a body the service refuses.
    """

    model_config = ConfigDict(extra="forbid")

    transcript: (
        TranscriptText | Annotated[list[TranscriptTurn], Field(min_length=1, max_length=MAX_TURNS)]
    ) = Field(description="Transcript text ('Speaker: text' lines) or a list of turns.")
    participants: list[Participant] = Field(default_factory=list, max_length=50)
    meeting_type: str | None = Field(None, max_length=100)
    contact_id: uuid.UUID | None = None
    activity_id: uuid.UUID | None = None

    def transcript_chars(self) -> int:
        """Return the transcript's length in characters (the size of the analysis)."""
        if isinstance(self.transcript, str):
            return len(self.transcript)
        return sum(len(turn.content) for turn in self.transcript)


def analyze_request(
    analyzer: ConversationAnalyzer,
    request: ConversationAnalyzeRequest,
    database_url: str | None = None,
    *,
    store: Callable[..., uuid.UUID] = store_conversation_insight,
    user_id: uuid.UUID | None = None,
    persist: bool = True,
) -> dict[str, Any]:
    """Serve one ``POST /api/ai/conversation/analyze`` body: analyse, store, return the dict.

    Args:
        analyzer: The analyzer.
        request: The validated body.
        database_url: CRM database URL (defaults to the configured one).
        store: Storage function (injected in tests).
        user_id: The user who asked (the caller's identity, never taken from the body).
        persist: Write the analysis to ``conversation_insights``.

    Returns:
        ``analysis.to_dict()`` plus ``insight_id`` (``None`` when ``persist`` is false).

    Raises:
        ValueError: When the transcript is empty or cannot be parsed (serve it as a 422).
    """
    body_in = request.model_dump(mode="json")
    analysis = analyzer.analyze(
        body_in["transcript"], body_in["participants"], request.meeting_type
    )
    body = analysis.to_dict()
    body["insight_id"] = None
    if persist:
        if database_url is None:
            from haste.db import default_database_url

            database_url = default_database_url()
        body["insight_id"] = str(
            store(database_url, analysis, request.activity_id, request.contact_id, user_id)
        )
    return body
