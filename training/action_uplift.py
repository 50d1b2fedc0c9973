"""Action recommendations: rank candidate actions by their estimated lift in conversion.

A **T-learner** fits one outcome model per arm (each action and ``none``) on the historical
action table (:mod:`training.action_uplift_data`) and estimates a contact's lift of action ``a``
as ``P(convert | a, x) - P(convert | none, x)``. The per-arm models are L2 logistic regressions
(calibrated by construction) or sigmoid-calibrated histogram gradient boosting. Intervals come
from a contact-level bootstrap: the whole T-learner is refitted on resampled contacts.

What the numbers mean: :data:`~training.action_uplift_data.CAVEAT`. Reps chose the actions, so a
lift is an association adjusted for the observed confounders, not a causal effect; the
evaluation (:func:`evaluate_action_uplift`) puts the adjusted lift next to the naive difference
in means, and Qini / AUUC on held-out contacts are measured against the same observational
outcomes (they rank where the association is strongest, not where an action would work).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from training.action_uplift_data import (
    CATEGORICAL_COLUMNS,
    CAVEAT,
    CONTROL,
    FEATURE_COLUMNS,
    ID_COLUMN,
    OUTCOME_COLUMN,
    TREATMENT_COLUMN,
    ActionUpliftConfig,
    build_action_table,
    check_actions,
)
from training.next_actions import NextAction

if TYPE_CHECKING:
    from haste.settings import Settings
    from pipelines.synthetic_store import SyntheticCRM

#: What each action asks the rep to do.
ACTION_TEXT: dict[str, str] = {
    "call": "Call the contact this week.",
    "meeting": "Book a meeting with the contact this week.",
    "email": "Send the contact a personal email this week.",
    "task": "Schedule a follow-up task for this contact this week.",
}
_VERB = {"call": "called", "meeting": "met them", "email": "emailed", "task": "set a task"}


@dataclass(frozen=True)
class ActionLift:
    """One action's estimated lift for one contact (probabilities in [0, 1])."""

    action: str
    lift: float
    lift_ci_low: float
    lift_ci_high: float
    baseline_probability: float
    channel: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (numbers rounded to 4 places)."""
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _signed_log1p(values: np.ndarray) -> np.ndarray:
    """Return ``sign(x) * log1p(|x|)`` (tames the skew of counts and durations)."""
    return np.sign(values) * np.log1p(np.abs(values))


def _arm_estimator(
    config: ActionUpliftConfig, numeric: list[str], categorical: list[str]
) -> Pipeline:
    """Return an unfitted outcome model of one arm (preprocessing included)."""
    numbers = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        FunctionTransformer(_signed_log1p),
        StandardScaler(),
    )
    prepare = ColumnTransformer(
        [
            ("num", numbers, numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=5), categorical),
        ]
    )
    if config.estimator == "logistic":
        model: Any = LogisticRegression(C=config.regularization, max_iter=2000)
    else:
        boost = HistGradientBoostingClassifier(
            max_depth=3, learning_rate=0.05, max_iter=150, min_samples_leaf=20, random_state=0
        )
        model = CalibratedClassifierCV(boost, method="sigmoid", cv=3)
    return Pipeline([("prepare", prepare), ("model", model)])


def _fit_arm(x: pd.DataFrame, y: np.ndarray, config: ActionUpliftConfig, numeric: list[str]) -> Any:
    """Fit one arm's model; a constant (prior) model when the arm has a single outcome class."""
    if len(np.unique(y)) < 2 or min(np.bincount(y, minlength=2)) < 3:
        return DummyClassifier(strategy="prior").fit(x, y)
    categorical = [c for c in CATEGORICAL_COLUMNS if c in x.columns]
    return _arm_estimator(config, numeric, categorical).fit(x, y)


def _fit_arms(
    table: pd.DataFrame, arms: Sequence[str], config: ActionUpliftConfig, numeric: list[str]
) -> dict[str, Any]:
    """Fit the outcome model of every arm on its own rows (the T-learner)."""
    treatment = table[TREATMENT_COLUMN].to_numpy()
    x, y = table[list(FEATURE_COLUMNS)], table[OUTCOME_COLUMN].to_numpy(dtype=np.int64)
    return {
        arm: _fit_arm(x[treatment == arm], y[treatment == arm], config, numeric) for arm in arms
    }


@dataclass
class ActionUpliftModel:
    """A fitted T-learner over candidate actions, with bootstrap refits for the intervals.

    Attributes:
        config: The settings it was fitted with.
        actions: Fitted actions (those with at least ``min_arm_rows`` rows).
        arm_rows: Rows per arm (``none`` included) in the training table.
        arm_outcome_rates: Observed outcome rate per arm.
        skipped: Actions not fitted, with the reason.
        models: Outcome model per arm, fitted on the whole table.
        bootstrap: One dict of arm models per bootstrap refit.

    """

    config: ActionUpliftConfig
    actions: tuple[str, ...]
    arm_rows: dict[str, int]
    arm_outcome_rates: dict[str, float]
    skipped: dict[str, str]
    models: dict[str, Any] = field(repr=False)
    bootstrap: list[dict[str, Any]] = field(repr=False)

    def _check(self, features: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in FEATURE_COLUMNS if c not in features.columns]
        if missing:
            raise ValueError(
                f"features lack the columns {missing}; build them with "
                "build_contact_action_features or contact_features_from_db"
            )
        return features[list(FEATURE_COLUMNS)]

    def _actions(self, actions: Sequence[str] | None) -> tuple[str, ...]:
        names = self.actions if actions is None else check_actions(actions)
        unfitted = [a for a in names if a not in self.actions]
        if unfitted:
            raise ValueError(f"actions {unfitted} were not fitted: {self.skipped}")
        return names

    def predict_lift(
        self, features: pd.DataFrame, actions: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Return the point lift of each action (columns) for each row of ``features``."""
        x, names = self._check(features), self._actions(actions)
        base = self.models[CONTROL].predict_proba(x)[:, 1]
        lifts = {a: self.models[a].predict_proba(x)[:, 1] - base for a in names}
        return pd.DataFrame(lifts, index=features.index)

    def bootstrap_lifts(
        self, features: pd.DataFrame, actions: Sequence[str] | None = None
    ) -> np.ndarray:
        """Return the lifts of every bootstrap refit, shape ``(n_bootstrap, rows, actions)``."""
        x, names = self._check(features), self._actions(actions)
        out = np.empty((len(self.bootstrap), len(x), len(names)))
        for b, arms in enumerate(self.bootstrap):
            base = arms[CONTROL].predict_proba(x)[:, 1]
            for j, a in enumerate(names):
                out[b, :, j] = arms[a].predict_proba(x)[:, 1] - base
        return out

    def recommend(
        self, features: pd.DataFrame, top: int = 3, actions: Sequence[str] | None = None
    ) -> list[list[ActionLift]]:
        """Rank the actions of each row by estimated lift (largest first).

        Args:
            features: :data:`~training.action_uplift_data.FEATURE_COLUMNS` (extra columns
                are ignored).
            top: Actions kept per row.
            actions: Candidate actions (default: every fitted one).

        Returns:
            One list of :class:`ActionLift` per row, sorted by ``lift`` descending.

        Raises:
            ValueError: For missing feature columns or an unknown or unfitted action.

        """
        names = self._actions(actions)
        point = self.predict_lift(features, names).to_numpy()
        draws = self.bootstrap_lifts(features, names)
        tail = (1.0 - self.config.ci_level) / 2.0 * 100.0
        low, high = np.percentile(draws, [tail, 100.0 - tail], axis=0)
        base = self.models[CONTROL].predict_proba(self._check(features))[:, 1]
        out = []
        for i in range(len(point)):
            lifts = [
                ActionLift(
                    action=a,
                    lift=float(point[i, j]),
                    lift_ci_low=float(low[i, j]),
                    lift_ci_high=float(high[i, j]),
                    baseline_probability=float(base[i]),
                    channel=a,
                    reason=self._reason(a, point[i, j], low[i, j], high[i, j], base[i]),
                )
                for j, a in enumerate(names)
            ]
            out.append(sorted(lifts, key=lambda lift: -lift.lift)[:top])
        return out

    def _reason(self, action: str, lift: float, low: float, high: float, base: float) -> str:
        cfg = self.config
        return (
            f"Associational (observed in history, not a tested effect): similar contacts "
            f"converted {lift * 100:+.1f} pts more often within {cfg.outcome_horizon_days:g} "
            f"days when a rep {_VERB[action]} in the next {cfg.treatment_window_days:g} days "
            f"({cfg.ci_level:.0%} CI {low * 100:+.1f} to {high * 100:+.1f} pts; "
            f"{base:.0%} without an action)."
        )

    def to_next_actions(
        self, features: pd.DataFrame, top: int = 3, min_lift: float = 0.0
    ) -> list[NextAction]:
        """Return one contact's recommendations as next best actions (``source="uplift"``).

        Only actions whose lift exceeds ``min_lift`` are returned. The priority grows with the
        lift, ``0.5 + 2 * lift`` clipped to [0.05, 0.85], so an associational suggestion never
        outranks the strongest rules on its own.

        Raises:
            ValueError: When ``features`` does not have exactly one row (or lacks columns).

        """
        if len(features) != 1:
            raise ValueError(f"to_next_actions scores one contact, got {len(features)} rows")
        return [
            NextAction(
                ACTION_TEXT[lift.action],
                lift.reason,
                float(np.clip(0.5 + 2.0 * lift.lift, 0.05, 0.85)),
                "uplift",
                lift.channel,
            )
            for lift in self.recommend(features, top)[0]
            if lift.lift > min_lift
        ]

    def save(self, path: Path | None = None) -> Path:
        """Write the model with joblib (default: :func:`default_model_path`) and return the path."""
        target = Path(path) if path is not None else default_model_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, target)
        return target

    @classmethod
    def load(cls, path: Path | None = None) -> ActionUpliftModel:
        """Read a model written by :meth:`save`.

        Raises:
            TypeError: When the file holds something else.

        """
        loaded = joblib.load(Path(path) if path is not None else default_model_path())
        if not isinstance(loaded, cls):
            raise TypeError(f"expected an ActionUpliftModel, got {type(loaded).__name__}")
        return loaded


def default_model_path(settings: Settings | None = None) -> Path:
    """Return ``<data_dir>/models/action_uplift/model.joblib``."""
    if settings is None:
        from haste.settings import get_settings

        settings = get_settings()
    return settings.data_dir / "models" / "action_uplift" / "model.joblib"


def _resample_contacts(table: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Return a bootstrap sample of ``table`` drawn by contact (clusters kept whole)."""
    codes, uniques = pd.factorize(table[ID_COLUMN])
    picked = rng.integers(0, len(uniques), len(uniques))
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    rows = np.concatenate([order[starts[c] : starts[c + 1]] for c in picked])
    return table.iloc[rows]


def fit_uplift_table(
    table: pd.DataFrame, config: ActionUpliftConfig | None = None
) -> ActionUpliftModel:
    """Fit the T-learner and its bootstrap refits on a treatment table.

    Args:
        table: ``contact_id``, ``treatment`` (an action or ``none``), ``outcome`` (0/1) and
            :data:`~training.action_uplift_data.FEATURE_COLUMNS`.
        config: Actions, learner, bootstrap settings.

    Returns:
        The fitted model.

    Raises:
        ValueError: For unknown treatments, missing columns, or too few control rows.

    """
    config = config or ActionUpliftConfig()
    required = [ID_COLUMN, TREATMENT_COLUMN, OUTCOME_COLUMN, *FEATURE_COLUMNS]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(f"the treatment table lacks the columns {missing}")
    seen = set(table[TREATMENT_COLUMN].unique()) - {CONTROL}
    check_actions(sorted(seen))
    counts = table[TREATMENT_COLUMN].value_counts()
    if counts.get(CONTROL, 0) < config.min_arm_rows:
        raise ValueError(f"the control arm needs at least {config.min_arm_rows} rows")
    actions = tuple(a for a in config.actions if counts.get(a, 0) >= config.min_arm_rows)
    skipped = {
        a: f"{counts.get(a, 0)} rows < min_arm_rows {config.min_arm_rows}"
        for a in config.actions
        if a not in actions
    }
    if not actions:
        raise ValueError(f"no action has enough rows: {skipped}")
    numeric = [c for c in FEATURE_COLUMNS if c not in CATEGORICAL_COLUMNS]
    arms = (*actions, CONTROL)
    rng = np.random.default_rng(config.seed)
    rates = table.groupby(TREATMENT_COLUMN)[OUTCOME_COLUMN].mean()
    return ActionUpliftModel(
        config=config,
        actions=actions,
        arm_rows={a: int(counts.get(a, 0)) for a in arms},
        arm_outcome_rates={a: float(rates.get(a, np.nan)) for a in arms},
        skipped=skipped,
        models=_fit_arms(table, arms, config, numeric),
        bootstrap=[
            _fit_arms(_resample_contacts(table, rng), arms, config, numeric)
            for _ in range(config.n_bootstrap)
        ],
    )


def fit_action_uplift(
    crm: SyntheticCRM, config: ActionUpliftConfig | None = None
) -> ActionUpliftModel:
    """Build a CRM's historical action table and fit the T-learner on all of it."""
    config = config or ActionUpliftConfig()
    return fit_uplift_table(build_action_table(crm, config), config)


def _cumulative(y: np.ndarray, score: np.ndarray, treated: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return targeted rows, treated, control, treated and control responders per cut-off.

    Cut-offs sit at each distinct score, highest first (ties are targeted together).
    """
    order = np.argsort(-score, kind="mergesort")
    y, score, treated = y[order], score[order], treated[order]
    ends = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    n_t = np.cumsum(treated)[ends]
    y_t = np.cumsum(y * treated)[ends]
    y_c = np.cumsum(y * (1 - treated))[ends]
    return ends + 1.0, n_t, ends + 1.0 - n_t, y_t, y_c


def _share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros(len(a)), where=b > 0)


def qini_curve(
    y: np.ndarray, score: np.ndarray, treated: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the Qini curve: targeted rows and ``Y_t - Y_c * N_t / N_c`` at each cut-off."""
    k, n_t, n_c, y_t, y_c = _cumulative(y, score, treated)
    return np.r_[0.0, k], np.r_[0.0, y_t - y_c * _share(n_t, n_c)]


def uplift_curve(
    y: np.ndarray, score: np.ndarray, treated: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the uplift curve: targeted rows and ``(Y_t / N_t - Y_c / N_c) * rows``."""
    k, n_t, n_c, y_t, y_c = _cumulative(y, score, treated)
    return np.r_[0.0, k], np.r_[0.0, (_share(y_t, n_t) - _share(y_c, n_c)) * k]


def _perfect_score(kind: str, y: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """Return the oracle ranking of a curve (as in scikit-uplift's perfect curves)."""
    if kind == "qini":  # treated responders first, control responders last
        return y * treated - y * (1 - treated)
    control_responders = np.sum((y == 1) & (treated == 0))
    treated_non_responders = np.sum((y == 0) & (treated == 1))
    summand = y if control_responders > treated_non_responders else treated
    return 2.0 * (y == treated) + summand


def normalized_area(kind: str, y: np.ndarray, score: np.ndarray, treated: np.ndarray) -> float:
    """Return the Qini coefficient (``kind="qini"``) or AUUC score (``"uplift"``).

    ``(area - random) / (perfect - random)``: 0 is random targeting (the straight line from the
    origin to the curve's end), 1 the oracle ranking; negative is worse than random.
    """
    curve = qini_curve if kind == "qini" else uplift_curve

    def area(scores: np.ndarray) -> float:
        x, values = curve(y, scores, treated)
        return float(np.trapezoid(values, x) - x[-1] * values[-1] / 2.0)

    perfect = area(_perfect_score(kind, y, treated))
    return area(score) / perfect if perfect > 0 else float("nan")


def _interval(values: np.ndarray, level: float) -> list[float]:
    tail = (1.0 - level) / 2.0 * 100.0
    return [float(v) for v in np.percentile(values, [tail, 100.0 - tail])]


def evaluate_action_uplift(
    model: ActionUpliftModel, test: pd.DataFrame, n_permutations: int = 200, seed: int = 0
) -> dict[str, Any]:
    """Evaluate a fitted model on held-out contacts (a treatment table).

    Per action: the T-learner's average lift over all test rows with a bootstrap interval
    (each refit averaged over a contact-level resample of the test rows), the naive difference
    in outcome rates (treated minus ``none``) with its contact-level bootstrap interval, and the
    Qini coefficient and AUUC score of ranking the ``action`` + ``none`` rows by predicted lift,
    next to the mean and 95th percentile of the same scores under ``n_permutations`` random
    rankings (random targeting).

    Returns:
        ``rows``, ``contacts``, ``caveat``, ``actions`` (per-action figures) and
        ``mean_qini_coefficient`` / ``mean_auuc`` over the actions.

    """
    rng = np.random.default_rng(seed)
    level = model.config.ci_level
    codes, uniques = pd.factorize(test[ID_COLUMN])
    point = model.predict_lift(test).to_numpy()
    draws = model.bootstrap_lifts(test)
    weights = np.stack(
        [
            np.bincount(rng.integers(0, len(uniques), len(uniques)), minlength=len(uniques))[codes]
            for _ in range(max(len(draws), 500))
        ]
    ).astype(float)
    treatment = test[TREATMENT_COLUMN].to_numpy()
    y = test[OUTCOME_COLUMN].to_numpy(dtype=float)
    control = treatment == CONTROL
    out: dict[str, Any] = {"rows": len(test), "contacts": len(uniques), "caveat": CAVEAT}
    figures: dict[str, dict[str, Any]] = {}
    for j, action in enumerate(model.actions):
        treated = treatment == action
        avg = [np.average(draws[b, :, j], weights=weights[b] + 1e-12) for b in range(len(draws))]
        w_t, w_c = weights[:, treated], weights[:, control]
        naive = (w_t @ y[treated]) / w_t.sum(1).clip(1e-12) - (w_c @ y[control]) / w_c.sum(1)
        rows = treated | control
        yy, tt, ss = y[rows], treated[rows].astype(float), point[rows, j]
        entry: dict[str, Any] = {
            "rows_treated": int(treated.sum()),
            "rows_control": int(control.sum()),
            "average_lift": float(point[:, j].mean()),
            "average_lift_ci": _interval(np.asarray(avg), level),
            "naive_difference": float(y[treated].mean() - y[control].mean())
            if treated.any() and control.any()
            else float("nan"),
            "naive_difference_ci": _interval(naive, level),
        }
        for kind, name in (("qini", "qini_coefficient"), ("uplift", "auuc")):
            random = [
                normalized_area(kind, yy, rng.permutation(ss), tt) for _ in range(n_permutations)
            ]
            entry[name] = normalized_area(kind, yy, ss, tt)
            entry[f"{name}_random_mean"] = float(np.mean(random))
            entry[f"{name}_random_p95"] = float(np.percentile(random, 95))
        figures[action] = entry
    out["actions"] = figures
    out["mean_qini_coefficient"] = float(np.mean([f["qini_coefficient"] for f in figures.values()]))
    out["mean_auuc"] = float(np.mean([f["auuc"] for f in figures.values()]))
    return out
