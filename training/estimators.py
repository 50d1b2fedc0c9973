"""The candidate (XGBoost) and baseline (the spec's GradientBoostingClassifier) pipelines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from xgboost import XGBClassifier

from features.tabular import TabularEncoder


def build_xgboost_pipeline(columns: Sequence[str], params: dict[str, Any]) -> Pipeline:
    """Build the candidate model: frozen-category encoder + XGBoost with native categoricals.

    Args:
        columns: Raw input columns.
        params: XGBClassifier hyper-parameters from the training config.

    Returns:
        An unfitted pipeline whose steps are ``encode`` and ``model``.

    """
    model = XGBClassifier(
        enable_categorical=True,
        tree_method="hist",
        eval_metric="logloss",
        n_jobs=2,
        **params,
    )
    return encoded_pipeline(columns, model)


def encoded_pipeline(columns: Sequence[str], model: Any) -> Pipeline:
    """Return ``encode -> model``: the frozen-category encoder in front of a tree model."""
    return Pipeline([("encode", TabularEncoder(columns=list(columns))), ("model", model)])


def build_baseline_pipeline(frame: pd.DataFrame, params: dict[str, Any]) -> Pipeline:
    """Build the spec's reference model: one-hot + StandardScaler + GradientBoostingClassifier.

    Args:
        frame: Training inputs (used to tell numeric from text columns).
        params: GradientBoostingClassifier hyper-parameters.

    Returns:
        An unfitted pipeline.

    """
    numeric = frame.select_dtypes(include="number").columns.tolist()
    text = [column for column in frame.columns if column not in numeric]
    preprocess = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=10),
                ),
                text,
            ),
        ]
    )
    return Pipeline([("preprocess", preprocess), ("model", GradientBoostingClassifier(**params))])
