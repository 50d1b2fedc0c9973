"""The analyse-a-conversation request (the API's one model) and where its result is stored."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from textai.conversation.analyze import ConversationAnalysis, ConversationAnalyzer


class TranscriptTurn(BaseModel):
    """One turn of a structured transcript."""

    model_config = ConfigDict(extra="forbid")

    speaker: str = Field(min_length=1, max_length=100)
    content: str = Field(min_length=1, max_length=20_000)
    timestamp: float | None = Field(None, ge=0)


class Participant(BaseModel):
    """A conversation participant (``role`` rep/customer marks who is coached)."""

    name: str = Field(min_length=1, max_length=100)
    role: str | None = Field(None, max_length=50)
    email: str | None = Field(None, max_length=320)


class ConversationAnalyzeRequest(BaseModel):
    """Body of ``POST /api/ai/conversation/analyze`` (as in the product spec).

    The one definition: the gateway validates requests with it and :func:`analyze_request`
    serves it.
    """

    model_config = ConfigDict(extra="forbid")

    transcript: str | list[TranscriptTurn] = Field(
        description="Transcript text ('Speaker: text' lines) or a list of turns."
    )
    participants: list[Participant] = Field(default_factory=list, max_length=50)
    meeting_type: str | None = Field(None, max_length=100)
    contact_id: uuid.UUID | None = None
    activity_id: uuid.UUID | None = None

    @field_validator("transcript")
    @classmethod
    def _not_blank(cls, value: str | list[TranscriptTurn]) -> str | list[TranscriptTurn]:
        """Refuse empty or oversized transcripts."""
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("transcript is empty")
            if len(value) > 500_000:
                raise ValueError("transcript is longer than 500,000 characters")
        elif not value:
            raise ValueError("transcript has no turns")
        return value


def _choose_activity_type(meeting_type: str | None, n_speakers: int) -> str:
    """Return ``call`` or ``meeting`` for a new activity row."""
    if meeting_type:
        lowered = meeting_type.lower()
        if "call" in lowered or "phone" in lowered:
            return "call"
        return "meeting"
    return "call" if n_speakers <= 2 else "meeting"


def store_conversation_insight(
    database_url: str,
    analysis: ConversationAnalysis,
    activity_id: uuid.UUID | str | None = None,
    contact_id: uuid.UUID | str | None = None,
    user_id: uuid.UUID | str | None = None,
) -> uuid.UUID:
    """Write a ``conversation_insights`` row (and its ``activities`` row when needed).

    Columns: ``transcript`` (normalised ``[hh:mm:ss] Speaker: text`` lines), ``summary``,
    ``topics`` (segments), ``sentiment_scores`` (``{"overall", "by_speaker"}``),
    ``action_items`` and ``key_moments`` as ``{"moments", "competitor_mentions", "alerts",
    "coaching", "coaching_tips", "meeting_type", "participants", "summary_method"}`` (the
    table has no coaching/alert columns, so they travel with the moments).

    When ``activity_id`` is ``None`` an ``activities`` row of type ``call`` (two speakers or a
    "call" meeting type) or ``meeting`` is created in the same transaction, holding the
    transcript as its body and ``contact_id``/``user_id``.

    Args:
        database_url: SQLAlchemy URL of the CRM database (migrated).
        analysis: The analysis to store.
        activity_id: The analysed call/meeting activity, if it exists.
        contact_id: Contact of the new activity.
        user_id: User (rep) of the new activity.

    Returns:
        The ``conversation_insights`` row id.
    """
    from haste.db import Activity, ConversationInsight, session_scope

    def as_uuid(value: uuid.UUID | str | None) -> uuid.UUID | None:
        return None if value is None else uuid.UUID(str(value))

    with session_scope(database_url) as session:
        activity = as_uuid(activity_id)
        if activity is None:
            subject = (analysis.meeting_type or "Conversation").strip()
            if analysis.topics:
                subject = f"{subject}: {analysis.topics[0]['label']}"
            row = Activity(
                contact_id=as_uuid(contact_id),
                user_id=as_uuid(user_id),
                type=_choose_activity_type(analysis.meeting_type, len(analysis.speakers)),
                subject=subject[:500],
                body=analysis.transcript,
                occurred_at=dt.datetime.now(dt.UTC),
                details={
                    "source": "conversation_analysis",
                    "meeting_type": analysis.meeting_type,
                    "speakers": analysis.speakers,
                    "n_turns": analysis.n_turns,
                    "duration_seconds": analysis.duration_seconds,
                },
            )
            session.add(row)
            session.flush()
            activity = row.id
        insight = ConversationInsight(
            activity_id=activity,
            transcript=analysis.transcript,
            summary=analysis.summary,
            topics=analysis.topics,
            sentiment_scores={
                "overall": analysis.overall_sentiment,
                "by_speaker": analysis.sentiment_by_speaker,
            },
            action_items=analysis.action_items,
            key_moments={
                "moments": analysis.key_moments,
                "competitor_mentions": analysis.competitor_mentions,
                "alerts": analysis.alerts,
                "coaching": analysis.coaching,
                "coaching_tips": analysis.coaching_tips,
                "meeting_type": analysis.meeting_type,
                "participants": analysis.participants,
                "summary_method": analysis.summary_method,
            },
        )
        session.add(insight)
        session.flush()
        return insight.id


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
