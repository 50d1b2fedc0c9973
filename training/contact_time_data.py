"""Bank Marketing calls for the contact-time analysis: settings, pre-call features, slots."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TARGET = "y"


#: Known only after the call (it leaks the target): never an input, dropped on load.
LEAKY_COLUMNS: tuple[str, ...] = ("duration",)


DEFAULT_SEGMENT_COLUMNS: tuple[str, ...] = ("job", "age_band")


DEFAULT_SLOT_COLUMNS: tuple[str, ...] = ("day_of_week", "month", "contact")


#: Canonical order of the known slot levels (the data has no jan/feb and no weekend calls).
SLOT_LEVELS: dict[str, tuple[str, ...]] = {
    "day_of_week": ("mon", "tue", "wed", "thu", "fri"),
    "month": ("mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    "contact": ("cellular", "telephone"),
}


AGE_BAND_EDGES: tuple[float, ...] = (-np.inf, 30, 40, 50, 60, np.inf)


AGE_BAND_LABELS: tuple[str, ...] = ("<30", "30-39", "40-49", "50-59", "60+")


JOB_GROUPS: dict[str, str] = {
    "admin.": "white-collar",
    "management": "white-collar",
    "technician": "white-collar",
    "entrepreneur": "white-collar",
    "self-employed": "white-collar",
    "blue-collar": "blue-collar",
    "services": "blue-collar",
    "housemaid": "blue-collar",
    "retired": "not-working",
    "student": "not-working",
    "unemployed": "not-working",
}


#: Pre-call customer and context features of bank-additional (everything known before dialling).
PRE_CALL_FEATURES: tuple[str, ...] = (
    "age",
    "job",
    "marital",
    "education",
    "default",
    "housing",
    "loan",
    "campaign",
    "pdays",
    "previous",
    "poutcome",
    "emp.var.rate",
    "cons.price.idx",
    "cons.conf.idx",
    "euribor3m",
    "nr.employed",
)


GLOBAL_LABEL = "(all customers)"


CAVEAT = (
    "Associations, not causal effects: calls were not randomised over slots and month effects "
    "are confounded with the 2008-2010 macro context (euribor, employment, campaign mix)."
)


class UnknownSlotDimensionError(KeyError):
    """Raised when a slot dimension was not part of the analysis."""


@dataclass(frozen=True)
class ContactTimeConfig:
    """Settings of the contact-time analysis.

    Attributes:
        segment_columns: Pre-call columns whose value combinations define the segments.
        slot_columns: Slot dimensions (``contact`` is optional: drop it to ignore the channel).
        credible_level: Mass of the equal-tailed credible interval.
        n_draws: Monte Carlo draws per Beta posterior for ``P(slot beats segment)``.
        seed: Seed of the Monte Carlo generator and of the shuffled reference split.
        min_prior_strength: Lower clip of the fitted prior strengths (pseudo-calls).
        max_prior_strength: Upper clip (reached when cells vary no more than binomial noise).
        test_fraction: Share of the latest calls held out by the model view.
        fit_model: Whether to fit the logistic-regression cross-check.
        heatmap_min_calls: Segments with fewer calls are left out of the heatmap.

    """

    segment_columns: tuple[str, ...] = DEFAULT_SEGMENT_COLUMNS
    slot_columns: tuple[str, ...] = DEFAULT_SLOT_COLUMNS
    credible_level: float = 0.90
    n_draws: int = 10_000
    seed: int = 0
    min_prior_strength: float = 2.0
    max_prior_strength: float = 1_000.0
    test_fraction: float = 0.2
    fit_model: bool = True
    heatmap_min_calls: int = 200

    def __post_init__(self) -> None:
        if not self.segment_columns:
            raise ValueError("segment_columns must name at least one column")
        if not self.slot_columns:
            raise ValueError("slot_columns must name at least one slot dimension")
        overlap = set(self.segment_columns) & set(self.slot_columns)
        if overlap:
            raise ValueError(f"columns both segment and slot: {sorted(overlap)}")
        leaky = (set(self.segment_columns) | set(self.slot_columns)) & set(LEAKY_COLUMNS)
        if leaky:
            raise ValueError(f"leaky columns cannot define segments or slots: {sorted(leaky)}")
        if not 0.0 < self.credible_level < 1.0:
            raise ValueError("credible_level must lie in (0, 1)")
        if not 0.0 < self.min_prior_strength <= self.max_prior_strength:
            raise ValueError("need 0 < min_prior_strength <= max_prior_strength")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError("test_fraction must lie in (0, 1)")
        if self.n_draws < 100:
            raise ValueError("n_draws must be at least 100")


def age_band(age: pd.Series) -> pd.Series:
    """Return the age band (``<30``, ``30-39``, ``40-49``, ``50-59``, ``60+``) of each age."""
    bands = pd.cut(age, bins=list(AGE_BAND_EDGES), labels=list(AGE_BAND_LABELS), right=False)
    return bands.astype(object).where(bands.notna(), "unknown").astype(str)


def prepare_calls(frame: pd.DataFrame, config: ContactTimeConfig | None = None) -> pd.DataFrame:
    """Return a copy of the calls with ``duration`` dropped and the segment columns derived.

    Args:
        frame: Calls as loaded by :func:`pipelines.datasets.load_bank_marketing` (or any table
            with the segment columns, the slot columns and the 0/1 target ``y``).
        config: Which segment and slot columns must be present.

    Returns:
        The calls without leaky columns, with ``age_band`` / ``job_group`` added when derivable
        and the segment/slot columns as stripped strings.

    Raises:
        KeyError: When a segment or slot column (or ``y``) is missing.

    """
    config = config or ContactTimeConfig()
    calls = frame.drop(columns=[c for c in LEAKY_COLUMNS if c in frame.columns]).copy()
    if "age_band" not in calls.columns and "age" in calls.columns:
        calls["age_band"] = age_band(calls["age"])
    if "job_group" not in calls.columns and "job" in calls.columns:
        calls["job_group"] = calls["job"].map(JOB_GROUPS).fillna("unknown")
    required = [*config.segment_columns, *config.slot_columns, TARGET]
    missing = [column for column in required if column not in calls.columns]
    if missing:
        raise KeyError(f"calls lack the columns {missing}")
    for column in (*config.segment_columns, *config.slot_columns):
        calls[column] = calls[column].astype(str).str.strip()
    calls[TARGET] = calls[TARGET].astype(int)
    if not calls[TARGET].isin([0, 1]).all():
        raise ValueError("the target y must be 0/1")
    return calls


def slot_levels(calls: pd.DataFrame, dimension: str) -> list[str]:
    """Return the observed levels of a slot dimension in canonical (calendar) order."""
    observed = set(calls[dimension].unique())
    known = [level for level in SLOT_LEVELS.get(dimension, ()) if level in observed]
    return known + sorted(observed - set(known))
