"""Online lead scoring: probability -> 0-100 score, confidence, SHAP factors and next actions.

A model trained by :func:`training.train.evaluate_models` is a
:class:`training.calibration.CalibratedPipeline`: the served ``probability`` is the calibrated
one, ``prediction_set`` the conformal set at the model's ``coverage`` and ``confidence`` the
conformal confidence (:meth:`training.conformal.BinaryConformal.confidence`); SHAP factors
explain the raw model's log-odds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from training.booster import BoosterScorer
from training.calibration import ScoreCalibration, calibration_of
from training.conformal import set_labels
from training.explain import Contribution, TreeShapExplainer
from training.pipeline_shap import PipelineShap, input_columns

#: Score bands (lower bound inclusive) and the action a rep should take.
SCORE_BANDS: tuple[tuple[int, str, str], ...] = (
    (70, "hot", "Call within 24 hours: the lead is likely to convert."),
    (40, "warm", "Send a personalised follow-up email and propose a demo slot."),
    (0, "cold", "Add to the nurture campaign; re-score after new engagement."),
)

#: Advice when a feature pulls a score down, keyed by a substring of the feature name.
FACTOR_ADVICE: tuple[tuple[str, str], ...] = (
    ("Time Spent", "Invite the lead to a webinar or product tour to deepen engagement."),
    ("TotalVisits", "Retarget with content that brings the lead back to the website."),
    ("Page Views", "Share a focused landing page that answers the lead's main question."),
    ("occupation", "Qualify the lead's current occupation on the next call."),
    ("Lead Origin", "Route the lead to the team that handles this acquisition channel."),
    ("Lead Source", "Use the channel-specific follow-up playbook for this lead source."),
    ("Do Not Email", "Email is blocked: switch to phone or social outreach."),
    ("Specialization", "Recommend the course track that matches the lead's specialization."),
)


@dataclass(frozen=True)
class LeadScore:
    """A scored lead, as returned by the API."""

    contact_id: str
    score: int
    probability: float
    confidence: float
    band: str
    contributions: list[Contribution] = field(default_factory=list)
    recommended_actions: list[str] = field(default_factory=list)
    #: Classes in the conformal prediction set (1 = converts/churns); None: uncalibrated model.
    prediction_set: tuple[int, ...] | None = None
    #: Target coverage of :attr:`prediction_set` (e.g. 0.9); None: uncalibrated model.
    coverage: float | None = None

    def to_dict(self, include_explanation: bool = True) -> dict[str, Any]:
        """Return a JSON-ready dict; contributions are omitted unless requested."""
        out: dict[str, Any] = {
            "contact_id": self.contact_id,
            "score": self.score,
            "probability": round(self.probability, 4),
            "confidence": round(self.confidence, 4),
            "band": self.band,
            "recommended_actions": self.recommended_actions,
            "prediction_set": None if self.prediction_set is None else list(self.prediction_set),
            "coverage": self.coverage,
        }
        if include_explanation:
            out["contributions"] = [c.to_dict() for c in self.contributions]
            out["explanation"] = explain_in_words(self)
        return out


def probability_to_score(probability: float) -> int:
    """Map a calibrated probability to the 0-100 score shown to reps."""
    return min(max(round(probability * 100), 0), 100)


def confidence_of(probability: float, calibration: ScoreCalibration | None = None) -> float:
    """Return the model's confidence in its call, in [0, 1].

    With the model's calibration (every model trained since calibration exists): the conformal
    confidence, the share of coverage levels at which the conformal prediction set is the
    single predicted class (:meth:`training.conformal.BinaryConformal.confidence`): 0 on the
    decision boundary, near 1 for a call the calibration split says is rarely wrong.
    Without one (a model registered before calibration existed, or a model without conformal
    data): the probability of the predicted class, in [0.5, 1].

    Args:
        probability: The (calibrated) positive-class probability.
        calibration: The model's :class:`training.calibration.ScoreCalibration`, if any.

    Returns:
        The confidence.
    """
    if calibration is None:
        return float(max(probability, 1.0 - probability))
    return float(calibration.conformal.confidence(np.array([probability]))[0])


def band_of(score: int) -> tuple[str, str]:
    """Return the (band name, action) of a score."""
    for lower, name, action in SCORE_BANDS:
        if score >= lower:
            return name, action
    return SCORE_BANDS[-1][1], SCORE_BANDS[-1][2]


def recommend_actions(score: int, contributions: list[Contribution], limit: int = 3) -> list[str]:
    """Rank actions: the band's action first, then advice for the factors that pull down.

    Args:
        score: The 0-100 score.
        contributions: The record's SHAP contributions.
        limit: Maximum number of actions.

    Returns:
        Distinct actions, most important first.

    """
    actions = [band_of(score)[1]]
    for contribution in contributions:
        if contribution.impact >= 0:
            continue
        for key, advice in FACTOR_ADVICE:
            if key.lower() in contribution.feature.lower() and advice not in actions:
                actions.append(advice)
                break
    return actions[:limit]


def explain_in_words(score: LeadScore) -> str:
    """Return a one-sentence explanation naming the strongest factors each way."""
    ups = [c.feature for c in score.contributions if c.impact > 0][:2]
    downs = [c.feature for c in score.contributions if c.impact < 0][:2]
    parts = [f"Score {score.score}/100 ({score.band})."]
    if ups:
        parts.append(f"Raised by {', '.join(ups)}.")
    if downs:
        parts.append(f"Lowered by {', '.join(downs)}.")
    return " ".join(parts)


class LeadScorer:
    """Score raw lead records with a fitted pipeline and explain each score with SHAP.

    Args:
        pipeline: Fitted ``encode -> XGBoost`` pipeline (booster fast path), or a fitted
            ``ColumnTransformer -> tree ensemble`` pipeline such as the baseline served when it
            wins the baseline gate (:class:`training.pipeline_shap.PipelineShap`: SHAP summed
            back to the raw input columns).
        top_k: Contributions returned per lead.

    """

    def __init__(self, pipeline: Pipeline, top_k: int = 5) -> None:
        self.pipeline = pipeline
        self.top_k = top_k
        self.booster = BoosterScorer(pipeline) if BoosterScorer.supports(pipeline) else None
        self.calibration = calibration_of(pipeline)
        self.generic = PipelineShap(pipeline) if PipelineShap.supports(pipeline) else None

    @cached_property
    def explainer(self) -> TreeShapExplainer:
        """Return the ``shap`` explainer of the pandas path (built on first use only)."""
        return TreeShapExplainer(self.pipeline)

    @property
    def feature_columns(self) -> list[str]:
        """Return the raw input columns the model expects."""
        return input_columns(self.pipeline)

    def probabilities(self, records: pd.DataFrame) -> np.ndarray:
        """Return the served (calibrated) probabilities of records, without explanations.

        Args:
            records: Raw records holding the model's input columns.

        Returns:
            The positive-class probability of each record, as :meth:`score` serves it.
        """
        frame = records[self.feature_columns]
        if self.booster is not None:
            raw = self.booster.predict(self.booster.matrix(frame.to_numpy(dtype=object)))
        elif self.generic is not None:
            raw = self.generic.predict(frame.reset_index(drop=True))
        else:
            raw = self.pipeline[-1].predict_proba(self.pipeline[:-1].transform(frame))[:, 1]
        raw = np.asarray(raw, dtype=float)
        return raw if self.calibration is None else self.calibration.probabilities(raw)

    def score(self, records: pd.DataFrame, contact_ids: list[str]) -> list[LeadScore]:
        """Score and explain records.

        Args:
            records: Raw records holding the model's input columns.
            contact_ids: The contact id of each record.

        Returns:
            One :class:`LeadScore` per record.

        """
        if self.booster is not None:
            return self.score_rows(
                records[self.feature_columns].to_numpy(dtype=object), contact_ids
            )
        if self.generic is not None:
            return self._score_generic(self.generic, records, contact_ids)
        encoded = self.pipeline[:-1].transform(records)  # encoded once for both calls
        probabilities = self.pipeline[-1].predict_proba(encoded)[:, 1]  # raw: calibrated below
        explanations = self.explainer.explain(records, top_k=self.top_k, encoded=encoded)
        return self._scores(contact_ids, probabilities, explanations)

    def score_rows(self, rows: Sequence[Sequence[Any]], contact_ids: list[str]) -> list[LeadScore]:
        """Score and explain raw rows through the booster fast path (the serving path).

        Args:
            rows: Raw values in :attr:`feature_columns` order, one sequence per record.
            contact_ids: The contact id of each record.

        Returns:
            One :class:`LeadScore` per record, equal to :meth:`score`'s.
        """
        if self.booster is None:
            frame = pd.DataFrame(list(rows), columns=self.feature_columns)
            return self.score(frame, contact_ids)
        probabilities, values = self.booster.predict_explain(rows)
        columns = self.feature_columns
        explanations = []
        for row, impacts in zip(rows, values, strict=True):
            order = np.argsort(-np.abs(impacts), kind="stable")[: self.top_k]
            explanations.append(
                [Contribution(columns[i], row[i], float(impacts[i])) for i in order]
            )
        return self._scores(contact_ids, probabilities, explanations)

    def _score_generic(
        self, generic: PipelineShap, records: pd.DataFrame, contact_ids: list[str]
    ) -> list[LeadScore]:
        """Score and explain through :class:`PipelineShap` (the served baseline's path)."""
        frame = records[self.feature_columns].reset_index(drop=True)
        probabilities, values = generic.predict_explain(frame)
        columns = self.feature_columns
        explanations = []
        for position, impacts in enumerate(values):
            order = np.argsort(-np.abs(impacts), kind="stable")[: self.top_k]
            explanations.append(
                [
                    Contribution(columns[i], frame.iloc[position, i], float(impacts[i]))
                    for i in order
                ]
            )
        return self._scores(contact_ids, probabilities, explanations)

    def _scores(
        self,
        contact_ids: list[str],
        raw_probabilities: Sequence[float],
        explanations: list[list[Contribution]],
    ) -> list[LeadScore]:
        """Calibrate the raw probabilities and assemble the :class:`LeadScore` of each record."""
        probabilities = np.asarray(raw_probabilities, dtype=float)
        sets: list[tuple[int, ...] | None] = [None] * len(probabilities)
        coverage = None
        if self.calibration is None:
            confidences = [confidence_of(float(p)) for p in probabilities]
        else:
            probabilities = self.calibration.probabilities(probabilities)
            members, confidences = self.calibration.assess(probabilities)
            sets = [tuple(set_labels(row)) for row in members]
            coverage = self.calibration.coverage
        scores = []
        for contact_id, probability, confidence, members_of, contributions in zip(
            contact_ids, probabilities, confidences, sets, explanations, strict=True
        ):
            value = probability_to_score(float(probability))
            scores.append(
                LeadScore(
                    contact_id=contact_id,
                    score=value,
                    probability=float(probability),
                    confidence=float(confidence),
                    band=band_of(value)[0],
                    contributions=contributions,
                    recommended_actions=recommend_actions(value, contributions),
                    prediction_set=members_of,
                    coverage=coverage,
                )
            )
        return scores
