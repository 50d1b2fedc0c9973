"""Split-conformal prediction sets and conformal confidence for binary classifiers (MAPIE).

The conformity score is MAPIE's ``"lac"`` (least ambiguous set-valued classifier, Sadinle et
al. 2019): ``s(x, y) = 1 - p(y | x)`` on the *calibrated* probability. MAPIE's
:class:`~mapie.classification.SplitConformalClassifier` computes the scores of a calibration
split and their finite-sample quantile ``q`` (the ``ceil((n + 1) * coverage)``-th smallest);
the prediction set of a new row is ``{y : 1 - p(y | x) <= q}``: it holds the true class with
probability at least ``coverage`` (marginally, for exchangeable rows). A binary set is
``{0}``, ``{1}``, ``{0, 1}`` (the model cannot tell at that coverage) or empty (neither class
is plausible: rare, only with a very sharp model).

:class:`BinaryConformal` keeps the sorted calibration scores and ``q`` (a few KB stored with
the model), so the serving path computes sets and p-values with numpy only, and the same sets as
MAPIE's ``predict_set`` (a model test checks it). Its :meth:`BinaryConformal.confidence` is
built from the two classes' conformal p-values (Vovk, Gammerman and Shafer): the share of
coverage levels at which the prediction set is the single predicted class.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

#: MAPIE's tolerance when comparing a score with the quantile (``mapie._machine_precision``).
SCORE_TOLERANCE = 1e-8


class ProbabilityPassthrough(ClassifierMixin, BaseEstimator):
    """A "prefit" binary classifier whose input *is* the positive-class probability.

    MAPIE conformalizes an estimator's ``predict_proba``; the calibration rows' probabilities
    are out-of-fold scores (see :mod:`training.calibration`), not the final model's, so MAPIE
    is handed this passthrough with the probabilities as its single feature.
    """

    def __init__(self) -> None:
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = 1

    def fit(self, features: Any, labels: Any) -> ProbabilityPassthrough:
        """Do nothing (the probabilities are already fitted); kept for the sklearn API."""
        del features, labels
        return self

    def predict_proba(self, features: Any) -> np.ndarray:
        """Return ``[1 - p, p]`` of the probabilities in the first column."""
        positive = np.clip(np.asarray(features, dtype=float).reshape(len(features), -1)[:, 0], 0, 1)
        return np.column_stack([1.0 - positive, positive])

    def predict(self, features: Any) -> np.ndarray:
        """Return the more probable class."""
        return (self.predict_proba(features)[:, 1] >= 0.5).astype(int)


@dataclass(frozen=True)
class BinaryConformal:
    """A fitted split-conformal binary classifier over calibrated probabilities.

    Attributes:
        coverage: Target coverage of the prediction sets (e.g. 0.9).
        quantile: MAPIE's conformity-score quantile ``q`` at that coverage.
        scores: Sorted conformity scores (``1 - p(true class)``) of the calibration rows.
    """

    coverage: float
    quantile: float
    scores: np.ndarray

    @property
    def size(self) -> int:
        """Return the number of calibration rows."""
        return len(self.scores)

    def prediction_sets(self, probabilities: np.ndarray) -> np.ndarray:
        """Return the membership of each class in each row's prediction set.

        Args:
            probabilities: Calibrated positive-class probabilities, shape ``(n,)``.

        Returns:
            Booleans of shape ``(n, 2)``: column 0 "class 0 in the set", column 1 "class 1".
        """
        both = _both_classes(probabilities)
        return (1.0 - both) - self.quantile <= SCORE_TOLERANCE

    def p_values(self, probabilities: np.ndarray) -> np.ndarray:
        """Return each class's conformal p-value: ``(1 + #{scores >= s}) / (n + 1)``.

        Args:
            probabilities: Calibrated positive-class probabilities, shape ``(n,)``.

        Returns:
            P-values of shape ``(n, 2)`` (column 0 for class 0, column 1 for class 1).
        """
        candidate = 1.0 - _both_classes(probabilities)
        at_least = self.size - np.searchsorted(self.scores, candidate - SCORE_TOLERANCE, "left")
        return (at_least + 1.0) / (self.size + 1.0)

    def confidence(self, probabilities: np.ndarray) -> np.ndarray:
        """Return the conformal confidence: the share of coverage levels with a one-class set.

        The prediction set at coverage ``c`` is ``{y : p_y > 1 - c}`` (``p_y`` the class's
        p-value), so it is exactly the predicted class for every ``c`` in
        ``(1 - p_predicted, 1 - p_other]``: an interval of length
        ``p_predicted - p_other``. That length, in [0, 1], is the confidence: 0 for a row on the
        decision boundary (no coverage level singles out a class), near 1 when the model commits
        to one class at every level. Unlike the max class probability it is measured against
        how often the calibrated probabilities were wrong on the calibration split. At the
        configured :attr:`coverage` the set is a single class exactly when
        ``1 - p_predicted < coverage <= 1 - p_other``.

        Args:
            probabilities: Calibrated positive-class probabilities, shape ``(n,)``.

        Returns:
            Confidences, shape ``(n,)``.
        """
        values = self.p_values(probabilities)
        return np.abs(values[:, 1] - values[:, 0])


def _both_classes(probabilities: np.ndarray) -> np.ndarray:
    """Return ``[1 - p, p]`` for positive-class probabilities ``p``."""
    positive = np.clip(np.asarray(probabilities, dtype=float).ravel(), 0.0, 1.0)
    return np.column_stack([1.0 - positive, positive])


def fit_conformal(
    probabilities: np.ndarray, labels: np.ndarray, coverage: float = 0.9
) -> tuple[BinaryConformal, Any]:
    """Conformalize calibrated probabilities with MAPIE's split-conformal classifier (LAC).

    Args:
        probabilities: Calibrated positive-class probabilities of the calibration rows
            (out-of-fold: the model that scored a row never saw it).
        labels: Their 0/1 labels.
        coverage: Target coverage of the prediction sets.

    Returns:
        The numpy-only :class:`BinaryConformal` (stored with the model) and the fitted MAPIE
        ``SplitConformalClassifier`` (its ``predict_set`` takes ``probabilities[:, None]``).

    Raises:
        ValueError: When the coverage is not in (0, 1) or there are too few rows for it.
    """
    from mapie.classification import SplitConformalClassifier

    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must be in (0, 1), got {coverage}")
    probabilities = np.asarray(probabilities, dtype=float).ravel()
    labels = np.asarray(labels).astype(int).ravel()
    if np.ceil((len(labels) + 1) * coverage) > len(labels):
        raise ValueError(f"{len(labels)} calibration rows are too few for coverage {coverage}")
    mapie = SplitConformalClassifier(
        estimator=ProbabilityPassthrough(),
        confidence_level=coverage,
        conformity_score="lac",
        prefit=True,
    )
    mapie.conformalize(probabilities[:, None], labels)
    scores = np.sort(np.asarray(mapie.conformity_scores, dtype=float).ravel())
    quantile = conformal_quantile(scores, coverage)
    return BinaryConformal(coverage=coverage, quantile=quantile, scores=scores), mapie


def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """Return MAPIE's split-conformal quantile: the ``ceil((n + 1) * coverage)``-th smallest score.

    Same arithmetic as MAPIE's classification quantile (``alpha`` from the decimal coverage,
    numpy ``method="lower"``), so the sets equal ``predict_set``'s.
    """
    alpha = float(Decimal("1") - Decimal(str(coverage)))
    level = np.ceil((len(scores) + 1) * (1 - alpha)) / len(scores)
    return float(np.quantile(scores, level, method="lower"))


def mapie_prediction_sets(mapie: Any, probabilities: np.ndarray) -> np.ndarray:
    """Return MAPIE's prediction sets of calibrated probabilities, shape ``(n, 2)``."""
    _, sets = mapie.predict_set(np.asarray(probabilities, dtype=float).reshape(-1, 1))
    return np.asarray(sets)[:, :, 0].astype(bool)


@dataclass(frozen=True)
class CoverageReport:
    """Empirical behaviour of prediction sets on labelled rows (the held-out split).

    Attributes:
        target: Target coverage.
        measured: Share of rows whose set holds the true class.
        by_class: Measured coverage among the rows of each class (``"0"``, ``"1"``).
        mean_set_size: Average number of classes in a set.
        singleton_share: Share of sets with exactly one class.
        empty_share: Share of empty sets.
        rows: Rows measured.
    """

    target: float
    measured: float
    by_class: dict[str, float]
    mean_set_size: float
    singleton_share: float
    empty_share: float
    rows: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (rounded)."""
        return {
            "target": self.target,
            "measured": round(self.measured, 4),
            "by_class": {key: round(value, 4) for key, value in self.by_class.items()},
            "mean_set_size": round(self.mean_set_size, 4),
            "singleton_share": round(self.singleton_share, 4),
            "empty_share": round(self.empty_share, 4),
            "rows": self.rows,
        }


def measure_coverage(sets: np.ndarray, labels: np.ndarray, target: float) -> CoverageReport:
    """Measure prediction sets against the true labels.

    Args:
        sets: Booleans of shape ``(n, 2)`` (see :meth:`BinaryConformal.prediction_sets`).
        labels: The 0/1 labels.
        target: The target coverage, reported alongside.

    Returns:
        Coverage overall and per class, set sizes.
    """
    labels = np.asarray(labels).astype(int).ravel()
    covered = sets[np.arange(len(labels)), labels]
    sizes = sets.sum(axis=1)
    by_class = {str(c): float(covered[labels == c].mean()) for c in (0, 1) if (labels == c).any()}
    return CoverageReport(
        target=target,
        measured=float(covered.mean()),
        by_class=by_class,
        mean_set_size=float(sizes.mean()),
        singleton_share=float((sizes == 1).mean()),
        empty_share=float((sizes == 0).mean()),
        rows=len(labels),
    )


def set_labels(row: np.ndarray) -> list[int]:
    """Return the classes in one row of :meth:`BinaryConformal.prediction_sets`."""
    return [label for label in (0, 1) if bool(row[label])]
