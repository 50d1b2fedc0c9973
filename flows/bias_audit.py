"""Prefect flow ``bias-audit``: audit every champion for bias on fresh data, compare mitigations.

For each model (default: the four tabular models), the flow loads the ``champion`` version from
the MLflow registry (models without one are skipped, with the reason logged), builds labelled
rows it never trained on (a freshly seeded synthetic CRM for ``lead_scoring_crm``, the held-out
split of the real dataset otherwise), audits every sensitive column of the model's config,
compares Fairlearn mitigations, writes a Markdown + HTML report, publishes it as a Prefect
artifact and logs it to an MLflow run tagged ``bias_audit=true``. It returns the alerts.

Thin orchestration only: the work is done by :mod:`monitoring.bias`.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import mlflow
import pandas as pd
import yaml
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from features.extractors import build_lead_table
from haste.settings import CONFIG_DIR, Settings, get_settings
from monitoring.bias import (
    EXPONENTIATED_GRADIENT,
    LOGISTIC_BASELINE,
    THRESHOLD_OPTIMIZER,
    UNMITIGATED,
    BiasAuditResult,
    MitigationComparison,
    audit_champion,
    compare_mitigations,
    render_bias_report,
)
from pipelines.datasets import DatasetNotFoundError, load_dataset
from pipelines.synthetic import generate_crm
from training.config import TrainingConfig, load_training_config
from training.dataset import prepare_labelled_data, split_labelled_data
from training.registry import CHAMPION, NoChampionError, configure_mlflow, load_alias_model

#: Models audited when no list is given.
DEFAULT_MODELS: tuple[str, ...] = ("lead_scoring", "lead_scoring_crm", "churn", "campaign_response")
#: Dataset name of the lead table built from the synthetic CRM.
SYNTHETIC_DATASET = "crm_leads"
#: Short MLflow metric names of the compared methods.
METHOD_KEYS = {
    UNMITIGATED: "unmitigated",
    THRESHOLD_OPTIMIZER: "threshold_optimizer",
    LOGISTIC_BASELINE: "logistic",
    EXPONENTIATED_GRADIENT: "exponentiated_gradient",
}
REPORTS_NAME = "bias_audit"


@dataclass
class AuditData:
    """Labelled rows a champion never trained on, and where they come from."""

    frame: pd.DataFrame
    source: str


def _synthetic_params() -> dict[str, Any]:
    """Return the synthetic CRM parameters of ``configs/pipeline.yaml`` (window, training seed)."""
    path = CONFIG_DIR / "pipeline.yaml"
    with path.open(encoding="utf-8") as handle:
        params = yaml.safe_load(handle) or {}
    return params.get("ingest", {}).get("synthetic", {})


def fresh_seed(requested: int | None) -> int:
    """Return ``requested``, or a random seed different from the training CRM's."""
    training_seed = int(_synthetic_params().get("seed", 42))
    seed = requested if requested is not None else secrets.randbelow(2**31 - 1)
    return seed + 1 if requested is None and seed == training_seed else seed


@task(name="load-champion", cache_policy=NO_CACHE)
def load_champion(settings: Settings, model_name: str) -> tuple[Any, str] | None:
    """Load the champion pipeline and its version; None (logged) when there is none."""
    configure_mlflow(settings)
    try:
        model, version = load_alias_model(model_name, CHAMPION)
    except NoChampionError as exc:
        get_run_logger().warning("skipping %s: %s", model_name, exc)
        return None
    get_run_logger().info("auditing %s v%s (%s)", model_name, version.version, CHAMPION)
    return model, str(version.version)


@task(name="build-audit-data", cache_policy=NO_CACHE)
def build_audit_data(
    settings: Settings, config: TrainingConfig, seed: int, crm_contacts: int
) -> AuditData:
    """Build labelled rows the champion never saw.

    ``crm_leads``: a new synthetic CRM (same window, new seed) through the point-in-time lead
    table. Real datasets: the held-out split of the training config (same split and seed as
    training, so none of these rows was trained on).
    """
    logger = get_run_logger()
    if config.dataset == SYNTHETIC_DATASET:
        params = _synthetic_params()
        crm = generate_crm(
            n_contacts=crm_contacts,
            seed=seed,
            start=str(params.get("start", "2026-01-01")),
            days=int(params.get("days", 180)),
        )
        frame = build_lead_table(crm)
        logger.info("fresh synthetic CRM: %d contacts, seed %d", len(frame), seed)
        return AuditData(frame, f"synthetic CRM (seed {seed}, {crm_contacts} contacts)")
    frame = load_dataset(config.dataset, settings.datasets_dir)
    data = prepare_labelled_data(frame, config)
    _, test = split_labelled_data(
        data, config.split.test_size, config.split.random_state, config.split.group_by_id
    )
    logger.info("%s held-out split: %d of %d rows", config.dataset, len(test), len(frame))
    return AuditData(
        frame.loc[test.labels.index],
        f"{config.dataset} held-out split (test_size {config.split.test_size}, "
        f"seed {config.split.random_state})",
    )


@task(name="audit-champion", cache_policy=NO_CACHE)
def audit(model: Any, data: AuditData, config: TrainingConfig, version: str) -> BiasAuditResult:
    """Audit every sensitive column of the config with Fairlearn."""
    result = audit_champion(model, data.frame, config, model_version=version)
    logger = get_run_logger()
    for alert in result.alerts:
        logger.warning("bias alert: %s", alert)
    if result.passed:
        logger.info("%s v%s: no bias alert", config.model_name, version)
    return result


@task(name="compare-mitigations", cache_policy=NO_CACHE)
def mitigations(model: Any, data: AuditData, config: TrainingConfig) -> list[MitigationComparison]:
    """Compare ThresholdOptimizer and ExponentiatedGradient with the model, per column."""
    logger = get_run_logger()
    comparisons = []
    for column in config.fairness.sensitive_columns:
        try:
            comparisons.append(compare_mitigations(model, data.frame, config, column))
        except ValueError as exc:
            logger.warning(
                "%s: no mitigation comparison over %s: %s", config.model_name, column, exc
            )
    return comparisons


@task(name="publish-bias-report", cache_policy=NO_CACHE)
def publish(
    settings: Settings,
    result: BiasAuditResult,
    comparisons: list[MitigationComparison],
    data: AuditData,
    seed: int,
) -> dict[str, Any]:
    """Write the report, create the Prefect artifact and log everything to MLflow."""
    name = result.model_name
    out_dir = settings.data_dir / "reports" / REPORTS_NAME / name
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / "bias_report.html"
    markdown = render_bias_report(result, comparisons, html_path=html_path)
    markdown_path = out_dir / "bias_report.md"
    markdown_path.write_text(markdown, encoding="utf-8")
    summary = {
        **result.to_dict(),
        "data_source": data.source,
        "mitigations": [c.to_dict() for c in comparisons],
    }
    json_path = out_dir / "bias_audit.json"
    json_path.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    tables = []
    for comparison in comparisons:
        path = out_dir / f"mitigations_{comparison.column}.csv"
        comparison.table.to_csv(path)
        tables.append(path)
    create_markdown_artifact(
        key=f"{name.replace('_', '-')}-bias-audit",
        markdown=f"Data: {data.source}.\n\n{markdown}",
        description=f"Bias audit of the {name} champion v{result.model_version}",
    )
    configure_mlflow(settings)
    with mlflow.start_run(run_name=f"{name}-bias-audit") as run:
        mlflow.set_tags(
            {
                "bias_audit": "true",
                "model_name": name,
                "model_version": str(result.model_version),
                "bias_passed": str(result.passed).lower(),
                "alerts": str(len(result.alerts)),
            }
        )
        mlflow.log_params(
            {"rows": result.n_rows, "threshold": result.threshold, "data_source": data.source}
        )
        if data.source.startswith("synthetic"):
            mlflow.log_param("seed", seed)
        mlflow.log_metrics(result.metrics())
        for comparison in comparisons:
            for method, row in comparison.table.iterrows():
                key = METHOD_KEYS.get(str(method), str(method))
                mlflow.log_metrics(
                    {
                        f"mitigation.{comparison.column}.{key}.{metric}": float(row[metric])
                        for metric in (
                            "accuracy",
                            "roc_auc",
                            "equalized_odds_difference",
                            "demographic_parity_difference",
                        )
                        if pd.notna(row[metric])
                    }
                )
        for path in (markdown_path, html_path, json_path, *tables):
            mlflow.log_artifact(str(path), artifact_path=REPORTS_NAME)
        run_id = run.info.run_id
    get_run_logger().info("%s bias report -> %s (MLflow run %s)", name, out_dir, run_id)
    return {
        "version": result.model_version,
        "passed": result.passed,
        "alerts": result.alerts,
        "report": str(markdown_path),
        "html": str(html_path),
        "mlflow_run_id": run_id,
        "data_source": data.source,
    }


@flow(name="bias-audit", log_prints=True)
def bias_audit(
    model_names: list[str] | None = None, crm_contacts: int = 3000, seed: int | None = None
) -> dict[str, Any]:
    """Audit every registered champion for bias on fresh data and compare mitigations.

    Args:
        model_names: Models to audit; defaults to :data:`DEFAULT_MODELS`. Models without a
            champion (or whose data is unavailable) are skipped, with the reason.
        crm_contacts: Size of the fresh synthetic CRM (``lead_scoring_crm``).
        seed: Seed of the fresh synthetic CRM; random (and logged) when None.

    Returns:
        ``alerts`` (every exceeded threshold, all models), ``audited`` (per model: version,
        verdict, report paths, MLflow run) and ``skipped`` (model -> reason).

    """
    settings = get_settings()
    logger = get_run_logger()
    names = list(model_names) if model_names else list(DEFAULT_MODELS)
    seed = fresh_seed(seed)
    audited: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for name in names:
        config = load_training_config(name)
        champion = load_champion(settings, name)
        if champion is None:
            skipped[name] = f"no {CHAMPION} version in the registry"
            continue
        model, version = champion
        try:
            data = build_audit_data(settings, config, seed, crm_contacts)
        except DatasetNotFoundError as exc:
            logger.warning("skipping %s: %s", name, exc)
            skipped[name] = f"dataset unavailable: {exc}"
            continue
        result = audit(model, data, config, version)
        comparisons = mitigations(model, data, config)
        audited[name] = publish(settings, result, comparisons, data, seed)
    alerts = [alert for summary in audited.values() for alert in summary["alerts"]]
    rows = [
        {
            "model": n,
            "version": s["version"],
            "alerts": len(s["alerts"]),
            "status": "ok" if s["passed"] else "ALERT",
        }
        for n, s in audited.items()
    ]
    rows += [
        {"model": n, "version": None, "alerts": 0, "status": f"skipped: {reason}"}
        for n, reason in skipped.items()
    ]
    create_table_artifact(
        key="bias-audit-summary", table=rows, description="Bias audit of the champions"
    )
    logger.info(
        "bias audit: %d audited, %d skipped, %d alerts", len(audited), len(skipped), len(alerts)
    )
    return {"alerts": alerts, "audited": audited, "skipped": skipped}
