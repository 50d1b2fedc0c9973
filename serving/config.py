"""What every replica of the AI application is built with (resolved by :mod:`serving.runner`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from haste.settings import Settings
from pipelines.stages import PipelinePaths


@dataclass(frozen=True)
class ServeConfig:
    """Everything a replica needs, resolved to absolute URLs/paths by the caller."""

    tracking_uri: str
    database_url: str
    features_path: str
    settings: dict[str, Any] = field(default_factory=dict)
    id_column: str = "Prospect ID"
    model_name: str = "lead_scoring"
    crm_model_name: str | None = "lead_scoring_crm"
    top_k: int = 5
    churn_features_path: str = ""


def serve_config_from_settings(settings: Settings, model_name: str = "lead_scoring") -> ServeConfig:
    """Build a replica config with absolute URLs and paths."""
    return ServeConfig(
        tracking_uri=settings.mlflow_tracking_uri,
        database_url=settings.database_url,
        features_path=str(PipelinePaths(settings.data_dir).features(model_name)),
        settings=settings.model_dump(mode="json"),
        model_name=model_name,
        churn_features_path=str(PipelinePaths(settings.data_dir).features("churn")),
    )
