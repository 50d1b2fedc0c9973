"""Typed training configuration, read from ``configs/models/<model>.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from haste.settings import CONFIG_DIR


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeatureConfig(_Strict):
    """Which raw columns are never model inputs."""

    leaky_columns: list[str] = Field(default_factory=list)
    drop_columns: list[str] = Field(default_factory=list)
    sensitive_columns: list[str] = Field(default_factory=list)


class SplitConfig(_Strict):
    """Held-out split parameters."""

    test_size: float = Field(0.2, gt=0.0, lt=1.0)
    random_state: int = 42
    #: Keep every row of one entity (``id_column``) on the same side of the split: for tables
    #: with several snapshots per entity (trigger prediction), so no contact is in both.
    group_by_id: bool = False


class RayTrainConfig(_Strict):
    """Where the candidate trains with ``backend: ray`` (see :mod:`distributed.ray_train`)."""

    num_workers: int = Field(2, ge=1, le=256)
    cpus_per_worker: int = Field(1, ge=1, le=64)
    #: Custom resources each worker needs, e.g. ``{worker: 1}`` for the worker nodes.
    resources_per_worker: dict[str, float] = Field(default_factory=dict)
    #: Cluster to connect to when Ray is not initialised (None: ``RAY_ADDRESS`` or local).
    address: str | None = None
    #: Ray Train storage every node reaches (None: a temporary folder of the driver).
    storage_path: str | None = None


class TrainConfig(_Strict):
    """Hyper-parameters of the candidate model and of the spec's baseline."""

    xgboost: dict[str, Any] = Field(default_factory=dict)
    baseline: dict[str, Any] = Field(default_factory=dict)
    #: Where the candidate is fitted: in process, or data-parallel on Ray Train.
    backend: Literal["local", "ray"] = "local"
    ray: RayTrainConfig = Field(default_factory=RayTrainConfig)


class TuneConfig(_Strict):
    """Optuna search of the candidate's hyper-parameters on the training split only.

    The search space is chosen by the training table's size (see :mod:`training.tuning`);
    ``n_trials`` is the budget of a small table and shrinks on large ones (never below
    ``min_trials``); ``timeout_s`` is a safety net (the run stays deterministic while the
    trial count, not the clock, ends the search).
    """

    enabled: bool = False
    n_trials: int = Field(25, ge=1, le=500)
    min_trials: int = Field(8, ge=1, le=500)
    timeout_s: float = Field(45.0, gt=0.0, le=3600.0)
    cv_folds: int = Field(3, ge=2, le=10)
    early_stopping_rounds: int = Field(40, ge=5, le=500)
    seed: int = 42
    #: Where the trials run: one after the other here, or as Ray tasks (``train.ray``
    #: gives the cluster and placement), ``parallel_trials`` at once.
    backend: Literal["local", "ray"] = "local"
    #: Trials run at once on Ray (None: ``train.ray.num_workers``).
    parallel_trials: int | None = Field(None, ge=1, le=256)

    @model_validator(mode="after")
    def _min_within_budget(self) -> TuneConfig:
        """Keep ``min_trials`` within ``n_trials``."""
        if self.min_trials > self.n_trials:
            raise ValueError(f"min_trials {self.min_trials} exceeds n_trials {self.n_trials}")
        return self


class EvaluateConfig(_Strict):
    """Evaluation parameters."""

    threshold: float = Field(0.5, gt=0.0, lt=1.0)
    calibration_bins: int = Field(10, ge=2)


class FairnessConfig(_Strict):
    """The fairness gate that a model must pass to be registered (over every sensitive column)."""

    sensitive_columns: list[str] = Field(min_length=1)
    missing_group: str = "Unknown"
    min_group_size: int = Field(50, ge=1)
    max_equalized_odds_difference: float = Field(0.2, ge=0.0, le=1.0)
    max_true_positive_rate_difference: float = Field(0.2, ge=0.0, le=1.0)
    min_group_roc_auc: float = Field(0.0, ge=0.0, le=1.0)

    @model_validator(mode="before")
    @classmethod
    def _accept_single_column(cls, data: Any) -> Any:
        """Accept ``sensitive_column: X`` as shorthand for ``sensitive_columns: [X]``."""
        if isinstance(data, dict) and "sensitive_column" in data:
            data = dict(data)
            data.setdefault("sensitive_columns", [data.pop("sensitive_column")])
        return data

    @property
    def sensitive_column(self) -> str:
        """Return the first (primary) sensitive column."""
        return self.sensitive_columns[0]


class RegistryConfig(_Strict):
    """Promotion rule: challenger becomes champion when it beats it on ``primary_metric``."""

    primary_metric: str = "roc_auc"
    min_improvement: float = 0.0
    #: Refuse a candidate that does worse than the spec's baseline fitted on the same split.
    baseline_gate: bool = True
    #: How far below the baseline (on ``primary_metric``) a candidate may be and still pass.
    baseline_tolerance: float = Field(0.0, ge=0.0, le=0.1)


class ScoringConfig(_Strict):
    """Online scoring options."""

    top_k_contributions: int = Field(5, ge=1)


class TrainingConfig(_Strict):
    """Everything needed to train, audit and register one tabular model."""

    model_name: str
    model_type: Literal["classification"] = "classification"
    dataset: str
    entity_type: str = "contact"
    id_column: str
    target: str
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    tune: TuneConfig = Field(default_factory=TuneConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    fairness: FairnessConfig
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)

    @property
    def excluded_columns(self) -> list[str]:
        """Columns that never reach the model: ids, target, leakage, drops, sensitive."""
        return [
            self.id_column,
            self.target,
            *self.features.leaky_columns,
            *self.features.drop_columns,
            *self.features.sensitive_columns,
        ]


def model_config_path(model_name: str) -> Path:
    """Return the YAML config path of a model name (``configs/models/<name>.yaml``)."""
    return CONFIG_DIR / "models" / f"{model_name}.yaml"


def load_training_config(path_or_name: str | Path) -> TrainingConfig:
    """Load and validate a training config.

    Args:
        path_or_name: A YAML path, or a model name resolved under ``configs/models``.

    Returns:
        The validated configuration.

    Raises:
        FileNotFoundError: When no such config exists.
        pydantic.ValidationError: When the YAML does not match the schema.

    """
    path = Path(path_or_name)
    if not path.suffix:
        path = model_config_path(str(path_or_name))
    if not path.exists():
        raise FileNotFoundError(f"training config {path} not found")
    with path.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    return TrainingConfig.model_validate(raw)
