"""Tune the XGBoost candidate to the table's size with Optuna, on the training split only.

How:

1. **Folds of the training rows.** ``cv_folds`` stratified folds (grouped by entity id when
   the config keeps an entity's rows together) are cut from the *training* split; the held-out
   test split never reaches this module. Each fold's frozen-category encoder is fitted on the
   fold's training part, once, before the search.
2. **A search space sized to the table.** Small tables (under 5,000 training rows) search
   shallow, strongly regularised trees (depth 2-4, ``min_child_weight`` up to 40, large L2);
   medium and large tables search deeper, lighter regularised ones (:data:`SEARCH_SPACES`).
3. **Trees by early stopping.** Each trial fits every fold with early stopping on the fold's
   validation part, so the number of trees is found without being searched; the tuned model
   uses the mean best iteration.
4. **A seeded TPE search** (``TPESampler(seed)``) whose first trial is the config's own
   hyper-parameters, so the search never ends with a CV score below the hand-set defaults.
   The budget is ``n_trials`` on tables up to :data:`REFERENCE_ROWS` training rows and shrinks
   in proportion beyond (never below ``min_trials``); ``timeout_s`` is a safety net only.

The trials are kept in the :class:`TuningResult` and logged to MLflow by
:func:`training.tuning_tracking.log_tuning` as nested runs of the training run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from features.tabular import TabularEncoder
from training.config import TuneConfig

logger = logging.getLogger(__name__)

#: Training rows at which the full ``n_trials`` budget stops; larger tables get fewer trials.
REFERENCE_ROWS = 10_000


@dataclass(frozen=True)
class SearchSpace:
    """Bounds of the searched XGBoost hyper-parameters for one table size.

    Each bound is ``(low, high)``; ``log_scale`` names the ones searched on a log scale.
    """

    name: str
    max_rows: float
    max_depth: tuple[int, int]
    min_child_weight: tuple[float, float]
    learning_rate: tuple[float, float]
    subsample: tuple[float, float]
    colsample_bytree: tuple[float, float]
    reg_lambda: tuple[float, float]
    reg_alpha: tuple[float, float]
    gamma: tuple[float, float]
    max_estimators: int
    log_scale: frozenset[str] = frozenset(
        {"min_child_weight", "learning_rate", "reg_lambda", "reg_alpha"}
    )

    @property
    def searched(self) -> list[str]:
        """Return the names of the searched hyper-parameters."""
        return [
            "max_depth",
            "min_child_weight",
            "learning_rate",
            "subsample",
            "colsample_bytree",
            "reg_lambda",
            "reg_alpha",
            "gamma",
        ]


#: Smaller tables: shallower, more regularised trees, fewer of them.
SEARCH_SPACES: tuple[SearchSpace, ...] = (
    SearchSpace(
        name="small",
        max_rows=5_000,
        max_depth=(2, 4),
        min_child_weight=(2.0, 40.0),
        learning_rate=(0.01, 0.1),
        subsample=(0.5, 0.9),
        colsample_bytree=(0.3, 0.9),
        reg_lambda=(1.0, 50.0),
        reg_alpha=(0.001, 10.0),
        gamma=(0.0, 5.0),
        max_estimators=600,
    ),
    SearchSpace(
        name="medium",
        max_rows=50_000,
        max_depth=(3, 6),
        min_child_weight=(1.0, 20.0),
        learning_rate=(0.02, 0.2),
        subsample=(0.6, 1.0),
        colsample_bytree=(0.4, 1.0),
        reg_lambda=(0.5, 20.0),
        reg_alpha=(0.001, 5.0),
        gamma=(0.0, 3.0),
        max_estimators=800,
    ),
    SearchSpace(
        name="large",
        max_rows=float("inf"),
        max_depth=(4, 8),
        min_child_weight=(1.0, 10.0),
        learning_rate=(0.03, 0.3),
        subsample=(0.7, 1.0),
        colsample_bytree=(0.5, 1.0),
        reg_lambda=(0.1, 10.0),
        reg_alpha=(0.001, 1.0),
        gamma=(0.0, 1.0),
        max_estimators=1000,
    ),
)

#: Primary metric -> (score function of (labels, probabilities), larger is better?).
METRICS: dict[str, tuple[Any, bool]] = {
    "roc_auc": (roc_auc_score, True),
    "pr_auc": (average_precision_score, True),
    "brier": (brier_score_loss, False),
    "log_loss": (lambda y, p: log_loss(y, np.clip(p, 1e-7, 1 - 1e-7)), False),
}

#: XGBoost's early-stopping metric for each primary metric.
EVAL_METRICS = {"roc_auc": "auc", "pr_auc": "aucpr", "brier": "logloss", "log_loss": "logloss"}


@dataclass(frozen=True)
class TrialRecord:
    """One Optuna trial: the hyper-parameters tried and their cross-validated score."""

    number: int
    params: dict[str, Any]
    score: float | None
    n_estimators: int | None
    seconds: float
    state: str


@dataclass
class TuningResult:
    """The outcome of a search: the tuned hyper-parameters and every trial."""

    metric: str
    space: str
    rows: int
    cv_folds: int
    budget: int
    params: dict[str, Any]
    best_score: float
    default_score: float | None
    seconds: float
    trials: list[TrialRecord] = field(default_factory=list)

    @property
    def best_trial(self) -> int:
        """Return the number of the best trial."""
        scores = [(t.score, -t.number) for t in self.trials if t.score is not None]
        _, number = max(scores) if self.larger_is_better else min(scores)
        return -number

    @property
    def larger_is_better(self) -> bool:
        """Return whether a larger CV score is better (``roc_auc``, ``pr_auc``)."""
        return METRICS[self.metric][1]

    def summary(self) -> dict[str, Any]:
        """Return a JSON-ready summary (no per-trial rows)."""
        return {
            "metric": self.metric,
            "space": self.space,
            "rows": self.rows,
            "cv_folds": self.cv_folds,
            "budget": self.budget,
            "trials": len(self.trials),
            "best_trial": self.best_trial,
            "best_cv_score": round(self.best_score, 4),
            "default_cv_score": None
            if self.default_score is None
            else round(self.default_score, 4),
            "seconds": round(self.seconds, 2),
            "params": self.params,
        }

    def trials_frame(self) -> pd.DataFrame:
        """Return one row per trial: number, state, score, trees, seconds and parameters."""
        rows = []
        for trial in self.trials:
            row = {key: value for key, value in asdict(trial).items() if key != "params"}
            row.update(trial.params)
            rows.append(row)
        return pd.DataFrame(rows)


@dataclass(frozen=True)
class _Fold:
    train: pd.DataFrame
    train_labels: np.ndarray
    valid: pd.DataFrame
    valid_labels: np.ndarray


def search_space_for(rows: int) -> SearchSpace:
    """Return the search space of a training table with ``rows`` rows."""
    for space in SEARCH_SPACES:
        if rows < space.max_rows:
            return space
    return SEARCH_SPACES[-1]


def trial_budget(rows: int, config: TuneConfig) -> int:
    """Return the number of trials for ``rows`` training rows.

    ``n_trials`` up to :data:`REFERENCE_ROWS` rows, then shrinking in proportion (each trial
    costs more on a larger table), never below ``min_trials``.
    """
    scaled = round(config.n_trials * min(1.0, REFERENCE_ROWS / max(rows, 1)))
    return max(config.min_trials, min(config.n_trials, scaled))


def make_folds(
    labels: pd.Series, folds: int, seed: int, groups: pd.Series | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return stratified (grouped when ``groups`` is given) fold positions of training rows."""
    positions = np.zeros(len(labels))
    if groups is not None:
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        return list(splitter.split(positions, labels, groups=groups))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(positions, labels))


def tune_xgboost(
    features: pd.DataFrame,
    labels: pd.Series,
    base_params: dict[str, Any],
    config: TuneConfig,
    metric: str = "roc_auc",
    groups: pd.Series | None = None,
) -> TuningResult:
    """Search the candidate's hyper-parameters by cross-validation on training rows.

    Args:
        features: Raw inputs of the training split (never the held-out split).
        labels: Their 0/1 labels.
        base_params: The config's XGBoost hyper-parameters: the first trial, and kept for
            every parameter that is not searched (``random_state``, ``monotone_constraints``).
        config: The ``tune`` section (budget, folds, seed).
        metric: The registry's primary metric (``roc_auc``, ``pr_auc``, ``brier``,
            ``log_loss``).
        groups: Entity ids when an entity's rows must stay in one fold.

    Returns:
        The tuned hyper-parameters (``n_estimators`` from early stopping) and every trial.

    Raises:
        ValueError: When ``metric`` cannot be tuned for.

    """
    import optuna

    if metric not in METRICS:
        raise ValueError(f"cannot tune for {metric!r}; choose one of {sorted(METRICS)}")
    started = time.perf_counter()
    space = search_space_for(len(labels))
    budget = trial_budget(len(labels), config)
    folds = encoded_folds(features, labels, config, groups)
    fixed = {k: v for k, v in base_params.items() if k not in {*space.searched, "n_estimators"}}
    records: list[TrialRecord] = []

    def objective(trial: optuna.Trial) -> float:
        score, n_estimators, seconds = score_trial(
            {**fixed, **suggest(trial, space)}, folds, space, config, metric
        )
        trial.set_user_attr("n_estimators", n_estimators)
        records.append(
            TrialRecord(
                number=trial.number,
                params={**suggest_values(trial), "n_estimators": n_estimators},
                score=score,
                n_estimators=n_estimators,
                seconds=seconds,
                state="COMPLETE",
            )
        )
        return score

    study = new_study(base_params, space, config, metric, budget)
    study.optimize(objective, n_trials=budget, timeout=config.timeout_s)
    result = search_result(
        study, fixed, records, space, config, metric, budget, len(labels), started
    )
    logger.info(
        "tuned on %d training rows (%s space): %d trials in %.1fs, CV %s %.4f (defaults %.4f)",
        result.rows,
        space.name,
        len(records),
        result.seconds,
        metric,
        result.best_score,
        result.default_score if result.default_score is not None else float("nan"),
    )
    return result


def score_trial(
    params: dict[str, Any],
    folds: Sequence[Any],
    space: SearchSpace,
    config: TuneConfig,
    metric: str,
) -> tuple[float, int, float]:
    """Cross-validate one trial's hyper-parameters (the objective of every search).

    Args:
        params: The XGBoost hyper-parameters of the trial (fixed and suggested ones).
        folds: The encoded folds of the training rows (:func:`encoded_folds`).
        space: The search space (its ``max_estimators`` caps early stopping).
        config: The ``tune`` section (early-stopping rounds).
        metric: The primary metric.

    Returns:
        ``(mean fold score, mean best number of trees, seconds)``.
    """
    started = time.perf_counter()
    score_of, _ = METRICS[metric]
    scores, trees = [], []
    for fold in folds:
        model = fold_model(params, space, config, metric)
        model.fit(
            fold.train, fold.train_labels, eval_set=[(fold.valid, fold.valid_labels)], verbose=False
        )
        probabilities = model.predict_proba(fold.valid)[:, 1]
        scores.append(float(score_of(fold.valid_labels, probabilities)))
        trees.append(int(model.best_iteration) + 1)
    n_estimators = max(1, round(float(np.mean(trees))))
    return float(np.mean(scores)), n_estimators, time.perf_counter() - started


def new_study(
    base_params: dict[str, Any], space: SearchSpace, config: TuneConfig, metric: str, budget: int
) -> Any:
    """Return the seeded TPE study whose first trial is the config's own values."""
    import optuna

    _, larger_is_better = METRICS[metric]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if larger_is_better else "minimize",
        sampler=optuna.samplers.TPESampler(seed=config.seed, n_startup_trials=min(8, budget)),
    )
    study.enqueue_trial(default_values(base_params, space))
    return study


def search_result(
    study: Any,
    fixed: dict[str, Any],
    records: list[TrialRecord],
    space: SearchSpace,
    config: TuneConfig,
    metric: str,
    budget: int,
    rows: int,
    started: float,
) -> TuningResult:
    """Return a finished search's :class:`TuningResult` (its best trial's hyper-parameters).

    ``rows`` is the number of training rows searched on; ``started`` the search's
    ``time.perf_counter()`` at its start.
    """
    best = study.best_trial
    return TuningResult(
        metric=metric,
        space=space.name,
        rows=rows,
        cv_folds=config.cv_folds,
        budget=budget,
        params={
            **fixed,
            **suggest_values(best),
            "n_estimators": int(best.user_attrs["n_estimators"]),
        },
        best_score=float(best.value),
        default_score=records[0].score if records else None,
        seconds=time.perf_counter() - started,
        trials=records,
    )


def suggest(trial: Any, space: SearchSpace) -> dict[str, Any]:
    """Ask an Optuna trial for one value of every searched hyper-parameter of ``space``."""
    values: dict[str, Any] = {"max_depth": trial.suggest_int("max_depth", *space.max_depth)}
    for name in space.searched[1:]:
        low, high = getattr(space, name)
        values[name] = trial.suggest_float(name, low, high, log=name in space.log_scale)
    return values


def suggest_values(trial: Any) -> dict[str, Any]:
    """Return a trial's suggested values as plain Python numbers."""
    return {key: _plain(value) for key, value in trial.params.items()}


def default_values(base_params: dict[str, Any], space: SearchSpace) -> dict[str, Any]:
    """Return the config's own values of the searched parameters, clipped into ``space``.

    XGBoost's defaults fill in what the config leaves out (``reg_alpha`` 0 and ``gamma`` 0
    are raised to the space's lower bound where that is positive).
    """
    xgboost_defaults = {
        "max_depth": 6,
        "min_child_weight": 1.0,
        "learning_rate": 0.3,
        "subsample": 1.0,
        "colsample_bytree": 1.0,
        "reg_lambda": 1.0,
        "reg_alpha": 0.0,
        "gamma": 0.0,
    }
    values = {}
    for name in space.searched:
        low, high = getattr(space, name)
        value = base_params.get(name, xgboost_defaults[name])
        values[name] = type(low)(min(max(value, low), high))
    return values


def encoded_folds(
    features: pd.DataFrame, labels: pd.Series, config: TuneConfig, groups: pd.Series | None
) -> list[_Fold]:
    """Encode each fold once: the encoder is fitted on the fold's training part only."""
    out = []
    label_values = labels.to_numpy()
    for train_pos, valid_pos in make_folds(labels, config.cv_folds, config.seed, groups):
        encoder = TabularEncoder(columns=list(features.columns))
        train_part = encoder.fit_transform(features.iloc[train_pos])
        out.append(
            _Fold(
                train=train_part,
                train_labels=label_values[train_pos],
                valid=encoder.transform(features.iloc[valid_pos]),
                valid_labels=label_values[valid_pos],
            )
        )
    return out


def fold_model(params: dict[str, Any], space: SearchSpace, config: TuneConfig, metric: str) -> Any:
    """Return the XGBoost classifier of one fold (early stopping on the fold's validation)."""
    from xgboost import XGBClassifier

    kwargs = {
        "enable_categorical": True,
        "tree_method": "hist",
        **params,
        "n_jobs": 1,  # small fits: one thread is as fast and does not stall on a busy machine
        "n_estimators": space.max_estimators,
        "eval_metric": EVAL_METRICS[metric],
        "early_stopping_rounds": config.early_stopping_rounds,
        "verbosity": 0,
    }
    return XGBClassifier(**kwargs)


def _plain(value: Any) -> Any:
    """Return numpy scalars as Python numbers (JSON- and MLflow-friendly)."""
    return value.item() if isinstance(value, np.generic) else value
