"""Rescoring of streamed contacts: the CRM lead model at the contact's A/B variant, with SHAP.

The consumers score with the same registered models as the API (``lead_scoring_crm`` at its
``champion`` and ``challenger`` aliases, loaded from MLflow, never trained here) and route a
contact to the same variant as the gateway does (:func:`training.ab_routing.choose_variant`,
sticky per contact, with the split recorded by the gateway in ``ai_feature_flags``). The model
inputs are the state's batch-view columns plus the on-demand columns, computed by the very
function Feast runs (:func:`features.definitions.lead_engagement_rates`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.definitions import lead_engagement_rates
from training.ab_routing import choose_variant, load_rollouts
from training.booster import BoosterScorer
from training.calibration import ScoreCalibration, calibration_of
from training.pipeline_shap import PipelineShap, input_columns
from training.registry import NoChampionError, load_alias_model
from training.scoring import probability_to_score

logger = logging.getLogger("haste.streaming")

#: Seconds between two reads of the recorded A/B split (and the models generation).
ROLLOUT_REFRESH_S = 10.0


@dataclass(frozen=True)
class VariantModel:
    """One alias of the model: its version and its scorer (probabilities + TreeSHAP).

    ``booster`` is the XGBoost fast path (``encode -> XGBoost``); ``generic`` the path of a
    ``ColumnTransformer -> tree ensemble`` pipeline (the baseline, served when it won the
    baseline gate), with SHAP summed back to the raw input columns. Exactly one is set.
    ``calibration`` is the model's probability calibration (None for an uncalibrated model):
    the probabilities are calibrated like the gateway's, the SHAP values explain the raw model.
    """

    variant: str
    version: str
    booster: BoosterScorer | None
    columns: tuple[str, ...]
    generic: PipelineShap | None = None
    calibration: ScoreCalibration | None = None

    def predict_rows(self, rows: list[list[Any]]) -> np.ndarray:
        """Return the (calibrated) positive-class probabilities of rows in :attr:`columns` order."""
        if self.booster is not None:
            return self._calibrate(self.booster.predict(self.booster.matrix(rows)))
        return self._calibrate(self._generic().predict(self._generic().frame(rows)))

    def explain_rows(self, rows: list[list[Any]]) -> np.ndarray:
        """Return the SHAP values (log-odds, :attr:`columns` order) of rows."""
        if self.booster is not None:
            return self.booster.explain(self.booster.matrix(rows))
        generic = self._generic()
        return generic.explain_matrix(generic.transform(generic.frame(rows)))

    def predict_explain_rows(self, rows: list[list[Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Return the probabilities and SHAP values of rows (the input encoded once)."""
        if self.booster is not None:
            matrix = self.booster.matrix(rows)
            return self._calibrate(self.booster.predict(matrix)), self.booster.explain(matrix)
        generic = self._generic()
        probabilities, shap = generic.predict_explain(generic.frame(rows))
        return self._calibrate(probabilities), shap

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        if self.calibration is None:
            return raw
        return np.asarray(self.calibration.probabilities(raw), dtype=float)

    def _generic(self) -> PipelineShap:
        if self.generic is None:
            raise TypeError(f"version {self.version} has no scorer")
        return self.generic

    @classmethod
    def load(cls, model_name: str, variant: str) -> VariantModel | None:
        """Load the version holding alias ``variant``, or None when there is none."""
        try:
            pipeline, version = load_alias_model(model_name, variant)
        except NoChampionError:
            return None
        columns = tuple(input_columns(pipeline))
        calibration = calibration_of(pipeline)
        if BoosterScorer.supports(pipeline):
            booster = BoosterScorer(pipeline)
            return cls(variant, str(version.version), booster, columns, None, calibration)
        if PipelineShap.supports(pipeline):
            generic = PipelineShap(pipeline)
            return cls(variant, str(version.version), None, columns, generic, calibration)
        raise TypeError(
            f"{model_name}@{variant} is neither encoder -> XGBoost nor a "
            "ColumnTransformer -> tree ensemble pipeline"
        )


@dataclass(frozen=True)
class Scored:
    """A row's probability, 0-100 score and SHAP values (log-odds, model column order).

    ``shap`` is ``None`` for rows scored without an explanation (their score did not move).
    """

    probability: float
    score: int
    shap: np.ndarray | None


#: Columns :func:`features.definitions.lead_engagement_rates` reads (a unit test checks it).
LEAD_RATE_INPUTS: tuple[str, ...] = (
    "email_clicks",
    "email_replies",
    "email_replies_14d",
    "web_high_intent_views",
    "web_form_fills",
    "web_views_7d",
    "web_page_views",
    "social_events_30d",
    "social_total",
)


def model_inputs(states: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return each state with the on-demand columns added (Feast's own transformation)."""
    if not states:
        return []
    frame = pd.DataFrame(
        {column: [state.get(column) for state in states] for column in LEAD_RATE_INPUTS}
    )
    rates = lead_engagement_rates(frame)
    return [{**state, **rate} for state, rate in zip(states, rates.to_dict("records"), strict=True)]


class StreamScorer:
    """Score streamed contacts at their variant (champion unless routed to the challenger).

    Args:
        database_url: Where the gateway records the A/B split.
        model_name: The lead model (``lead_scoring_crm``).
    """

    def __init__(self, database_url: str, model_name: str) -> None:
        self.database_url = database_url
        self.model_name = model_name
        self.models: dict[str, VariantModel] = {}
        self.rollout = 0
        self.generation: Any = None
        self._checked = 0.0

    def load(self) -> None:
        """Load the champion (required) and the challenger (optional) from the registry.

        Raises:
            NoChampionError: When the model has no champion yet.
        """
        models = {}
        for variant in ("champion", "challenger"):
            model = VariantModel.load(self.model_name, variant)
            if model is not None:
                models[variant] = model
        if "champion" not in models:
            raise NoChampionError(f"no champion of {self.model_name}: train it first")
        self.models = models
        logger.info(
            "rescoring with %s",
            ", ".join(f"{m.variant} v{m.version}" for m in models.values()),
        )

    def refresh(self, now: float | None = None) -> None:
        """Re-read the recorded A/B split; reload the models when their generation moved."""
        now = time.monotonic() if now is None else now
        if self.models and now - self._checked < ROLLOUT_REFRESH_S:
            return
        self._checked = now
        rollouts, generation = load_rollouts(self.database_url)
        if not self.models or (generation is not None and generation != self.generation):
            self.load()
        self.generation = generation
        self.rollout = int(rollouts.get(self.model_name, 0))

    def variant(self, contact_id: str) -> str:
        """Return the contact's variant (sticky hash split, as the gateway routes it)."""
        if "challenger" not in self.models or self.rollout <= 0:
            return "champion"
        return choose_variant(contact_id, self.model_name, self.rollout)

    def model(self, variant: str) -> VariantModel:
        """Return the model of a variant (the champion when the variant is not loaded)."""
        return self.models.get(variant) or self.models["champion"]

    def predict(self, variant: str, rows: Sequence[dict[str, Any]]) -> np.ndarray:
        """Return the probabilities of model-input rows (one vectorised call)."""
        if not rows:
            return np.empty(0)
        model = self.model(variant)
        return model.predict_rows(self._values(model, rows))

    def explain(self, variant: str, rows: Sequence[dict[str, Any]]) -> np.ndarray:
        """Return the SHAP values (log-odds, model column order) of model-input rows."""
        model = self.model(variant)
        if not rows:
            return np.empty((0, len(model.columns)))
        return model.explain_rows(self._values(model, rows))

    def score(self, variant: str, rows: Sequence[dict[str, Any]]) -> list[Scored]:
        """Score and explain model-input rows with one variant."""
        if not rows:
            return []
        model = self.model(variant)
        probabilities, shap = model.predict_explain_rows(self._values(model, rows))
        return [
            Scored(float(p), probability_to_score(float(p)), shap[i])
            for i, p in enumerate(probabilities)
        ]

    @staticmethod
    def _values(model: VariantModel, rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
        """Return the rows' values in the model's column order."""
        return [[row.get(column) for column in model.columns] for row in rows]
