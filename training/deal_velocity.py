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
import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from sklearn.metrics import brier_score_loss, roc_auc_score

from haste.settings import Settings
from pipelines.datasets import MavenCRM
from training.deal_data import (
    AUDIT_COLUMN,
    BACKTEST_CUTOFFS,
    DATASET_NAME,
    DAYS_MODEL_NAME,
    DAYS_PARAMS,
    FEATURE_COLUMNS,
    ID_COLUMN,
    OPEN_STAGES,
    TEST_FRACTION,
    WIN_MODEL_NAME,
    WIN_PARAMS,
    build_deal_frame,
    data_end,
    enrich_deals,
    time_ordered_split,
)
from training.deal_forecast import ForecastBacktest, backtest_forecast
from training.deal_models import (
    AgentWinRateBaseline,
    DealModels,
    MedianDaysBaseline,
    agent_win_rate_baseline,
    fit_deal_models,
    median_days_baseline,
    regression_metrics,
)
from training.deal_reports import plot_days_scatter, plot_forecast, render_model_card
from training.evaluate import compute_classification_metrics, plot_roc_pr

logger = logging.getLogger(__name__)


# --- data ----------------------------------------------------------------------------------------


# --- models --------------------------------------------------------------------------------------


# --- revenue forecast ----------------------------------------------------------------------------


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
