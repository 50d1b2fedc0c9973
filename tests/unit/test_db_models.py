"""Unit tests of the database layer on SQLite (models, sessions, migrations)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from haste.db import (
    TABLE_NAMES,
    Account,
    Activity,
    AIFeatureFlag,
    AIInteraction,
    AIModel,
    AIPrompt,
    Base,
    Company,
    Contact,
    ConversationInsight,
    Deal,
    LeadScore,
    Prediction,
    Team,
    User,
    alembic_config,
    create_db_engine,
    current_revision,
    dispose_engine,
    downgrade_database,
    head_revision,
    make_session_factory,
    session_scope,
    upgrade_database,
)

#: Column names of the product spec, table by table (the models must keep exactly these).
#: Tables the platform adds to the spec's schema (migration 0002).
PLATFORM_COLUMNS: dict[str, set[str]] = {
    "stream_events": {
        "event_id",
        "contact_id",
        "event_type",
        "occurred_at",
        "published_at",
        "processed_at",
        "outcome",
    },
    "contact_stream_state": {
        "contact_id",
        "features",
        "score",
        "probability",
        "band",
        "model_version",
        "variant",
        "events_applied",
        "updated_at",
    },
    "score_changes": {
        "id",
        "contact_id",
        "event_id",
        "event_type",
        "previous_score",
        "score",
        "previous_band",
        "band",
        "band_crossed",
        "changed_because",
        "model_version",
        "variant",
        "lead_score_id",
        "occurred_at",
        "published_at",
        "created_at",
        "notified_at",
    },
    "webhooks": {"id", "scope", "url", "secret", "active", "created_at"},
    "webhook_deliveries": {
        "id",
        "webhook_id",
        "change_id",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "created_at",
        "delivered_at",
    },
    "stream_alerts": {
        "id",
        "kind",
        "model_name",
        "value",
        "threshold",
        "window_size",
        "details",
        "created_at",
    },
    "workflows": {
        "id",
        "name",
        "version",
        "enabled",
        "definition",
        "created_by",
        "created_at",
        "updated_at",
        "last_scheduled_at",
    },
    "workflow_versions": {"workflow_id", "version", "definition", "created_by", "created_at"},
    "workflow_runs": {
        "id",
        "workflow_id",
        "version",
        "occurrence_key",
        "contact_id",
        "trigger",
        "status",
        "created_at",
    },
    "workflow_actions": {
        "id",
        "run_id",
        "action_id",
        "action_type",
        "params",
        "risk",
        "status",
        "result",
        "error",
        "created_at",
        "executed_at",
    },
    "review_items": {
        "id",
        "feature",
        "action_record_id",
        "contact_id",
        "team_id",
        "summary",
        "payload",
        "risk",
        "status",
        "requested_at",
        "decided_at",
        "decided_by",
        "reason",
    },
    "workflow_cursors": {"source", "position", "last_key", "updated_at"},
    "content_items": {
        "id",
        "kind",
        "name",
        "subject",
        "body",
        "slots",
        "sequence_name",
        "step_number",
        "topic",
        "is_active",
        "created_at",
    },
    "content_sends": {
        "id",
        "content_id",
        "contact_id",
        "deal_id",
        "user_id",
        "sent_at",
        "opened_at",
        "clicked_at",
        "replied_at",
        "won",
        "source",
    },
    "search_conversations": {"id", "api_key_id", "user_id", "turns", "created_at", "updated_at"},
    "api_keys": {
        "id",
        "user_id",
        "name",
        "key_prefix",
        "key_hash",
        "role",
        "rate_limit_per_minute",
        "is_active",
        "created_at",
        "expires_at",
    },
    "ai_budgets": {
        "id",
        "scope_type",
        "scope_id",
        "period_start",
        "limit_usd",
        "spent_usd",
        "alerts_sent",
        "updated_at",
    },
    "prompt_test_results": {
        "id",
        "prompt_id",
        "run_id",
        "case_name",
        "provider",
        "model",
        "passed",
        "assertions",
        "output",
        "latency_ms",
        "tokens_used",
        "created_at",
    },
    "ai_jobs": {
        "id",
        "scope",
        "kind",
        "status",
        "request_id",
        "result",
        "error",
        "created_at",
        "finished_at",
    },
    "forecast_ledger": {  # 0008: the forecast ledger
        "id",
        "kind",
        "entity_type",
        "entity_id",
        "model_name",
        "model_version",
        "made_at",
        "horizon_days",
        "target_at",
        "predicted",
        "interval_low",
        "interval_high",
        "coverage",
        "probability",
        "naive",
        "actual",
        "resolved_at",
        "errors",
        "created_at",
    },
    "idempotency_keys": {
        "scope",
        "key",
        "fingerprint",
        "endpoint",
        "owner",
        "status_code",
        "response_body",
        "created_at",
        "completed_at",
    },
}

SPEC_COLUMNS: dict[str, set[str]] = {
    "ai_models": {
        "id", "name", "type", "version", "provider", "config", "performance_metrics",
        "is_active", "deployment_status", "endpoint_url", "resource_requirements",
        "created_at", "deployed_at", "retired_at",
    },
    "lead_scores": {
        "id", "contact_id", "score", "score_components", "model_version", "explanation",
        "calculated_at",
    },
    "ai_prompts": {
        "id", "name", "category", "prompt_template", "variables", "model_config",
        "performance_stats", "is_active", "created_at",
        "version",  # 0002: prompt versions
    },
    "ai_interactions": {
        "id", "user_id", "interaction_type", "input_data", "output_data", "model_used",
        "tokens_used", "response_time_ms", "cost_usd", "feedback_score", "error_message",
        "created_at",
        # 0002: roll-ups per team/feature, A/B variant, idempotent recording
        "team_id", "api_key_id", "feature", "provider", "variant", "request_id",
        "contact_id",  # 0007: plain contact column (the payloads are encrypted)
    },
    "ai_feature_flags": {
        "id", "feature_name", "is_enabled", "rollout_percentage", "user_segments", "config",
        "updated_at",
    },
    "conversation_insights": {
        "id", "activity_id", "transcript", "summary", "topics", "sentiment_scores",
        "action_items", "key_moments", "analyzed_at",
    },
    "predictions": {
        "id", "entity_type", "entity_id", "prediction_type", "prediction_value",
        "confidence_score", "model_version", "created_at",
    },
    "teams": {"id", "name", "created_at"},
    "users": {"id", "team_id", "email", "full_name", "role", "created_at"},
    "companies": {
        "id", "name", "domain", "industry", "employee_count", "annual_revenue", "country",
        "created_at",
    },
    "contacts": {
        "id", "company_id", "owner_id", "first_name", "last_name", "email", "phone",
        "job_title", "lead_source", "lifecycle_stage", "gender", "ai_consent", "created_at",
    },
    "accounts": {"id", "company_id", "name", "plan", "mrr", "status", "created_at"},
    "deals": {
        "id", "account_id", "contact_id", "owner_id", "name", "stage", "amount", "currency",
        "created_at", "expected_close_date", "closed_at", "is_won",
    },
    "activities": {
        "id", "contact_id", "deal_id", "user_id", "type", "subject", "body", "occurred_at",
        "details",
    },
}  # fmt: skip


@pytest.fixture()
def db_url(tmp_path: Path) -> Iterator[str]:
    """A freshly migrated SQLite file database in a not-yet-existing sub-folder."""
    url = f"sqlite:///{tmp_path / 'nested' / 'folder' / 'haste.db'}"
    upgrade_database(url)
    yield url
    dispose_engine(url)


def _seed(url: str) -> dict[str, uuid.UUID]:
    """Insert one row of each CRM/AI table and return their ids."""
    with session_scope(url) as session:
        team = Team(name="EMEA")
        user = User(team=team, email="rep@example.com", full_name="Rep One", role="rep")
        company = Company(name="Acme", domain="acme.io", employee_count=120, annual_revenue=5e6)
        contact = Contact(
            company=company,
            owner=user,
            first_name="Ada",
            last_name="Lovelace",
            email="ada@acme.io",
            gender="female",
        )
        account = Account(company=company, name="Acme Pro", plan="pro", mrr=990.0)
        session.add_all([team, user, company, contact, account])
        session.flush()
        deal = Deal(
            account_id=account.id,
            contact_id=contact.id,
            owner_id=user.id,
            name="Acme expansion",
            stage="proposal",
            amount=25_000.0,
            expected_close_date=dt.date(2025, 6, 30),
        )
        session.add(deal)
        session.flush()
        activity = Activity(
            contact_id=contact.id,
            deal_id=deal.id,
            user_id=user.id,
            type="call",
            subject="Discovery",
            occurred_at=dt.datetime(2025, 1, 2, 10, 30, tzinfo=dt.UTC),
            details={"duration_s": 1800, "direction": "outbound"},
        )
        session.add(activity)
        session.flush()
        score = LeadScore(
            contact=contact,
            score=87,
            score_components={"engagement": 0.4, "fit": 0.47},
            model_version="1.0.0",
        )
        prediction = Prediction(
            entity_type="deal",
            entity_id=deal.id,
            prediction_type="win_probability",
            prediction_value={"p_win": 0.73},
            confidence_score=0.9,
            model_version="1.0.0",
        )
        interaction = AIInteraction(
            user_id=user.id,
            interaction_type="email_draft",
            input_data={"prompt": "hi"},
            output_data={"text": "hello"},
            model_used="gpt-4o-mini",
            tokens_used=42,
            response_time_ms=350,
            cost_usd=Decimal("0.001234"),
        )
        insight = ConversationInsight(activity_id=activity.id, summary="Good call")
        session.add_all([score, prediction, interaction, insight])
        session.flush()
        return {
            "team": team.id,
            "user": user.id,
            "company": company.id,
            "contact": contact.id,
            "account": account.id,
            "deal": deal.id,
            "activity": activity.id,
            "score": score.id,
            "prediction": prediction.id,
            "interaction": interaction.id,
            "insight": insight.id,
        }


def test_models_cover_the_spec_tables_and_columns() -> None:
    assert set(TABLE_NAMES) == set(SPEC_COLUMNS) | set(PLATFORM_COLUMNS)
    assert len(TABLE_NAMES) == 35
    for name, columns in PLATFORM_COLUMNS.items():
        assert set(Base.metadata.tables[name].columns.keys()) == columns, name
    for name, columns in SPEC_COLUMNS.items():
        assert set(Base.metadata.tables[name].columns.keys()) == columns, name


def test_round_trip_of_every_entity(db_url: str) -> None:
    ids = _seed(db_url)
    with session_scope(db_url) as session:
        contact = session.get(Contact, ids["contact"])
        assert contact is not None
        assert contact.company.name == "Acme"
        assert contact.owner.team.name == "EMEA"
        assert contact.ai_consent is True
        assert [s.score for s in contact.lead_scores] == [87]
        assert contact.created_at is not None

        deal = session.get(Deal, ids["deal"])
        assert deal.currency == "USD"
        assert deal.expected_close_date == dt.date(2025, 6, 30)
        assert deal.is_won is None and deal.closed_at is None

        activity = session.get(Activity, ids["activity"])
        assert activity.details == {"duration_s": 1800, "direction": "outbound"}
        assert activity.occurred_at.replace(tzinfo=None) == dt.datetime(2025, 1, 2, 10, 30)

        prediction = session.get(Prediction, ids["prediction"])
        assert prediction.entity_id == ids["deal"]
        assert isinstance(prediction.entity_id, uuid.UUID)

        interaction = session.get(AIInteraction, ids["interaction"])
        assert interaction.cost_usd == Decimal("0.001234")
        assert interaction.tokens_used == 42

        insight = session.get(ConversationInsight, ids["insight"])
        assert insight.summary == "Good call"


def test_primary_keys_are_uuid4(db_url: str) -> None:
    ids = _seed(db_url)
    assert len(set(ids.values())) == len(ids)
    for value in ids.values():
        assert isinstance(value, uuid.UUID)
        assert value.version == 4


def test_json_columns_round_trip(db_url: str) -> None:
    document = {
        "nested": {"list": [1, 2.5, "three", None, True], "empty": {}},
        "unicode": "déjà vu ✓",
        "number": 1e-9,
    }
    with session_scope(db_url) as session:
        model = AIModel(
            name="lead-scorer",
            type="lead_scoring",
            version="2",
            config=document,
            performance_metrics={"auc": 0.91},
            resource_requirements={"gpu": 0, "memory_gb": 2},
        )
        prompt = AIPrompt(
            name="email",
            prompt_template="Hello {name}",
            variables=["name"],
            model_config={"temperature": 0.2},
        )
        session.add_all([model, prompt])
        session.flush()
        model_id, prompt_id = model.id, prompt.id
    with session_scope(db_url) as session:
        model = session.get(AIModel, model_id)
        assert model.config == document
        assert model.is_active is True
        assert model.deployment_status == "pending"
        prompt = session.get(AIPrompt, prompt_id)
        assert prompt.variables == ["name"]
        assert prompt.model_config == {"temperature": 0.2}


def test_server_defaults_fill_bulk_inserts(db_url: str) -> None:
    """Core bulk inserts (as a DataFrame loader does) get server-side defaults."""
    with session_scope(db_url) as session:
        session.execute(
            insert(Contact),
            [{"id": uuid.uuid4(), "first_name": "A"}, {"id": uuid.uuid4(), "first_name": "B"}],
        )
        session.execute(
            text("INSERT INTO ai_feature_flags (id, feature_name) VALUES (:id, 'raw')"),
            {"id": uuid.uuid4().hex},
        )
    with session_scope(db_url) as session:
        contacts = session.scalars(select(Contact)).all()
        assert len(contacts) == 2
        assert all(c.ai_consent is True and c.created_at is not None for c in contacts)
        flag = session.scalars(select(AIFeatureFlag)).one()
        assert flag.is_enabled is False
        assert flag.rollout_percentage == 0
        assert flag.updated_at is not None


def test_feature_name_is_unique(db_url: str) -> None:
    with session_scope(db_url) as session:
        session.add(AIFeatureFlag(feature_name="smart_compose", is_enabled=True))
    with pytest.raises(IntegrityError), session_scope(db_url) as session:
        session.add(AIFeatureFlag(feature_name="smart_compose"))
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(AIFeatureFlag)) == 1


def test_session_scope_rolls_back_on_exception(db_url: str) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), session_scope(db_url) as session:
        session.add(Team(name="ghost"))
        session.add(Company(name="ghost inc"))
        session.flush()  # rows reached the database inside the transaction
        raise Boom
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Team)) == 0
        assert session.scalar(select(func.count()).select_from(Company)) == 0


def test_session_scope_commits(db_url: str) -> None:
    with session_scope(db_url) as session:
        session.add(Team(name="committed"))
    factory = make_session_factory(create_db_engine(db_url))
    with factory() as session:
        assert session.scalars(select(Team.name)).all() == ["committed"]


def test_foreign_keys_are_enforced_on_sqlite(db_url: str) -> None:
    with create_db_engine(db_url).connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    with pytest.raises(IntegrityError), session_scope(db_url) as session:
        session.add(LeadScore(contact_id=uuid.uuid4(), score=10))


def test_on_delete_policies(db_url: str) -> None:
    ids = _seed(db_url)
    with session_scope(db_url) as session:
        session.execute(text("DELETE FROM contacts WHERE id = :id"), {"id": ids["contact"].hex})
    with session_scope(db_url) as session:
        assert session.get(LeadScore, ids["score"]) is None  # CASCADE
        assert session.get(Activity, ids["activity"]).contact_id is None  # SET NULL
        assert session.get(Deal, ids["deal"]).contact_id is None  # SET NULL
    with session_scope(db_url) as session:
        session.execute(text("DELETE FROM activities WHERE id = :id"), {"id": ids["activity"].hex})
    with session_scope(db_url) as session:
        assert session.get(ConversationInsight, ids["insight"]) is None  # CASCADE


def test_check_constraints(db_url: str) -> None:
    with pytest.raises(IntegrityError), session_scope(db_url) as session:
        session.add(User(email="x@example.com", role="superuser"))
    with pytest.raises(IntegrityError), session_scope(db_url) as session:
        session.add(Activity(type="fax", occurred_at=dt.datetime.now(dt.UTC)))


def test_engine_is_cached_per_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cache.db'}"
    try:
        assert create_db_engine(url) is create_db_engine(url)
        assert create_db_engine(url) is not create_db_engine(f"sqlite:///{tmp_path / 'o.db'}")
    finally:
        dispose_engine(url)
        dispose_engine(f"sqlite:///{tmp_path / 'o.db'}")


def test_alembic_config_is_built_in_code() -> None:
    config = alembic_config("sqlite:///x%20y.db")
    assert config.config_file_name is None
    assert Path(config.get_main_option("script_location"), "env.py").is_file()
    assert config.get_main_option("sqlalchemy.url") == "sqlite:///x%20y.db"
    assert head_revision() == "0008"


def test_migration_matches_models(db_url: str) -> None:
    """The hand-written migrations produce exactly ``Base.metadata`` (no noise ignored)."""
    assert current_revision(db_url) == head_revision()
    with create_db_engine(db_url).connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, Base.metadata) == []
        # Negative control: the comparison does see a missing index.
        connection.exec_driver_sql("DROP INDEX ix_lead_scores_contact_id")
        diffs = compare_metadata(context, Base.metadata)
        assert [d[0] for d in diffs] == ["add_index"]
        connection.rollback()


def test_downgrade_to_base_drops_everything(db_url: str) -> None:
    downgrade_database(db_url, "base")
    assert current_revision(db_url) is None
    with create_db_engine(db_url).connect() as connection:
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
    upgrade_database(db_url)
    assert current_revision(db_url) == "0008"
    with create_db_engine(db_url).connect() as connection:
        assert set(TABLE_NAMES) <= set(inspect(connection).get_table_names())
        # Migrations leave SQLite foreign-key enforcement switched on for pooled connections.
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_sensitive_columns_are_encrypted_at_rest(db_url: str) -> None:
    """Email bodies and AI payloads are Fernet tokens in the file; the ORM reads them back."""
    import sqlite3

    from haste.db.encrypted import encrypted_columns

    assert {
        t: sorted(c.name for c in cols) for t, cols in encrypted_columns(Base.metadata).items()
    } == {
        "activities": ["body"],
        "ai_interactions": ["input_data", "output_data"],
        "conversation_insights": ["action_items", "key_moments", "summary", "transcript"],
        "review_items": ["payload"],
        "search_conversations": ["turns"],
        "ai_jobs": ["result"],
        "idempotency_keys": ["response_body"],
    }
    with session_scope(db_url) as session:
        activity = Activity(
            type="email", body="Hi Ada, ada@example.com", occurred_at=dt.datetime.now(dt.UTC)
        )
        interaction = AIInteraction(input_data={"to": "ada@example.com"}, output_data=[1, "x"])
        session.add_all([activity, interaction])
        session.flush()
        ids = activity.id, interaction.id
    raw = Path(db_url.removeprefix("sqlite:///")).parent
    with sqlite3.connect(raw / "haste.db") as connection:
        body = connection.execute("SELECT body FROM activities").fetchone()[0]
        stored = connection.execute("SELECT input_data FROM ai_interactions").fetchone()[0]
    assert body.startswith("enc1:") and stored.startswith("enc1:")
    assert "ada@example.com" not in body + stored
    with session_scope(db_url) as session:
        assert session.get(Activity, ids[0]).body == "Hi Ada, ada@example.com"
        assert session.get(AIInteraction, ids[1]).input_data == {"to": "ada@example.com"}
        assert session.get(AIInteraction, ids[1]).output_data == [1, "x"]
