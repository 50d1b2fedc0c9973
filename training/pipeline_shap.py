"""Generic scoring path: a fitted scikit-learn ``preprocess -> tree ensemble`` pipeline.

The baseline model (:func:`training.estimators.build_baseline_pipeline`: one-hot + scaler in a
``ColumnTransformer``, then ``GradientBoostingClassifier``) is served when it wins the baseline
gate. Probabilities come from the pipeline's raw steps; exact TreeSHAP runs on the final
estimator over the transformed matrix, and the contributions of the one-hot / scaled output
columns are summed back to their source feature (``get_feature_names_out`` names each output
column after its input), so an explanation has one value per raw input column, like the
XGBoost fast path (:mod:`training.booster`). SHAP values are in log-odds and add up, with
:attr:`PipelineShap.expected_value`, to the estimator's decision function.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline


def input_columns(pipeline: Pipeline) -> list[str]:
    """Return the raw input columns of a fitted pipeline (encoder's or ``feature_names_in_``)."""
    first = pipeline[0]
    columns = getattr(first, "columns", None)
    if columns is not None and not isinstance(first, ColumnTransformer):
        return list(columns)
    return [str(column) for column in first.feature_names_in_]


def source_index(output_names: Sequence[str], columns: Sequence[str]) -> np.ndarray:
    """Map each transformed column to the position of the raw column it came from.

    Output names are ``<transformer>__<column>`` (scaled) or ``<transformer>__<column>_<value>``
    (one-hot); the longest raw column name that matches wins.

    Raises:
        ValueError: When an output column matches no input column.
    """
    by_length = sorted(range(len(columns)), key=lambda i: -len(columns[i]))
    index = []
    for name in output_names:
        stem = name.split("__", 1)[1] if "__" in name else name
        match = next(
            (i for i in by_length if stem == columns[i] or stem.startswith(f"{columns[i]}_")),
            None,
        )
        if match is None:
            raise ValueError(f"transformed column {name!r} matches no input column")
        index.append(match)
    return np.asarray(index, dtype=int)


class PipelineShap:
    """Predict and explain a fitted ``ColumnTransformer -> tree ensemble`` pipeline.

    Args:
        pipeline: The fitted pipeline (see :meth:`supports`); a calibrated one is read raw.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        import shap

        if not self.supports(pipeline):
            raise TypeError("PipelineShap needs a ColumnTransformer -> tree ensemble pipeline")
        self.preprocess: ColumnTransformer = pipeline[0]
        self.model = pipeline[-1]
        self.columns = input_columns(pipeline)
        self.explainer = shap.TreeExplainer(self.model)
        self.index = source_index(list(self.preprocess.get_feature_names_out()), self.columns)
        #: Columns of the numeric branch (``num`` in the baseline), coerced to numbers.
        self.numeric = [
            column
            for name, _, columns in self.preprocess.transformers_
            if name == "num"
            for column in columns
        ]

    @staticmethod
    def supports(pipeline: Any) -> bool:
        """Return whether ``pipeline`` is a two-step ``ColumnTransformer -> binary model``."""
        return (
            isinstance(pipeline, Pipeline)
            and len(pipeline) == 2
            and isinstance(pipeline[0], ColumnTransformer)
            and hasattr(pipeline[-1], "predict_proba")
            and len(getattr(pipeline[-1], "classes_", ())) == 2
        )

    @property
    def expected_value(self) -> float:
        """Return the explainer's base value (log-odds)."""
        return float(np.ravel(self.explainer.expected_value)[0])

    def frame(self, rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
        """Return raw rows (in :attr:`columns` order) as the frame the pipeline was fitted on."""
        frame = pd.DataFrame([list(row) for row in rows], columns=self.columns)
        for column in self.numeric:  # stored values may come back as objects (None, Decimal)
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
        return frame

    def transform(self, records: pd.DataFrame) -> np.ndarray:
        """Return the dense transformed matrix of raw records."""
        matrix = self.preprocess.transform(records[self.columns])
        return np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix, dtype=float)

    def predict(self, records: pd.DataFrame) -> np.ndarray:
        """Return the raw (uncalibrated) positive-class probabilities of raw records."""
        return np.asarray(self.model.predict_proba(self.transform(records))[:, 1], dtype=float)

    def explain_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Return SHAP values summed per raw input column, shape ``(n, len(columns))``."""
        values = np.asarray(self.explainer.shap_values(matrix))
        if values.ndim == 3:  # per-class output: keep the positive class
            values = values[..., -1]
        values = values.reshape(len(matrix), -1)
        summed = np.zeros((len(matrix), len(self.columns)))
        np.add.at(summed.T, self.index, values.T)
        return summed

    def predict_explain(self, records: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Return the raw probabilities and the per-input-column SHAP values of raw records."""
        matrix = self.transform(records)
        probabilities = np.asarray(self.model.predict_proba(matrix)[:, 1], dtype=float)
        return probabilities, self.explain_matrix(matrix)

    def plot_summary(self, records: pd.DataFrame, path: Path, max_display: int = 15) -> Path:
        """Draw the SHAP beeswarm of the per-column values (text columns coloured by code).

        Args:
            records: Raw records to explain (a held-out sample).
            path: PNG output path.
            max_display: Number of features shown.

        Returns:
            The written path.
        """
        import shap

        from training.explain import save_beeswarm

        values = self.explain_matrix(self.transform(records))
        data = records[self.columns].apply(
            lambda column: (
                pd.to_numeric(column, errors="coerce")
                if column.name in self.numeric
                else column.astype("category").cat.codes.astype(float)
            )
        )
        explanation = shap.Explanation(
            values=values,
            base_values=np.full(len(records), self.expected_value),
            data=data.to_numpy(dtype=float),
            feature_names=self.columns,
        )
        return save_beeswarm(explanation, path, max_display)

    def global_importance(self, records: pd.DataFrame) -> dict[str, float]:
        """Return mean |SHAP| per raw input column, largest first."""
        values = self.explain_matrix(self.transform(records))
        importance = np.abs(values).mean(axis=0)
        return {self.columns[i]: float(importance[i]) for i in np.argsort(-importance)}
