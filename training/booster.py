"""Serving fast path: probabilities and exact TreeSHAP values straight from the XGBoost booster.

A served request carries one to a few dozen records. Going through pandas (categorical frames),
``XGBClassifier.predict_proba`` and ``shap.TreeExplainer`` costs about 100 ms per request, almost
all of it per-call overhead. This module encodes the raw values with
:meth:`features.tabular.TabularEncoder.encode_values` (category codes, no pandas), builds one
``DMatrix`` and asks the booster for the probabilities and for ``pred_contribs``: XGBoost's own
implementation of the path-dependent TreeSHAP algorithm, the same values
``shap.TreeExplainer(model)`` computes (a model test checks both agree).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xgboost as xgb
from sklearn.pipeline import Pipeline

from features.tabular import TabularEncoder


class BoosterScorer:
    """Predict and explain a fitted ``TabularEncoder -> XGBClassifier`` pipeline.

    Args:
        pipeline: The fitted two-step pipeline (see :meth:`supports`).
    """

    def __init__(self, pipeline: Pipeline) -> None:
        if not self.supports(pipeline):
            raise TypeError("BoosterScorer needs a TabularEncoder -> XGBClassifier pipeline")
        self.encoder: TabularEncoder = pipeline[0]
        model: xgb.XGBClassifier = pipeline[-1]
        self.booster = model.get_booster()
        self.iteration_range = _iteration_range(model)
        self.feature_names = self.booster.feature_names
        self.feature_types = [
            "c" if column in self.encoder.categories_ else "float"
            for column in self.encoder.columns
        ]

    @staticmethod
    def supports(pipeline: Pipeline) -> bool:
        """Return whether the pipeline is an encoder + binary XGBoost classifier."""
        return (
            len(pipeline) == 2
            and isinstance(pipeline[0], TabularEncoder)
            and isinstance(pipeline[-1], xgb.XGBClassifier)
            and getattr(pipeline[-1], "n_classes_", 2) == 2
        )

    def matrix(self, rows: Sequence[Sequence[Any]]) -> xgb.DMatrix:
        """Return the booster's input matrix of raw rows (encoded once, reusable)."""
        return xgb.DMatrix(
            self.encoder.encode_values(rows),
            feature_names=self.feature_names,
            feature_types=self.feature_types,
            enable_categorical=True,
            missing=np.nan,
            nthread=1,
        )

    def predict(self, matrix: xgb.DMatrix) -> np.ndarray:
        """Return the positive-class probabilities of a :meth:`matrix`."""
        probabilities = self.booster.predict(matrix, iteration_range=self.iteration_range)
        return np.asarray(probabilities, dtype=float)

    def explain(self, matrix: xgb.DMatrix) -> np.ndarray:
        """Return the SHAP values (log-odds, bias column dropped) of a :meth:`matrix`."""
        contributions = self.booster.predict(
            matrix, pred_contribs=True, iteration_range=self.iteration_range
        )
        return np.asarray(contributions)[:, :-1]

    def predict_explain(self, rows: Sequence[Sequence[Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Return the positive-class probabilities and the SHAP values of raw rows.

        Args:
            rows: Raw values, one sequence per record, in the encoder's column order.

        Returns:
            ``(probabilities, shap_values)``: shapes ``(n,)`` and ``(n, n_features)``; the SHAP
            values are in log-odds and add up, with the bias, to the model's margin.
        """
        matrix = self.matrix(rows)
        return self.predict(matrix), self.explain(matrix)


def _iteration_range(model: xgb.XGBClassifier) -> tuple[int, int]:
    """Return the trees ``predict_proba`` uses: up to the best iteration after early stopping."""
    try:
        return 0, int(model.best_iteration) + 1
    except AttributeError:  # trained without early stopping: every tree
        return 0, 0
