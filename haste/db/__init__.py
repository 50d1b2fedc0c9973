"""Database layer of the hasteCRM AI platform: models, engines/sessions and migrations.

Example:
    >>> from haste.db import session_scope, upgrade_database, Contact
    >>> upgrade_database("sqlite:///.haste/haste.db")  # doctest: +SKIP
    >>> with session_scope("sqlite:///.haste/haste.db") as session:  # doctest: +SKIP
    ...     session.add(Contact(first_name="Ada"))

"""

from haste.db.content_tables import CONTENT_KINDS, ContentItem, ContentSend, SearchConversation
from haste.db.gateway_tables import AIJob, IdempotencyKey
from haste.db.ledger_tables import LEDGER_KINDS, ForecastLedgerEntry
from haste.db.migrate import (
    alembic_config,
    current_revision,
    downgrade_database,
    head_revision,
    upgrade_database,
)
from haste.db.models import (
    ACTIVITY_TYPES,
    API_KEY_ROLES,
    BUDGET_SCOPES,
    USER_ROLES,
    Account,
    Activity,
    AIBudget,
    AIFeatureFlag,
    AIInteraction,
    AIModel,
    AIPrompt,
    APIKey,
    Base,
    Company,
    Contact,
    ConversationInsight,
    Deal,
    JSONType,
    LeadScore,
    Prediction,
    PromptTestResult,
    Team,
    User,
)
from haste.db.models import TABLE_NAMES as _MODEL_TABLE_NAMES
from haste.db.session import (
    create_db_engine,
    default_database_url,
    dispose_all_engines,
    dispose_engine,
    make_session_factory,
    session_scope,
)
from haste.db.stream_tables import (
    ContactStreamState,
    ScoreChange,
    StreamAlert,
    StreamEvent,
    Webhook,
    WebhookDelivery,
)
from haste.db.workflow_tables import (
    ReviewItem,
    Workflow,
    WorkflowAction,
    WorkflowCursor,
    WorkflowRun,
    WorkflowVersion,
)

#: Every table of the schema: the models' and the gateway's bookkeeping tables.
TABLE_NAMES: tuple[str, ...] = (
    *_MODEL_TABLE_NAMES,
    IdempotencyKey.__tablename__,
    AIJob.__tablename__,
    StreamEvent.__tablename__,
    ContactStreamState.__tablename__,
    ScoreChange.__tablename__,
    Webhook.__tablename__,
    WebhookDelivery.__tablename__,
    StreamAlert.__tablename__,
    Workflow.__tablename__,
    WorkflowVersion.__tablename__,
    WorkflowRun.__tablename__,
    WorkflowAction.__tablename__,
    ReviewItem.__tablename__,
    WorkflowCursor.__tablename__,
    ContentItem.__tablename__,
    ContentSend.__tablename__,
    SearchConversation.__tablename__,
    ForecastLedgerEntry.__tablename__,
)

__all__ = [
    "ACTIVITY_TYPES",
    "API_KEY_ROLES",
    "BUDGET_SCOPES",
    "CONTENT_KINDS",
    "LEDGER_KINDS",
    "TABLE_NAMES",
    "USER_ROLES",
    "AIBudget",
    "AIFeatureFlag",
    "AIInteraction",
    "AIJob",
    "AIModel",
    "AIPrompt",
    "APIKey",
    "Account",
    "Activity",
    "Base",
    "Company",
    "Contact",
    "ContactStreamState",
    "ContentItem",
    "ContentSend",
    "ConversationInsight",
    "Deal",
    "ForecastLedgerEntry",
    "IdempotencyKey",
    "JSONType",
    "LeadScore",
    "Prediction",
    "PromptTestResult",
    "ReviewItem",
    "ScoreChange",
    "SearchConversation",
    "StreamAlert",
    "StreamEvent",
    "Team",
    "User",
    "Webhook",
    "WebhookDelivery",
    "Workflow",
    "WorkflowAction",
    "WorkflowCursor",
    "WorkflowRun",
    "WorkflowVersion",
    "alembic_config",
    "create_db_engine",
    "current_revision",
    "default_database_url",
    "dispose_all_engines",
    "dispose_engine",
    "downgrade_database",
    "head_revision",
    "make_session_factory",
    "session_scope",
    "upgrade_database",
]
