"""Configuration of workflow automation: ``configs/workflows.yaml`` as a typed model."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from haste.settings import CONFIG_DIR
from workflows.catalog import ACTIONS

#: Default location of the configuration.
WORKFLOWS_YAML = CONFIG_DIR / "workflows.yaml"


class WorkflowConfig(BaseModel):
    """Risk classes, review rules and engine limits (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    risk: dict[str, str]
    review_required: tuple[str, ...] = ("external", "field_overwrite", "bulk", "review")
    bulk_threshold: int = Field(default=25, ge=1)
    poll_interval_s: float = Field(default=2.0, gt=0)
    poll_batch: int = Field(default=500, ge=1, le=10_000)
    adoption_target: float = Field(default=0.6, gt=0, le=1)

    @model_validator(mode="after")
    def _check_risk(self) -> WorkflowConfig:
        missing = sorted(set(ACTIONS) - set(self.risk))
        if missing:
            raise ValueError(f"risk class missing for action type(s): {', '.join(missing)}")
        unknown = sorted(set(self.risk) - set(ACTIONS))
        if unknown:
            raise ValueError(f"risk given for unknown action type(s): {', '.join(unknown)}")
        return self

    def risk_of(self, action_type: str) -> str:
        """Return the risk class of an action type."""
        return self.risk[action_type]

    def needs_review(self, action_type: str, *, bulk: bool = False) -> bool:
        """Return whether an action of this type (in a bulk run or not) waits for a manager."""
        if bulk and "bulk" in self.review_required:
            return True
        return self.risk_of(action_type) in self.review_required


def load_workflow_config(path: Path | None = None) -> WorkflowConfig:
    """Read and validate ``configs/workflows.yaml`` (or ``path``)."""
    with Path(path or WORKFLOWS_YAML).open(encoding="utf-8") as handle:
        return WorkflowConfig.model_validate(yaml.safe_load(handle) or {})


@lru_cache(maxsize=1)
def workflow_config() -> WorkflowConfig:
    """Return the default configuration (read once per process)."""
    return load_workflow_config()
