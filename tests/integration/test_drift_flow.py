"""The drift-monitoring flow end to end: train -> monitor (calm) -> monitor (drifted) -> retrain.

Trains ``lead_scoring_crm`` with the real ``model-training`` flow in an isolated home, then runs
``drift-monitoring`` twice: on the default current window (a fresh sample of the feature table:
no retraining) and on a parquet whose email/web features were shifted with
:func:`monitoring.drift_data.inject_drift` (retraining runs as a real subflow and registers a
new version).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient
from prefect.testing.utilities import prefect_test_harness

from haste.db.session import dispose_all_engines
from haste.settings import Settings
from monitoring.drift_data import inject_drift
from pipelines.stages import PipelinePaths

MODEL = "lead_scoring_crm"


def test_drift_monitoring_triggers_retraining(
    isolated_settings: Settings, datasets_dir: Path, tmp_path: Path
) -> None:
    from flows.monitoring import drift_monitoring
    from flows.training import model_training

    try:
        with prefect_test_harness(server_startup_timeout=180):
            trained = model_training(MODEL)
            assert trained["registration"]["version"] == "1"

            calm = drift_monitoring(MODEL)

            table = pd.read_parquet(PipelinePaths(isolated_settings.data_dir).features(MODEL))
            shifted = [c for c in table.columns if c.startswith(("email_", "web_"))]
            current = inject_drift(table.sample(1000, random_state=3), shifted, 1.0, seed=0)
            current_path = tmp_path / "current.parquet"
            current.to_parquet(current_path, index=False)
            stormy = drift_monitoring(MODEL, current_path=str(current_path))
    finally:
        dispose_all_engines()

    client = MlflowClient(isolated_settings.mlflow_tracking_uri)

    # Undrifted: nothing crossed, nothing retrained.
    assert calm["should_retrain"] is False, calm["reasons"]
    assert calm["retrained"] is False
    assert calm["drift"]["share_drifted"] < 0.3
    assert calm["drift"]["prediction_drift"] is False
    assert calm["performance"] is not None  # the feature table holds the labels
    calm_run = client.get_run(calm["reports"]["mlflow_run_id"])
    assert calm_run.data.tags["should_retrain"] == "false"

    # Drifted: the trigger fires, names the shifted columns and the retraining registers v2.
    assert stormy["should_retrain"] is True
    assert stormy["retrained"] is True
    assert set(shifted) <= set(stormy["drift"]["drifted_columns"])
    assert any("web_page_views" in reason for reason in stormy["reasons"])
    assert stormy["retraining"]["registration"]["version"] == "2"
    versions = client.search_model_versions(f"name='{MODEL}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]

    # Reports: on disk and logged to an MLflow run tagged as monitoring.
    html = Path(stormy["reports"]["html"])
    assert html.exists() and html.stat().st_size > 10_000
    payload = json.loads(Path(stormy["reports"]["json"]).read_text(encoding="utf-8"))
    assert any(test["status"] == "FAIL" for test in payload["tests"])
    run = client.get_run(stormy["reports"]["mlflow_run_id"])
    assert run.data.tags["model_name"] == MODEL
    assert run.data.tags["monitoring"] == "true"
    assert run.data.metrics["share_drifted_columns"] >= 0.3
    assert "current_roc_auc" in run.data.metrics
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "drift")}
    assert {"drift/drift_report.html", "drift/drift_report.json"} <= logged
