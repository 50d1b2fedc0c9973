"""Request and response models of ``POST /api/ai/lead-score/{contact_id}/what-if``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

FeatureName = Annotated[str, StringConstraints(min_length=1, max_length=80)]


class WhatIfRequest(BaseModel):
    """What the rep asks: which band to reach, how many answers, which features may move."""

    model_config = ConfigDict(extra="forbid")

    target_band: Literal["hot", "warm"] = Field("hot", description="The band to reach.")
    k: int = Field(3, ge=1, le=5, description="Counterfactuals wanted (diverse, 1 to 5).")
    vary: list[FeatureName] | None = Field(
        None,
        max_length=10,
        description="Actionable features allowed to change (default: every actionable one); "
        "an immutable, audited or unknown feature is refused with 422.",
    )


class WhatIfChange(BaseModel):
    """One proposed change of a feature."""

    model_config = ConfigDict(populate_by_name=True)

    feature: str
    from_: str | float | int | bool | None = Field(alias="from")
    to: str | float | int | bool | None
    text: str = Field(
        description="The change in words, e.g. `time on the website: 310 -> 1,250 s`."
    )


class WhatIfCounterfactual(BaseModel):
    """A set of changes and the score the lead would get with them (the served model's)."""

    changes: list[WhatIfChange]
    score: int
    probability: float
    band: str
    distance: float = Field(description="Normalised L1 distance to the lead (lower: closer).")


class WhatIfResponse(BaseModel):
    """Counterfactual advice for a lead (empty when it is already in the target band)."""

    contact_id: str
    current_score: int
    band: str
    target_band: str
    already_in_target: bool
    counterfactuals: list[WhatIfCounterfactual]
    varied: list[str] = Field(description="Features the search could change for this lead.")
    validity: float = Field(description="Share of the `k` requested answers found valid.")
    model_name: str
    model_version: str
    variant: str
    latency_ms: int
