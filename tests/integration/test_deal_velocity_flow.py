"""The deal-velocity Prefect flow end to end: Maven CRM -> both models -> MLflow champions."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient
from prefect.testing.utilities import prefect_test_harness

from haste.settings import Settings
from training.deal_data import DAYS_MODEL_NAME, WIN_MODEL_NAME


def test_flow_registers_both_models_as_champions(
    isolated_settings: Settings, datasets_dir: Path
) -> None:
    from flows.deal_velocity import deal_velocity_training

    with prefect_test_harness(server_startup_timeout=180):
        result = deal_velocity_training()

    assert result["days_to_close"]["model"]["mae"] < result["days_to_close"]["baseline"]["mae"]
    assert result["win_probability"]["model"]["roc_auc"] > 0.5
    assert result["forecast"]["n_cutoffs"] == 8
    reports = {name: Path(path) for name, path in result["reports"].items()}
    assert reports["model_card"].exists()
    assert reports["model_card"].is_relative_to(isolated_settings.data_dir)

    client = MlflowClient(
        isolated_settings.mlflow_tracking_uri, isolated_settings.mlflow_tracking_uri
    )
    for name, metric in ((DAYS_MODEL_NAME, "mae"), (WIN_MODEL_NAME, "roc_auc")):
        registered = result["registration"][name]
        assert registered["version"] == "1"
        assert registered["decision"]["promoted"] is True
        champion = client.get_model_version_by_alias(name, "champion")
        assert str(champion.version) == "1"
        run = client.get_run(champion.run_id)
        assert metric in run.data.metrics
        assert f"baseline_{metric}" in run.data.metrics
        assert run.data.tags["fairness_passed"] == "true"
        assert champion.tags["primary_metric"] == metric
        if name == DAYS_MODEL_NAME:
            assert abs(run.data.metrics["interval_coverage"] - 0.9) <= 0.04
        else:
            assert (
                run.data.metrics["calibration_ece_after"]
                < run.data.metrics["calibration_ece_before"]
            )
    assert reports["intervals"].exists()

    # The served path: champions from the registry -> the deal response with its interval.
    from serving.predictions import DealPredictor
    from serving.schemas import DealPredictionResponse
    from training.registry import configure_mlflow

    configure_mlflow(isolated_settings)
    predictor = DealPredictor.load(datasets_dir)
    deal_id = str(predictor.deals.index[predictor.deals["deal_stage"] == "Engaging"][0])
    prediction = predictor.predict(deal_id)
    assert prediction is not None
    response = DealPredictionResponse.model_validate(
        {**prediction, "deal_id": deal_id, "model_versions": predictor.versions, "latency_ms": 1.0}
    )
    low, high = response.days_to_close_interval
    assert low <= response.days_to_close <= high
    assert response.coverage == 0.9
