"""Bad data at ingestion stops the pipeline with a readable report and exit code 1."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from haste.cli import app
from haste.settings import Settings
from pipelines import stages


def test_clean_ingest_passes_every_suite(isolated_settings: Settings, datasets_dir) -> None:
    stages.ingest(isolated_settings)
    reports = stages.validate(isolated_settings)
    assert [r.dataset for r in reports if not r.success] == []
    out = stages.PipelinePaths(isolated_settings.data_dir).validation_dir
    assert (out / "leads.html").exists()
    assert (out / "crm_contacts.json").exists()


def test_corrupted_leads_fail_the_validate_stage(isolated_settings: Settings, datasets_dir) -> None:
    stages.ingest(isolated_settings)
    raw = stages.PipelinePaths(isolated_settings.data_dir).raw_leads
    leads = pd.read_parquet(raw)
    leads.loc[1, "Prospect ID"] = leads.loc[0, "Prospect ID"]
    leads.loc[2, "Converted"] = 2
    leads.to_parquet(raw, index=False)

    result = CliRunner().invoke(app, ["pipeline", "validate"])
    assert result.exit_code == 1
    assert "leads" in result.output and "FAILED" in result.output
    assert "Prospect ID" in result.output
    assert "Converted" in result.output
    assert "failed validation" in result.output
