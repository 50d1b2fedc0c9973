"""What every replica of the AI application is built with (resolved by :mod:`serving.runner`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from haste.settings import CONFIG_DIR, Settings
from pipelines.stages import PipelinePaths


@dataclass(frozen=True)
class RequestLimits:
    """Bounds on the work one request may cause (``limits`` in ``configs/serve.yaml``).

    Attributes:
        max_body_bytes: Largest request body; a larger one is answered 413 before it is read.
        interactive_budget_s: Time budget of an interactive call to a deployment; past it the
            call is cancelled and answered 503 with ``Retry-After``.
        sync_transcript_chars: Longest transcript analysed while the client waits; a longer
            one (or ``Prefer: respond-async``) becomes a job: 202 and a status URL.
        job_budget_s: Time budget of one analysis job.
        shutdown_grace_s: On SIGINT/SIGTERM, how long in-flight requests may take to finish.
    """

    max_body_bytes: int = 262_144
    interactive_budget_s: float = 30.0
    sync_transcript_chars: int = 20_000
    job_budget_s: float = 300.0
    shutdown_grace_s: float = 20.0

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None) -> RequestLimits:
        """Build the limits from a mapping, refusing unknown names and non-positive values."""
        values = dict(values or {})
        known = {item.name: item.type for item in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown request limits {unknown}; known: {sorted(known)}")
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"request limit {name} must be a positive number, got {value!r}")
        return cls(**values)


def load_request_limits(path: str | Path | None = None) -> RequestLimits:
    """Return the ``limits`` of the application's ``args`` in ``configs/serve.yaml``."""
    with Path(path or CONFIG_DIR / "serve.yaml").open(encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    args = config["applications"][0].get("args") or {}
    return RequestLimits.from_mapping(args.get("limits"))


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
    limits: RequestLimits = field(default_factory=RequestLimits)
    #: Score champion leads in the gateway replica (no hop to ``ChampionModels``).
    gateway_champion: bool = True


def serve_config_from_settings(
    settings: Settings, model_name: str = "lead_scoring", limits: RequestLimits | None = None
) -> ServeConfig:
    """Build a replica config with absolute URLs and paths.

    Args:
        settings: Platform settings.
        model_name: The lead model served.
        limits: Request limits (default: those of ``configs/serve.yaml``).
    """
    return ServeConfig(
        tracking_uri=settings.mlflow_tracking_uri,
        database_url=settings.database_url,
        features_path=str(PipelinePaths(settings.data_dir).features(model_name)),
        settings=settings.model_dump(mode="json"),
        model_name=model_name,
        churn_features_path=str(PipelinePaths(settings.data_dir).features("churn")),
        limits=limits or load_request_limits(),
    )
