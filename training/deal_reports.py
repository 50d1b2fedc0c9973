"""Deal-velocity reports: plots and the model card (of a DealVelocityOutcome)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import mean_absolute_error

from training.deal_data import (
    ACCOUNT_COLUMNS,
    AUDIT_COLUMN,
    DATASET_NAME,
    DAYS_MODEL_NAME,
    FEATURE_COLUMNS,
    ID_COLUMN,
    OUTCOME_COLUMNS,
    WIN_MODEL_NAME,
)
from training.evaluate import save_figure


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


def _metric_rows(metrics: dict[str, float], baseline: dict[str, float]) -> str:
    return "\n".join(
        f"| {key} | {value:.4f} | {baseline[key]:.4f} |"
        for key, value in metrics.items()
        if key in baseline
    )


def render_uncertainty_section(report: dict[str, Any]) -> str:
    """Render the model card's "Intervals and calibration" section (of ``intervals.json``)."""
    if not report:
        return ""
    days, win, revenue = (
        report["days_to_close"],
        report["win_probability"],
        report.get("revenue_forecast"),
    )
    naive = days["naive"]
    target = report["target_coverage"]
    calibration = report["calibration"]
    lines = [
        "## Intervals and calibration",
        f"Target coverage {target:.0%}. Time-ordered: the models behind the intervals and the win "
        f"probability are fitted on the earlier {calibration['fit_rows']} training deals and "
        f"calibrated on the latest {calibration['calibration_rows']} (engaged from "
        f"{calibration['calibration_from']}); measured on the held-out deals engaged from "
        f"{report['held_out_from']}.",
        "",
        "| days-to-close interval | measured coverage | mean width (days) |",
        "|---|---|---|",
        f"| conformalized quantile regression | {days['measured_coverage']:.1%} | "
        f"{days['mean_width']:.1f} |",
        f"| naive: training quantiles [{naive['bounds'][0]:.0f}, {naive['bounds'][1]:.0f}] | "
        f"{naive['measured_coverage']:.1%} | {naive['mean_width']:.1f} |",
        "",
        "Coverage by outcome: "
        + ", ".join(f"{k} {v:.1%}" for k, v in days.get("by_outcome", {}).items())
        + f"; the interval contains the point prediction for {days['contains_point']:.1%}.",
        "",
        f"Win probability calibrated with {win['method']} (lower cross-validated Brier on the "
        f"calibration deals): ECE {win['ece_before']:.4f} -> {win['ece_after']:.4f}, Brier "
        f"{win['brier_before']:.4f} -> {win['brier_after']:.4f}; conformal prediction sets cover "
        f"{win['prediction_sets']['measured']:.1%} (mean set size "
        f"{win['prediction_sets']['mean_set_size']:.2f}: a barely informative model gives "
        "mostly {won, lost}).",
    ]
    if revenue:
        measured = revenue["measured_coverage"]
        lines += [
            "",
            "Revenue forecast intervals: split conformal on `log(actual / forecast)` of rolling "
            "one-month windows that ended before each cut-off "
            f"({revenue['windows']} windows). {revenue['periods_with_interval']} of "
            f"{revenue['periods']} backtest months had enough history; "
            f"{revenue['covered_periods']} covered"
            + (f" ({measured:.0%})" if measured is not None else "")
            + f", mean width {revenue['mean_relative_width'] or 0:.1f}x the forecast. Few months "
            "and overlapping windows: read the coverage as indicative only.",
        ]
    return "\n".join(lines) + "\n\n"


def _intervals_of(outcome: Any) -> dict[str, Any]:
    report = getattr(outcome, "intervals_report", None)
    return report() if callable(report) else {}


def render_model_card(outcome: Any) -> str:
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

{render_uncertainty_section(_intervals_of(outcome))}## Fairness
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
