"""Right to erasure: remove one contact from every store the platform writes.

Covered: the CRM database (contact, its activities, lead scores, predictions, the AI calls
about it, its rows of the real-time engine: events, state, score changes, webhook deliveries,
and the conversational-search sessions whose turns name it by id, email or full name), every
parquet file under the data folder that holds the contact (raw, features, the synthetic CRM
tables and event streams, the Feast offline store), the Feast online store (SQLite or Redis) and
the Redis score cache; the model versions trained on data that held the contact are tagged
``needs_retraining`` in MLflow. Each step reports what it removed, so a test (and an operator)
can check that nothing remains.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import ColumnElement, delete, select

from haste.db.content_tables import ContentSend, SearchConversation
from haste.db.models import Activity, AIInteraction, Contact, LeadScore, Prediction
from haste.db.session import session_scope
from haste.db.stream_tables import ContactStreamState, ScoreChange, StreamEvent, WebhookDelivery
from haste.db.workflow_tables import ReviewItem
from haste.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore

logger = logging.getLogger(__name__)

#: Columns that identify a contact in the platform's parquet files.
CONTACT_COLUMNS: tuple[str, ...] = ("contact_id", "Prospect ID", "id")


@dataclass
class ErasureReport:
    """What :func:`forget_contact` removed, per store."""

    contact_id: str
    database: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    online_store: int = 0
    cache_keys: int = 0
    models_marked: list[str] = field(default_factory=list)
    search_index_dropped: bool = False

    @property
    def total(self) -> int:
        """Return the number of rows/keys removed everywhere."""
        return (
            sum(self.database.values())
            + sum(self.files.values())
            + self.online_store
            + self.cache_keys
        )


def _calls_about(contact_id: uuid.UUID) -> ColumnElement[bool]:
    """Return the filter of the AI calls whose input names the contact."""
    return AIInteraction.contact_id == contact_id  # plain column: input_data is encrypted


def _rows_by_contact() -> dict[str, tuple[type, Any]]:
    """Return the tables with a contact column (real-time engine, review queue, content sends)."""
    return {
        "review_items": (ReviewItem, ReviewItem.contact_id),
        "content_sends": (ContentSend, ContentSend.contact_id),
        "stream_events": (StreamEvent, StreamEvent.contact_id),
        "contact_stream_state": (ContactStreamState, ContactStreamState.contact_id),
        "score_changes": (ScoreChange, ScoreChange.contact_id),
    }


def _deliveries_about(contact_id: uuid.UUID) -> ColumnElement[bool]:
    """Return the filter of the webhook deliveries whose payload names the contact."""
    return WebhookDelivery.payload["contact_id"].as_string() == str(contact_id)


def contact_terms(contact: Contact | None, contact_id: uuid.UUID) -> list[str]:
    """Return the lower-cased strings that name the contact: its id, email and full name."""
    terms = [str(contact_id)]
    if contact is not None:
        full_name = " ".join(p for p in (contact.first_name, contact.last_name) if p)
        terms += [contact.email or "", full_name if " " in full_name else ""]
    return [term.lower() for term in (t.strip() for t in terms) if term]


def conversations_naming(session: Any, terms: list[str]) -> list[uuid.UUID]:
    """Return the conversational-search sessions whose turns contain one of the terms.

    The turns (questions, answers, cited and shown record ids) are encrypted, so each session is
    decrypted and searched here; a session that names the contact anywhere is erased whole.
    """
    found = []
    for conversation_id, turns in session.execute(
        select(SearchConversation.id, SearchConversation.turns)
    ):
        text = json.dumps(turns or [], ensure_ascii=False).lower()
        if any(term in text for term in terms):
            found.append(conversation_id)
    return found


def forget_in_database(url: str, contact_id: uuid.UUID) -> dict[str, int]:
    """Delete the contact and everything about it from the CRM database (one transaction)."""
    with session_scope(url) as session:
        terms = contact_terms(session.get(Contact, contact_id), contact_id)
        conversations = conversations_naming(session, terms)
        counts = {
            "search_conversations": session.execute(
                delete(SearchConversation).where(SearchConversation.id.in_(conversations))
            ).rowcount,
            "ai_interactions": session.execute(
                delete(AIInteraction).where(_calls_about(contact_id))
            ).rowcount,
            "predictions": session.execute(
                delete(Prediction).where(Prediction.entity_id == contact_id)
            ).rowcount,
            "lead_scores": session.execute(
                delete(LeadScore).where(LeadScore.contact_id == contact_id)
            ).rowcount,
            "activities": session.execute(
                delete(Activity).where(Activity.contact_id == contact_id)
            ).rowcount,
            **{
                table: session.execute(delete(model).where(column == contact_id)).rowcount
                for table, (model, column) in _rows_by_contact().items()
            },
            "webhook_deliveries": session.execute(
                delete(WebhookDelivery).where(_deliveries_about(contact_id))
            ).rowcount,
            "contacts": session.execute(delete(Contact).where(Contact.id == contact_id)).rowcount,
        }
    return {table: int(count or 0) for table, count in counts.items()}


def remaining_in_database(url: str, contact_id: uuid.UUID) -> dict[str, int]:
    """Count what the database still holds about the contact (all zeros after erasure)."""
    queries = {
        "contacts": select(Contact.id).where(Contact.id == contact_id),
        "lead_scores": select(LeadScore.id).where(LeadScore.contact_id == contact_id),
        "predictions": select(Prediction.id).where(Prediction.entity_id == contact_id),
        "activities": select(Activity.id).where(Activity.contact_id == contact_id),
        "ai_interactions": select(AIInteraction.id).where(_calls_about(contact_id)),
        **{
            table: select(column).where(column == contact_id)
            for table, (_, column) in _rows_by_contact().items()
        },
        "webhook_deliveries": select(WebhookDelivery.id).where(_deliveries_about(contact_id)),
    }
    with session_scope(url) as session:
        counts = {table: len(session.scalars(query).all()) for table, query in queries.items()}
        counts["search_conversations"] = len(conversations_naming(session, [str(contact_id)]))
        return counts


def _matches(column: pd.Series, contact_id: uuid.UUID) -> pd.Series:
    """Return the rows of an id column equal to the contact (UUIDs, strings or bytes)."""
    target = str(contact_id)
    as_text = column.map(
        lambda v: str(uuid.UUID(bytes=v)) if isinstance(v, bytes) and len(v) == 16 else str(v)
    )
    return as_text.str.lower() == target


def contact_mask(path: Path, contact_id: uuid.UUID) -> np.ndarray:
    """Return, per row of a parquet file, whether it belongs to the contact."""
    names = set(pq.read_schema(path).names)
    columns = [c for c in CONTACT_COLUMNS if c in names]
    if not columns:
        return np.zeros(pq.read_metadata(path).num_rows, dtype=bool)
    frame = pq.read_table(path, columns=columns).to_pandas()
    mask = np.zeros(len(frame), dtype=bool)
    for column in columns:
        mask |= _matches(frame[column], contact_id).to_numpy()
    return mask


def forget_in_files(paths: Iterable[Path], contact_id: uuid.UUID) -> dict[str, int]:
    """Rewrite every parquet file that holds the contact without its rows.

    Files are rewritten atomically (a temporary file renamed over the original), so a failure
    leaves the old file intact; the schema (and pandas metadata) is kept.

    Args:
        paths: Parquet files to scan.
        contact_id: The contact to remove.

    Returns:
        File -> rows removed (only files that held the contact).
    """
    removed: dict[str, int] = {}
    for path in paths:
        mask = contact_mask(path, contact_id)
        if not mask.any():
            continue
        kept = pq.read_table(path).filter(pa.array(~mask))
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(kept, tmp)
        tmp.replace(path)
        removed[str(path)] = int(mask.sum())
    return removed


def data_files(settings: Settings) -> list[Path]:
    """Return every parquet file the platform wrote (data folder and local state)."""
    roots = [settings.data_dir, settings.home]
    return sorted({p for root in roots if root.exists() for p in root.rglob("*.parquet")})


def forget_in_cache(redis_url: str, contact_id: uuid.UUID) -> int:
    """Delete the contact's cached scores/features from Redis (keys ``haste:*:<contact>``)."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
    keys = list(client.scan_iter(match=f"haste:*:{contact_id}"))
    return int(client.delete(*keys)) if keys else 0


def drop_search_index(settings: Settings) -> bool:
    """Delete the saved search index; it is rebuilt from the (erased) CRM on next use.

    Deal and activity documents can name the contact, so a rebuild is the only way to be sure
    the contact is gone from the index. Running TextAI replicas notice the dropped index on their
    next query and rebuild it (:class:`textai.search.build.SavedIndexWatcher`).

    Returns:
        Whether an index was deleted.
    """
    import shutil

    folder = settings.home / "search_index"
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True


def models_trained_on(settings: Settings, contact_id: uuid.UUID) -> list[str]:
    """Return the models whose feature table (``data/features/<model>.parquet``) has the contact."""
    features_dir = settings.data_dir / "features"
    if not features_dir.exists():
        return []
    return sorted(
        path.stem for path in features_dir.glob("*.parquet") if contact_mask(path, contact_id).any()
    )


def mark_for_retraining(settings: Settings, model_names: Iterable[str], reason: str) -> list[str]:
    """Tag every registered version of the models ``needs_retraining`` with the reason.

    Returns:
        ``name@vN`` of each version tagged (models never registered are skipped).
    """
    from training.registry import configure_mlflow

    client = configure_mlflow(settings)
    marked = []
    for name in model_names:
        for version in client.search_model_versions(f"name='{name}'"):
            client.set_model_version_tag(name, version.version, "needs_retraining", "true")
            client.set_model_version_tag(name, version.version, "needs_retraining_reason", reason)
            marked.append(f"{name}@v{version.version}")
    return marked


def forget_in_online_store(store: FeatureStore, contact_id: uuid.UUID) -> int:
    """Delete the contact's rows/keys from Feast's online store (SQLite tables or Redis).

    Feast has no public per-entity delete, so this removes what its online stores wrote for
    the ``contact_id`` entity key: the rows of every contact-keyed view's SQLite table, or the
    contact's Redis hash (one hash per entity key and project).

    Returns:
        SQLite rows or Redis keys deleted.
    """
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.infra.online_stores.helpers import _redis_key, compute_table_id
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    config = store.config
    key = EntityKey(join_keys=["contact_id"], entity_values=[Value(string_val=str(contact_id))])
    version = config.entity_key_serialization_version
    if config.online_store.type == "redis":
        import redis

        host = config.online_store.connection_string.partition(",")[0]
        hostname, _, port = host.partition(":")
        client = redis.Redis(host=hostname, port=int(port or 6379))
        try:
            return int(client.delete(_redis_key(config.project, key, version)))
        finally:
            client.close()
    path = Path(config.online_store.path)
    if not path.is_absolute():
        path = Path(config.repo_path or ".") / path
    if not path.exists():
        return 0
    binary = serialize_entity_key(key, entity_key_serialization_version=version)
    views = [
        view
        for view in store.list_feature_views()
        if "contact_id" in [column.name for column in view.entity_columns]
    ]
    deleted = 0
    with sqlite3.connect(path) as connection:
        existing = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        for view in views:
            table = compute_table_id(config.project, view)
            if table in existing:
                cursor = connection.execute(
                    f'DELETE FROM "{table}" WHERE entity_key = ?', (binary,)
                )
                deleted += cursor.rowcount
    return deleted


def forget_contact(
    settings: Settings, contact_id: uuid.UUID, store: FeatureStore | None = None
) -> ErasureReport:
    """Remove a contact from every store and mark the models trained on it for retraining.

    Args:
        settings: Platform settings.
        contact_id: The contact to forget.
        store: Feast store to clean (defaults to the configured one, when it exists).

    Returns:
        What was removed where.
    """
    report = ErasureReport(contact_id=str(contact_id))
    affected = models_trained_on(settings, contact_id)
    report.database = forget_in_database(settings.database_url, contact_id)
    report.files = forget_in_files(data_files(settings), contact_id)
    if store is None:
        from features.store import feast_dir, get_store

        if (feast_dir(settings)).exists():
            store = get_store(settings)
    if store is not None:
        report.online_store = forget_in_online_store(store, contact_id)
    try:
        report.cache_keys = forget_in_cache(settings.redis_url, contact_id)
    except Exception as error:  # Redis is optional locally: say so, do not fail the erasure
        logger.warning("score cache not cleaned (%s): %s", settings.redis_url, error)
    report.search_index_dropped = drop_search_index(settings)
    if affected:
        report.models_marked = mark_for_retraining(
            settings, affected, f"erasure of contact {contact_id}"
        )
    logger.info("forgot contact %s: %d rows/keys removed", contact_id, report.total)
    return report
