"""The reproducible pipeline's stages: ingest -> validate -> features -> train -> evaluate.

Each stage reads the previous stage's files under ``settings.data_dir`` and writes its own,
so ``dvc repro`` (see ``dvc.yaml``), the ``haste pipeline`` CLI and the Prefect flow all run
the same code. Nothing here knows about Prefect.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import yaml

from features.extractors import build_lead_table
from features.trigger_table import build_trigger_table
from haste.settings import CONFIG_DIR, Settings
from pipelines.consent import consenting_crm
from pipelines.datasets import load_dataset, load_maven_crm
from pipelines.synthetic import generate_crm
from pipelines.synthetic_store import read_crm, write_crm
from pipelines.validation import ValidationReport, validate_frame
from training.config import TrainingConfig
from training.train import FittedModels, TrainingOutcome, evaluate_models, fit_models

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelinePaths:
    """Where each stage writes, under the data folder."""

    data_dir: Path

    @property
    def raw_leads(self) -> Path:
        """Return the cleaned Leads.csv parquet path."""
        return self.raw("leads")

    def raw(self, dataset: str) -> Path:
        """Return the ingested parquet of a single-table dataset."""
        return self.data_dir / "raw" / f"{dataset}.parquet"

    @property
    def crm_dir(self) -> Path:
        """Return the synthetic CRM folder (one parquet per table)."""
        return self.data_dir / "raw" / "crm"

    @property
    def validation_dir(self) -> Path:
        """Return the Great Expectations reports folder."""
        return self.data_dir / "reports" / "validation"

    def features(self, model_name: str) -> Path:
        """Return a model's feature table (also the online lookup table)."""
        return self.data_dir / "features" / f"{model_name}.parquet"

    def fitted(self, model_name: str) -> Path:
        """Return the saved fitted candidate + baseline + split of a model."""
        return self.data_dir / "models" / model_name / "fitted.joblib"

    def reports(self, model_name: str) -> Path:
        """Return the folder of a model's plots, metrics and model card."""
        return self.data_dir / "reports" / model_name


def load_pipeline_params(path: Path | None = None) -> dict[str, Any]:
    """Return the data pipeline parameters (``configs/pipeline.yaml``)."""
    path = path or CONFIG_DIR / "pipeline.yaml"
    with Path(path).open(encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def ingest(settings: Settings, params: dict[str, Any] | None = None) -> dict[str, Path]:
    """Read the real single-table datasets and generate the seeded synthetic CRM.

    Args:
        settings: Platform settings (datasets and data folders).
        params: Pipeline params; defaults to ``configs/pipeline.yaml``.

    Returns:
        Name -> written file.

    """
    params = params or load_pipeline_params()
    paths = PipelinePaths(settings.data_dir)
    paths.raw_leads.parent.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name in params["ingest"]["datasets"]:
        frame = load_dataset(name, settings.datasets_dir)
        frame.to_parquet(paths.raw(name), index=False)
        written[name] = paths.raw(name)
        logger.info("ingested %s: %d rows -> %s", name, len(frame), paths.raw(name))
    synthetic = params["ingest"]["synthetic"]
    crm = generate_crm(
        n_contacts=int(synthetic["n_contacts"]),
        seed=int(synthetic["seed"]),
        start=str(synthetic["start"]),
        days=int(synthetic["days"]),
    )
    written.update(write_crm(crm, paths.crm_dir))
    # Per-contact lead table (point-in-time features); contacts without AI consent excluded.
    build_lead_table(consenting_crm(crm)).to_parquet(paths.raw("crm_leads"), index=False)
    written["crm_leads"] = paths.raw("crm_leads")
    # Per (contact, snapshot) trigger table: reply / meeting / stage move in the next 14 days.
    build_trigger_table(consenting_crm(crm)).to_parquet(paths.raw("crm_triggers"), index=False)
    written["crm_triggers"] = paths.raw("crm_triggers")
    logger.info("generated synthetic CRM (%d contacts) -> %s", len(crm.contacts), paths.crm_dir)
    return written


def load_suite_frames(settings: Settings) -> dict[str, pd.DataFrame]:
    """Return the frame each validation suite checks (ingested files + real datasets)."""
    paths = PipelinePaths(settings.data_dir)
    crm = read_crm(paths.crm_dir)
    maven = load_maven_crm(settings.datasets_dir)
    return {
        "leads": pd.read_parquet(paths.raw_leads),
        "telco": pd.read_parquet(paths.raw("telco")),
        "maven_pipeline": maven.pipeline,
        "crm_contacts": crm.contacts,
        "crm_email_events": crm.email_events,
    }


def validate(settings: Settings, suites: list[str] | None = None) -> list[ValidationReport]:
    """Validate every ingested dataset and write JSON + HTML reports.

    Args:
        settings: Platform settings.
        suites: Suites to run; defaults to ``configs/pipeline.yaml``'s list.

    Returns:
        One report per suite (check ``success``; nothing raises here).

    """
    suites = suites or load_pipeline_params()["validate"]["suites"]
    out_dir = PipelinePaths(settings.data_dir).validation_dir
    frames = load_suite_frames(settings)
    reports = []
    for suite in suites:
        report = validate_frame(frames[suite], suite)
        report.write(out_dir / f"{suite}.json")
        report.write_html(out_dir / f"{suite}.html")
        logger.info("validation %s: %s", suite, "passed" if report.success else "FAILED")
        reports.append(report)
    return reports


def build_features(settings: Settings, config: TrainingConfig) -> Path:
    """Write the model-ready table: id, inputs (leakage dropped), sensitive columns, target.

    Args:
        settings: Platform settings.
        config: The model's training config.

    Returns:
        The feature table's path.

    """
    paths = PipelinePaths(settings.data_dir)
    raw = pd.read_parquet(paths.raw(config.dataset))
    dropped = set(config.features.leaky_columns) | set(config.features.drop_columns)
    table = raw[[column for column in raw.columns if column not in dropped]]
    out = paths.features(config.model_name)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out, index=False)
    logger.info("features %s: %d rows x %d columns -> %s", config.model_name, *table.shape, out)
    return out


def train(settings: Settings, config: TrainingConfig) -> Path:
    """Fit the candidate and baseline on the feature table and save them with their split."""
    paths = PipelinePaths(settings.data_dir)
    fitted = fit_models(pd.read_parquet(paths.features(config.model_name)), config)
    out = paths.fitted(config.model_name)
    out.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(fitted, out)
    logger.info("trained %s in %.1fs -> %s", config.model_name, fitted.fit_seconds, out)
    return out


def evaluate(settings: Settings, config: TrainingConfig) -> TrainingOutcome:
    """Evaluate the saved models on their held-out split and write the reports."""
    paths = PipelinePaths(settings.data_dir)
    fitted: FittedModels = joblib.load(paths.fitted(config.model_name))
    return evaluate_models(fitted, paths.reports(config.model_name))
