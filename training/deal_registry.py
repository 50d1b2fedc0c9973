"""MLflow logging and registration of the two deal models (challenger, then promotion rule)."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from haste.settings import Settings
from training.deal_data import (
    DATASET_NAME,
    DAYS_MODEL_NAME,
    DAYS_PARAMS,
    FEATURE_COLUMNS,
    WIN_MODEL_NAME,
    WIN_PARAMS,
)
from training.deal_outcome import DealVelocityOutcome
from training.deal_reports import render_model_card


def _input_example(outcome: DealVelocityOutcome) -> pd.DataFrame:
    example = outcome.test.loc[:, list(FEATURE_COLUMNS)].head(3)
    integer_columns = example.select_dtypes("integer").columns
    return example.astype(dict.fromkeys(integer_columns, "float64"))


def uncertainty_metrics(outcome: DealVelocityOutcome, name: str) -> dict[str, float]:
    """Return the interval / calibration figures logged with model ``name`` (flat, numeric)."""
    report = outcome.intervals_report()
    if not report:
        return {}
    metrics = {"interval_target_coverage": float(report["target_coverage"])}
    if name == WIN_MODEL_NAME:
        win = report["win_probability"]
        metrics.update(
            {
                "calibration_ece_before": win["ece_before"],
                "calibration_ece_after": win["ece_after"],
                "calibration_brier_before": win["brier_before"],
                "calibration_brier_after": win["brier_after"],
                "conformal_set_coverage": win["prediction_sets"]["measured"],
            }
        )
        return metrics
    days = report["days_to_close"]
    metrics.update(
        {
            "interval_coverage": days["measured_coverage"],
            "interval_mean_width": days["mean_width"],
            "naive_interval_coverage": days["naive"]["measured_coverage"],
            "naive_interval_mean_width": days["naive"]["mean_width"],
        }
    )
    revenue = report.get("revenue_forecast") or {}
    for key in ("measured_coverage", "mean_relative_width"):
        if revenue.get(key) is not None:
            metrics[f"forecast_interval_{key}"] = float(revenue[key])
    return metrics


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
                mlflow.log_metrics(uncertainty_metrics(outcome, name))
                if "intervals" in artifacts:
                    log_artifacts([artifacts["intervals"]])
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
