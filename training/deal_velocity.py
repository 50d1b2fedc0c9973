"""Deal velocity on the Maven CRM sales pipeline: days-to-close, win probability, revenue forecast.

Framework-free (no Prefect); :mod:`flows.deal_velocity` orchestrates it and
:func:`log_deal_models` puts both models in the MLflow registry.

Three models share one deal frame (:func:`build_deal_frame`, one row per opportunity):

* **Days-to-close** regression (XGBRegressor) on closed deals (Won + Lost), scored by MAE against
  a median baseline (see :func:`median_days_baseline` for what the spec's "median-by-stage" maps
  to here).
* **Win probability** classifier (XGBClassifier, target ``is_won``) on closed deals, scored by
  ROC AUC / Brier against each agent's historical win rate, then applied to the open deals
  (Engaging / Prospecting).
* **Revenue forecast** by month: open pipeline x win probability x expected deal value, placed in
  the month of ``engage_date + predicted days-to-close``; backtested on 2017 with monthly cutoffs,
  each refitted on deals closed before its cutoff only (MAPE vs last month's actual).

Leakage: ``deal_stage``, ``close_date`` and ``close_value`` are only known once the deal is
closed, so they (and ``days_to_close`` / ``is_won`` derived from them) are never model inputs;
they are targets or evaluation data only (:data:`OUTCOME_COLUMNS`). ``engage_month`` is kept in
the frame but is not an input: the export covers close dates 2017-03-01 .. 2017-12-31 only, so a
deal engaged in late 2016 is present only when its cycle was long and one engaged in December
2017 only when it was short; the calendar month therefore encodes the observation window rather
than the deal (measured: held-out MAE ~75 days with it vs ~36 without). The month-of-quarter,
day-of-month and days-to-quarter-end carry the real (quarterly) seasonality.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from sklearn.metrics import brier_score_loss, mean_absolute_error, roc_auc_score
from sklearn.pipeline import Pipeline
from xgboost import XGBClassifier, XGBRegressor

from haste.settings import Settings
from pipelines.datasets import MavenCRM
from training.estimators import encoded_pipeline
from training.evaluate import compute_classification_metrics, plot_roc_pr, save_figure
from training.explain import TreeShapExplainer

logger = logging.getLogger(__name__)

DAYS_MODEL_NAME = "deal_velocity"
WIN_MODEL_NAME = "win_probability"
DATASET_NAME = "maven_crm_sales"

ID_COLUMN = "opportunity_id"
CLOSED_STAGES = ("Won", "Lost")
OPEN_STAGES = ("Engaging", "Prospecting")

#: Columns that are only known once a deal closes: targets / evaluation data, never inputs.
OUTCOME_COLUMNS: tuple[str, ...] = (
    "deal_stage",
    "close_date",
    "close_value",
    "days_to_close",
    "is_won",
    "is_closed",
)

#: Model inputs, all known when the deal is engaged (the same list for both models).
FEATURE_COLUMNS: tuple[str, ...] = (
    "sales_agent",
    "manager",
    "regional_office",
    "product",
    "series",
    "sales_price",
    "engage_month_of_quarter",
    "engage_day",
    "engage_weekday",
    "days_to_quarter_end",
)

#: Derived from ``engage_date`` by :func:`enrich_deals`.
DATE_FEATURES: tuple[str, ...] = (
    "engage_month",
    "engage_month_of_quarter",
    "engage_day",
    "engage_weekday",
    "days_to_quarter_end",
)

#: Account attributes: in the frame, deliberately not inputs. ``account`` is blank for 1,425 of
#: the 2,089 open deals and never for a closed one, so a model using them sends every open deal
#: without an account down an arbitrary "missing" branch (measured: mean win probability 0.81 vs
#: 0.64 for open deals with an account). Without them held-out MAE is 35.4 vs 35.2 days and ROC
#: AUC 0.537 vs 0.523, so nothing is lost.
ACCOUNT_COLUMNS: tuple[str, ...] = (
    "account",
    "sector",
    "revenue",
    "employees",
    "year_established",
    "office_location",
)

#: Columns in the frame that are deliberately not inputs (id, raw date, window-confounded month).
NON_INPUT_COLUMNS: tuple[str, ...] = (ID_COLUMN, "engage_date", "engage_month", *ACCOUNT_COLUMNS)

DAYS_PARAMS: dict[str, Any] = {
    "n_estimators": 150,
    "max_depth": 4,
    "learning_rate": 0.08,
    "subsample": 0.9,
    "random_state": 42,
}
WIN_PARAMS: dict[str, Any] = {
    "n_estimators": 150,
    "max_depth": 3,
    "learning_rate": 0.05,
    "subsample": 0.9,
    "random_state": 42,
}

#: First day of each backtest month: the forecast of each is made with data before that day.
BACKTEST_CUTOFFS: tuple[str, ...] = tuple(
    str(day.date()) for day in pd.date_range("2017-04-01", "2017-11-01", freq="MS")
)
TEST_FRACTION = 0.2
AUDIT_COLUMN = "regional_office"


# --- data ----------------------------------------------------------------------------------------


def enrich_deals(
    deals: pd.DataFrame,
    accounts: pd.DataFrame | None = None,
    products: pd.DataFrame | None = None,
    teams: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Join pipeline rows with their account, product and team, and add engage-date features.

    Args:
        deals: Rows with (some of) the ``sales_pipeline.csv`` columns.
        accounts: ``accounts.csv`` (sector, revenue, employees, year_established, location).
        products: ``products.csv`` (series, sales_price).
        teams: ``sales_teams.csv`` (manager, regional_office).

    Returns:
        The rows, in the same order, with the lookup and date columns added (a lookup that is
        not given, or a column already present, is left as is).

    """
    out = deals.copy()
    joins = (
        (
            accounts,
            "account",
            ["sector", "revenue", "employees", "year_established", "office_location"],
        ),
        (products, "product", ["series", "sales_price"]),
        (teams, "sales_agent", ["manager", "regional_office"]),
    )
    for table, key, columns in joins:
        wanted = [column for column in columns if column not in out.columns]
        if table is None or key not in out.columns or not wanted:
            continue
        lookup = table.drop_duplicates(key).set_index(key)[wanted]
        joined = lookup.reindex(out[key].to_numpy())
        for column in wanted:
            out[column] = joined[column].to_numpy()
    engage = pd.to_datetime(out["engage_date"]) if "engage_date" in out else None
    if engage is not None:
        out["engage_date"] = engage
        quarter_end = engage.dt.to_period("Q").dt.end_time.dt.normalize()
        out["engage_month"] = engage.dt.month.astype(float)
        out["engage_month_of_quarter"] = ((engage.dt.month - 1) % 3 + 1).astype(float)
        out["engage_day"] = engage.dt.day.astype(float)
        out["engage_weekday"] = engage.dt.weekday.astype(float)
        out["days_to_quarter_end"] = (quarter_end - engage).dt.days.astype(float)
    for column in ("sales_price", "revenue", "employees", "year_established"):
        if column in out:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    return out


def build_deal_frame(maven: MavenCRM) -> pd.DataFrame:
    """Return one row per opportunity with its inputs and (for closed deals) its outcomes.

    Inputs are the deal's agent/product/account, their lookups (account sector, revenue,
    employees, year established, office location; product series and list price; team manager and
    regional office) and engage-date features. Outcomes: ``days_to_close`` (close - engage, in
    days) and ``is_won`` (1.0 Won / 0.0 Lost), both NaN for open deals. ``deal_stage``,
    ``close_date`` and ``close_value`` are kept for evaluation but never used as inputs: they leak
    the outcome (:data:`OUTCOME_COLUMNS`).

    Args:
        maven: The four Maven CRM tables (:func:`pipelines.datasets.load_maven_crm`).

    Returns:
        8,800 rows (for the full export), in file order.

    """
    frame = enrich_deals(maven.pipeline, maven.accounts, maven.products, maven.teams)
    closed = frame["deal_stage"].isin(CLOSED_STAGES)
    frame["is_closed"] = closed
    frame["days_to_close"] = (frame["close_date"] - frame["engage_date"]).dt.days.where(closed)
    frame["days_to_close"] = frame["days_to_close"].astype(float)
    frame["is_won"] = (frame["deal_stage"] == "Won").astype(float).where(closed)
    return frame


def closed_deals(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the Won/Lost deals sorted by engage date (then id, for a stable order)."""
    closed = frame[frame["deal_stage"].isin(CLOSED_STAGES)]
    return closed.sort_values(["engage_date", ID_COLUMN], kind="mergesort")


def time_ordered_split(
    frame: pd.DataFrame, test_fraction: float = TEST_FRACTION
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the closed deals by engage date: the latest ``test_fraction`` is held out.

    Time-ordered rather than stratified: the models are used on deals engaged *after* the ones
    they learnt from, and a random split would let them interpolate patterns of the very weeks
    they are scored on. Caveat: the latest engaged deals that are already closed are biased
    towards short cycles (the export ends on 2017-12-31, longer ones are still open), so the
    held-out MAE is not the MAE over all future deals; model and baseline see the same rows.

    Args:
        frame: The deal frame (:func:`build_deal_frame`).
        test_fraction: Share of closed deals held out.

    Returns:
        (train, test) closed deals; every test deal was engaged on or after every train deal.

    """
    closed = closed_deals(frame)
    n_train = round(len(closed) * (1 - test_fraction))
    return closed.iloc[:n_train], closed.iloc[n_train:]


def training_rows_for_cutoff(frame: pd.DataFrame, cutoff: pd.Timestamp | str) -> pd.DataFrame:
    """Return the deals a model may learn from at ``cutoff``: closed strictly before it."""
    cutoff = pd.Timestamp(cutoff)
    closed = closed_deals(frame)
    return closed[closed["close_date"] < cutoff]


def open_at_cutoff(frame: pd.DataFrame, cutoff: pd.Timestamp | str) -> pd.DataFrame:
    """Return the deals open at ``cutoff``: engaged before it and not closed before it.

    Prospecting deals have no engage date, so they are never "engaged before" a cutoff and are
    left out (they cannot be placed in a month either).
    """
    cutoff = pd.Timestamp(cutoff)
    engaged = frame["engage_date"] < cutoff
    still_open = frame["close_date"].isna() | (frame["close_date"] >= cutoff)
    return frame[engaged & still_open]


def won_revenue_by_month(frame: pd.DataFrame) -> pd.Series:
    """Return actual won revenue (sum of ``close_value`` of Won deals) by close month."""
    won = frame[frame["deal_stage"] == "Won"]
    return won.groupby(won["close_date"].dt.to_period("M"))["close_value"].sum()


# --- models --------------------------------------------------------------------------------------


def build_days_pipeline(
    columns: Sequence[str] = FEATURE_COLUMNS, params: Mapping[str, Any] | None = None
) -> Pipeline:
    """Return an unfitted ``encode -> XGBRegressor`` pipeline (native categoricals)."""
    model = XGBRegressor(
        enable_categorical=True,
        tree_method="hist",
        objective="reg:squarederror",
        n_jobs=1,
        **dict(params or DAYS_PARAMS),
    )
    return encoded_pipeline(columns, model)


def build_win_pipeline(
    columns: Sequence[str] = FEATURE_COLUMNS, params: Mapping[str, Any] | None = None
) -> Pipeline:
    """Return an unfitted ``encode -> XGBClassifier`` pipeline (native categoricals)."""
    model = XGBClassifier(
        enable_categorical=True,
        tree_method="hist",
        eval_metric="logloss",
        n_jobs=1,
        **dict(params or WIN_PARAMS),
    )
    return encoded_pipeline(columns, model)


@dataclass(frozen=True)
class MedianDaysBaseline:
    """The spec's "median days-to-close by stage", made honest.

    For a closed deal the stage *is* the outcome (Won/Lost) and for an open deal it is always
    Engaging, so grouping by stage either leaks the answer or collapses to one number. The stage
    that is known when a deal is engaged and differs between deals is the product being sold, so
    the baseline is the training-set median days-to-close by ``product``, falling back to the
    overall training median for an unseen product.
    """

    by_product: dict[str, float]
    overall: float

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the baseline days-to-close of each row."""
        return frame["product"].map(self.by_product).fillna(self.overall).to_numpy(dtype=float)


def median_days_baseline(train: pd.DataFrame) -> MedianDaysBaseline:
    """Fit :class:`MedianDaysBaseline` on closed training deals."""
    by_product = train.groupby("product")["days_to_close"].median()
    return MedianDaysBaseline(
        by_product={str(k): float(v) for k, v in by_product.items()},
        overall=float(train["days_to_close"].median()),
    )


@dataclass(frozen=True)
class AgentWinRateBaseline:
    """Win probability = the agent's historical win rate (overall rate for an unseen agent)."""

    by_agent: dict[str, float]
    overall: float

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the baseline probability of winning each row."""
        return frame["sales_agent"].map(self.by_agent).fillna(self.overall).to_numpy(dtype=float)


def agent_win_rate_baseline(train: pd.DataFrame) -> AgentWinRateBaseline:
    """Fit :class:`AgentWinRateBaseline` on closed training deals."""
    by_agent = train.groupby("sales_agent")["is_won"].mean()
    return AgentWinRateBaseline(
        by_agent={str(k): float(v) for k, v in by_agent.items()},
        overall=float(train["is_won"].mean()),
    )


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Return MAE, RMSE and median absolute error (days)."""
    errors = np.asarray(predicted, dtype=float) - np.asarray(y_true, dtype=float)
    return {
        "mae": float(np.mean(np.abs(errors))),
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "median_ae": float(np.median(np.abs(errors))),
    }


@dataclass
class DealModels:
    """The two fitted pipelines plus the lookups needed to score a raw pipeline row.

    Args:
        days_model: ``encode -> XGBRegressor`` predicting days-to-close.
        win_model: ``encode -> XGBClassifier`` predicting the probability of winning.
        feature_columns: The raw input columns of both pipelines.
        accounts: Optional ``accounts.csv`` lookup (used when a row lacks the account columns).
        products: Optional ``products.csv`` lookup.
        teams: Optional ``sales_teams.csv`` lookup.

    """

    days_model: Pipeline
    win_model: Pipeline
    feature_columns: list[str] = field(default_factory=lambda: list(FEATURE_COLUMNS))
    accounts: pd.DataFrame | None = None
    products: pd.DataFrame | None = None
    teams: pd.DataFrame | None = None
    _explainers: dict[str, TreeShapExplainer] = field(default_factory=dict, repr=False)

    def features(self, deals: pd.DataFrame) -> pd.DataFrame:
        """Return the model inputs of raw or enriched deal rows (absent columns become NaN)."""
        enriched = enrich_deals(deals, self.accounts, self.products, self.teams)
        return enriched.reindex(columns=self.feature_columns)

    def predict_days(self, deals: pd.DataFrame) -> np.ndarray:
        """Return predicted days-to-close (clipped at 0)."""
        return np.clip(self.days_model.predict(self.features(deals)), 0, None)

    def predict_win(self, deals: pd.DataFrame) -> np.ndarray:
        """Return the predicted probability of winning."""
        return self.win_model.predict_proba(self.features(deals))[:, 1]

    def explainer(self, which: str) -> TreeShapExplainer:
        """Return the (cached) SHAP explainer of ``days`` or ``win``."""
        if which not in self._explainers:
            model = self.days_model if which == "days" else self.win_model
            self._explainers[which] = TreeShapExplainer(model)
        return self._explainers[which]


def fit_deal_models(
    train: pd.DataFrame,
    maven: MavenCRM | None = None,
    days_params: Mapping[str, Any] | None = None,
    win_params: Mapping[str, Any] | None = None,
) -> DealModels:
    """Fit the days-to-close and win-probability pipelines on closed deals.

    Args:
        train: Closed deals (rows of :func:`build_deal_frame`).
        maven: The lookups to keep for scoring raw rows later (optional).
        days_params: XGBRegressor hyper-parameters (default :data:`DAYS_PARAMS`).
        win_params: XGBClassifier hyper-parameters (default :data:`WIN_PARAMS`).

    Returns:
        The fitted models.

    """
    if not train["deal_stage"].isin(CLOSED_STAGES).all():
        raise ValueError("deal models learn from closed (Won/Lost) deals only")
    inputs = train.loc[:, list(FEATURE_COLUMNS)]
    days_model = build_days_pipeline(params=days_params).fit(inputs, train["days_to_close"])
    win_model = build_win_pipeline(params=win_params).fit(inputs, train["is_won"].astype(int))
    return DealModels(
        days_model=days_model,
        win_model=win_model,
        accounts=maven.accounts if maven else None,
        products=maven.products if maven else None,
        teams=maven.teams if maven else None,
    )


# --- revenue forecast ----------------------------------------------------------------------------


def expected_deal_values(train: pd.DataFrame, deals: pd.DataFrame) -> np.ndarray:
    """Return each deal's expected value if won, from won deals in ``train`` only.

    Mean ``close_value`` of the agent's won deals of that product, else of all won deals of the
    product, else the product's list ``sales_price``.
    """
    won = train[train["deal_stage"] == "Won"]
    by_pair = won.groupby(["sales_agent", "product"])["close_value"].mean()
    by_product = won.groupby("product")["close_value"].mean()
    pairs = pd.MultiIndex.from_arrays([deals["sales_agent"], deals["product"]])
    values = pd.Series(by_pair.reindex(pairs).to_numpy(), index=deals.index)
    values = values.fillna(deals["product"].map(by_product)).fillna(deals["sales_price"])
    return values.to_numpy(dtype=float)


@dataclass
class RevenueForecast:
    """Open pipeline at a cutoff, scored and placed by predicted close month."""

    cutoff: pd.Timestamp
    deals: pd.DataFrame
    by_month: pd.Series
    train_ids: list[str]
    train_last_close: pd.Timestamp | None

    def month_total(self, month: pd.Period) -> float:
        """Return the forecast won revenue of ``month`` (0.0 when no deal lands there)."""
        return float(self.by_month.get(month, 0.0))


def forecast_revenue(
    frame: pd.DataFrame,
    cutoff: pd.Timestamp | str,
    models: DealModels | None = None,
    days_params: Mapping[str, Any] | None = None,
    win_params: Mapping[str, Any] | None = None,
) -> RevenueForecast:
    """Forecast won revenue by month from the pipeline open at ``cutoff``.

    Each open deal contributes ``win_probability x expected value`` to the month of
    ``engage_date + predicted days-to-close``. A deal whose predicted close is already before the
    cutoff lands in a past month and so adds nothing to the forecast: it has outlived its
    predicted cycle and is treated as stalled (many such deals never close in this export).

    Args:
        frame: The deal frame (:func:`build_deal_frame`).
        cutoff: The "as of" date; nothing closed on or after it is used.
        models: Models to use; by default they are fitted on deals closed before the cutoff.
        days_params: Regressor hyper-parameters when fitting.
        win_params: Classifier hyper-parameters when fitting.

    Returns:
        The scored open deals and the forecast by close month (months >= the cutoff's).

    """
    cutoff = pd.Timestamp(cutoff)
    train = training_rows_for_cutoff(frame, cutoff)
    if models is None:
        models = fit_deal_models(train, days_params=days_params, win_params=win_params)
    deals = open_at_cutoff(frame, cutoff).copy()
    deals["predicted_days"] = models.predict_days(deals)
    deals["win_probability"] = models.predict_win(deals)
    deals["expected_value"] = expected_deal_values(train, deals)
    deals["expected_revenue"] = deals["win_probability"] * deals["expected_value"]
    deals["predicted_close"] = deals["engage_date"] + pd.to_timedelta(
        deals["predicted_days"].round(), unit="D"
    )
    deals["predicted_month"] = deals["predicted_close"].dt.to_period("M")
    future = deals[deals["predicted_close"] >= cutoff]
    by_month = future.groupby("predicted_month")["expected_revenue"].sum().sort_index()
    return RevenueForecast(
        cutoff=cutoff,
        deals=deals,
        by_month=by_month,
        train_ids=train[ID_COLUMN].tolist(),
        train_last_close=train["close_date"].max() if len(train) else None,
    )


@dataclass
class ForecastBacktest:
    """Next-month forecasts for each cutoff vs actual won revenue and the naive baseline."""

    table: pd.DataFrame
    metrics: dict[str, float]
    forecasts: dict[str, RevenueForecast] = field(repr=False)


def _ape(forecast: pd.Series, actual: pd.Series) -> pd.Series:
    return (forecast - actual).abs() / actual


def backtest_forecast(
    frame: pd.DataFrame,
    cutoffs: Sequence[str | pd.Timestamp] = BACKTEST_CUTOFFS,
    days_params: Mapping[str, Any] | None = None,
    win_params: Mapping[str, Any] | None = None,
) -> ForecastBacktest:
    """Backtest the next-month revenue forecast, refitting on deals closed before each cutoff.

    Args:
        frame: The deal frame.
        cutoffs: First day of each forecast month.
        days_params: Regressor hyper-parameters.
        win_params: Classifier hyper-parameters.

    Returns:
        One row per cutoff (forecast, actual, naive = previous month's actual, absolute percentage
        errors, training rows and their last close date) and the MAPE of model and naive.

    """
    actual = won_revenue_by_month(frame)
    rows, forecasts = [], {}
    for cutoff in cutoffs:
        result = forecast_revenue(frame, cutoff, days_params=days_params, win_params=win_params)
        month = result.cutoff.to_period("M")
        forecasts[str(result.cutoff.date())] = result
        rows.append(
            {
                "cutoff": result.cutoff,
                "month": str(month),
                "forecast": result.month_total(month),
                "actual": float(actual.get(month, 0.0)),
                "naive": float(actual.get(month - 1, np.nan)),
                "open_deals": len(result.deals),
                "train_rows": len(result.train_ids),
                "train_last_close": result.train_last_close,
            }
        )
    table = pd.DataFrame(rows)
    table["model_ape"] = _ape(table["forecast"], table["actual"])
    table["naive_ape"] = _ape(table["naive"], table["actual"])
    metrics = {
        "mape": float(table["model_ape"].mean()),
        "naive_mape": float(table["naive_ape"].mean()),
        "n_cutoffs": float(len(table)),
    }
    return ForecastBacktest(table=table, metrics=metrics, forecasts=forecasts)


# --- fairness (informational) --------------------------------------------------------------------


def _auc_or_nan(y_true: np.ndarray, y_score: np.ndarray) -> float:
    if len(np.unique(y_true)) < 2:
        return float("nan")
    return float(roc_auc_score(y_true, y_score))


def audit_win_disparity(
    y_true: np.ndarray, probabilities: np.ndarray, groups: pd.Series
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Audit win-probability quality per group with Fairlearn's MetricFrame (informational).

    Maven has no protected attribute; ``regional_office`` is audited so that a model that is
    much worse (or systematically more optimistic) for one region is visible.

    Args:
        y_true: 0/1 won labels.
        probabilities: Predicted win probabilities.
        groups: The group of each row.

    Returns:
        Per-group table (count, win rate, mean predicted, ROC AUC, Brier) and the spreads
        (max - min) of ROC AUC, mean predicted probability and calibration gap.

    """
    frame = MetricFrame(
        metrics={
            "count": lambda y, p: float(len(y)),
            "win_rate": lambda y, p: float(np.mean(y)),
            "mean_predicted": lambda y, p: float(np.mean(p)),
            "roc_auc": _auc_or_nan,
            "brier": lambda y, p: float(brier_score_loss(y, p)),
        },
        y_true=np.asarray(y_true, dtype=int),
        y_pred=np.asarray(probabilities, dtype=float),
        sensitive_features=groups.astype(str).to_numpy(),
    )
    by_group = frame.by_group.astype(float)
    by_group.index.name = str(groups.name or "group")
    gap = by_group["mean_predicted"] - by_group["win_rate"]

    def spread(values: pd.Series) -> float:
        defined = values.dropna()
        return float(defined.max() - defined.min()) if len(defined) >= 2 else 0.0

    disparities = {
        "roc_auc_spread": spread(by_group["roc_auc"]),
        "mean_predicted_spread": spread(by_group["mean_predicted"]),
        "calibration_gap_spread": spread(gap),
    }
    return by_group, disparities


# --- outcome -------------------------------------------------------------------------------------


@dataclass
class DealVelocityOutcome:
    """Everything one deal-velocity training run produced."""

    frame: pd.DataFrame
    train: pd.DataFrame
    test: pd.DataFrame
    models: DealModels
    days_baseline: MedianDaysBaseline
    win_baseline: AgentWinRateBaseline
    days_metrics: dict[str, float]
    days_baseline_metrics: dict[str, float]
    win_metrics: dict[str, float]
    win_baseline_metrics: dict[str, float]
    forecast: ForecastBacktest
    fairness_by_group: pd.DataFrame
    fairness_disparities: dict[str, float]
    open_deals: pd.DataFrame
    importance: dict[str, dict[str, float]]
    fairness_passed: bool = True
    artifacts: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def split_date(self) -> pd.Timestamp:
        """Return the first engage date of the held-out deals."""
        return pd.Timestamp(self.test["engage_date"].min())

    def metrics_table(self) -> list[dict[str, Any]]:
        """Return rows ``{task, metric, model, baseline}`` (for Prefect/summary tables)."""
        rows: list[dict[str, Any]] = []
        for task, metrics, baseline in (
            ("days_to_close", self.days_metrics, self.days_baseline_metrics),
            ("win_probability", self.win_metrics, self.win_baseline_metrics),
        ):
            for key, value in metrics.items():
                rows.append(
                    {
                        "task": task,
                        "metric": key,
                        "model": round(value, 4),
                        "baseline": round(baseline[key], 4) if key in baseline else None,
                    }
                )
        rows.append(
            {
                "task": "revenue_forecast",
                "metric": "mape",
                "model": round(self.forecast.metrics["mape"], 4),
                "baseline": round(self.forecast.metrics["naive_mape"], 4),
            }
        )
        return rows

    def summary(self) -> dict[str, Any]:
        """Return the JSON-ready summary written to ``metrics.json``."""
        table = self.forecast.table.copy()
        for column in ("cutoff", "train_last_close"):
            table[column] = table[column].astype(str)
        return {
            "dataset": DATASET_NAME,
            "rows": {"train": len(self.train), "test": len(self.test)},
            "split": {"kind": "time-ordered by engage_date", "test_from": str(self.split_date)},
            "features": list(self.models.feature_columns),
            "days_to_close": {"model": self.days_metrics, "baseline": self.days_baseline_metrics},
            "win_probability": {"model": self.win_metrics, "baseline": self.win_baseline_metrics},
            "forecast": {"metrics": self.forecast.metrics, "backtest": table.to_dict("records")},
            "fairness": {
                "passed": self.fairness_passed,
                "audited_column": AUDIT_COLUMN,
                "disparities": self.fairness_disparities,
            },
            "open_deals": len(self.open_deals),
            "timings_s": {k: round(v, 2) for k, v in self.timings.items()},
        }

    def write_reports(self, out_dir: Path) -> dict[str, Path]:
        """Write plots, metrics, backtest/open-deal tables and the model card into ``out_dir``.

        Returns:
            Name -> written path (also stored in :attr:`artifacts`).

        """
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        test = self.test
        sample = test.loc[:, list(FEATURE_COLUMNS)].head(500)
        artifacts = {
            "days_scatter": plot_days_scatter(
                test["days_to_close"].to_numpy(),
                test["predicted_days"].to_numpy(),
                test["baseline_days"].to_numpy(),
                out_dir / "days_pred_vs_actual.png",
            ),
            "win_roc": plot_roc_pr(
                test["is_won"].to_numpy(dtype=int),
                {
                    "XGBoost": test["win_probability"].to_numpy(),
                    "agent win rate": test["baseline_win"].to_numpy(),
                },
                out_dir / "win_roc.png",
            ),
            "forecast": plot_forecast(self.forecast.table, out_dir / "forecast_backtest.png"),
            "days_shap": self.models.explainer("days").plot_summary(
                sample, out_dir / "days_shap_summary.png"
            ),
            "win_shap": self.models.explainer("win").plot_summary(
                sample, out_dir / "win_shap_summary.png"
            ),
        }
        paths = {
            "metrics": out_dir / "metrics.json",
            "backtest": out_dir / "forecast_backtest.csv",
            "open_deals": out_dir / "open_deals.csv",
            "fairness": out_dir / "fairness_by_region.csv",
            "model_card": out_dir / "model_card.md",
        }
        paths["metrics"].write_text(json.dumps(self.summary(), indent=2, default=str), "utf-8")
        self.forecast.table.to_csv(paths["backtest"], index=False)
        self.open_deals.to_csv(paths["open_deals"], index=False)
        self.fairness_by_group.to_csv(paths["fairness"])
        paths["model_card"].write_text(render_model_card(self), encoding="utf-8")
        artifacts.update(paths)
        self.artifacts = artifacts
        return artifacts


def plot_days_scatter(
    actual: np.ndarray, predicted: np.ndarray, baseline: np.ndarray, path: Path
) -> Path:
    """Draw predicted vs actual days-to-close for the model and the median baseline."""
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(actual, baseline, s=8, alpha=0.3, color="tab:gray", label="median baseline")
    ax.scatter(actual, predicted, s=8, alpha=0.4, color="tab:blue", label="XGBoost")
    top = float(np.nanmax([np.nanmax(actual), np.nanmax(predicted), 1.0]))
    ax.plot([0, top], [0, top], "k--", linewidth=0.8)
    mae = mean_absolute_error(actual, predicted)
    base_mae = mean_absolute_error(actual, baseline)
    ax.set(
        xlabel="Actual days to close",
        ylabel="Predicted days to close",
        title=f"Held-out deals: MAE {mae:.1f} d (baseline {base_mae:.1f} d)",
    )
    ax.legend()
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_forecast(table: pd.DataFrame, path: Path) -> Path:
    """Draw the monthly backtest: actual won revenue, model forecast and the naive baseline."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    months = table["month"].tolist()
    ax.plot(months, table["actual"], "o-", color="black", label="actual won revenue")
    mape = table["model_ape"].mean() * 100
    naive_mape = table["naive_ape"].mean() * 100
    ax.plot(months, table["forecast"], "s-", label=f"pipeline forecast (MAPE {mape:.1f}%)")
    ax.plot(months, table["naive"], "^--", label=f"last month's actual (MAPE {naive_mape:.1f}%)")
    ax.set(xlabel="Forecast month", ylabel="Won revenue", title="Next-month revenue backtest")
    ax.legend()
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def train_deal_velocity(
    maven: MavenCRM,
    days_params: Mapping[str, Any] | None = None,
    win_params: Mapping[str, Any] | None = None,
    cutoffs: Sequence[str | pd.Timestamp] = BACKTEST_CUTOFFS,
    test_fraction: float = TEST_FRACTION,
) -> DealVelocityOutcome:
    """Fit, evaluate and backtest the deal-velocity models on the Maven CRM export.

    Args:
        maven: The Maven CRM tables.
        days_params: Regressor hyper-parameters (default :data:`DAYS_PARAMS`).
        win_params: Classifier hyper-parameters (default :data:`WIN_PARAMS`).
        cutoffs: Backtest cutoffs (first day of each forecast month).
        test_fraction: Share of closed deals (latest engaged) held out.

    Returns:
        Models, held-out metrics vs baselines, the backtest, the audit and open-deal scores.

    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    frame = build_deal_frame(maven)
    train, test = time_ordered_split(frame, test_fraction)
    models = fit_deal_models(train, maven, days_params, win_params)
    timings["fit"] = time.perf_counter() - start

    test = test.copy()
    test["predicted_days"] = models.predict_days(test)
    days_baseline = median_days_baseline(train)
    test["baseline_days"] = days_baseline.predict(test)
    days_metrics = regression_metrics(test["days_to_close"], test["predicted_days"])
    days_baseline_metrics = regression_metrics(test["days_to_close"], test["baseline_days"])
    overall = np.full(len(test), days_baseline.overall)
    days_baseline_metrics["overall_median_mae"] = regression_metrics(
        test["days_to_close"], overall
    )["mae"]
    # Informational only: the literal "median by stage" needs the outcome (Won/Lost) it predicts.
    by_stage = train.groupby("deal_stage")["days_to_close"].median()
    days_baseline_metrics["stage_oracle_mae"] = regression_metrics(
        test["days_to_close"], test["deal_stage"].map(by_stage)
    )["mae"]

    y_won = test["is_won"].to_numpy(dtype=int)
    test["win_probability"] = models.predict_win(test)
    win_baseline = agent_win_rate_baseline(train)
    test["baseline_win"] = win_baseline.predict_proba(test)
    win_metrics = compute_classification_metrics(y_won, test["win_probability"].to_numpy())
    win_baseline_metrics = compute_classification_metrics(y_won, test["baseline_win"].to_numpy())
    by_group, disparities = audit_win_disparity(
        y_won, test["win_probability"].to_numpy(), test[AUDIT_COLUMN]
    )
    timings["evaluate"] = time.perf_counter() - start - timings["fit"]

    step = time.perf_counter()
    forecast = backtest_forecast(frame, cutoffs, days_params, win_params)
    timings["backtest"] = time.perf_counter() - step

    open_deals = score_open_deals(frame, models)
    sample = test.loc[:, list(FEATURE_COLUMNS)].head(500)
    importance = {
        "days": models.explainer("days").global_importance(sample),
        "win": models.explainer("win").global_importance(sample),
    }
    timings["total"] = time.perf_counter() - start
    logger.info(
        "days MAE %.2f (baseline %.2f); win AUC %.4f (baseline %.4f); MAPE %.3f (naive %.3f)",
        days_metrics["mae"],
        days_baseline_metrics["mae"],
        win_metrics["roc_auc"],
        win_baseline_metrics["roc_auc"],
        forecast.metrics["mape"],
        forecast.metrics["naive_mape"],
    )
    return DealVelocityOutcome(
        frame=frame,
        train=train,
        test=test,
        models=models,
        days_baseline=days_baseline,
        win_baseline=win_baseline,
        days_metrics=days_metrics,
        days_baseline_metrics=days_baseline_metrics,
        win_metrics=win_metrics,
        win_baseline_metrics=win_baseline_metrics,
        forecast=forecast,
        fairness_by_group=by_group,
        fairness_disparities=disparities,
        open_deals=open_deals,
        importance=importance,
        timings=timings,
    )


def data_end(frame: pd.DataFrame) -> pd.Timestamp:
    """Return the last date seen in the export (latest engage or close date)."""
    return pd.Timestamp(max(frame["engage_date"].max(), frame["close_date"].max()))


def score_open_deals(
    frame: pd.DataFrame, models: DealModels, as_of: str | pd.Timestamp | None = None
) -> pd.DataFrame:
    """Return win probability, predicted days and expected close date of each open deal.

    Prospecting deals have no engage date; they are scored as if engaged on ``as_of`` (default:
    the export's last date) and flagged ``engage_date_assumed``, instead of sending missing date
    features (never seen in training) down an arbitrary branch.
    """
    as_of = pd.Timestamp(as_of) if as_of is not None else data_end(frame)
    deals = frame[frame["deal_stage"].isin(OPEN_STAGES)].copy()
    assumed = deals["engage_date"].isna()
    deals["engage_date"] = deals["engage_date"].fillna(as_of)
    deals = enrich_deals(deals)
    out = deals[[ID_COLUMN, "sales_agent", "product", "account", "deal_stage", "engage_date"]]
    out = out.copy()
    out["engage_date_assumed"] = assumed.to_numpy()
    out["win_probability"] = models.predict_win(deals)
    out["predicted_days"] = models.predict_days(deals)
    out["expected_close_date"] = out["engage_date"] + pd.to_timedelta(
        out["predicted_days"].round(), unit="D"
    )
    out["overdue"] = out["expected_close_date"] < as_of
    return out.reset_index(drop=True)


# --- model card ----------------------------------------------------------------------------------


def _metric_rows(metrics: dict[str, float], baseline: dict[str, float]) -> str:
    return "\n".join(
        f"| {key} | {value:.4f} | {baseline[key]:.4f} |"
        for key, value in metrics.items()
        if key in baseline
    )


def render_model_card(outcome: DealVelocityOutcome) -> str:
    """Render the Markdown model card of both deal models and the forecast."""
    days, days_base = outcome.days_metrics, outcome.days_baseline_metrics
    mape = outcome.forecast.metrics
    table = outcome.forecast.table
    backtest_rows = "\n".join(
        f"| {row.month} | {row.train_rows} | {row.open_deals} | {row.forecast:,.0f} | "
        f"{row.actual:,.0f} | {row.naive:,.0f} | {row.model_ape:.1%} | {row.naive_ape:.1%} |"
        for row in table.itertuples()
    )
    fairness = outcome.fairness_by_group.round(4).reset_index()
    fairness_rows = "\n".join(
        "| " + " | ".join(str(value) for value in row) + " |"
        for row in fairness.itertuples(index=False)
    )
    fairness_header = "| " + " | ".join(fairness.columns) + " |"
    fairness_rule = "|" + "---|" * len(fairness.columns)

    def top(which: str) -> str:
        items = list(outcome.importance[which].items())[:6]
        return ", ".join(f"{name} ({value:.3f})" for name, value in items)

    return f"""# Model card: deal velocity ({DAYS_MODEL_NAME}, {WIN_MODEL_NAME})

## Data
- Maven Analytics CRM Sales Opportunities (`{DATASET_NAME}`): {len(outcome.frame)} opportunities
  joined with accounts, products and sales teams; {len(outcome.train) + len(outcome.test)} closed
  (Won/Lost) deals are the training data of both models.
- Split: time-ordered by `engage_date`; {len(outcome.train)} train / {len(outcome.test)} held out
  (engaged on or after {outcome.split_date.date()}). Chosen over a stratified split because the
  models score deals engaged after the ones they learnt from. Caveat: recently engaged deals that
  are already closed are biased towards short cycles (the export ends 2017-12-31).
- Never inputs (they leak the outcome): {", ".join(OUTCOME_COLUMNS)}. Also not inputs:
  `{ID_COLUMN}`, the raw `engage_date` and `engage_month` (the calendar month encodes the export
  window: late-2016 deals appear only if their cycle was long).
- Inputs: {", ".join(FEATURE_COLUMNS)}.
- Account attributes ({", ".join(ACCOUNT_COLUMNS)}) are joined but not inputs: `account` is
  blank for most open deals and never for closed ones, so the models would extrapolate.

## Days to close (XGBRegressor, primary metric MAE)
Baseline: the spec's "median days-to-close by stage". For a closed deal the stage is the outcome
(Won/Lost) and every open deal is Engaging, so it is mapped to the **training median by product**
(overall median for an unseen product). With the leaked Won/Lost stage the median would score
MAE {days_base["stage_oracle_mae"]:.2f} (shown for reference only); the overall median scores
{days_base["overall_median_mae"]:.2f}.

| metric (days) | XGBoost | median by product |
|---|---|---|
{_metric_rows(days, days_base)}

Most influential (mean |SHAP|, days): {top("days")}.

## Win probability (XGBClassifier, primary metric ROC AUC)
Baseline: the agent's historical win rate on the training deals.

| metric | XGBoost | agent win rate |
|---|---|---|
{_metric_rows(outcome.win_metrics, outcome.win_baseline_metrics)}

Most influential (mean |SHAP|, log-odds): {top("win")}.
Applied to {len(outcome.open_deals)} open deals (Engaging/Prospecting).

## Revenue forecast (backtest over 2017)
Deals open at each cutoff x win probability x expected value (agent/product mean won
`close_value` before the cutoff, else product mean, else list price), placed in the month of
`engage_date + predicted days`; deals predicted to have closed already count as stalled. Models
are refitted at every cutoff on deals closed before it. Naive baseline: last month's actual.

| month | train rows | open deals | forecast | actual | naive | model APE | naive APE |
|---|---|---|---|---|---|---|---|
{backtest_rows}

MAPE: model {mape["mape"]:.1%}, naive {mape["naive_mape"]:.1%}.

## Fairness
Maven holds no protected attribute (no person-level data about customers), so the registration
gate is recorded as passed (`fairness_passed=True`). Informational audit of the win probability
across `{AUDIT_COLUMN}` (Fairlearn MetricFrame, held-out deals):

{fairness_header}
{fairness_rule}
{fairness_rows}

Spreads: {", ".join(f"{k} {v:.4f}" for k, v in outcome.fairness_disparities.items())}.

## Limits
- Fictitious dataset with a strong quarterly pattern and little signal for winning: the win
  model is barely better than chance; read its probabilities as a prior, not a verdict.
- Trained on closed deals only: open deals are right-censored, so predicted cycles of long-open
  deals are too short.
- Prospecting deals lack `engage_date`; they are scored as if engaged on the export's last day
  (flagged `engage_date_assumed`).
- The forecast only covers the pipeline open at the cutoff; deals engaged and won within the
  month are not forecast.
"""


# --- MLflow --------------------------------------------------------------------------------------


def _input_example(outcome: DealVelocityOutcome) -> pd.DataFrame:
    example = outcome.test.loc[:, list(FEATURE_COLUMNS)].head(3)
    integer_columns = example.select_dtypes("integer").columns
    return example.astype(dict.fromkeys(integer_columns, "float64"))


def log_deal_models(outcome: DealVelocityOutcome, settings: Settings) -> dict[str, Any]:
    """Log both models to MLflow, register each as challenger and apply the promotion rule.

    ``deal_velocity`` is promoted on ``mae`` (lower is better), ``win_probability`` on
    ``roc_auc``. Fairness gate: Maven has no protected attribute, so ``fairness_passed=True``
    (the regional-office audit is logged for information).

    Args:
        outcome: The evaluated outcome (reports are written to a temporary folder if needed).
        settings: Platform settings (tracking store).

    Returns:
        ``{model_name: {run_id, model_uri, version, decision}}``.

    """
    import mlflow

    from training.registry import (
        configure_mlflow,
        log_artifacts,
        log_sklearn_model,
        promote_if_better,
        register_challenger,
    )

    client = configure_mlflow(settings)
    card = render_model_card(outcome)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = outcome.artifacts or outcome.write_reports(Path(tmp) / "reports")
        shared = [artifacts[k] for k in ("metrics", "model_card", "backtest", "fairness")]
        specs = (
            (
                DAYS_MODEL_NAME,
                "mae",
                outcome.models.days_model,
                DAYS_PARAMS,
                outcome.days_metrics,
                outcome.days_baseline_metrics,
                ("days_scatter", "days_shap", "forecast"),
            ),
            (
                WIN_MODEL_NAME,
                "roc_auc",
                outcome.models.win_model,
                WIN_PARAMS,
                outcome.win_metrics,
                outcome.win_baseline_metrics,
                ("win_roc", "win_shap"),
            ),
        )
        for name, metric, model, params, metrics, baseline, plots in specs:
            with mlflow.start_run(run_name=f"{name}-xgboost") as run:
                mlflow.set_tags(
                    {
                        "model_name": name,
                        "dataset": DATASET_NAME,
                        "primary_metric": metric,
                        "fairness_passed": "true",
                        "fairness_note": "no protected attribute; regional_office audited",
                    }
                )
                mlflow.log_params({f"xgboost.{k}": v for k, v in params.items()})
                mlflow.log_params(
                    {
                        "split": "time-ordered by engage_date",
                        "test_from": str(outcome.split_date.date()),
                        "rows_train": len(outcome.train),
                        "rows_test": len(outcome.test),
                        "n_features": len(FEATURE_COLUMNS),
                    }
                )
                mlflow.log_metrics(metrics)
                mlflow.log_metrics({f"baseline_{k}": v for k, v in baseline.items()})
                mlflow.log_metrics(
                    {
                        "forecast_mape": outcome.forecast.metrics["mape"],
                        "forecast_naive_mape": outcome.forecast.metrics["naive_mape"],
                    }
                )
                if name == WIN_MODEL_NAME:
                    mlflow.log_metrics(
                        {f"fairness_{k}": v for k, v in outcome.fairness_disparities.items()}
                    )
                log_artifacts(shared)
                log_artifacts([artifacts[k] for k in plots], artifact_path="plots")
                model_uri = log_sklearn_model(
                    model, _input_example(outcome), tags={"model_name": name}
                )
                run_id = run.info.run_id
            version = register_challenger(
                client, model_uri, name, {"fairness_passed": "true", "primary_metric": metric}
            )
            client.update_model_version(name, version.version, description=card)
            decision = promote_if_better(
                client, name, version.version, metric, 0.0, fairness_passed=True
            )
            results[name] = {
                "run_id": run_id,
                "model_uri": model_uri,
                "version": str(version.version),
                "decision": asdict(decision),
            }
    return results


# --- single-deal prediction ----------------------------------------------------------------------


def predict_deal(
    outcome_or_models: DealVelocityOutcome | DealModels,
    deal_row: Mapping[str, Any] | pd.Series,
    top_k: int = 3,
    as_of: str | pd.Timestamp | None = None,
) -> dict[str, Any]:
    """Predict one deal's days to close, expected close date and win probability, with SHAP.

    Args:
        outcome_or_models: A training outcome or the fitted :class:`DealModels`.
        deal_row: A raw pipeline row (``sales_agent``, ``product``, ``account``,
            ``engage_date`` ...) or an already enriched one; missing inputs are treated as
            unknown.
        top_k: Number of SHAP factors returned per model.
        as_of: Optional "today": ``overdue`` says whether the expected close date is before it,
            and a deal without an engage date (Prospecting) is scored as if engaged on it.

    Returns:
        ``days_to_close``, ``expected_close_date`` (ISO date, None without an engage date),
        ``engage_date_assumed``, ``overdue``, ``win_probability`` and ``top_factors`` (SHAP
        impacts in days for ``days_to_close``, in log-odds for ``win_probability``).

    """
    models = (
        outcome_or_models.models
        if isinstance(outcome_or_models, DealVelocityOutcome)
        else outcome_or_models
    )
    row = pd.DataFrame([dict(deal_row)])
    row["engage_date"] = pd.to_datetime(row.get("engage_date", pd.NaT), errors="coerce")
    assumed = bool(row["engage_date"].isna().iloc[0] and as_of is not None)
    if assumed:
        row["engage_date"] = pd.Timestamp(as_of)
    features = models.features(row)
    days = float(np.clip(models.days_model.predict(features), 0, None)[0])
    win = float(models.win_model.predict_proba(features)[0, 1])
    engage = row["engage_date"].iloc[0]
    close = None if pd.isna(engage) else engage + pd.Timedelta(days=round(days))
    overdue = None if close is None or as_of is None else bool(close < pd.Timestamp(as_of))
    factors = {
        "days_to_close": [
            c.to_dict() for c in models.explainer("days").explain(features, top_k)[0]
        ],
        "win_probability": [
            c.to_dict() for c in models.explainer("win").explain(features, top_k)[0]
        ],
    }
    return {
        "opportunity_id": deal_row.get(ID_COLUMN) if hasattr(deal_row, "get") else None,
        "days_to_close": round(days, 1),
        "engage_date": None if pd.isna(engage) else str(engage.date()),
        "engage_date_assumed": assumed,
        "expected_close_date": None if close is None else str(close.date()),
        "overdue": overdue,
        "win_probability": round(win, 4),
        "top_factors": factors,
        "factor_units": {"days_to_close": "days", "win_probability": "log-odds"},
    }
