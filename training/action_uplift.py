"""Action recommendations: rank candidate actions by their estimated lift in conversion.

A **T-learner** fits one L2 logistic regression (calibrated by construction) per arm, each
action and ``none``, on the historical action table (:mod:`training.action_uplift_data`); a
contact's lift of action ``a`` is ``P(convert | a, x) - P(convert | none, x)``. Intervals come
from refitting the whole T-learner on contact-level bootstrap samples.

The lifts are associations adjusted for the observed confounders, not causal effects
(:data:`~training.action_uplift_data.CAVEAT`): :func:`evaluate_action_uplift` puts them next to
the naive difference in means; its held-out Qini / AUUC score observational outcomes too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

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
    from pipelines.synthetic_store import SyntheticCRM

#: What each action asks of the rep, and how its reason says it was done.
ACTION_TEXT: dict[str, tuple[str, str]] = {
    "call": ("Call the contact this week.", "called"),
    "meeting": ("Book a meeting with the contact this week.", "met them"),
    "email": ("Send the contact a personal email this week.", "emailed"),
    "task": ("Schedule a follow-up task for this contact this week.", "set a task"),
}


#: Highest priority of an uplift suggestion among next best actions (below the rules' advice:
#: the lifts are associational).
MAX_UPLIFT_PRIORITY = 0.55


@dataclass(frozen=True)
class ActionLift:
    """One action's estimated lift for one contact (probabilities and lifts in [-1, 1])."""

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


def _log1p(values: np.ndarray) -> np.ndarray:
    return np.log1p(np.clip(values, 0.0, None))  # counts, rates and days are never negative


def _fit_arm(x: pd.DataFrame, y: np.ndarray, config: ActionUpliftConfig) -> Any:
    """Fit one arm's outcome model; a constant (prior) model when an outcome has < 3 rows."""
    if np.bincount(y, minlength=2).min() < 3:
        return DummyClassifier(strategy="prior").fit(x, y)
    numeric = [c for c in FEATURE_COLUMNS if c not in CATEGORICAL_COLUMNS]
    impute = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
    clip = MinMaxScaler(clip=True)  # scores outside the training range act as its edge
    numbers = make_pipeline(impute, FunctionTransformer(_log1p), clip, StandardScaler())
    categories = OneHotEncoder(handle_unknown="ignore", min_frequency=5)
    columns = [("num", numbers, numeric), ("cat", categories, list(CATEGORICAL_COLUMNS))]
    model = LogisticRegression(C=config.regularization, max_iter=2000)
    return make_pipeline(ColumnTransformer(columns), model).fit(x, y)


def _probability(model: Any, x: pd.DataFrame) -> np.ndarray:
    """Return P(outcome = 1) of a fitted arm model (0 or 1 for a single-class arm)."""
    classes = list(model.classes_)
    if 1 not in classes:
        return np.zeros(len(x))
    return model.predict_proba(x)[:, classes.index(1)]


def _fit_arms(
    table: pd.DataFrame, arms: Sequence[str], config: ActionUpliftConfig
) -> dict[str, Any]:
    """Fit the outcome model of every arm on its own rows (the T-learner)."""
    treatment = table[TREATMENT_COLUMN].to_numpy()
    x, y = table[list(FEATURE_COLUMNS)], table[OUTCOME_COLUMN].to_numpy(dtype=np.int64)
    return {arm: _fit_arm(x[treatment == arm], y[treatment == arm], config) for arm in arms}


@dataclass
class ActionUpliftModel:
    """A fitted T-learner over candidate actions, with bootstrap refits for the intervals.

    Attributes:
        config: The settings it was fitted with.
        actions: Fitted actions (those with at least ``min_arm_rows`` rows).
        arm_rows: Rows per arm (``none`` included) in the training table.
        arm_outcome_rates: Observed outcome rate per arm.
        skipped: Actions not fitted, with the reason.
        models: Arm models of the fit on the whole table, then of each bootstrap refit.

    """

    config: ActionUpliftConfig
    actions: tuple[str, ...]
    arm_rows: dict[str, int]
    arm_outcome_rates: dict[str, float]
    skipped: dict[str, str]
    models: list[dict[str, Any]] = field(repr=False)

    def _inputs(self, features: pd.DataFrame, actions: Sequence[str] | None) -> tuple[Any, ...]:
        if missing := [c for c in FEATURE_COLUMNS if c not in features.columns]:
            raise ValueError(f"features lack the columns {missing} (see action_features)")
        names = self.actions if actions is None else check_actions(actions)
        if unfitted := [a for a in names if a not in self.actions]:
            raise ValueError(f"actions {unfitted} were not fitted: {self.skipped}")
        return features[list(FEATURE_COLUMNS)], names

    def lift_draws(
        self, features: pd.DataFrame, actions: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(lifts, P(outcome | none))``; lifts are ``(1 + n_bootstrap, rows, actions)``.

        Index 0 of the lifts is the point estimate, the rest are the bootstrap refits.
        """
        x, names = self._inputs(features, actions)
        out = np.empty((len(self.models), len(x), len(names)))
        for b, arms in enumerate(self.models):
            base = _probability(arms[CONTROL], x)
            for j, action in enumerate(names):
                out[b, :, j] = _probability(arms[action], x) - base
        return out, _probability(self.models[0][CONTROL], x)

    def recommend(
        self, features: pd.DataFrame, top: int = 3, actions: Sequence[str] | None = None
    ) -> list[list[ActionLift]]:
        """Rank the actions of each row by estimated lift, largest first.

        Args:
            features: :data:`~training.action_uplift_data.FEATURE_COLUMNS` (extra columns
                are ignored; missing values are imputed).
            top: Actions kept per row.
            actions: Candidate actions (default: every fitted one).

        Returns:
            One list of :class:`ActionLift` per row, sorted by ``lift`` descending.

        Raises:
            ValueError: For missing feature columns or an unknown or unfitted action.

        """
        names = self._inputs(features, actions)[1]
        draws, base = self.lift_draws(features, names)
        low, high = _interval(draws[1:], self.config.ci_level)
        ranked = []
        for i in range(draws.shape[1]):
            lifts = [
                ActionLift(a, *map(float, (draws[0, i, j], low[i, j], high[i, j], base[i])), a, "")
                for j, a in enumerate(names)
            ]
            top_lifts = sorted(lifts, key=lambda lift: -lift.lift)[:top]
            ranked.append([replace(lift, reason=self._reason(lift)) for lift in top_lifts])
        return ranked

    def _reason(self, lift: ActionLift) -> str:
        cfg = self.config
        return (
            f"Associational (observed in history, not a tested effect): similar contacts "
            f"converted {lift.lift * 100:+.1f} pts more often within {cfg.outcome_horizon_days:g}"
            f" days when a rep {ACTION_TEXT[lift.action][1]} in the next "
            f"{cfg.treatment_window_days:g} days ({cfg.ci_level:.0%} CI "
            f"{lift.lift_ci_low * 100:+.1f} to {lift.lift_ci_high * 100:+.1f} pts; "
            f"{lift.baseline_probability:.0%} without an action)."
        )

    def to_next_actions(
        self, features: pd.DataFrame, top: int = 3, min_lift: float = 0.0
    ) -> list[NextAction]:
        """Return one contact's recommendations as next best actions (``source="uplift"``).

        Only actions whose lift exceeds ``min_lift`` are kept. The priority grows with the lift,
        ``0.5 + 2 * lift`` clipped to [0.05, :data:`MAX_UPLIFT_PRIORITY`], so an associational
        suggestion ranks below the rules' advice (0.6 to 0.75) and the model's strong factors.

        Raises:
            ValueError: When ``features`` does not have exactly one row (or lacks columns).

        """
        if len(features) != 1:
            raise ValueError(f"to_next_actions scores one contact, got {len(features)} rows")
        kept = [lift for lift in self.recommend(features, top)[0] if lift.lift > min_lift]
        top_priority = MAX_UPLIFT_PRIORITY
        priority = [float(np.clip(0.5 + 2.0 * lift.lift, 0.05, top_priority)) for lift in kept]
        return [
            NextAction(ACTION_TEXT[lift.action][0], lift.reason, p, "uplift", lift.channel)
            for lift, p in zip(kept, priority, strict=True)
        ]

    def save(self, path: Path | None = None) -> Path:
        """Write the model with joblib (default :func:`default_model_path`); return the path."""
        target = Path(path) if path is not None else default_model_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, target)
        return target

    @classmethod
    def load(cls, path: Path | None = None) -> ActionUpliftModel:
        """Read a model written by :meth:`save` (TypeError when the file holds another object)."""
        loaded = joblib.load(Path(path) if path is not None else default_model_path())
        if not isinstance(loaded, cls):
            raise TypeError(f"expected an ActionUpliftModel, got {type(loaded).__name__}")
        return loaded


def default_model_path(data_dir: Path | None = None) -> Path:
    """Return ``<data_dir>/models/action_uplift/model.joblib`` (default: the settings' folder)."""
    from haste.settings import get_settings

    return Path(data_dir or get_settings().data_dir) / "models" / "action_uplift" / "model.joblib"


def _resample_contacts(table: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Return a bootstrap sample of ``table`` drawn by contact (each contact's rows kept whole)."""
    ids = table[ID_COLUMN].unique()
    return table.set_index(ID_COLUMN, drop=False).loc[rng.choice(ids, len(ids))]


def fit_uplift_table(
    table: pd.DataFrame, config: ActionUpliftConfig | None = None
) -> ActionUpliftModel:
    """Fit the T-learner and its contact-level bootstrap refits on a treatment table.

    Args:
        table: ``contact_id``, ``treatment`` (an action or ``none``), ``outcome`` (0/1) and
            :data:`~training.action_uplift_data.FEATURE_COLUMNS`.
        config: Actions, learner and bootstrap settings.

    Returns:
        The fitted model; actions with fewer than ``min_arm_rows`` rows are skipped.

    Raises:
        ValueError: For missing columns, an unknown treatment, or too few control rows.

    """
    config = config or ActionUpliftConfig()
    missing = {ID_COLUMN, TREATMENT_COLUMN, OUTCOME_COLUMN, *FEATURE_COLUMNS}
    if missing := sorted(missing.difference(table.columns)):
        raise ValueError(f"the treatment table lacks the columns {missing}")
    check_actions(sorted(set(table[TREATMENT_COLUMN].unique()) - {CONTROL}))
    counts = table[TREATMENT_COLUMN].value_counts()
    if counts.get(CONTROL, 0) < config.min_arm_rows:
        raise ValueError(f"the control arm needs at least {config.min_arm_rows} rows")
    actions = tuple(a for a in config.actions if counts.get(a, 0) >= config.min_arm_rows)
    few = (a for a in config.actions if a not in actions)
    skipped = {a: f"{counts.get(a, 0)} rows < min_arm_rows {config.min_arm_rows}" for a in few}
    if not actions:
        raise ValueError(f"no action has enough rows: {skipped}")
    arms, rng = (*actions, CONTROL), np.random.default_rng(config.seed)
    samples = [table] + [_resample_contacts(table, rng) for _ in range(config.n_bootstrap)]
    rates = table.groupby(TREATMENT_COLUMN)[OUTCOME_COLUMN].mean()
    with threadpool_limits(limits=1, user_api="blas"):  # many small fits: BLAS threads contend
        models = [_fit_arms(sample, arms, config) for sample in samples]
    return ActionUpliftModel(
        config=config,
        actions=actions,
        arm_rows={a: int(counts.get(a, 0)) for a in arms},
        arm_outcome_rates={a: float(rates.get(a, np.nan)) for a in arms},
        skipped=skipped,
        models=models,
    )


def fit_action_uplift(
    crm: SyntheticCRM, config: ActionUpliftConfig | None = None
) -> ActionUpliftModel:
    """Build a CRM's historical action table and fit the T-learner on all of it."""
    return fit_uplift_table(build_action_table(crm, config), config)


def _share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros(len(a)), where=b > 0)


def uplift_curves(
    y: np.ndarray, score: np.ndarray, treated: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Return the ``qini`` and ``uplift`` curves of a ranking, each as ``(rows, values)``.

    Qini: ``Y_t - Y_c * N_t / N_c``; uplift: ``(Y_t / N_t - Y_c / N_c) * rows`` (cumulative
    counts of treated / control rows ``N`` and responders ``Y`` among the top-scored rows), at
    each distinct score, highest first (ties are targeted together).
    """
    order = np.argsort(-score, kind="mergesort")
    y, score, treated = y[order], score[order], treated[order]
    ends = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    k, n_t, y_t = ends + 1.0, np.cumsum(treated)[ends], np.cumsum(y * treated)[ends]
    n_c, y_c = k - n_t, np.cumsum(y)[ends] - y_t
    qini = y_t - y_c * _share(n_t, n_c)
    uplift = (_share(y_t, n_t) - _share(y_c, n_c)) * k
    x = np.r_[0.0, k]
    return {"qini": (x, np.r_[0.0, qini]), "uplift": (x, np.r_[0.0, uplift])}


def normalized_area(kind: str, y: np.ndarray, score: np.ndarray, treated: np.ndarray) -> float:
    """Return the Qini coefficient (``kind="qini"``) or the AUUC score (``"uplift"``).

    ``(area - random) / (perfect - random)``, as scikit-uplift's ``qini_auc_score`` (negative
    effects allowed) and ``uplift_auc_score``: 0 is random targeting (the straight line to the
    curve's end), 1 the oracle ranking, below 0 worse than random.
    """
    if kind == "qini":  # the oracle puts treated responders first, control responders last
        perfect = y * treated - y * (1 - treated)
    else:
        control_yes, treated_no = np.sum(y * (1 - treated)), np.sum((1 - y) * treated)
        perfect = 2.0 * (y == treated) + (y if control_yes > treated_no else treated)

    def area(scores: np.ndarray) -> float:
        x, values = uplift_curves(y, scores, treated)[kind]
        return float(np.trapezoid(values, x) - x[-1] * values[-1] / 2.0)

    best = area(perfect)
    return area(score) / best if best > 0 else float("nan")


def _interval(values: np.ndarray, level: float) -> np.ndarray:
    """Return the equal-tailed percentile interval over axis 0 (``[low, high]`` stacked)."""
    tail = (1.0 - level) / 2.0 * 100.0
    return np.percentile(values, [tail, 100.0 - tail], axis=0)


def evaluate_action_uplift(
    model: ActionUpliftModel, test: pd.DataFrame, n_permutations: int = 200, seed: int = 0
) -> dict[str, Any]:
    """Evaluate a fitted model on held-out contacts (a treatment table).

    Per action: the average lift over all test rows (bootstrap interval: each refit averaged
    over a contact-level resample of the test rows), the naive difference in outcome rates
    (treated minus ``none``, contact-level bootstrap interval), and the Qini coefficient and
    AUUC score of ranking the action's and ``none`` rows by lift, with their mean and 95th
    percentile over ``n_permutations`` random rankings (random targeting).

    Returns:
        ``rows``, ``contacts``, ``caveat``, ``actions`` (figures per action) and
        ``mean_qini_coefficient`` / ``mean_auuc`` over the actions.

    """
    rng = np.random.default_rng(seed)
    codes, uniques = pd.factorize(test[ID_COLUMN])
    draws = model.lift_draws(test)[0]
    picks = rng.integers(0, len(uniques), (max(len(draws) - 1, 500), len(uniques)))
    weights = np.stack([np.bincount(p, minlength=len(uniques))[codes] for p in picks]) + 1e-12
    treatment, y = test[TREATMENT_COLUMN].to_numpy(), test[OUTCOME_COLUMN].to_numpy(float)
    control = treatment == CONTROL
    figures: dict[str, dict[str, Any]] = {}
    for j, action in enumerate(model.actions):
        treated = treatment == action
        boot = draws[1:, :, j]
        average = (boot * weights[: len(boot)]).sum(1) / weights[: len(boot)].sum(1)
        w_t, w_c = weights[:, treated], weights[:, control]
        naive = (w_t @ y[treated]) / w_t.sum(1) - (w_c @ y[control]) / w_c.sum(1)
        entry: dict[str, Any] = {
            "rows_treated": int(treated.sum()),
            "rows_control": int(control.sum()),
            "average_lift": float(draws[0, :, j].mean()),
            "average_lift_ci": _interval(average, model.config.ci_level).tolist(),
            "naive_difference": float(y[treated].mean() - y[control].mean()),
            "naive_difference_ci": _interval(naive, model.config.ci_level).tolist(),
        }
        rows = treated | control
        yy, tt, score = y[rows], treated[rows].astype(float), draws[0, rows, j]
        for kind, name in (("qini", "qini_coefficient"), ("uplift", "auuc")):
            shuffled = (rng.permutation(score) for _ in range(n_permutations))
            random = [normalized_area(kind, yy, s, tt) for s in shuffled]
            entry[name] = normalized_area(kind, yy, score, tt)
            entry[f"{name}_random_mean"] = float(np.mean(random))
            entry[f"{name}_random_p95"] = float(np.percentile(random, 95))
        figures[action] = entry
    out = {"rows": len(test), "contacts": len(uniques), "caveat": CAVEAT, "actions": figures}
    for name in ("qini_coefficient", "auuc"):
        out[f"mean_{name}"] = float(np.mean([f[name] for f in figures.values()]))
    return out
