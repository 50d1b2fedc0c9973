"""A small real lead model for the stream processor's unit tests (no MLflow, no Feast).

The model is a ``TabularEncoder -> XGBClassifier`` pipeline trained (seeded, well under a
second) on synthetic rows whose columns are model inputs the processor produces: state columns
of :func:`streaming.feature_updates.state_columns` plus ``lead_engagement_score`` (an output of
:func:`features.definitions.lead_engagement_rates`). Its label rises with replies and pricing
views, and the trees are constrained to be non-decreasing in the engagement counts, so replies
can only raise a score. Also: contacts, events and deliveries, and readers of the stream tables.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.pipeline import Pipeline
from sqlalchemy import func, select

from features.tabular import TabularEncoder
from haste.db.models import Contact, LeadScore
from haste.db.session import session_scope
from haste.db.stream_tables import ContactStreamState, ScoreChange, StreamEvent
from streaming.events import CRMEvent
from streaming.processor import Delivery
from streaming.rescoring import StreamScorer, VariantModel
from training.booster import BoosterScorer

#: Model inputs of the test model (state columns and one on-demand column).
MODEL_COLUMNS: tuple[str, ...] = (
    "email_replies",
    "email_opens",
    "email_open_rate",
    "web_page_views",
    "web_pricing_views",
    "lead_engagement_score",
    "company_industry",
)
#: Columns the model may only push up (monotone constraints).
_INCREASING = ("email_replies", "web_pricing_views", "lead_engagement_score")
MODEL_VERSION = "7"
#: Tables a processed batch writes.
STREAM_TABLES: tuple[type, ...] = (StreamEvent, ContactStreamState, LeadScore, ScoreChange)
#: Broker confirmation time of the test deliveries.
PUBLISHED = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
_ids = itertools.count()


def train_lead_pipeline(seed: int = 0, rows: int = 3000) -> Pipeline:
    """Return a fitted encoder -> XGBoost pipeline over :data:`MODEL_COLUMNS`."""
    rng = np.random.default_rng(seed)
    replies = rng.poisson(0.8, rows)
    opens = rng.poisson(3.0, rows)
    sent = opens + rng.poisson(2.0, rows)
    views = rng.poisson(5.0, rows)
    pricing = rng.binomial(views, 0.2)
    frame = pd.DataFrame(
        {
            "email_replies": replies,
            "email_opens": opens,
            "email_open_rate": np.where(sent > 0, opens / np.maximum(sent, 1), np.nan),
            "web_page_views": views,
            "web_pricing_views": pricing,
            "lead_engagement_score": np.log1p(replies + pricing),
            "company_industry": rng.choice(["software", "retail", "government"], rows),
        }
    )
    margin = 1.1 * replies + 0.9 * pricing - 3.0
    label = (rng.random(rows) < 1.0 / (1.0 + np.exp(-margin))).astype(int)
    model = xgb.XGBClassifier(
        n_estimators=30,
        max_depth=3,
        random_state=seed,
        enable_categorical=True,
        tree_method="hist",
        n_jobs=1,
        monotone_constraints={column: 1 for column in _INCREASING},
    )
    pipeline = Pipeline([("encode", TabularEncoder(list(MODEL_COLUMNS))), ("model", model)])
    return pipeline.fit(frame[list(MODEL_COLUMNS)], label)


def lead_scorer(database_url: str, pipeline: Pipeline) -> StreamScorer:
    """Return a scorer holding ``pipeline`` as the champion, never reading MLflow."""
    scorer = StreamScorer(database_url, "lead_scoring_crm")
    scorer.models = {
        "champion": VariantModel(
            "champion", MODEL_VERSION, BoosterScorer(pipeline), tuple(MODEL_COLUMNS)
        )
    }
    scorer._checked = float("inf")  # refresh() returns at once: no A/B split, no registry read
    return scorer


def add_contacts(database_url: str, count: int) -> list[uuid.UUID]:
    """Insert ``count`` contacts (only the required columns) and return their ids."""
    ids = [uuid.uuid4() for _ in range(count)]
    with session_scope(database_url) as session:
        session.add_all(Contact(id=i, first_name=f"c{n}") for n, i in enumerate(ids))
    return ids


def rows_of(url: str, model: type) -> list[Any]:
    """Return every row of a table (detached, readable after the session)."""
    with session_scope(url) as session:
        rows = session.scalars(select(model)).all()
        session.expunge_all()
        return list(rows)


def row_counts(url: str, models: Sequence[type] = STREAM_TABLES) -> dict[str, Any]:
    """Return the row count of each table and the sum of ``events_applied`` of the states."""
    with session_scope(url) as session:
        counts: dict[str, Any] = {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in models
        }
        applied = select(func.sum(ContactStreamState.events_applied))
        counts["events_applied"] = session.scalar(applied)
        return counts


def stream_state(url: str, contact: uuid.UUID) -> ContactStreamState | None:
    """Return a contact's stream state, None when it has none."""
    with session_scope(url) as session:
        row = session.get(ContactStreamState, contact)
        session.expunge_all()
        return row


def score_changes(url: str) -> dict[str, ScoreChange]:
    """Return the score changes by event id."""
    return {row.event_id: row for row in rows_of(url, ScoreChange)}


def crm_event(
    kind: str, contact: uuid.UUID, event_id: str | None = None, **fields: Any
) -> CRMEvent:
    """Return an event a minute old (a /pricing view, a LinkedIn share by default)."""
    if kind == "page_view":
        fields.setdefault("page", "/pricing")
    if kind == "social_engagement":
        fields |= {"platform": "linkedin", "engagement": "share"}
    return CRMEvent(
        event_id=event_id or f"t-{next(_ids)}",
        event_type=kind,
        contact_id=contact,
        occurred_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
        **fields,
    )


def replies(contact: uuid.UUID, count: int) -> list[CRMEvent]:
    """Return ``count`` email replies of a contact."""
    return [crm_event("email_replied", contact) for _ in range(count)]


def deliveries(*events: CRMEvent) -> list[Delivery]:
    """Return events as the consumer receives them."""
    return [Delivery(event, published_at=PUBLISHED) for event in events]


def stream_states(url: str) -> dict[uuid.UUID, tuple[Any, ...]]:
    """Return each contact's (features, score, probability, events_applied)."""
    rows = rows_of(url, ContactStreamState)
    return {r.contact_id: (r.features, r.score, r.probability, r.events_applied) for r in rows}


def json_ready(features: dict[str, Any]) -> dict[str, Any]:
    """Return features as stored (NaN as None)."""
    return {k: None if isinstance(v, float) and v != v else v for k, v in features.items()}


class RecordingWriter:
    """An online writer that records what it is given."""

    def __init__(self) -> None:
        self.submitted: list[dict[str, Any]] = []

    def submit(self, touched: dict[str, Any]) -> None:
        """Record one batch's touched contacts."""
        self.submitted.append(dict(touched))
