"""The model view of contact time: a logistic regression over pre-call features and slots."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from training.contact_time_data import (
    LEAKY_COLUMNS,
    PRE_CALL_FEATURES,
    TARGET,
    ContactTimeConfig,
    prepare_calls,
    slot_levels,
)

logger = logging.getLogger(__name__)


@dataclass
class ModelView:
    """The logistic-regression cross-check: time-ordered AUC and per-slot partial dependence."""

    model_type: str
    features: tuple[str, ...]
    roc_auc: float
    roc_auc_shuffled: float
    train_rows: int
    test_rows: int
    test_positive_rate: float
    partial_dependence: pd.DataFrame
    pipeline: Pipeline | None = field(default=None, repr=False)


def model_features(frame: pd.DataFrame, config: ContactTimeConfig) -> list[str]:
    """Return the model inputs: pre-call features plus slot columns, never ``duration``."""
    wanted = [*PRE_CALL_FEATURES, *config.slot_columns]
    return [c for c in dict.fromkeys(wanted) if c in frame.columns and c not in LEAKY_COLUMNS]


def _logistic_pipeline(calls: pd.DataFrame, features: list[str]) -> Pipeline:
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(calls[c])]
    text = [c for c in features if c not in numeric]
    preprocess = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), text),
        ]
    )
    model = LogisticRegression(max_iter=3000, C=1.0)
    return Pipeline([("preprocess", preprocess), ("model", model)])


def fit_model_view(
    frame: pd.DataFrame,
    config: ContactTimeConfig | None = None,
    report: Any = None,
) -> ModelView:
    """Fit the logistic-regression cross-check on a time-ordered split.

    The earliest ``1 - test_fraction`` of the rows (they are in date order) train the model, the
    latest ones test it. A stratified shuffled split is reported as an optimistic reference:
    the gap between the two AUCs is the price of predicting a future with different macro
    conditions. Partial dependence moves every held-out call to each slot in turn; like the
    posterior rates, it measures association (month is confounded with the macro context that
    the model also sees through euribor and the other indicators), not the effect of
    rescheduling a call.

    Args:
        frame: Bank Marketing calls in date order.
        config: Slot columns, test fraction, seed.
        report: When given, its global posterior means are put next to the partial dependence.

    Returns:
        AUCs, split sizes and a ``dimension, slot, mean_predicted, observed_rate, posterior_mean``
        partial-dependence table.

    """
    config = config or ContactTimeConfig()
    calls = prepare_calls(frame, config)
    features = model_features(calls, config)
    x, y = calls[features], calls[TARGET].to_numpy()
    cut = round(len(calls) * (1.0 - config.test_fraction))
    if cut <= 0 or cut >= len(calls):
        raise ValueError("the time-ordered split left an empty side")
    if len(np.unique(y[:cut])) < 2 or len(np.unique(y[cut:])) < 2:
        raise ValueError("both sides of the time-ordered split need both outcomes")
    pipeline = _logistic_pipeline(calls, features).fit(x.iloc[:cut], y[:cut])
    x_test, y_test = x.iloc[cut:], y[cut:]
    auc = float(roc_auc_score(y_test, pipeline.predict_proba(x_test)[:, 1]))

    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=config.test_fraction, random_state=config.seed, stratify=y
    )
    shuffled = _logistic_pipeline(calls, features).fit(x_tr, y_tr)
    auc_shuffled = float(roc_auc_score(y_te, shuffled.predict_proba(x_te)[:, 1]))

    posterior = {}
    if report is not None:
        posterior = {(s.dimension, s.slot): s.posterior_mean for s in report.slots[()]}
    rows = []
    for dimension in config.slot_columns:
        observed = calls.iloc[cut:].groupby(dimension)[TARGET].mean()
        for level in slot_levels(calls, dimension):
            moved = x_test.copy()
            moved[dimension] = level
            rows.append(
                {
                    "dimension": dimension,
                    "slot": level,
                    "mean_predicted": float(pipeline.predict_proba(moved)[:, 1].mean()),
                    "observed_rate": float(observed.get(level, np.nan)),
                    "posterior_mean": posterior.get((dimension, level), np.nan),
                }
            )
    logger.info("contact-time model view: time-ordered AUC %.4f (shuffled %.4f)", auc, auc_shuffled)
    return ModelView(
        model_type="logistic_regression",
        features=tuple(features),
        roc_auc=auc,
        roc_auc_shuffled=auc_shuffled,
        train_rows=cut,
        test_rows=len(calls) - cut,
        test_positive_rate=float(y_test.mean()),
        partial_dependence=pd.DataFrame(rows),
        pipeline=pipeline,
    )
