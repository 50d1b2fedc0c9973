"""Unit tests of the typed training configuration read from configs/models/*.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from training.config import TrainingConfig, load_training_config, model_config_path

LEAKY = ["Tags", "Lead Quality", "Last Activity", "Last Notable Activity", "Lead Profile"]


@pytest.fixture()
def raw_lead_config() -> dict:
    with model_config_path("lead_scoring").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _dump(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_lead_scoring_config_loads_by_name() -> None:
    config = load_training_config("lead_scoring")
    assert isinstance(config, TrainingConfig)
    assert config.model_name == "lead_scoring"
    assert config.target == "Converted"
    assert config.id_column == "Prospect ID"
    assert config.fairness.sensitive_column in config.features.sensitive_columns
    assert 0.0 < config.split.test_size < 1.0
    assert config.train.xgboost
    assert config.train.baseline


def test_excluded_columns_cover_leakage_sensitive_ids_and_target() -> None:
    config = load_training_config("lead_scoring")
    excluded = set(config.excluded_columns)
    assert set(LEAKY) <= excluded
    assert {"City", "Country"} <= excluded
    assert {"Prospect ID", "Lead Number"} <= excluded
    assert "Converted" in excluded


def test_loads_by_path(tmp_path: Path, raw_lead_config: dict) -> None:
    path = _dump(tmp_path / "copy.yaml", raw_lead_config)
    assert load_training_config(path) == load_training_config("lead_scoring")
    assert load_training_config(str(path)).model_name == "lead_scoring"


def test_unknown_top_level_key_is_rejected(tmp_path: Path, raw_lead_config: dict) -> None:
    raw_lead_config["learning_rate"] = 0.1
    with pytest.raises(ValidationError, match="learning_rate"):
        load_training_config(_dump(tmp_path / "bad.yaml", raw_lead_config))


def test_unknown_nested_key_is_rejected(tmp_path: Path, raw_lead_config: dict) -> None:
    raw_lead_config["features"]["leakage_columns"] = ["Tags"]
    with pytest.raises(ValidationError, match="leakage_columns"):
        load_training_config(_dump(tmp_path / "typo.yaml", raw_lead_config))


def test_out_of_range_value_is_rejected(tmp_path: Path, raw_lead_config: dict) -> None:
    raw_lead_config["split"]["test_size"] = 1.5
    with pytest.raises(ValidationError, match="test_size"):
        load_training_config(_dump(tmp_path / "range.yaml", raw_lead_config))


def test_missing_fairness_section_is_rejected(tmp_path: Path, raw_lead_config: dict) -> None:
    del raw_lead_config["fairness"]
    with pytest.raises(ValidationError, match="fairness"):
        load_training_config(_dump(tmp_path / "nofair.yaml", raw_lead_config))


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ValidationError):
        load_training_config(path)


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no_such_model"):
        load_training_config("no_such_model")
    with pytest.raises(FileNotFoundError):
        load_training_config(tmp_path / "absent.yaml")


def test_model_config_path() -> None:
    path = model_config_path("lead_scoring")
    assert path.name == "lead_scoring.yaml"
    assert path.parent.name == "models"
    assert path.exists()
