"""Log an Optuna search to MLflow: one nested run per trial under the training run.

The search runs in :func:`training.train.fit_models`, before the training run is opened (the
flow logs once the model is evaluated), so the trials are replayed here as nested runs of the
open training run: each with its parameters, its cross-validated score (``cv_<metric>``), the
trees early stopping kept and its duration. The training run also gets the search summary
(``tuning.*`` params, ``tuning_best_cv_<metric>``) and the full trial table as
``tuning/trials.csv``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow

from training.tuning import TuningResult


def log_tuning(result: TuningResult, model_name: str) -> int:
    """Log the search into the active MLflow run and one nested run per trial.

    Args:
        result: The search of :func:`training.tuning.tune_xgboost`.
        model_name: Registered model name (tagged on every trial run).

    Returns:
        The number of trial runs logged.

    """
    best = result.best_trial
    mlflow.log_params(
        {
            "tuning.space": result.space,
            "tuning.budget": result.budget,
            "tuning.trials": len(result.trials),
            "tuning.cv_folds": result.cv_folds,
            "tuning.best_trial": best,
        }
    )
    metrics = {f"tuning_best_cv_{result.metric}": result.best_score, "tuning_s": result.seconds}
    if result.default_score is not None:
        metrics[f"tuning_default_cv_{result.metric}"] = result.default_score
    mlflow.log_metrics(metrics)
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "trials.csv"
        result.trials_frame().to_csv(table, index=False)
        mlflow.log_artifact(str(table), artifact_path="tuning")
    for trial in result.trials:
        with mlflow.start_run(run_name=f"{model_name}-trial-{trial.number}", nested=True):
            mlflow.set_tags(
                {
                    "model_name": model_name,
                    "tuning_trial": str(trial.number),
                    "tuning_best": str(trial.number == best).lower(),
                    "state": trial.state,
                }
            )
            mlflow.log_params(trial.params)
            if trial.score is not None:
                mlflow.log_metrics({f"cv_{result.metric}": trial.score, "trial_s": trial.seconds})
    return len(result.trials)
