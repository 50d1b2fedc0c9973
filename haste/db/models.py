"""SQLAlchemy 2 declarative models of the hasteCRM database (CRM core and AI tables).

The models are portable between SQLite (local default) and PostgreSQL (production):

* primary keys are :class:`sqlalchemy.Uuid` (native ``uuid`` on PostgreSQL, ``CHAR(32)`` on
  SQLite) generated client-side with :func:`uuid.uuid4`; values bound to these columns must be
  :class:`uuid.UUID` objects (SQLAlchemy does not coerce strings on SQLite);
* JSON documents use :data:`JSONType`, i.e. ``JSONB`` on PostgreSQL and ``JSON`` elsewhere;
* sensitive text (email bodies, transcripts, AI payloads) is encrypted (:mod:`haste.db.encrypted`);
* timestamps are timezone-aware; creation timestamps have both a Python default (ORM inserts)
  and a ``CURRENT_TIMESTAMP`` server default (bulk inserts that omit the column).

``ON DELETE`` policy of the foreign keys:

* ``CASCADE`` where the child is meaningless without its parent: ``lead_scores.contact_id``,
  ``conversation_insights.activity_id`` and ``accounts.company_id`` (these columns are also
  ``NOT NULL``);
* ``SET NULL`` everywhere else (ownership, team membership, deal/contact links of activities and
  deals, ``ai_interactions.user_id``) so that history and audit/cost logs survive the deletion of
  a user, contact, company or deal.

The initial Alembic migration (``haste/migrations/versions/0001_initial.py``) mirrors these
definitions exactly; a test compares the migrated schema against :data:`Base.metadata`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from haste.db.encrypted import EncryptedJSON, EncryptedText

#: JSON column type: ``JSONB`` on PostgreSQL, generic ``JSON`` on SQLite and other backends.
JSONType = JSON().with_variant(JSONB(), "postgresql")

#: Deterministic constraint names, shared with the explicit names of the initial migration.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

USER_ROLES: tuple[str, ...] = ("admin", "manager", "rep")
ACTIVITY_TYPES: tuple[str, ...] = ("email", "call", "meeting", "note", "task")
API_KEY_ROLES: tuple[str, ...] = ("admin", "manager", "rep", "service")
BUDGET_SCOPES: tuple[str, ...] = ("user", "team", "feature", "global")


def utcnow() -> dt.datetime:
    """Return the current time as a timezone-aware UTC datetime.

    Returns:
        The current UTC time.

    """
    return dt.datetime.now(dt.UTC)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """Return ``moment`` as an aware UTC time (SQLite gives naive ones back: read as UTC)."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _in_list(column: str, values: tuple[str, ...]) -> str:
    """Build the SQL text of a ``column IN (...)`` check constraint.

    Args:
        column: Column name.
        values: Allowed string values.

    Returns:
        SQL boolean expression usable in a ``CheckConstraint``.

    """
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    """Declarative base of every hasteCRM table (never name an attribute ``metadata``)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _pk() -> Mapped[uuid.UUID]:
    """Return a UUID primary-key column generated with :func:`uuid.uuid4`."""
    return mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)


def _created_at() -> Mapped[dt.datetime]:
    """Return a ``NOT NULL`` creation timestamp with Python and server defaults."""
    return mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, server_default=func.now()
    )


# --------------------------------------------------------------------------------------------
# CRM core
# --------------------------------------------------------------------------------------------


class Team(Base):
    """A sales team.

    Attributes:
        id: Primary key.
        name: Unique team name.
        created_at: Creation time.
        users: Members of the team.

    """

    __tablename__ = "teams"

    id: Mapped[uuid.UUID] = _pk()
    name: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    created_at: Mapped[dt.datetime] = _created_at()

    users: Mapped[list[User]] = relationship(back_populates="team")


class User(Base):
    """A CRM user (sales rep, manager or admin).

    Attributes:
        id: Primary key.
        team_id: Team the user belongs to (``SET NULL`` when the team is deleted).
        email: Unique login email.
        full_name: Display name.
        role: One of ``admin``, ``manager``, ``rep``.
        created_at: Creation time.
        team: The user's team.

    """

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in_list("role", USER_ROLES), name="role"),)

    id: Mapped[uuid.UUID] = _pk()
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    email: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    full_name: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = _created_at()

    team: Mapped[Team | None] = relationship(back_populates="users")


class Company(Base):
    """A company (organisation) known to the CRM.

    Attributes:
        id: Primary key.
        name: Company name.
        domain: Web domain.
        industry: Industry label.
        employee_count: Number of employees.
        annual_revenue: Annual revenue (USD).
        country: Country name or code.
        created_at: Creation time.
        contacts: People working at the company.
        accounts: Customer accounts of the company.

    """

    __tablename__ = "companies"

    id: Mapped[uuid.UUID] = _pk()
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    domain: Mapped[str | None] = mapped_column(String(255))
    industry: Mapped[str | None] = mapped_column(String(100))
    employee_count: Mapped[int | None] = mapped_column(Integer)
    annual_revenue: Mapped[float | None] = mapped_column(Float)
    country: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = _created_at()

    contacts: Mapped[list[Contact]] = relationship(back_populates="company")
    accounts: Mapped[list[Account]] = relationship(back_populates="company", passive_deletes=True)


class Contact(Base):
    """A person (lead or customer contact).

    Attributes:
        id: Primary key.
        company_id: Employer (``SET NULL`` on delete).
        owner_id: Owning user (``SET NULL`` on delete).
        first_name: Given name.
        last_name: Family name.
        email: Email address.
        phone: Phone number.
        job_title: Job title.
        lead_source: Acquisition channel.
        lifecycle_stage: Funnel stage (lead, MQL, SQL, customer...).
        gender: Protected attribute, used only for fairness audits, never as a model feature.
        ai_consent: Whether the contact's data may be processed by AI features.
        created_at: Creation time.
        company: The contact's company.
        owner: The owning user.
        lead_scores: Lead scores computed for the contact.

    """

    __tablename__ = "contacts"

    id: Mapped[uuid.UUID] = _pk()
    company_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("companies.id", ondelete="SET NULL"), index=True
    )
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    job_title: Mapped[str | None] = mapped_column(String(255))
    lead_source: Mapped[str | None] = mapped_column(String(100))
    lifecycle_stage: Mapped[str | None] = mapped_column(String(50))
    gender: Mapped[str | None] = mapped_column(String(20))
    ai_consent: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=true()
    )
    created_at: Mapped[dt.datetime] = _created_at()

    company: Mapped[Company | None] = relationship(back_populates="contacts")
    owner: Mapped[User | None] = relationship()
    lead_scores: Mapped[list[LeadScore]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", passive_deletes=True
    )


class Account(Base):
    """A customer account (subscription) of a company.

    Attributes:
        id: Primary key.
        company_id: Owning company (``CASCADE`` on delete).
        name: Account name.
        plan: Subscription plan.
        mrr: Monthly recurring revenue.
        status: Account status (active, churned...).
        created_at: Creation time.
        company: The owning company.

    """

    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = _pk()
    company_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("companies.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    plan: Mapped[str | None] = mapped_column(String(50))
    mrr: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = _created_at()

    company: Mapped[Company] = relationship(back_populates="accounts")


class Deal(Base):
    """A sales opportunity.

    Attributes:
        id: Primary key.
        account_id: Related account (``SET NULL`` on delete).
        contact_id: Main contact (``SET NULL`` on delete).
        owner_id: Owning user (``SET NULL`` on delete).
        name: Deal name.
        stage: Pipeline stage.
        amount: Deal value in ``currency``.
        currency: ISO 4217 currency code.
        created_at: Creation time.
        expected_close_date: Forecast close date.
        closed_at: Actual close time (``None`` while open).
        is_won: Outcome (``None`` while open).

    """

    __tablename__ = "deals"

    id: Mapped[uuid.UUID] = _pk()
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    stage: Mapped[str] = mapped_column(String(50), nullable=False)
    amount: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(3), default="USD", server_default="USD")
    created_at: Mapped[dt.datetime] = _created_at()
    expected_close_date: Mapped[dt.date | None] = mapped_column(Date)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    is_won: Mapped[bool | None] = mapped_column(Boolean)


class Activity(Base):
    """An interaction logged in the CRM (email, call, meeting, note, task).

    Attributes:
        id: Primary key.
        contact_id: Contact involved (``SET NULL`` on delete).
        deal_id: Deal concerned (``SET NULL`` on delete).
        user_id: User who performed it (``SET NULL`` on delete).
        type: One of ``email``, ``call``, ``meeting``, ``note``, ``task``.
        subject: Subject line.
        body: Free text (email body, notes, transcript reference...), encrypted at rest.
        occurred_at: When the activity happened.
        details: Extra structured data (duration, direction, outcome...).

    """

    __tablename__ = "activities"
    __table_args__ = (CheckConstraint(_in_list("type", ACTIVITY_TYPES), name="type"),)

    id: Mapped[uuid.UUID] = _pk()
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    deal_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("deals.id", ondelete="SET NULL"), index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    type: Mapped[str] = mapped_column(String(30), nullable=False)
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str | None] = mapped_column(EncryptedText())
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


# --------------------------------------------------------------------------------------------
# AI platform
# --------------------------------------------------------------------------------------------


class AIModel(Base):
    """A registered AI model and its deployment state.

    Attributes:
        id: Primary key.
        name: Model name.
        type: Model family/task (lead_scoring, churn, nlp...).
        version: Model version.
        provider: Provider (internal, openai, anthropic...).
        config: Model configuration.
        performance_metrics: Evaluation metrics.
        is_active: Whether the model may be used.
        deployment_status: ``pending``, ``deployed``, ``retired``...
        endpoint_url: Serving endpoint.
        resource_requirements: CPU/GPU/memory requirements.
        created_at: Registration time.
        deployed_at: Deployment time.
        retired_at: Retirement time.

    """

    __tablename__ = "ai_models"

    id: Mapped[uuid.UUID] = _pk()
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    type: Mapped[str] = mapped_column(String(50), nullable=False)
    version: Mapped[str] = mapped_column(String(50), nullable=False)
    provider: Mapped[str | None] = mapped_column(String(50))
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    performance_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    is_active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=true()
    )
    deployment_status: Mapped[str] = mapped_column(
        String(50), nullable=False, default="pending", server_default="pending"
    )
    endpoint_url: Mapped[str | None] = mapped_column(Text)
    resource_requirements: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = _created_at()
    deployed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class LeadScore(Base):
    """A lead score computed for a contact.

    Attributes:
        id: Primary key.
        contact_id: Scored contact (``CASCADE`` on delete).
        score: Score value (0-100 by convention).
        score_components: Per-feature contributions.
        model_version: Version of the scoring model.
        explanation: Human-readable explanation.
        calculated_at: Computation time.
        contact: The scored contact.

    """

    __tablename__ = "lead_scores"

    id: Mapped[uuid.UUID] = _pk()
    contact_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    score_components: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    model_version: Mapped[str | None] = mapped_column(String(50))
    explanation: Mapped[str | None] = mapped_column(Text)
    calculated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, server_default=func.now()
    )

    contact: Mapped[Contact] = relationship(back_populates="lead_scores")


class AIPrompt(Base):
    """A versioned prompt template.

    Attributes:
        id: Primary key.
        name: Prompt name.
        version: Version number of the prompt (``name`` + ``version`` is unique).
        category: Category (email, summary, scoring...).
        prompt_template: Template text.
        variables: Template variables.
        model_config: LLM parameters (model, temperature...).
        performance_stats: Usage/quality statistics.
        is_active: Whether the prompt is in use.
        created_at: Creation time.

    """

    __tablename__ = "ai_prompts"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_ai_prompts_name_version"),)

    id: Mapped[uuid.UUID] = _pk()
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    version: Mapped[int] = mapped_column(
        Integer, nullable=False, default=1, server_default=text("1")
    )
    category: Mapped[str | None] = mapped_column(String(100))
    prompt_template: Mapped[str] = mapped_column(Text, nullable=False)
    variables: Mapped[Any | None] = mapped_column(JSONType)
    model_config: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    performance_stats: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    is_active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=true()
    )
    created_at: Mapped[dt.datetime] = _created_at()


class AIInteraction(Base):
    """A logged call to an AI model (for cost, latency and feedback tracking).

    Attributes:
        id: Primary key.
        user_id: Requesting user (``SET NULL`` on delete, the log is kept).
        interaction_type: Kind of interaction.
        input_data: Request payload (encrypted; fields allowed by ``configs/privacy.yaml``).
        output_data: Response payload (encrypted, minimised likewise).
        model_used: Model identifier.
        tokens_used: Total tokens.
        response_time_ms: Latency in milliseconds.
        cost_usd: Cost in USD (``DECIMAL(10,6)``).
        feedback_score: User feedback.
        error_message: Error, if the call failed.
        created_at: Time of the interaction.
        team_id: Team of the requesting user at call time (cost roll-ups per team).
        api_key_id: API key the call was authenticated with.
        feature: Product feature (``lead_score``, ``email_compose``...), for roll-ups.
        provider: Model or LLM provider that answered (``xgboost``, ``openai``, ``offline``...).
        variant: A/B variant (``champion``/``challenger`` or a prompt version).
        request_id: Request id of the HTTP call (the client's ``X-Request-ID`` or a drawn one),
            unique per API key: a replayed request is not recorded twice.
        contact_id: Contact the call was about (plain, indexed: audit trail and erasure).

    """

    __tablename__ = "ai_interactions"
    __table_args__ = (
        UniqueConstraint("api_key_id", "request_id", name="uq_ai_interactions_api_key_request"),
    )

    id: Mapped[uuid.UUID] = _pk()
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    interaction_type: Mapped[str | None] = mapped_column(String(50))
    input_data: Mapped[Any | None] = mapped_column(EncryptedJSON())
    output_data: Mapped[Any | None] = mapped_column(EncryptedJSON())
    model_used: Mapped[str | None] = mapped_column(String(100))
    tokens_used: Mapped[int | None] = mapped_column(Integer)
    response_time_ms: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[Decimal | None] = mapped_column(Numeric(10, 6))
    feedback_score: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        default=utcnow,
        server_default=func.now(),
        index=True,
    )
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    feature: Mapped[str | None] = mapped_column(String(50), index=True)
    provider: Mapped[str | None] = mapped_column(String(50))
    variant: Mapped[str | None] = mapped_column(String(50))
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), index=True)


class AIFeatureFlag(Base):
    """A feature flag gating an AI feature.

    Attributes:
        id: Primary key.
        feature_name: Unique feature name.
        is_enabled: Global switch.
        rollout_percentage: Share of users (0-100) that get the feature.
        user_segments: Targeted segments.
        config: Feature configuration.
        updated_at: Last update time.

    """

    __tablename__ = "ai_feature_flags"
    __table_args__ = (
        CheckConstraint(
            "rollout_percentage >= 0 AND rollout_percentage <= 100", name="rollout_percentage"
        ),
    )

    id: Mapped[uuid.UUID] = _pk()
    feature_name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    is_enabled: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    rollout_percentage: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default=text("0")
    )
    user_segments: Mapped[Any | None] = mapped_column(JSONType)
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        default=utcnow,
        onupdate=utcnow,
        server_default=func.now(),
    )


class ConversationInsight(Base):
    """AI analysis of a conversation (call/meeting activity).

    Attributes:
        id: Primary key.
        activity_id: Analysed activity (``CASCADE`` on delete).
        transcript: Full transcript (encrypted at rest).
        summary: Summary (encrypted at rest: it quotes the transcript).
        topics: Detected topics.
        sentiment_scores: Sentiment per speaker/segment.
        action_items: Extracted action items (encrypted at rest).
        key_moments: Notable moments (encrypted at rest).
        analyzed_at: Analysis time.

    """

    __tablename__ = "conversation_insights"

    id: Mapped[uuid.UUID] = _pk()
    activity_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("activities.id", ondelete="CASCADE"), nullable=False, index=True
    )
    transcript: Mapped[str | None] = mapped_column(EncryptedText())
    summary: Mapped[str | None] = mapped_column(EncryptedText())
    topics: Mapped[Any | None] = mapped_column(JSONType)
    sentiment_scores: Mapped[Any | None] = mapped_column(JSONType)
    action_items: Mapped[Any | None] = mapped_column(EncryptedJSON())
    key_moments: Mapped[Any | None] = mapped_column(EncryptedJSON())
    analyzed_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, server_default=func.now()
    )


class Prediction(Base):
    """A model prediction about any entity (polymorphic, no foreign key).

    Attributes:
        id: Primary key.
        entity_type: Kind of entity (contact, deal, account...).
        entity_id: Id of the entity.
        prediction_type: What was predicted (churn, win_probability...).
        prediction_value: Predicted value(s).
        confidence_score: Confidence in [0, 1].
        model_version: Version of the model.
        created_at: Prediction time.

    """

    __tablename__ = "predictions"
    __table_args__ = (Index("ix_predictions_entity", "entity_type", "entity_id"),)

    id: Mapped[uuid.UUID] = _pk()
    entity_type: Mapped[str | None] = mapped_column(String(50))
    entity_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    prediction_type: Mapped[str | None] = mapped_column(String(100))
    prediction_value: Mapped[Any | None] = mapped_column(JSONType)
    confidence_score: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[dt.datetime] = _created_at()


#: Every table in creation order (parents before children).
class APIKey(Base):
    """An API key of the AI gateway, owned by a user (and through them a team and a role).

    Only the SHA-256 of the key is stored; the clear key is shown once, at creation.

    Attributes:
        id: Primary key.
        user_id: Owner (``CASCADE``: a key is meaningless without its user).
        name: Label of the key.
        key_prefix: First characters of the key, to recognise it in listings.
        key_hash: SHA-256 hex digest of the key (unique).
        role: Role granted to the key (``admin``, ``manager``, ``rep`` or ``service``).
        rate_limit_per_minute: Requests per minute allowed (``NULL``: the configured default).
        is_active: Revoked keys are kept, inactive.
        created_at: Creation time.
        expires_at: Optional expiry.

    """

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(_in_list("role", API_KEY_ROLES), name="role"),)

    id: Mapped[uuid.UUID] = _pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    key_prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=true()
    )
    created_at: Mapped[dt.datetime] = _created_at()
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AIBudget(Base):
    """A spending budget for AI calls (per user, team, feature or globally, per period).

    ``spent_usd`` is only changed by one atomic conditional ``UPDATE`` (reserve, then settle),
    so concurrent calls can never push it above ``limit_usd``.

    Attributes:
        id: Primary key.
        scope_type: ``user``, ``team``, ``feature`` or ``global``.
        scope_id: Id of the user/team, feature name, or ``*``.
        period_start: First day of the budget period (a month).
        limit_usd: Hard limit.
        spent_usd: Reserved and settled spend so far.
        alerts_sent: Alert thresholds (fractions of the limit) already notified.
        updated_at: Last change.

    """

    __tablename__ = "ai_budgets"
    __table_args__ = (
        UniqueConstraint("scope_type", "scope_id", "period_start", name="uq_ai_budgets_scope"),
        CheckConstraint(_in_list("scope_type", BUDGET_SCOPES), name="scope_type"),
    )

    id: Mapped[uuid.UUID] = _pk()
    scope_type: Mapped[str] = mapped_column(String(20), nullable=False)
    scope_id: Mapped[str] = mapped_column(String(100), nullable=False)
    period_start: Mapped[dt.date] = mapped_column(Date, nullable=False)
    limit_usd: Mapped[Decimal] = mapped_column(Numeric(12, 6), nullable=False)
    spent_usd: Mapped[Decimal] = mapped_column(
        Numeric(12, 6), nullable=False, default=Decimal(0), server_default=text("0")
    )
    alerts_sent: Mapped[Any | None] = mapped_column(JSONType)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        default=utcnow,
        onupdate=utcnow,
        server_default=func.now(),
    )


class PromptTestResult(Base):
    """One test case of a prompt version run against one provider.

    Attributes:
        id: Primary key.
        prompt_id: Prompt version tested (``CASCADE``).
        run_id: Groups the cases of one test run.
        case_name: Name of the test case.
        provider: Provider that answered.
        model: Model that answered.
        passed: Whether every assertion held.
        assertions: Each assertion with its outcome.
        output: The generated text.
        latency_ms: Latency of the call.
        tokens_used: Input + output tokens.
        created_at: Run time.

    """

    __tablename__ = "prompt_test_results"

    id: Mapped[uuid.UUID] = _pk()
    prompt_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("ai_prompts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    run_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    case_name: Mapped[str] = mapped_column(String(255), nullable=False)
    provider: Mapped[str | None] = mapped_column(String(50))
    model: Mapped[str | None] = mapped_column(String(100))
    passed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    assertions: Mapped[Any | None] = mapped_column(JSONType)
    output: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    tokens_used: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = _created_at()


TABLE_NAMES: tuple[str, ...] = tuple(table.name for table in Base.metadata.sorted_tables)

__all__ = [
    "ACTIVITY_TYPES",
    "API_KEY_ROLES",
    "BUDGET_SCOPES",
    "NAMING_CONVENTION",
    "TABLE_NAMES",
    "USER_ROLES",
    "AIBudget",
    "AIFeatureFlag",
    "AIInteraction",
    "AIModel",
    "AIPrompt",
    "APIKey",
    "Account",
    "Activity",
    "Base",
    "Company",
    "Contact",
    "ConversationInsight",
    "Deal",
    "JSONType",
    "LeadScore",
    "Prediction",
    "PromptTestResult",
    "Team",
    "User",
    "utcnow",
]
