"""Informational fairness audit of the win-probability model (per regional office)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from sklearn.metrics import brier_score_loss, roc_auc_score


def _auc_or_nan(y_true: np.ndarray, y_score: np.ndarray) -> float:
    if len(np.unique(y_true)) < 2:
        return float("nan")
    return float(roc_auc_score(y_true, y_score))


def audit_win_disparity(
    y_true: np.ndarray, probabilities: np.ndarray, groups: pd.Series
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Audit win-probability quality per group with Fairlearn's MetricFrame (informational).

    Maven has no protected attribute; ``regional_office`` is audited so that a model that is
    much worse (or systematically more optimistic) for one region is visible.

    Args:
        y_true: 0/1 won labels.
        probabilities: Predicted win probabilities.
        groups: The group of each row.

    Returns:
        Per-group table (count, win rate, mean predicted, ROC AUC, Brier) and the spreads
        (max - min) of ROC AUC, mean predicted probability and calibration gap.

    """
    frame = MetricFrame(
        metrics={
            "count": lambda y, p: float(len(y)),
            "win_rate": lambda y, p: float(np.mean(y)),
            "mean_predicted": lambda y, p: float(np.mean(p)),
            "roc_auc": _auc_or_nan,
            "brier": lambda y, p: float(brier_score_loss(y, p)),
        },
        y_true=np.asarray(y_true, dtype=int),
        y_pred=np.asarray(probabilities, dtype=float),
        sensitive_features=groups.astype(str).to_numpy(),
    )
    by_group = frame.by_group.astype(float)
    by_group.index.name = str(groups.name or "group")
    gap = by_group["mean_predicted"] - by_group["win_rate"]

    def spread(values: pd.Series) -> float:
        defined = values.dropna()
        return float(defined.max() - defined.min()) if len(defined) >= 2 else 0.0

    disparities = {
        "roc_auc_spread": spread(by_group["roc_auc"]),
        "mean_predicted_spread": spread(by_group["mean_predicted"]),
        "calibration_gap_spread": spread(gap),
    }
    return by_group, disparities
