"""Response model of ``GET /api/ai/lead-score/{contact_id}/gaming``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class GamingFlagOut(BaseModel):
    """One kind of inflated engagement, with its evidence."""

    kind: str = Field(description="`burst`, `bot_timing`, `zero_dwell` or `scanner`.")
    events: int = Field(description="Suspicious events of this kind.")
    event_ids: list[str]
    evidence: dict[str, Any] = Field(description="Counts, time span and intervals.")
    message: str


class GamingWindow(BaseModel):
    """The engagement examined: the contact's last days up to its newest event."""

    start: str
    end: str


class GamingResponse(BaseModel):
    """A contact's gaming flags and its lead score with and without the suspicious events."""

    contact_id: str
    flagged: bool
    suspicious_events: int
    flag_kinds: list[str]
    flags: list[GamingFlagOut]
    suspicious_event_ids: list[str]
    events_in_window: int
    window: GamingWindow
    score_with: int | None = Field(description="Lead score from every event (0-100).")
    score_without: int | None = Field(description="Lead score without the suspicious events.")
    score_inflation: int | None = Field(description="`score_with - score_without`.")
    probability_with: float | None
    probability_without: float | None
    model: str | None = Field(description="`name@vN` of the lead model that scored both.")
    score_note: str | None = Field(description="Why the scores are missing, if they are.")
    latency_ms: int
