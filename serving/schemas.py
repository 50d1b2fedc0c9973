"""Request/response models of the AI API (pydantic; invalid input is a 422 with a message)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field


class LeadScoreRequest(BaseModel):
    """Body of ``POST /api/ai/lead-score`` (as in the product spec)."""

    model_config = ConfigDict(extra="forbid")

    contact_id: uuid.UUID = Field(description="The contact to score (a CRM contact id).")
    include_explanation: bool = Field(True, description="Return SHAP factors and a sentence.")


class Contribution(BaseModel):
    """One feature's push on the score, in log-odds (SHAP)."""

    feature: str
    value: str | float | int | bool | None
    impact: float
    direction: str


class LeadScoreResponse(BaseModel):
    """A lead score with its explanation and the model version that produced it."""

    contact_id: str
    score: int = Field(ge=0, le=100)
    probability: float
    confidence: float = Field(ge=0.5, le=1.0)
    band: str
    recommended_actions: list[str]
    contributions: list[Contribution] | None = None
    explanation: str | None = None
    model_name: str
    model_version: str
    latency_ms: float


class HealthResponse(BaseModel):
    """Liveness and what is being served."""

    status: str
    models: dict[str, str]
