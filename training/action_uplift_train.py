"""Train, evaluate, save and log the action-uplift model (one call for the flow and the CLI).

Evaluation first (fit on 70 % of the contacts, Qini/AUUC and average lifts on the rest), then
the served model is refitted on every contact and saved where the gateway reads it; the
figures and the model file go to MLflow (experiment of the settings, run ``action_uplift``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from haste.settings import Settings
from training.action_uplift import (
    default_model_path,
    evaluate_action_uplift,
    fit_uplift_table,
)
from training.action_uplift_data import ActionUpliftConfig, build_action_table, split_action_table

logger = logging.getLogger(__name__)


def train_action_uplift(
    settings: Settings, config: ActionUpliftConfig | None = None
) -> dict[str, Any]:
    """Fit the T-learner on the CRM's history, evaluate it held out, save and log it.

    Args:
        settings: Platform settings (data folder, MLflow).
        config: Model settings (default :class:`ActionUpliftConfig`).

    Returns:
        ``rows``, ``model_path`` and the held-out ``evaluation``.
    """
    import mlflow

    from pipelines.stages import PipelinePaths
    from pipelines.synthetic_store import read_crm
    from training.registry import configure_mlflow

    config = config or ActionUpliftConfig()
    crm = read_crm(PipelinePaths(settings.data_dir).crm_dir)
    table = build_action_table(crm, config)
    train, test = split_action_table(table, config.test_fraction, config.seed)
    evaluation = evaluate_action_uplift(fit_uplift_table(train, config), test)
    model = fit_uplift_table(table, config)
    path = model.save(default_model_path(settings.data_dir))
    configure_mlflow(settings)
    with mlflow.start_run(run_name="action_uplift"):
        mlflow.set_tag("model", "action_uplift")
        mlflow.log_params(
            {
                "actions": ",".join(config.actions),
                "n_bootstrap": config.n_bootstrap,
                "outcome_horizon_days": config.outcome_horizon_days,
            }
        )
        mlflow.log_metrics(
            {"mean_qini": evaluation["mean_qini_coefficient"], "mean_auuc": evaluation["mean_auuc"]}
        )
        for action, figures in evaluation["actions"].items():
            mlflow.log_metric(f"{action}_average_lift", figures["average_lift"])
        mlflow.log_artifact(str(path), artifact_path="action_uplift")
        mlflow.log_text(
            json.dumps(evaluation, indent=1, default=str), "action_uplift/evaluation.json"
        )
    logger.info(
        "action uplift: %d rows, mean Qini %.3f", len(table), evaluation["mean_qini_coefficient"]
    )
    return {"rows": len(table), "model_path": str(path), "evaluation": evaluation}
