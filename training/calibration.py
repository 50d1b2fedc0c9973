"""Calibrate a fitted classifier's probabilities and wrap it with conformal prediction sets.

How (cheap and honest, the training split only; the test split is never touched until the
report):

1. **Calibration split by cross-fitting.** The fitted pipeline is cloned and refitted on
   ``folds`` folds of the *training* rows (``cross_val_predict``), so every training row gets
   an out-of-fold probability from a model that never saw it: the whole training split serves
   as the calibration split and the served model keeps every training row (this is what
   scikit-learn's ``CalibratedClassifierCV(ensemble=False)`` does). Costs ``folds`` extra fits
   (about 1-3 s per model here).
2. **Isotonic or Platt, chosen out of sample.** Both calibrators are fitted on the out-of-fold
   probabilities; the one with the lower *cross-validated* Brier score over those rows wins
   (ties within 1e-4: the lower ECE). In-sample Brier would always pick isotonic regression (it
   is the least-squares monotone fit), hence the inner cross-validation. Platt scaling is a
   logistic regression on the log-odds.
3. **Conformal sets** (:mod:`training.conformal`): MAPIE's split-conformal classifier on the
   cross-fitted calibrated probabilities (the calibrator that calibrated a row never saw it).
4. **Report on the test split**: ECE and Brier of the raw and calibrated probabilities, and the
   empirical coverage of the prediction sets next to the target.

ECE (expected calibration error) uses ``bins`` equal-width bins by default (``binning:
uniform``; ``quantile`` for equal-mass bins): ``sum_b n_b / n * |mean(y_b) - mean(p_b)|``.

The calibrated model stays one scikit-learn object: :class:`CalibratedPipeline` is the same
``encode -> model`` pipeline (so the booster fast path and TreeSHAP still read ``[0]`` and
``[-1]``) carrying a fitted :class:`ScoreCalibration` (``calibration_``) that maps the raw
positive-class probability monotonically. SHAP explanations stay on the raw model's log-odds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sklearn.base import clone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from training.conformal import (
    BinaryConformal,
    CoverageReport,
    fit_conformal,
    mapie_prediction_sets,
    measure_coverage,
)
from training.dataset import LabelledData

#: Two cross-validated Brier scores closer than this are a tie (broken by the ECE).
BRIER_TIE = 1e-4
_EPS = 1e-6


class CalibrationConfig(BaseModel):
    """The ``calibration`` section of a training config (defaults apply when absent)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    folds: int = Field(5, ge=2, le=10, description="Cross-fitting folds over the training rows.")
    methods: list[Literal["isotonic", "platt"]] = Field(
        default_factory=lambda: ["isotonic", "platt"], min_length=1
    )
    bins: int = Field(10, ge=2, le=50, description="ECE and reliability-diagram bins.")
    binning: Literal["uniform", "quantile"] = "uniform"
    coverage: float = Field(0.9, gt=0.0, lt=1.0, description="Target conformal coverage.")
    random_state: int = 0


def calibration_config_of(config: Any) -> CalibrationConfig:
    """Return a training config's ``calibration`` section, or the defaults."""
    section = getattr(config, "calibration", None)
    if section is None:
        return CalibrationConfig()
    if isinstance(section, CalibrationConfig):
        return section
    return CalibrationConfig.model_validate(
        section.model_dump() if isinstance(section, BaseModel) else section
    )


# --- calibration error -------------------------------------------------------------------------


def _bin_index(probabilities: np.ndarray, bins: int, binning: str) -> np.ndarray:
    """Return each probability's bin (equal-width or equal-mass)."""
    if binning == "quantile":
        edges = np.quantile(probabilities, np.linspace(0.0, 1.0, bins + 1))
        return np.searchsorted(edges[1:-1], probabilities, side="right")
    return np.minimum((probabilities * bins).astype(int), bins - 1)


def reliability_bins(
    labels: np.ndarray, probabilities: np.ndarray, bins: int = 10, binning: str = "uniform"
) -> list[dict[str, float]]:
    """Return the reliability diagram's non-empty bins.

    Args:
        labels: 0/1 labels.
        probabilities: Predicted positive-class probabilities.
        bins: Number of bins.
        binning: ``uniform`` (equal-width) or ``quantile`` (equal-mass).

    Returns:
        Per bin: ``mean_predicted``, ``observed`` (positive rate) and ``count``.
    """
    labels = np.asarray(labels, dtype=float).ravel()
    probabilities = np.clip(np.asarray(probabilities, dtype=float).ravel(), 0.0, 1.0)
    index = _bin_index(probabilities, bins, binning)
    out = []
    for b in range(bins):
        mask = index == b
        if mask.any():
            out.append(
                {
                    "mean_predicted": float(probabilities[mask].mean()),
                    "observed": float(labels[mask].mean()),
                    "count": int(mask.sum()),
                }
            )
    return out


def expected_calibration_error(
    labels: np.ndarray, probabilities: np.ndarray, bins: int = 10, binning: str = "uniform"
) -> float:
    """Return the expected calibration error: ``sum_b n_b / n * |observed_b - predicted_b|``.

    Args:
        labels: 0/1 labels.
        probabilities: Predicted positive-class probabilities.
        bins: Number of bins.
        binning: ``uniform`` (equal-width) or ``quantile`` (equal-mass).

    Returns:
        The ECE in [0, 1].

    Raises:
        ValueError: When there are no rows.
    """
    total = len(np.ravel(labels))
    if total == 0:
        raise ValueError("ECE needs at least one row")
    return float(
        sum(
            row["count"] / total * abs(row["observed"] - row["mean_predicted"])
            for row in reliability_bins(labels, probabilities, bins, binning)
        )
    )


# --- calibrators -------------------------------------------------------------------------------


def _log_odds(probabilities: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(probabilities, dtype=float).ravel(), _EPS, 1.0 - _EPS)
    return np.log(clipped / (1.0 - clipped))[:, None]


@dataclass(frozen=True)
class ProbabilityCalibrator:
    """A fitted monotone map of raw positive-class probabilities.

    Attributes:
        method: ``isotonic`` (IsotonicRegression) or ``platt`` (logistic on the log-odds).
        model: The fitted scikit-learn object.
    """

    method: str
    model: Any

    def transform(self, probabilities: np.ndarray) -> np.ndarray:
        """Return the calibrated probabilities, shape ``(n,)``."""
        raw = np.asarray(probabilities, dtype=float).ravel()
        if self.method == "isotonic":
            return np.clip(self.model.predict(raw), 0.0, 1.0)
        return self.model.predict_proba(_log_odds(raw))[:, 1]


def fit_calibrator(
    method: str, probabilities: np.ndarray, labels: np.ndarray
) -> ProbabilityCalibrator:
    """Fit one calibrator on (out-of-fold) probabilities and their labels.

    Args:
        method: ``isotonic`` or ``platt``.
        probabilities: Raw positive-class probabilities.
        labels: 0/1 labels.

    Returns:
        The fitted calibrator.

    Raises:
        ValueError: For an unknown method.
    """
    raw = np.asarray(probabilities, dtype=float).ravel()
    labels = np.asarray(labels).astype(int).ravel()
    if method == "isotonic":
        model: Any = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        model.fit(raw, labels)
    elif method == "platt":
        model = LogisticRegression(C=np.inf).fit(_log_odds(raw), labels)
    else:
        raise ValueError(f"unknown calibration method {method!r} (isotonic or platt)")
    return ProbabilityCalibrator(method, model)


@dataclass(frozen=True)
class CalibratorChoice:
    """The chosen calibrator, with the evidence of the choice.

    Attributes:
        calibrator: The winner, refitted on every calibration row.
        scores: Each method's mean cross-validated ``brier`` and ``ece``.
        cross_fitted: The winner's cross-fitted probabilities (each row calibrated by a map
            that never saw it).
    """

    calibrator: ProbabilityCalibrator
    scores: dict[str, dict[str, float]]
    cross_fitted: np.ndarray


def choose_calibrator(
    probabilities: np.ndarray, labels: np.ndarray, config: CalibrationConfig
) -> CalibratorChoice:
    """Pick isotonic or Platt by the cross-validated Brier score (ties: the lower ECE).

    Args:
        probabilities: Out-of-fold raw probabilities of the calibration rows.
        labels: Their 0/1 labels.
        config: Methods, folds, bins.

    Returns:
        The winner refitted on every row, each method's mean ``brier`` and ``ece`` over the
        folds, and the winner's cross-fitted probabilities.
    """
    raw = np.asarray(probabilities, dtype=float).ravel()
    labels = np.asarray(labels).astype(int).ravel()
    splitter = StratifiedKFold(config.folds, shuffle=True, random_state=config.random_state)
    scores: dict[str, dict[str, float]] = {}
    crossed: dict[str, np.ndarray] = {}
    for method in config.methods:
        predicted = np.empty_like(raw)
        briers, eces = [], []
        for fit_rows, held_rows in splitter.split(raw[:, None], labels):
            calibrator = fit_calibrator(method, raw[fit_rows], labels[fit_rows])
            predicted[held_rows] = calibrator.transform(raw[held_rows])
            briers.append(brier_score_loss(labels[held_rows], predicted[held_rows]))
            eces.append(
                expected_calibration_error(
                    labels[held_rows], predicted[held_rows], config.bins, config.binning
                )
            )
        scores[method] = {"brier": float(np.mean(briers)), "ece": float(np.mean(eces))}
        crossed[method] = predicted
    lowest = min(values["brier"] for values in scores.values())
    tied = [m for m in config.methods if scores[m]["brier"] <= lowest + BRIER_TIE]
    best = min(tied, key=lambda m: scores[m]["ece"])
    return CalibratorChoice(fit_calibrator(best, raw, labels), scores, crossed[best])


# --- the calibrated model ----------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreCalibration:
    """What the served model applies after the raw model: calibration, then conformal sets.

    Attributes:
        calibrator: The monotone probability map.
        conformal: The split-conformal classifier over calibrated probabilities.
    """

    calibrator: ProbabilityCalibrator
    conformal: BinaryConformal

    @property
    def method(self) -> str:
        """Return the calibration method."""
        return self.calibrator.method

    @property
    def coverage(self) -> float:
        """Return the target coverage of the prediction sets."""
        return self.conformal.coverage

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        """Return calibrated positive-class probabilities of raw ones."""
        return self.calibrator.transform(raw)

    def assess(self, calibrated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the prediction sets ``(n, 2)`` and conformal confidences ``(n,)``."""
        return self.conformal.prediction_sets(calibrated), self.conformal.confidence(calibrated)


class CalibratedPipeline(Pipeline):
    """An ``encode -> model`` pipeline whose probabilities are calibrated.

    Indexing, SHAP and the booster fast path see the raw steps; :meth:`predict_proba` and
    :meth:`predict` apply :attr:`calibration_` (set after fitting; ``None`` behaves as the plain
    pipeline, e.g. after ``sklearn.clone``).
    """

    calibration_: ScoreCalibration | None = None

    def predict_proba(self, X: Any, **params: Any) -> np.ndarray:
        """Return ``[1 - p, p]`` with ``p`` the calibrated positive-class probability."""
        raw = super().predict_proba(X, **params)
        if self.calibration_ is None:
            return raw
        positive = self.calibration_.probabilities(raw[:, 1])
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: Any, **params: Any) -> np.ndarray:
        """Return the class whose calibrated probability is at least 0.5."""
        if self.calibration_ is None:
            return super().predict(X, **params)
        positive = self.predict_proba(X, **params)[:, 1]
        return np.asarray(self.classes_)[(positive >= 0.5).astype(int)]


def calibration_of(model: Any) -> ScoreCalibration | None:
    """Return a model's :class:`ScoreCalibration` (None for a plain, uncalibrated model)."""
    return getattr(model, "calibration_", None)


def out_of_fold_probabilities(
    pipeline: Pipeline,
    data: LabelledData,
    folds: int,
    random_state: int = 0,
    group_by_id: bool = False,
) -> np.ndarray:
    """Return each training row's positive-class probability from a clone that never saw it.

    Args:
        pipeline: The fitted (or unfitted) pipeline; it is cloned, never refitted.
        data: The training rows.
        folds: Number of folds.
        random_state: Seed of the folds.
        group_by_id: Keep every row of one entity in one fold (tables with snapshots).

    Returns:
        Out-of-fold probabilities, shape ``(n,)``.
    """
    groups = data.ids.to_numpy() if group_by_id else None
    splitter: Any = (
        StratifiedGroupKFold(folds, shuffle=True, random_state=random_state)
        if group_by_id
        else StratifiedKFold(folds, shuffle=True, random_state=random_state)
    )
    estimator = clone(pipeline)
    last = estimator.steps[-1][0]
    if "n_jobs" in estimator[-1].get_params():
        # one thread per fit: on a busy 2-core machine OpenMP threads spin and a fit with two
        # threads can take 10x longer than with one (the folds are small)
        estimator.set_params(**{f"{last}__n_jobs": 1})
    probabilities = cross_val_predict(
        estimator,
        data.features,
        data.labels,
        groups=groups,
        cv=splitter,
        method="predict_proba",
    )
    return np.asarray(probabilities)[:, 1]


@dataclass
class CalibrationReport:
    """Calibration and conformal coverage of one model, measured on its test split."""

    model_name: str
    method: str
    folds: int
    bins: int
    binning: str
    calibration_rows: int
    ece_before: float
    ece_after: float
    brier_before: float
    brier_after: float
    cv_scores: dict[str, dict[str, float]]
    coverage: CoverageReport
    reliability: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    seconds: float = 0.0

    def metrics(self) -> dict[str, float]:
        """Return the flat metrics logged to MLflow."""
        return {
            "calibration_ece_before": self.ece_before,
            "calibration_ece_after": self.ece_after,
            "calibration_brier_before": self.brier_before,
            "calibration_brier_after": self.brier_after,
            "conformal_coverage_target": self.coverage.target,
            "conformal_coverage": self.coverage.measured,
            "conformal_mean_set_size": self.coverage.mean_set_size,
            "conformal_singleton_share": self.coverage.singleton_share,
        }

    def to_dict(self, include_reliability: bool = True) -> dict[str, Any]:
        """Return the JSON document the dashboard reads (``calibration.json``).

        Args:
            include_reliability: Include the reliability-diagram bins (before and after).
        """
        out = {
            "model_name": self.model_name,
            "method": self.method,
            "folds": self.folds,
            "bins": self.bins,
            "binning": self.binning,
            "calibration_rows": self.calibration_rows,
            "test_rows": self.coverage.rows,
            "ece": {"before": round(self.ece_before, 4), "after": round(self.ece_after, 4)},
            "brier": {"before": round(self.brier_before, 4), "after": round(self.brier_after, 4)},
            "cv_scores": {
                method: {key: round(value, 5) for key, value in values.items()}
                for method, values in self.cv_scores.items()
            },
            "conformal": {"score": "lac", **self.coverage.to_dict()},
            "seconds": round(self.seconds, 2),
        }
        if include_reliability:
            out["reliability"] = self.reliability
        return out

    def to_markdown(self) -> str:
        """Return the model card's calibration section body."""
        cov = self.coverage
        by_class = ", ".join(f"class {k}: {v:.3f}" for k, v in cov.by_class.items())
        cv = "; ".join(
            f"{m} Brier {s['brier']:.4f}, ECE {s['ece']:.4f}" for m, s in self.cv_scores.items()
        )
        return (
            f"Calibrated with **{self.method}** on {self.calibration_rows} out-of-fold training "
            f"rows ({self.folds}-fold cross-fitting; chosen by cross-validated Brier: {cv}).\n\n"
            "| on the test split | raw model | calibrated |\n|---|---|---|\n"
            f"| ECE ({self.bins} {self.binning} bins) | {self.ece_before:.4f} | "
            f"{self.ece_after:.4f} |\n"
            f"| Brier | {self.brier_before:.4f} | {self.brier_after:.4f} |\n\n"
            f"Conformal prediction sets (MAPIE split-conformal, LAC score) at a "
            f"{cov.target:.0%} target: measured coverage **{cov.measured:.3f}** on "
            f"{cov.rows} test rows ({by_class}); mean set size {cov.mean_set_size:.3f}, "
            f"{cov.singleton_share:.1%} single-class sets, {cov.empty_share:.1%} empty.\n"
        )


@dataclass(frozen=True)
class CalibratedModel:
    """The calibrated pipeline and its report."""

    pipeline: CalibratedPipeline
    report: CalibrationReport


def calibrate_model(
    pipeline: Pipeline,
    train: LabelledData,
    test: LabelledData,
    config: CalibrationConfig,
    model_name: str,
    group_by_id: bool = False,
) -> CalibratedModel:
    """Calibrate a fitted binary classifier pipeline and measure it on the test split.

    Args:
        pipeline: The fitted pipeline (not refitted; shared with the result).
        train: Its training rows (the calibration split, by cross-fitting).
        test: The held-out rows (only measured).
        config: Folds, methods, bins, coverage.
        model_name: Named in the report.
        group_by_id: Keep an entity's rows in one fold (see the training split).

    Returns:
        The :class:`CalibratedPipeline` (same fitted steps) and the report.
    """
    started = time.perf_counter()
    labels = train.labels.to_numpy().astype(int)
    oof = out_of_fold_probabilities(pipeline, train, config.folds, config.random_state, group_by_id)
    choice = choose_calibrator(oof, labels, config)
    conformal, mapie = fit_conformal(choice.cross_fitted, labels, config.coverage)
    calibrated = CalibratedPipeline(
        list(pipeline.steps), memory=pipeline.memory, verbose=pipeline.verbose
    )
    calibrated.calibration_ = ScoreCalibration(choice.calibrator, conformal)
    test_labels = test.labels.to_numpy().astype(int)
    raw = pipeline.predict_proba(test.features)[:, 1]
    after = choice.calibrator.transform(raw)
    coverage = measure_coverage(mapie_prediction_sets(mapie, after), test_labels, config.coverage)
    report = CalibrationReport(
        model_name=model_name,
        method=choice.calibrator.method,
        folds=config.folds,
        bins=config.bins,
        binning=config.binning,
        calibration_rows=len(labels),
        ece_before=expected_calibration_error(test_labels, raw, config.bins, config.binning),
        ece_after=expected_calibration_error(test_labels, after, config.bins, config.binning),
        brier_before=float(brier_score_loss(test_labels, raw)),
        brier_after=float(brier_score_loss(test_labels, after)),
        cv_scores=choice.scores,
        coverage=coverage,
        reliability={
            "before": reliability_bins(test_labels, raw, config.bins, config.binning),
            "after": reliability_bins(test_labels, after, config.bins, config.binning),
        },
    )
    report.seconds = time.perf_counter() - started
    return CalibratedModel(calibrated, report)
