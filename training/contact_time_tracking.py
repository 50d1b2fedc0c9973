"""MLflow record of a contact-time analysis: params, AUC metrics, heatmaps, CSV and Markdown."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from training.contact_time_data import LEAKY_COLUMNS
from training.contact_time_report import ContactTimeReport

if TYPE_CHECKING:
    from haste.settings import Settings


def log_contact_time(report: ContactTimeReport, settings: Settings) -> str:
    """Log the analysis as an MLflow run: params, AUC metrics, heatmap, CSV and Markdown.

    Args:
        report: The finished analysis.
        settings: Platform settings (tracking store and experiment).

    Returns:
        The MLflow run id.

    """
    import mlflow

    from training.registry import configure_mlflow, log_artifacts

    configure_mlflow(settings)
    config = report.config
    with mlflow.start_run(run_name="contact-time-analysis") as run:
        mlflow.set_tags(
            {"analysis": "contact_time", "dataset": "bank_marketing", "causal": "false"}
        )
        mlflow.log_params(
            {
                "segment_columns": ",".join(config.segment_columns),
                "slot_columns": ",".join(config.slot_columns),
                "credible_level": config.credible_level,
                "n_draws": config.n_draws,
                "seed": config.seed,
                "test_fraction": config.test_fraction,
                "n_calls": report.n_calls,
                "n_segments": len(report.segments),
                "dropped_columns": ",".join(LEAKY_COLUMNS),
                **{f"prior_strength.{k}": round(v, 3) for k, v in report.prior_strengths.items()},
            }
        )
        metrics = {
            "global_response_rate": report.global_summary.base_rate,
            "n_confident_slots": float(
                sum(s.confident for key, est in report.slots.items() if key for s in est)
            ),
        }
        if report.model_view is not None:
            metrics["roc_auc"] = report.model_view.roc_auc
            metrics["roc_auc_shuffled"] = report.model_view.roc_auc_shuffled
            mlflow.log_param("model_type", report.model_view.model_type)
            for dimension, rho in report.rank_agreement().items():
                if np.isfinite(rho):
                    metrics[f"rank_agreement_{dimension}"] = rho
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            paths = [folder / "contact_time.csv", folder / "contact_time.md"]
            report.to_frame().to_csv(paths[0], index=False)
            paths[1].write_text(report.to_markdown(), encoding="utf-8")
            if report.model_view is not None:
                paths.append(folder / "partial_dependence.csv")
                report.model_view.partial_dependence.to_csv(paths[-1], index=False)
            log_artifacts(paths)
            plots = []
            for dimension in ("day_of_week", "month"):
                if dimension not in config.slot_columns:
                    continue
                for value in ("mean", "lift"):
                    plots.append(folder / f"heatmap_{dimension}_{value}.png")
                    report.heatmap(plots[-1], dimension, value)
            log_artifacts(plots, artifact_path="plots")
        return run.info.run_id
