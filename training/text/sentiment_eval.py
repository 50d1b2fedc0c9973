"""Evaluation of the sentiment model: metrics, the TF-IDF baseline, the confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import Pipeline, make_pipeline

from training.text.corpora import SENTIMENT_LABELS

#: Published figures on the airline tweets (twitter_airline_sentiment/PROVENANCE.md).
PUBLISHED_AIRLINE: dict[str, dict[str, float]] = {
    "multinomial_nb": {"accuracy": 0.772},
    "svc": {"accuracy": 0.788},
    "bert_base_uncased": {"accuracy": 0.820, "macro_f1": 0.76},
}


def build_tfidf_baseline(seed: int) -> Pipeline:
    """Return the TF-IDF (word 1-2 grams) + logistic-regression baseline.

    Args:
        seed: Solver seed.

    Returns:
        An unfitted pipeline.
    """
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        LogisticRegression(C=4.0, max_iter=2000, random_state=seed),
    )


def align_proba(pipeline: Pipeline, texts: list[str]) -> np.ndarray:
    """Return a fitted classifier's probabilities with columns in class-index order 0..2."""
    raw = pipeline.predict_proba(texts)
    out = np.zeros((len(texts), len(SENTIMENT_LABELS)))
    for column, cls in enumerate(pipeline.classes_):
        out[:, int(cls)] = raw[:, column]
    return out


def compute_sentiment_metrics(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Compute accuracy, macro-F1 and per-class F1 of three-class probabilities.

    Args:
        y_true: Class indices (order of :data:`SENTIMENT_LABELS`).
        probabilities: ``(n, 3)`` probabilities.

    Returns:
        ``accuracy``, ``macro_f1`` and ``f1_<label>`` for each class.
    """
    predicted = probabilities.argmax(axis=1)
    labels = list(range(len(SENTIMENT_LABELS)))
    per_class = f1_score(y_true, predicted, labels=labels, average=None, zero_division=0)
    metrics = {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "macro_f1": float(f1_score(y_true, predicted, average="macro", zero_division=0)),
    }
    for name, value in zip(SENTIMENT_LABELS, per_class, strict=True):
        metrics[f"f1_{name}"] = float(value)
    return metrics


def binary_polarity_accuracy(targets: np.ndarray, probabilities: np.ndarray) -> float:
    """Accuracy of negative-vs-positive calls made by comparing ``p_neg`` with ``p_pos``.

    Args:
        targets: 1 = positive, 0 = negative.
        probabilities: ``(n, 3)`` probabilities in :data:`SENTIMENT_LABELS` order.

    Returns:
        The accuracy (neutral mass is ignored).
    """
    negative = SENTIMENT_LABELS.index("negative")
    positive = SENTIMENT_LABELS.index("positive")
    predicted = (probabilities[:, positive] > probabilities[:, negative]).astype(int)
    return float(np.mean(predicted == np.asarray(targets)))


def plot_confusion_matrix(matrix: np.ndarray, title: str, path: Path) -> Path:
    """Draw a labelled confusion matrix (rows: truth, columns: prediction).

    Args:
        matrix: Square count matrix in :data:`SENTIMENT_LABELS` order.
        title: Figure title.
        path: Target PNG.

    Returns:
        The written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    figure, axis = plt.subplots(figsize=(5.5, 4.5))
    ConfusionMatrixDisplay(matrix, display_labels=list(SENTIMENT_LABELS)).plot(
        ax=axis, cmap="Blues", colorbar=False, values_format="d"
    )
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
