"""Storage of a conversation analysis: the ``conversation_insights`` row and its activity."""

from __future__ import annotations

import datetime as dt
import uuid

from textai.conversation.analyze import ConversationAnalysis


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
