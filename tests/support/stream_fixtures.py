"""A small real rescoring setup for the broker tests: contacts, a trained XGBoost, a consumer.

The model is a real ``TabularEncoder -> XGBClassifier`` pipeline trained (seeded, ~1 s) on
synthetic rows of the stream's own model inputs, with a label driven by replies, pricing views
and social engagement, so events move scores. It is set on a :class:`StreamScorer` directly
(no MLflow); the processor runs without a Feast store (contacts start from an empty history).
Runnable as a script (``python -m tests.support.stream_fixtures DB_URL NAMESPACE``): a consumer
in its own process, for the kill test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
import sys
import uuid
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.pipeline import Pipeline

from features.tabular import TabularEncoder
from haste.db.models import Contact
from haste.db.session import session_scope
from haste.settings import get_settings
from streaming.broker import RabbitBroker
from streaming.config import StreamingConfig, load_streaming_config
from streaming.consumer import StreamConsumer
from streaming.events import CRMEvent
from streaming.processor import EventProcessor
from streaming.rescoring import StreamScorer, VariantModel
from training.booster import BoosterScorer

COLUMNS = (
    "email_replies",
    "email_opens",
    "web_page_views",
    "web_pricing_views",
    "social_total",
    "lead_engagement_score",
)


def train_toy_pipeline(seed: int = 0) -> Pipeline:
    """Return a fitted encoder -> XGBoost pipeline over :data:`COLUMNS`."""
    rng = np.random.default_rng(seed)
    n = 3000
    frame = pd.DataFrame(
        {
            "email_replies": rng.poisson(1.0, n),
            "email_opens": rng.poisson(3.0, n),
            "web_page_views": rng.poisson(6.0, n),
            "web_pricing_views": rng.poisson(1.0, n),
            "social_total": rng.poisson(1.0, n),
        }
    )
    frame["lead_engagement_score"] = np.log1p(frame["email_replies"] + frame["web_page_views"])
    margin = (
        0.9 * frame["email_replies"]
        + 0.7 * frame["web_pricing_views"]
        + 0.3 * frame["social_total"]
        + 0.1 * frame["web_page_views"]
        - 3.0
    )
    label = (rng.random(n) < 1 / (1 + np.exp(-margin))).astype(int)
    pipeline = Pipeline(
        [
            ("encode", TabularEncoder(list(COLUMNS))),
            ("model", xgb.XGBClassifier(n_estimators=40, max_depth=3, random_state=seed)),
        ]
    )
    return pipeline.fit(frame[list(COLUMNS)], label)


def toy_scorer(database_url: str) -> StreamScorer:
    """Return a scorer holding the toy model as champion (no MLflow, no A/B)."""
    scorer = StreamScorer(database_url, "lead_scoring_crm")
    pipeline = train_toy_pipeline()
    scorer.models = {"champion": VariantModel("champion", "1", BoosterScorer(pipeline), COLUMNS)}
    scorer.refresh = lambda now=None: None  # type: ignore[method-assign]
    return scorer


def add_contacts(database_url: str, count: int) -> list[uuid.UUID]:
    """Insert ``count`` contacts and return their ids."""
    ids = [uuid.uuid4() for _ in range(count)]
    with session_scope(database_url) as session:
        session.add_all(
            Contact(id=i, first_name=f"C{n}", gender=("female", "male")[n % 2])
            for n, i in enumerate(ids)
        )
    return ids


def make_events(contacts: Sequence[uuid.UUID], per_contact: int, seed: int = 0) -> list[CRMEvent]:
    """Return ``per_contact`` lead events per contact, interleaved, with unique ids."""
    rng = np.random.default_rng(seed)
    kinds = ("email_replied", "page_view", "social_engagement", "email_opened", "meeting_booked")
    now = dt.datetime.now(dt.UTC)
    events = []
    for step in range(per_contact):
        for contact in contacts:
            kind = kinds[int(rng.integers(len(kinds)))]
            extra: dict = {}
            if kind == "page_view":
                extra = {"page": "/pricing", "duration_s": 30.0}
            elif kind == "social_engagement":
                extra = {"platform": "linkedin", "engagement": "share"}
            events.append(
                CRMEvent(
                    event_id=f"t-{uuid.uuid4().hex}",
                    event_type=kind,
                    contact_id=contact,
                    occurred_at=now - dt.timedelta(seconds=per_contact - step),
                    **extra,
                )
            )
    return events


def toy_consumer(
    database_url: str, broker_url: str, config: StreamingConfig, rank: int = 0, world: int = 1
) -> StreamConsumer:
    """Return a consumer over the toy model (not started)."""
    processor = EventProcessor(database_url, None, toy_scorer(database_url), config)
    return StreamConsumer(RabbitBroker(broker_url, config), processor, config, rank, world)


async def _run_forever(database_url: str, namespace: str) -> None:
    settings = get_settings()
    consumer = toy_consumer(
        database_url, settings.broker_url, load_streaming_config(namespace=namespace)
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await consumer.run(stop)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_run_forever(sys.argv[1], sys.argv[2]))
