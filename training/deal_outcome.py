"""The outcome of a deal-velocity training run: metrics tables, summary and written reports."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import pandas as pd

from training.deal_data import AUDIT_COLUMN, DATASET_NAME, FEATURE_COLUMNS
from training.deal_forecast import ForecastBacktest
from training.deal_forecast_intervals import RevenueIntervals
from training.deal_models import AgentWinRateBaseline, DealModels, MedianDaysBaseline
from training.deal_reports import plot_days_scatter, plot_forecast, render_model_card
from training.evaluate import plot_roc_pr


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
    uncertainty: dict[str, Any] = field(default_factory=dict)
    revenue_intervals: RevenueIntervals | None = None

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
        report = self.intervals_report()
        for task, section in (
            ("days_to_close", report.get("days_to_close")),
            ("revenue_forecast", report.get("revenue_forecast")),
        ):
            if section and section.get("measured_coverage") is not None:
                naive = section.get("naive", {}).get("measured_coverage")
                rows.append(
                    {
                        "task": task,
                        "metric": f"interval_coverage (target {section['target_coverage']})",
                        "model": round(section["measured_coverage"], 4),
                        "baseline": None if naive is None else round(naive, 4),
                    }
                )
        return rows

    def intervals_report(self) -> dict[str, Any]:
        """Return the ``intervals.json`` content: target vs measured coverage, widths, naive.

        Keys: ``target_coverage``; ``days_to_close`` (``measured_coverage``, ``mean_width``,
        ``median_width`` in days, ``contains_point``, ``by_outcome``, ``naive`` with the same
        keys plus ``bounds``); ``revenue_forecast`` (``measured_coverage`` across backtest
        months, ``periods_with_interval``, ``covered_periods``, ``mean_relative_width``,
        ``mape``, ``naive_mape``, ``periods_table``); ``win_probability`` (``ece_before``,
        ``ece_after``, ``brier_before``, ``brier_after``, ``method``, ``prediction_sets``).
        Empty when the run fitted no uncertainty.
        """
        if not self.uncertainty:
            return {}
        return {
            "model": "deal_velocity",
            "dataset": DATASET_NAME,
            "target_coverage": self.uncertainty["coverage"],
            "held_out_from": str(self.split_date.date()),
            "calibration": {
                "fit_rows": self.uncertainty["fit_rows"],
                "calibration_rows": self.uncertainty["calibration_rows"],
                "calibration_from": self.uncertainty["calibration_from"],
            },
            "days_to_close": {
                "method": "conformalized quantile regression (MAPIE, XGBoost quantiles)",
                "unit": "days",
                **self.uncertainty["days_to_close"],
            },
            "revenue_forecast": (
                self.revenue_intervals.to_dict() if self.revenue_intervals is not None else None
            ),
            "win_probability": self.uncertainty["win_probability"],
        }

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
            "intervals": self.intervals_report(),
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
        if self.uncertainty:
            paths["intervals"] = out_dir / "intervals.json"
            paths["intervals"].write_text(
                json.dumps(self.intervals_report(), indent=2, default=str), "utf-8"
            )
        self.forecast.table.to_csv(paths["backtest"], index=False)
        self.open_deals.to_csv(paths["open_deals"], index=False)
        self.fairness_by_group.to_csv(paths["fairness"])
        paths["model_card"].write_text(render_model_card(self), encoding="utf-8")
        artifacts.update(paths)
        self.artifacts = artifacts
        return artifacts
