"""Recency-frequency baseline of trigger prediction and the model-vs-baseline comparison.

The baseline is the marketer's rule of thumb as a model: a logistic regression on two inputs,
days since the contact's last engagement (``engagement_days_since_last``) and engagements in
the last 30 days (``engagement_events_30d``), both ``log1p``-transformed and standardised.

:func:`evaluate_trigger_models` fits the generic flow's XGBoost (same config, same encoder) and
the baseline on the same **contact-level** split (a contact's snapshots all fall on one side, so
the held-out contacts are unseen) and reports held-out ROC AUC for ``triggered`` and for each
trigger type (one model and one baseline per label).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from features.tabular import select_feature_columns
from features.trigger_table import FREQUENCY_COLUMN, RECENCY_COLUMN, TRIGGER_LABELS
from training.config import TrainingConfig
from training.estimators import build_xgboost_pipeline

#: The baseline's two inputs.
RF_COLUMNS: tuple[str, ...] = (RECENCY_COLUMN, FREQUENCY_COLUMN)


def build_recency_frequency_baseline() -> Pipeline:
    """Build the unfitted baseline: log1p + scaling of recency and frequency, then a logit.

    Returns:
        A pipeline that reads only :data:`RF_COLUMNS` of any wider frame.

    """
    transform = make_pipeline(
        SimpleImputer(strategy="median"),
        FunctionTransformer(_log1p_nonnegative, feature_names_out="one-to-one"),
        StandardScaler(),
    )
    select = ColumnTransformer([("rf", transform, list(RF_COLUMNS))], remainder="drop")
    return Pipeline([("select", select), ("model", LogisticRegression(max_iter=1000))])


def _log1p_nonnegative(values: Any) -> np.ndarray:
    """Return ``log1p`` of the values clipped at 0 (days and counts are never negative)."""
    return np.log1p(np.clip(np.asarray(values, dtype=float), 0.0, None))


def split_by_contact(
    table: pd.DataFrame, test_size: float, random_state: int, id_column: str = "contact_id"
) -> tuple[pd.Index, pd.Index]:
    """Split rows so that every contact's snapshots fall on one side.

    Args:
        table: Rows with ``id_column``.
        test_size: Held-out share of contacts.
        random_state: Seed of the split.
        id_column: The contact id column.

    Returns:
        The training and held-out row labels of ``table``.

    """
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=random_state)
    train, test = next(splitter.split(table, groups=table[id_column].astype(str)))
    return table.index[train], table.index[test]


def evaluate_trigger_models(table: pd.DataFrame, config: TrainingConfig) -> dict[str, Any]:
    """Compare the XGBoost of ``config`` with the recency-frequency baseline on unseen contacts.

    For the target and each trigger type, both models are fitted on the same contact-level
    training split (:func:`split_by_contact` with ``config.split``) and scored on the rest.

    Args:
        table: The trigger table (:func:`features.trigger_table.build_trigger_table`).
        config: The ``trigger_prediction`` training config (inputs and XGBoost parameters).

    Returns:
        ``{"split": "contact", "rows": {...}, "contacts": {...}, "targets": {label: {...}}}``
        where each label (``config.target`` then :data:`TRIGGER_LABELS`) holds
        ``model_roc_auc``, ``baseline_roc_auc``, ``lift`` (model - baseline) and
        ``test_positive_rate``.

    """
    train_index, test_index = split_by_contact(
        table, config.split.test_size, config.split.random_state, config.id_column
    )
    columns = select_feature_columns(table, config.excluded_columns)
    train, test = table.loc[train_index], table.loc[test_index]
    targets: dict[str, dict[str, float]] = {}
    for label in dict.fromkeys([config.target, *TRIGGER_LABELS]):
        y_train, y_test = train[label].astype(int), test[label].astype(int)
        model = build_xgboost_pipeline(columns, config.train.xgboost)
        model.fit(train[columns], y_train)
        baseline = build_recency_frequency_baseline().fit(train, y_train)
        model_auc = float(roc_auc_score(y_test, model.predict_proba(test[columns])[:, 1]))
        baseline_auc = float(roc_auc_score(y_test, baseline.predict_proba(test)[:, 1]))
        targets[label] = {
            "model_roc_auc": model_auc,
            "baseline_roc_auc": baseline_auc,
            "lift": model_auc - baseline_auc,
            "test_positive_rate": float(y_test.mean()),
        }
    ids = config.id_column
    return {
        "split": "contact",
        "rows": {"train": len(train), "test": len(test)},
        "contacts": {"train": train[ids].nunique(), "test": test[ids].nunique()},
        "targets": targets,
    }
