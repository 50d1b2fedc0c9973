"""Counterfactual "what-if" advice: the smallest engagement changes that make a lead hot.

DiCE (``dice-ml``, random sampling) searches over the actionable features of
``configs/counterfactuals.yaml`` only: its data interface holds nothing else, and the model it
queries fills every other input from the contact's stored row, so an immutable or audited
attribute cannot change by construction. Each candidate is made consistent before it is scored
(aggregates that ``moves_with`` the feature, ``on_change`` recency, ``derived`` rates), then:

1. feasibility is checked again (ranges, directions, frozen inputs; any violation is dropped);
2. each change is shrunk towards the contact's value while the lead still reaches the target
   (a grid per changed feature, scored in one call), which removes unneeded changes (sparsity)
   and overshoot (proximity);
3. distinct candidates are kept, fewest changes first, then the closest;
4. every answer is scored by the served path (:meth:`LeadScorer.score_rows`), and only those
   whose served score reaches the target band are returned (validity).

The search is seeded, so the same contact, model and request give the same advice. DiCE seeds
NumPy's and ``random``'s global generators: searches are serialised by a lock.
"""

from __future__ import annotations

import contextlib
import io
import math
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from training.counterfactual_config import (
    ActionableFeature,
    CounterfactualConfig,
    ModelRules,
    check_vary,
)
from training.scoring import SCORE_BANDS, LeadScorer, probability_to_score

#: Bands a what-if may aim for, with their lowest score.
TARGET_BANDS: dict[str, int] = {name: lower for lower, name, _ in SCORE_BANDS if lower > 0}
#: Points per changed feature of the shrinking grid.
GRID_POINTS = 16
#: Candidates DiCE is asked for per requested counterfactual (the selection keeps the best).
CANDIDATES_PER_ANSWER = 4
_YES, _NO = "Yes", "No"
_SEARCH_LOCK = threading.Lock()


@dataclass(frozen=True)
class Change:
    """One proposed change of a feature."""

    feature: str
    before: Any
    after: Any
    text: str

    def to_dict(self) -> dict[str, Any]:
        """Return ``{feature, from, to, text}`` (JSON-ready)."""
        return {
            "feature": self.feature,
            "from": _json(self.before),
            "to": _json(self.after),
            "text": self.text,
        }


@dataclass(frozen=True)
class Counterfactual:
    """A set of changes and the served score the lead would get with them."""

    changes: list[Change]
    score: int
    probability: float
    band: str
    distance: float

    @property
    def sparsity(self) -> int:
        """Return how many features change."""
        return len(self.changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the counterfactual as the API answers it."""
        return {
            "changes": [change.to_dict() for change in self.changes],
            "score": self.score,
            "probability": round(self.probability, 4),
            "band": self.band,
            "distance": round(self.distance, 4),
        }


@dataclass
class WhatIfResult:
    """The advice for one contact.

    Attributes:
        contact_id: The contact.
        current_score: Its served score now.
        band: Its band now.
        target_band: The band aimed for.
        requested: How many counterfactuals were asked for.
        counterfactuals: Valid counterfactuals (reaching the target), best first.
        varied: Features the search could change.
        dropped: Candidates dropped because they broke a feasibility rule (expected 0).
    """

    contact_id: str
    current_score: int
    band: str
    target_band: str
    requested: int
    counterfactuals: list[Counterfactual] = field(default_factory=list)
    varied: list[str] = field(default_factory=list)
    dropped: int = 0

    @property
    def already_in_target(self) -> bool:
        """Return whether the lead already scores in (or above) the target band."""
        return self.current_score >= TARGET_BANDS[self.target_band]

    @property
    def validity(self) -> float:
        """Return the share of the requested counterfactuals found valid (DiCE's validity)."""
        return min(len(self.counterfactuals), self.requested) / self.requested

    @property
    def mean_sparsity(self) -> float | None:
        """Return the mean number of changed features (None without counterfactuals)."""
        if not self.counterfactuals:
            return None
        return float(np.mean([cf.sparsity for cf in self.counterfactuals]))

    def to_dict(self) -> dict[str, Any]:
        """Return the advice as the API answers it."""
        return {
            "contact_id": self.contact_id,
            "current_score": self.current_score,
            "band": self.band,
            "target_band": self.target_band,
            "already_in_target": self.already_in_target,
            "counterfactuals": [cf.to_dict() for cf in self.counterfactuals],
            "varied": list(self.varied),
            "validity": round(self.validity, 4),
        }


@dataclass(frozen=True)
class _Problem:
    """One search: the contact's row, what may change and the bounds for this contact."""

    scorer: LeadScorer
    rules: ModelRules
    base: dict[str, Any]
    bounds: dict[str, tuple[Any, Any]]  # numeric: (low, high); flag: (current, "Yes")
    target: int

    @property
    def columns(self) -> list[str]:
        return self.scorer.feature_columns

    def feature(self, name: str) -> ActionableFeature:
        return self.rules.actionable[name]

    def start(self, name: str) -> Any:
        """Return the contact's value of a feature as the search sees it (missing -> low)."""
        value = self.base[name]
        if self.feature(name).kind == "numeric" and _missing(value):
            return self.bounds[name][0]
        return value

    def rows(self, values: pd.DataFrame) -> pd.DataFrame:
        """Return full model rows: the contact's row with ``values`` applied consistently."""
        frame = pd.DataFrame([self.base] * len(values)).reset_index(drop=True)
        for name in values.columns:
            new = values[name].reset_index(drop=True)
            spec = self.feature(name)
            if spec.kind == "flag":
                frame[name] = new.astype(object)
                continue
            new = new.astype(float)
            start = float(self.start(name))
            unchanged = np.isclose(new, start)
            if _missing(self.base[name]):  # a missing value left at its floor stays missing
                new = new.where(~unchanged, np.nan)
            frame[name] = new
            delta = np.where(unchanged, 0.0, new.fillna(start) - start)
            for other in spec.moves_with:
                frame[other] = pd.to_numeric(frame[other], errors="coerce").fillna(0.0) + delta
            for other, value in spec.on_change.items():
                frame[other] = frame[other].where(unchanged, value)
        for name, expression in self.rules.derived.items():
            if name in frame.columns:
                derived = frame.eval(expression).astype(float)
                frame[name] = derived.replace([np.inf, -np.inf], np.nan)
        return frame

    def scores(self, values: pd.DataFrame) -> np.ndarray:
        """Return the 0-100 scores of candidate values (fast path, no explanation)."""
        frame = self.rows(values)[self.columns]
        return np.array([probability_to_score(p) for p in fast_probabilities(self.scorer, frame)])


class _TargetModel:
    """The model DiCE queries: 2-column probabilities, the target score mapped to 0.5.

    ``q = 0.5 + (score - target + 0.5) / 200`` is monotone in the score and at least 0.5 exactly
    when the score reaches the target, so DiCE's stopping threshold (0.5) is the target band
    whatever the band (DiCE itself forces thresholds below 0.5 up to 0.75).
    """

    def __init__(self, problem: _Problem) -> None:
        self.problem = problem

    def predict_proba(self, values: pd.DataFrame) -> np.ndarray:
        scores = self.problem.scores(values)
        q = 0.5 + (scores - self.problem.target + 0.5) / 200.0
        return np.column_stack([1.0 - q, q])

    def predict(self, values: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(values)[:, 1] >= 0.5).astype(int)


def fast_probabilities(scorer: LeadScorer, frame: pd.DataFrame) -> np.ndarray:
    """Return served probabilities of model rows without explanations (the search's path).

    Uses ``scorer.probabilities`` when the scorer has one (a calibrated scorer), else the
    XGBoost booster fast path, else the pipeline's ``predict_proba``.
    """
    own = getattr(scorer, "probabilities", None)
    if callable(own):
        return np.asarray(own(frame), dtype=float)
    if scorer.booster is not None:
        booster = scorer.booster
        return booster.predict(booster.matrix(frame.to_numpy(dtype=object)))
    return np.asarray(scorer.pipeline.predict_proba(frame)[:, 1], dtype=float)


def explain_what_if(
    scorer: LeadScorer,
    row: dict[str, Any],
    contact_id: str,
    model_name: str,
    config: CounterfactualConfig,
    target_band: str = "hot",
    k: int = 3,
    vary: list[str] | None = None,
) -> WhatIfResult:
    """Find up to ``k`` diverse, feasible changes that bring a lead into ``target_band``.

    Args:
        scorer: The served lead scorer of ``model_name``.
        row: The contact's stored row (every model input; extra columns are ignored).
        contact_id: The contact.
        model_name: ``lead_scoring`` or ``lead_scoring_crm`` (picks the rules).
        config: The counterfactual config.
        target_band: ``hot`` or ``warm``.
        k: Counterfactuals wanted (1 to ``config.search.max_k``).
        vary: Features the client allows to change (None: every actionable one).

    Returns:
        The current score and the valid counterfactuals (none when the lead is already in
        the target band or nothing feasible reaches it).

    Raises:
        VaryError: When ``vary`` names an immutable, non-actionable or unknown feature.
        ValueError: On an unknown band or a ``k`` out of range.
        KeyError: When the row lacks a model input or the config lacks the model.
    """
    if target_band not in TARGET_BANDS:
        raise ValueError(f"target_band must be one of {sorted(TARGET_BANDS)}, got {target_band!r}")
    if not 1 <= k <= config.search.max_k:
        raise ValueError(f"k must be between 1 and {config.search.max_k}, got {k}")
    rules = config.rules(model_name)
    columns = scorer.feature_columns
    features = check_vary(rules, model_name, columns, vary)
    missing = [column for column in columns if column not in row]
    if missing:
        raise KeyError(f"the stored row lacks model inputs {missing}")
    base = {column: row[column] for column in columns}
    current = scorer.score_rows([[base[c] for c in columns]], [contact_id])[0]
    result = WhatIfResult(contact_id, current.score, current.band, target_band, k)
    if result.already_in_target:
        return result
    bounds = {}
    for name in features:
        window = _bounds(rules.actionable[name], base)
        if window is not None:
            bounds[name] = window
    result.varied = list(bounds)
    if not bounds:
        return result
    problem = _Problem(scorer, rules, base, bounds, TARGET_BANDS[target_band])
    candidates = _search(problem, k * CANDIDATES_PER_ANSWER, config)
    shrunk = _shrink(problem, [c for c in candidates if _feasible(problem, c)])
    feasible = [c for c in shrunk if _feasible(problem, c)]
    result.dropped = len(candidates) - len(feasible)
    chosen = _select(problem, feasible, k)
    result.counterfactuals = _served(problem, chosen, contact_id)
    return result


def _bounds(spec: ActionableFeature, base: dict[str, Any]) -> tuple[Any, Any] | None:
    """Return the contact's search window of a feature (None: it cannot move)."""
    value = base[spec.name]
    if spec.kind == "flag":
        current = _NO if _missing(value) else str(value)
        if spec.direction == "increase" and current == _YES:
            return None
        return (current, _YES if current == _NO else _NO)
    high = spec.high
    if spec.at_most is not None:
        limit = pd.to_numeric(base.get(spec.at_most), errors="coerce")
        high = min(high, 0.0 if _missing(limit) else float(limit))
    low = spec.low
    if not _missing(value):
        if spec.direction == "increase":
            low = max(low, float(value))
        else:  # either way: the contact may keep a value outside the usual range
            low, high = min(low, float(value)), max(high, float(value))
    scale = 10**spec.decimals
    low, high = math.ceil(low * scale) / scale, math.floor(high * scale) / scale
    return (low, high) if high > low else None


def _search(problem: _Problem, total: int, config: CounterfactualConfig) -> list[dict[str, Any]]:
    """Ask DiCE for candidate value sets (feature -> new value) over the contact's windows."""
    import dice_ml

    features, types = {}, {}
    for name, (low, high) in problem.bounds.items():
        spec = problem.feature(name)
        if spec.kind == "flag":
            features[name] = [low, high]
        else:
            features[name] = [low, high]
            types[name] = "int" if spec.decimals == 0 else ["float", spec.decimals]
    data = dice_ml.Data(features=features, outcome_name="reaches_target", type_and_precision=types)
    model = dice_ml.Model(model=_TargetModel(problem), backend="sklearn")
    query = pd.DataFrame([{name: problem.start(name) for name in problem.bounds}])
    with _SEARCH_LOCK, _quiet():
        explainer = dice_ml.Dice(data, model, method=config.search.method)
        try:
            found = explainer.generate_counterfactuals(
                query,
                total_CFs=total,
                desired_class=1,
                stopping_threshold=0.5,
                sample_size=config.search.sample_size,
                random_seed=config.search.seed,
                posthoc_sparsity_param=None,
            )
        except Exception as error:  # DiCE raises its own (UserConfigValidationException)
            if "No counterfactuals found" in str(error):
                return []
            raise
    frame = found.cf_examples_list[0].final_cfs_df
    if frame is None or frame.empty:
        return []
    records = frame[list(problem.bounds)].to_dict("records")
    for record in records:  # DiCE rounds the query too: its own value, rounded, is no change
        for name, value in record.items():
            spec, start = problem.feature(name), problem.start(name)
            tolerance = 0.5 * 10**-spec.decimals
            if spec.kind == "numeric" and abs(float(value) - float(start)) <= tolerance:
                record[name] = start
    return records


@contextlib.contextmanager
def _quiet() -> Any:
    """Silence DiCE's prints, progress bar and pandas warnings."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        yield


def _changed(problem: _Problem, candidate: dict[str, Any]) -> list[str]:
    """Return the features a candidate changes."""
    out = []
    for name, value in candidate.items():
        start = problem.start(name)
        if problem.feature(name).kind == "flag":
            if str(value) != str(start):
                out.append(name)
        elif not math.isclose(float(value), float(start), abs_tol=1e-9):
            out.append(name)
    return out


def _feasible(problem: _Problem, candidate: dict[str, Any]) -> bool:
    """Return whether a candidate changes only searched features, within their windows."""
    if set(candidate) - set(problem.bounds):
        return False
    changed = set(_changed(problem, candidate))
    for name, value in candidate.items():
        if name not in changed:  # the contact's own value is always allowed
            continue
        low, high = problem.bounds[name]
        if problem.feature(name).kind == "flag":
            if str(value) not in (str(low), str(high)):
                return False
        elif not low - 1e-9 <= float(value) <= high + 1e-9:
            return False
    return True


def _shrink(problem: _Problem, candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Move each change as close to the contact's value as the target allows (fast scores).

    Feature by feature, every candidate's grid from the contact's value to its proposed value
    is scored in one call, then a finer grid below the first value that works: two model
    calls per feature for all candidates together.
    """
    current = [dict(candidate) for candidate in candidates]
    for name in problem.bounds:
        spec, start = problem.feature(name), problem.start(name)
        moving = [c for c in current if name in _changed(problem, c)]
        if not moving:
            continue
        if spec.kind == "flag":
            grids = [[start, c[name]] for c in moving]
        else:
            grids = [_grid(float(start), float(c[name]), spec.decimals) for c in moving]
        firsts = _first_reaching(problem, moving, name, grids)
        if spec.kind == "numeric":
            fine = [
                _grid(grid[max(index - 1, 0)], grid[index], spec.decimals)
                for grid, index in zip(grids, firsts, strict=True)
            ]
            grids, firsts = fine, _first_reaching(problem, moving, name, fine)
        for candidate, grid, index in zip(moving, grids, firsts, strict=True):
            candidate[name] = grid[index]
    return current


def _grid(start: float, stop: float, decimals: int) -> list[float]:
    """Return ``start`` then up to :data:`GRID_POINTS` rounded values on the way to ``stop``.

    ``start`` is kept exact (the contact's own value); rounded values falling outside the
    interval (a rounding below the contact's value) are left out.
    """
    low, high = min(start, stop), max(start, stop)
    rounded = (round(float(v), decimals) for v in np.linspace(start, stop, GRID_POINTS)[1:])
    return list(dict.fromkeys([start, *(v for v in rounded if low <= v <= high)]))


def _first_reaching(
    problem: _Problem, candidates: list[dict[str, Any]], name: str, grids: list[list[Any]]
) -> list[int]:
    """Return, per candidate, the first grid value of ``name`` on target (else the last)."""
    trials = pd.DataFrame(
        [{**c, name: value} for c, grid in zip(candidates, grids, strict=True) for value in grid]
    )
    reached = problem.scores(trials) >= problem.target
    firsts, start = [], 0
    for grid in grids:
        hits = np.flatnonzero(reached[start : start + len(grid)])
        firsts.append(int(hits[0]) if len(hits) else len(grid) - 1)
        start += len(grid)
    return firsts


def _distance(problem: _Problem, candidate: dict[str, Any]) -> float:
    """Return the normalised L1 distance of a candidate to the contact (flags count 1)."""
    total = 0.0
    for name in _changed(problem, candidate):
        spec = problem.feature(name)
        if spec.kind == "flag":
            total += 1.0
        else:
            span = max(spec.high - spec.low, 1e-9)
            total += abs(float(candidate[name]) - float(problem.start(name))) / span
    return total


def _select(problem: _Problem, candidates: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """Keep up to ``k`` diverse candidates: each feature combination once, fewest changes first.

    Near-copies of a one-feature change (the same minimal value after shrinking) are not
    diverse and are left out; other value trade-offs of a multi-feature change are kept.
    """
    unique: dict[tuple, dict[str, Any]] = {}
    for candidate in candidates:
        changed = _changed(problem, candidate)
        if changed:
            unique.setdefault(tuple((n, str(candidate[n])) for n in changed), candidate)
    ranked = sorted(
        unique.values(),
        key=lambda c: (len(_changed(problem, c)), _distance(problem, c), str(sorted(c.items()))),
    )
    chosen: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()
    for candidate in ranked:  # diversity: each combination of features once
        combination = tuple(_changed(problem, candidate))
        if combination not in seen:
            seen.add(combination)
            chosen.append(candidate)
    for candidate in ranked:  # then other trade-offs between two or more features
        if len(chosen) >= k:
            break
        if len(_changed(problem, candidate)) > 1 and all(
            _far_apart(problem, candidate, other) for other in chosen
        ):
            chosen.append(candidate)
    return chosen[:k]


def _far_apart(problem: _Problem, first: dict[str, Any], second: dict[str, Any]) -> bool:
    """Return whether two candidates differ by a tenth of a feature's range (or a flag)."""
    for name in problem.bounds:
        spec = problem.feature(name)
        if spec.kind == "flag":
            if str(first[name]) != str(second[name]):
                return True
        elif abs(float(first[name]) - float(second[name])) >= 0.1 * (spec.high - spec.low):
            return True
    return False


def _served(
    problem: _Problem, candidates: list[dict[str, Any]], contact_id: str
) -> list[Counterfactual]:
    """Score candidates by the served path and keep those reaching the target."""
    if not candidates:
        return []
    values = pd.DataFrame(candidates)
    rows = problem.rows(values)[problem.columns].to_numpy(dtype=object)
    scores = problem.scorer.score_rows(rows, [contact_id] * len(candidates))
    out = []
    for candidate, score in zip(candidates, scores, strict=True):
        if score.score < problem.target:
            continue
        changes = [
            Change(name, problem.base[name], candidate[name], _describe(problem, name, candidate))
            for name in _changed(problem, candidate)
        ]
        out.append(
            Counterfactual(
                changes, score.score, score.probability, score.band, _distance(problem, candidate)
            )
        )
    return out


def _describe(problem: _Problem, name: str, candidate: dict[str, Any]) -> str:
    """Write a change for people, e.g. ``time on the website: 310 -> 1,250 s``."""
    spec = problem.feature(name)
    before, after = problem.base[name], candidate[name]
    if spec.kind == "flag":
        return f"{spec.label}: {'yes' if str(after) == _YES else 'no'}"
    unit = f" {spec.unit}" if spec.unit else ""
    return (
        f"{spec.label}: {_number(before, spec.decimals)} -> {_number(after, spec.decimals)}{unit}"
    )


def _number(value: Any, decimals: int) -> str:
    """Format a number with thousands separators (``missing`` for no value)."""
    if _missing(value):
        return "missing"
    return f"{float(value):,.{decimals}f}"


def _missing(value: Any) -> bool:
    """Return whether a stored value is missing (None or NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _json(value: Any) -> Any:
    """Return a JSON-ready scalar (NumPy numbers unwrapped, NaN -> None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if value.is_integer() else round(value, 4)
    return value


def summarise(results: Sequence[WhatIfResult]) -> dict[str, float]:
    """Return validity, coverage, sparsity and distance over several contacts' results.

    Args:
        results: Results of contacts below their target band.

    Returns:
        ``validity`` (mean share of the requested counterfactuals found valid), ``coverage``
        (share of contacts with at least one), ``mean_sparsity`` (features changed per
        counterfactual), ``mean_distance`` and ``contacts``.
    """
    answers = [cf for r in results for cf in r.counterfactuals]
    return {
        "contacts": float(len(results)),
        "validity": float(np.mean([r.validity for r in results])) if results else 0.0,
        "coverage": float(np.mean([bool(r.counterfactuals) for r in results])) if results else 0.0,
        "mean_sparsity": float(np.mean([cf.sparsity for cf in answers])) if answers else 0.0,
        "mean_distance": float(np.mean([cf.distance for cf in answers])) if answers else 0.0,
    }
