"""Online lead scoring: probability -> 0-100 score, confidence, SHAP factors and next actions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from training.booster import BoosterScorer
from training.explain import Contribution, TreeShapExplainer

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

    def to_dict(self, include_explanation: bool = True) -> dict[str, Any]:
        """Return a JSON-ready dict; contributions are omitted unless requested."""
        out: dict[str, Any] = {
            "contact_id": self.contact_id,
            "score": self.score,
            "probability": round(self.probability, 4),
            "confidence": round(self.confidence, 4),
            "band": self.band,
            "recommended_actions": self.recommended_actions,
        }
        if include_explanation:
            out["contributions"] = [c.to_dict() for c in self.contributions]
            out["explanation"] = explain_in_words(self)
        return out


def probability_to_score(probability: float) -> int:
    """Map a calibrated probability to the 0-100 score shown to reps."""
    return min(max(round(probability * 100), 0), 100)


def confidence_of(probability: float) -> float:
    """Return the model's confidence in its call: the probability of the predicted class.

    0.5 means a coin flip (the lead sits on the decision boundary), 1.0 a certain call.
    """
    return float(max(probability, 1.0 - probability))


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
        pipeline: Fitted ``encode -> XGBoost`` pipeline.
        top_k: Contributions returned per lead.

    """

    def __init__(self, pipeline: Pipeline, top_k: int = 5) -> None:
        self.pipeline = pipeline
        self.top_k = top_k
        self.booster = BoosterScorer(pipeline) if BoosterScorer.supports(pipeline) else None

    @cached_property
    def explainer(self) -> TreeShapExplainer:
        """Return the ``shap`` explainer of the pandas path (built on first use only)."""
        return TreeShapExplainer(self.pipeline)

    @property
    def feature_columns(self) -> list[str]:
        """Return the raw input columns the model expects."""
        return list(self.pipeline[0].columns)

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
        encoded = self.pipeline[:-1].transform(records)  # encoded once for both calls
        probabilities = self.pipeline[-1].predict_proba(encoded)[:, 1]
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

    def _scores(
        self,
        contact_ids: list[str],
        probabilities: Sequence[float],
        explanations: list[list[Contribution]],
    ) -> list[LeadScore]:
        """Assemble the :class:`LeadScore` of each record."""
        scores = []
        for contact_id, probability, contributions in zip(
            contact_ids, probabilities, explanations, strict=True
        ):
            value = probability_to_score(float(probability))
            scores.append(
                LeadScore(
                    contact_id=contact_id,
                    score=value,
                    probability=float(probability),
                    confidence=confidence_of(float(probability)),
                    band=band_of(value)[0],
                    contributions=contributions,
                    recommended_actions=recommend_actions(value, contributions),
                )
            )
        return scores
