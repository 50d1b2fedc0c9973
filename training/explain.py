"""SHAP explanations of tree-model scores: per-record contributions and a global summary plot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap
from sklearn.pipeline import Pipeline

from training.evaluate import save_figure


@dataclass(frozen=True)
class Contribution:
    """One feature's push on a score, in log-odds (SHAP value)."""

    feature: str
    value: Any
    impact: float

    @property
    def direction(self) -> str:
        """Return ``positive`` when the feature raises the score, else ``negative``."""
        return "positive" if self.impact >= 0 else "negative"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "feature": self.feature,
            "value": json_value(self.value),
            "impact": round(float(self.impact), 4),
            "direction": self.direction,
        }


class TreeShapExplainer:
    """Explain a fitted ``encode -> model`` pipeline with SHAP's exact TreeExplainer.

    Args:
        pipeline: A fitted pipeline whose last step is a tree ensemble (XGBoost).

    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.encoder = pipeline[:-1]
        self.explainer = shap.TreeExplainer(pipeline[-1])

    def shap_values(
        self, records: pd.DataFrame, encoded: pd.DataFrame | None = None
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """Return the encoded records and their SHAP values (rows x features, log-odds).

        Args:
            records: Raw records.
            encoded: The records already encoded by the pipeline (skips a second encoding).
        """
        if encoded is None:
            encoded = self.encoder.transform(records)
        values = np.asarray(self.explainer.shap_values(encoded))
        return encoded, values.reshape(len(encoded), -1)

    def explain(
        self, records: pd.DataFrame, top_k: int = 5, encoded: pd.DataFrame | None = None
    ) -> list[list[Contribution]]:
        """Return, per record, the ``top_k`` contributions by absolute impact.

        Args:
            records: Raw records (the model's input columns).
            top_k: How many contributions to keep per record.
            encoded: The records already encoded by the pipeline, if available.

        Returns:
            One list per record, strongest first.

        """
        encoded, values = self.shap_values(records, encoded)
        columns = list(encoded.columns)
        explained: list[list[Contribution]] = []
        for row_position in range(len(encoded)):
            row = values[row_position]
            order = np.argsort(-np.abs(row), kind="stable")[:top_k]
            explained.append(
                [
                    Contribution(
                        feature=columns[i],
                        value=records.iloc[row_position][columns[i]],
                        impact=float(row[i]),
                    )
                    for i in order
                ]
            )
        return explained

    def plot_summary(self, records: pd.DataFrame, path: Path, max_display: int = 15) -> Path:
        """Draw the SHAP beeswarm summary (categoricals coloured by their code).

        Args:
            records: Raw records to explain (a held-out sample).
            path: PNG output path.
            max_display: Number of features shown.

        Returns:
            The written path.

        """
        encoded, values = self.shap_values(records)
        numeric = encoded.apply(
            lambda column: (
                column.cat.codes.replace(-1, np.nan).astype(float)
                if isinstance(column.dtype, pd.CategoricalDtype)
                else column.astype(float)
            )
        )
        explanation = shap.Explanation(
            values=values,
            base_values=np.full(len(encoded), float(np.ravel(self.explainer.expected_value)[0])),
            data=numeric.to_numpy(),
            feature_names=list(encoded.columns),
        )
        return save_beeswarm(explanation, path, max_display)

    def global_importance(self, records: pd.DataFrame) -> dict[str, float]:
        """Return mean |SHAP| per feature, largest first."""
        encoded, values = self.shap_values(records)
        importance = np.abs(values).mean(axis=0)
        order = np.argsort(-importance)
        return {str(encoded.columns[i]): float(importance[i]) for i in order}


def json_value(value: Any) -> Any:
    """Convert numpy/pandas scalars and missing values to JSON-ready Python values."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if pd.isna(value) if not isinstance(value, list | dict) else False:
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_beeswarm(explanation: shap.Explanation, path: Path, max_display: int = 15) -> Path:
    """Draw a SHAP beeswarm of ``explanation`` as a 9 x 6 in PNG and return the written path.

    Args:
        explanation: SHAP values with their base values, data and feature names.
        path: PNG output path (its folder is created).
        max_display: Number of features shown.

    Returns:
        The written path.
    """
    shap.plots.beeswarm(explanation, max_display=max_display, show=False)
    fig = plt.gcf()
    fig.set_size_inches(9, 6)
    return save_figure(fig, path)
