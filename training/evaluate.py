"""Held-out evaluation of binary classifiers: metrics and the plots people look at."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)


def compute_classification_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Compute the standard binary metrics at a decision threshold.

    Args:
        y_true: 0/1 labels.
        probabilities: Predicted probability of class 1.
        threshold: Decision threshold for the label metrics.

    Returns:
        accuracy, roc_auc, pr_auc, precision, recall (TPR), f1, brier, log_loss.

    """
    y_true = np.asarray(y_true)
    probabilities = np.asarray(probabilities, dtype=float)
    predicted = (probabilities >= threshold).astype(int)
    return {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "roc_auc": float(roc_auc_score(y_true, probabilities)),
        "pr_auc": float(average_precision_score(y_true, probabilities)),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "brier": float(brier_score_loss(y_true, probabilities)),
        "log_loss": float(log_loss(y_true, np.clip(probabilities, 1e-7, 1 - 1e-7))),
    }


def plot_roc_pr(y_true: np.ndarray, curves: dict[str, np.ndarray], path: Path) -> Path:
    """Draw ROC and precision-recall curves of several models side by side.

    Args:
        y_true: 0/1 labels.
        curves: Model name -> predicted probabilities.
        path: PNG output path.

    Returns:
        The written path.

    """
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, probabilities in curves.items():
        fpr, tpr, _ = roc_curve(y_true, probabilities)
        auc = roc_auc_score(y_true, probabilities)
        roc_ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
        precision, recall, _ = precision_recall_curve(y_true, probabilities)
        ap = average_precision_score(y_true, probabilities)
        pr_ax.plot(recall, precision, label=f"{name} (AP {ap:.3f})")
    roc_ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    roc_ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC")
    pr_ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall")
    for ax in (roc_ax, pr_ax):
        ax.legend(loc="lower right" if ax is roc_ax else "lower left")
        ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_calibration(
    y_true: np.ndarray, probabilities: np.ndarray, path: Path, bins: int = 10
) -> Path:
    """Draw the reliability curve and the score histogram.

    Args:
        y_true: 0/1 labels.
        probabilities: Predicted probability of class 1.
        path: PNG output path.
        bins: Number of probability bins.

    Returns:
        The written path.

    """
    frac_pos, mean_pred = calibration_curve(y_true, probabilities, n_bins=bins)
    fig, (cal_ax, hist_ax) = plt.subplots(2, 1, figsize=(6, 7), height_ratios=[3, 1])
    cal_ax.plot([0, 1], [0, 1], "k--", linewidth=0.8, label="perfectly calibrated")
    brier = brier_score_loss(y_true, probabilities)
    cal_ax.plot(mean_pred, frac_pos, "o-", label=f"model (Brier {brier:.3f})")
    cal_ax.set(xlabel="Mean predicted probability", ylabel="Observed conversion rate")
    cal_ax.set_title("Reliability curve")
    cal_ax.legend()
    cal_ax.grid(alpha=0.3)
    hist_ax.hist(probabilities, bins=bins * 2, range=(0, 1), color="tab:gray")
    hist_ax.set(xlabel="Predicted probability", ylabel="Leads")
    return save_figure(fig, path)


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Save a matplotlib figure as PNG (creating its folder), close it and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
