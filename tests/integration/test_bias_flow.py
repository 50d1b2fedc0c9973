"""The bias-audit Prefect flow end to end: a registered champion -> audit -> MLflow artifacts."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient
from prefect.testing.utilities import prefect_test_harness

from haste.settings import Settings


def _register_crm_champion(settings: Settings) -> str:
    from features.extractors import build_lead_table
    from pipelines.synthetic import generate_crm
    from training.config import load_training_config
    from training.tracking import log_and_register
    from training.train import train_and_evaluate

    table = build_lead_table(generate_crm(800, seed=5))
    config = load_training_config("lead_scoring_crm")
    # This test audits whatever champion exists: at 800 contacts the candidate may lose to the
    # baseline by a hair, and the baseline gate (tested in tests/unit/test_tuning.py) would
    # refuse it.
    config.registry.baseline_gate = False
    outcome = train_and_evaluate(table, config)
    result = log_and_register(outcome, settings)
    assert result.decision is not None and result.decision.promoted, "champion not registered"
    return str(result.version)


def test_bias_audit_flow_logs_reports_for_the_champion(isolated_settings: Settings) -> None:
    from flows.bias_audit import bias_audit

    version = _register_crm_champion(isolated_settings)
    with prefect_test_harness(server_startup_timeout=180):
        result = bias_audit(["lead_scoring_crm", "churn"], crm_contacts=800, seed=11)

    assert isinstance(result["alerts"], list)
    assert all(isinstance(alert, str) for alert in result["alerts"])
    assert "churn" in result["skipped"]  # no churn champion in this fresh registry
    summary = result["audited"]["lead_scoring_crm"]
    assert summary["version"] == version
    assert Path(summary["html"]).is_relative_to(isolated_settings.data_dir)
    assert "data:image/png;base64," in Path(summary["html"]).read_text(encoding="utf-8")

    client = MlflowClient(
        isolated_settings.mlflow_tracking_uri, isolated_settings.mlflow_tracking_uri
    )
    experiment = client.get_experiment_by_name(isolated_settings.experiment_name)
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.bias_audit = 'true'")
    assert [run.info.run_id for run in runs] == [summary["mlflow_run_id"]]
    run = runs[0]
    assert run.data.tags["model_name"] == "lead_scoring_crm"
    assert run.data.tags["model_version"] == version
    assert "gender.equalized_odds_difference" in run.data.metrics
    assert "mitigation.gender.threshold_optimizer.accuracy" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "bias_audit")}
    assert {
        "bias_audit/bias_report.md",
        "bias_audit/bias_report.html",
        "bias_audit/bias_audit.json",
        "bias_audit/mitigations_gender.csv",
    } <= artifacts
