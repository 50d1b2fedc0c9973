"""What every replica of the AI application is built with (resolved by :mod:`serving.runner`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
