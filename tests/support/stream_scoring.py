"""A small real lead model for the stream processor's unit tests (no MLflow, no Feast).

The model is a ``TabularEncoder -> XGBClassifier`` pipeline trained (seeded, well under a
second) on synthetic rows whose columns are model inputs the processor produces: state columns
of :func:`streaming.feature_updates.state_columns` plus ``lead_engagement_score`` (an output of
:func:`features.definitions.lead_engagement_rates`). Its label rises with replies and pricing
views, and the trees are constrained to be non-decreasing in the engagement counts, so replies
can only raise a score.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.pipeline import Pipeline

from features.tabular import TabularEncoder
from haste.db.models import Contact
from haste.db.session import session_scope
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


def column_values(frame: pd.DataFrame, columns: Sequence[str]) -> list[list[object]]:
    """Return a frame's rows as lists in ``columns`` order."""
    return frame[list(columns)].to_numpy(dtype=object).tolist()
