"""Request/response models of the AI API (pydantic; invalid input is a 422 with a message)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from serving.gateway import REQUEST_ID_PATTERN
from textai.email.models import INTENTS, EmailContext, IsoDateTime
from textai.llm.subject_rewrites import SubjectContext
from textai.text_patterns import NON_BLANK_PATTERN, WORD_CHAR_PATTERN

#: Descriptions of the calibrated-score fields (lead score and churn risk).
CALIBRATED_PROBABILITY = (
    "Calibrated probability of the positive class (isotonic or Platt, fitted on out-of-fold "
    "training scores); score = round(100 * probability)."
)
CONFORMAL_CONFIDENCE = (
    "Conformal confidence in [0, 1]: the share of coverage levels at which the conformal "
    "prediction set is the single predicted class (0: on the decision boundary, near 1: the "
    "calibration split says such calls are rarely wrong). Models trained before calibration: "
    "the probability of the predicted class."
)
PREDICTION_SET = (
    "Conformal prediction set at `coverage` (1 = {positive}, 0 = does not): [0], [1], [0, 1] "
    "(both plausible) or [] (neither); null for an uncalibrated model."
)
SET_COVERAGE = (
    "Target coverage of `prediction_set` (e.g. 0.9: holds the true class 90% of the time)."
)


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
    probability: float = Field(ge=0.0, le=1.0, description=CALIBRATED_PROBABILITY)
    confidence: float = Field(ge=0.0, le=1.0, description=CONFORMAL_CONFIDENCE)
    band: str
    recommended_actions: list[str]
    prediction_set: list[Literal[0, 1]] | None = Field(
        None, description=PREDICTION_SET.format(positive="converts")
    )
    coverage: float | None = Field(None, gt=0.0, lt=1.0, description=SET_COVERAGE)
    contributions: list[Contribution] | None = None
    explanation: str | None = None
    model_name: str
    model_version: str
    variant: Literal["champion", "challenger"] = "champion"
    latency_ms: float


class HealthResponse(BaseModel):
    """Liveness and what is being served."""

    status: str
    models: dict[str, str] = Field(description="Champion versions served, by model name.")
    challengers: dict[str, str] = Field(
        default_factory=dict, description="Challenger versions served (A/B), by model name."
    )


class ActivityIn(BaseModel):
    """A recent activity of the contact, as the CRM client knows it."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["email", "call", "meeting", "note", "task"]
    occurred_at: IsoDateTime
    direction: Literal["inbound", "outbound"] = "outbound"
    replied: bool = False

    @field_validator("occurred_at")
    @classmethod
    def _as_utc(cls, value: dt.datetime) -> dt.datetime:
        """Return the time in UTC (naive times are read as UTC)."""
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:  # year 1 with a positive offset: keep the wall time
            return value.replace(tzinfo=dt.UTC)


class SalesContext(BaseModel):
    """The spec's ``context`` of ``POST /api/ai/predictions/next-actions``."""

    model_config = ConfigDict(extra="forbid")

    contact_id: uuid.UUID
    recent_activities: list[ActivityIn] = Field(default_factory=list, max_length=500)
    deal_stage: str | None = Field(None, max_length=50)


class NextActionsRequest(BaseModel):
    """Body of ``POST /api/ai/predictions/next-actions``."""

    model_config = ConfigDict(extra="forbid")

    context: SalesContext
    limit: int = Field(5, ge=1, le=20)


class NextActionOut(BaseModel):
    """One suggested action with its reason and origin."""

    action: str
    reason: str
    priority: float
    source: Literal["rule", "model", "uplift"]
    channel: str


class NextActionsResponse(BaseModel):
    """Ranked next best actions for a contact."""

    contact_id: str
    actions: list[NextActionOut]
    lead_score: int | None = None
    model_version: str | None = None


class DealPredictionResponse(BaseModel):
    """``GET /api/ai/predictions/deal/{id}``: velocity and win probability of a deal."""

    deal_id: str
    opportunity_id: str | None = None
    deal_stage: str | None = None
    sales_agent: str | None = None
    product: str | None = None
    account: str | None = None
    days_to_close: float
    days_to_close_interval: list[float] | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="Conformal [low, high] days to close at `coverage` (None: model has none).",
    )
    coverage: float | None = Field(
        None, gt=0.0, lt=1.0, description="Target coverage of `days_to_close_interval`."
    )
    engage_date: str | None = None
    engage_date_assumed: bool
    expected_close_date: str | None = None
    overdue: bool | None = None
    win_probability: float = Field(ge=0.0, le=1.0)
    top_factors: dict[str, list[dict[str, Any]]]
    factor_units: dict[str, str]
    as_of: str
    model_versions: dict[str, str]
    variant: str = Field(default="champion", description="A/B variant that answered.")
    latency_ms: float


class ChurnRiskResponse(BaseModel):
    """``GET /api/ai/predictions/account/{id}/churn-risk``: churn risk with its reasons."""

    account_id: str
    score: int = Field(ge=0, le=100)
    probability: float = Field(ge=0.0, le=1.0, description=CALIBRATED_PROBABILITY)
    confidence: float = Field(ge=0.0, le=1.0, description=CONFORMAL_CONFIDENCE)
    prediction_set: list[Literal[0, 1]] | None = Field(
        None, description=PREDICTION_SET.format(positive="churns")
    )
    coverage: float | None = Field(None, gt=0.0, lt=1.0, description=SET_COVERAGE)
    risk_band: str
    recommended_actions: list[str]
    contributions: list[Contribution] = Field(default_factory=list)
    explanation: str | None = None
    model_name: str
    model_version: str
    variant: str = Field(default="champion", description="A/B variant that answered.")
    latency_ms: float


class SearchContext(BaseModel):
    """Optional restrictions of a search."""

    model_config = ConfigDict(extra="forbid")

    entity_types: list[Literal["contact", "company", "deal", "email", "transcript"]] | None = None
    mode: Literal["hybrid", "semantic", "keyword"] = "hybrid"


class SearchRequest(BaseModel):
    """Body of ``POST /api/ai/search`` (as in the product spec)."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(
        min_length=1,
        max_length=500,
        pattern=WORD_CHAR_PATTERN,
        description="Natural-language query (needs a letter or digit).",
    )
    context: SearchContext | None = None
    limit: int = Field(10, ge=1, le=50)


class FeedbackRequest(BaseModel):
    """Body of ``POST /api/ai/feedback``: a 1-5 rating of an earlier AI answer."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=64, pattern=REQUEST_ID_PATTERN)
    score: int = Field(ge=1, le=5)


class EmailComposeRequest(BaseModel):
    """Body of ``POST /api/ai/email/compose`` (the spec's ``context``)."""

    model_config = ConfigDict(extra="forbid")

    context: EmailContext


class SubjectOptimizeRequest(BaseModel):
    """Body of ``POST /api/ai/email/optimize-subject``."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=300, pattern=NON_BLANK_PATTERN)
    context: SubjectContext = Field(default_factory=SubjectContext)
    contact_id: uuid.UUID | None = None
    n: int = Field(5, ge=1, le=10)


class EmailReplyRequest(BaseModel):
    """Body of ``POST /api/ai/email/reply-suggestions``."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=20_000, pattern=NON_BLANK_PATTERN)
    contact_id: uuid.UUID | None = None
    sender_name: str | None = Field(None, max_length=200)
    tone: Literal["formal", "casual", "friendly"] = "friendly"
    n: int = Field(3, ge=1, le=len(INTENTS), description="Suggestions (one per intent).")


class JobAccepted(BaseModel):
    """202 answer of a request run as a background job."""

    job_id: str
    status: Literal["queued"]
    status_url: str = Field(description="Poll this URL (GET) for the status and result.")
    request_id: str


class JobStatus(BaseModel):
    """``GET /api/ai/jobs/{id}``: a job's status, and its result once it succeeded."""

    job_id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed"]
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: str
    finished_at: str | None = None
