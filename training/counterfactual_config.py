"""What a counterfactual may change: ``configs/counterfactuals.yaml`` as typed objects.

Per lead model: the actionable features (kind, direction, bounds, the aggregates that move
with them), the frozen ones with the reason they are frozen, and the derived inputs recomputed
after a change. :func:`check_vary` turns a client's ``vary`` list into the features to search,
refusing immutable or unknown names with a message that says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from haste.settings import CONFIG_DIR

#: The default config file.
COUNTERFACTUALS_CONFIG = CONFIG_DIR / "counterfactuals.yaml"
KINDS = ("numeric", "flag")
DIRECTIONS = ("increase", "any")


class VaryError(ValueError):
    """A ``vary`` list names a feature that may not change (HTTP 422)."""


@dataclass(frozen=True)
class ActionableFeature:
    """One feature a counterfactual may change, and how.

    Attributes:
        name: The model input.
        kind: ``numeric`` or ``flag`` (a Yes/No column).
        direction: ``increase`` (earned engagement cannot be undone) or ``any``.
        low: Lower bound of a numeric value.
        high: Upper bound of a numeric value (the real data's 99th percentile).
        at_most: Another input the value may not exceed (e.g. replies <= emails sent).
        moves_with: Aggregates that grow by the same amount (kept consistent).
        on_change: Inputs set to a value when this feature changes (recency -> 0 days).
        label: How the feature is named for people.
        unit: Unit written after numeric values.
        decimals: Decimals of a numeric value (0: whole numbers).
    """

    name: str
    kind: str
    direction: str
    low: float = 0.0
    high: float = math.inf
    at_most: str | None = None
    moves_with: tuple[str, ...] = ()
    on_change: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    unit: str = ""
    decimals: int = 0

    @classmethod
    def from_mapping(cls, name: str, values: dict[str, Any]) -> ActionableFeature:
        """Build a feature from its YAML mapping (unknown keys and bad values refused)."""
        known = {"kind", "direction", "min", "max", "at_most", "moves_with", "on_change"}
        unknown = set(values) - known - {"label", "unit", "decimals"}
        if unknown:
            raise ValueError(f"{name}: unknown counterfactual keys {sorted(unknown)}")
        kind, direction = values.get("kind", "numeric"), values.get("direction", "increase")
        if kind not in KINDS or direction not in DIRECTIONS:
            raise ValueError(f"{name}: kind must be one of {KINDS}, direction one of {DIRECTIONS}")
        low, high = float(values.get("min", 0.0)), float(values.get("max", math.inf))
        if kind == "numeric" and not low < high:
            raise ValueError(f"{name}: min {low} must be below max {high}")
        return cls(
            name=name,
            kind=kind,
            direction=direction,
            low=low,
            high=high,
            at_most=values.get("at_most"),
            moves_with=tuple(values.get("moves_with") or ()),
            on_change=dict(values.get("on_change") or {}),
            label=str(values.get("label") or name),
            unit=str(values.get("unit") or ""),
            decimals=int(values.get("decimals", 0)),
        )


@dataclass(frozen=True)
class ModelRules:
    """The counterfactual rules of one lead model.

    Attributes:
        actionable: Features a counterfactual may change, by name.
        immutable: Features that never change, with the reason given to clients.
        derived: Inputs recomputed after a change (name -> pandas expression).
    """

    actionable: dict[str, ActionableFeature]
    immutable: dict[str, str]
    derived: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchSettings:
    """How DiCE searches: its method, candidates per round, seed and the largest ``k``."""

    method: str = "random"
    sample_size: int = 400
    seed: int = 42
    max_k: int = 5


@dataclass(frozen=True)
class CounterfactualConfig:
    """The whole ``configs/counterfactuals.yaml``."""

    search: SearchSettings
    models: dict[str, ModelRules]

    def rules(self, model_name: str) -> ModelRules:
        """Return a model's rules.

        Raises:
            KeyError: When the config has no section for the model.
        """
        if model_name not in self.models:
            raise KeyError(f"configs/counterfactuals.yaml has no rules for {model_name}")
        return self.models[model_name]


@cache
def load_counterfactual_config(path: Path = COUNTERFACTUALS_CONFIG) -> CounterfactualConfig:
    """Read and check the counterfactual config (cached per path).

    Raises:
        ValueError: When a feature is both actionable and immutable, or a value is invalid.
    """
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    search = SearchSettings(**(raw.get("search") or {}))
    if search.method != "random":
        raise ValueError(f"search.method must be random (DiCE), got {search.method!r}")
    models = {}
    for model_name, section in (raw.get("models") or {}).items():
        actionable = {
            name: ActionableFeature.from_mapping(name, values or {})
            for name, values in (section.get("actionable") or {}).items()
        }
        immutable = {str(k): str(v) for k, v in (section.get("immutable") or {}).items()}
        both = set(actionable) & set(immutable)
        if both:
            raise ValueError(f"{model_name}: {sorted(both)} both actionable and immutable")
        derived = {str(k): str(v) for k, v in (section.get("derived") or {}).items()}
        models[model_name] = ModelRules(actionable, immutable, derived)
    return CounterfactualConfig(search=search, models=models)


def check_vary(
    rules: ModelRules, model_name: str, inputs: list[str] | None, vary: list[str] | None
) -> list[str]:
    """Return the features a search may change: ``vary`` checked, or every actionable input.

    Args:
        rules: The model's rules.
        model_name: The model (named in messages).
        inputs: The model's input columns (None: not known here, e.g. in the gateway).
        vary: Features the client asks to change (None: every actionable input).

    Returns:
        Actionable model inputs, in the config's order.

    Raises:
        VaryError: When ``vary`` names an immutable, non-actionable or unknown feature.
    """
    usable = [name for name in rules.actionable if inputs is None or name in inputs]
    if vary is None:
        return usable
    for name in vary:
        if name in rules.immutable:
            raise VaryError(f"feature {name!r} is immutable: {rules.immutable[name]}")
        if name in rules.actionable and name not in usable:
            raise VaryError(f"feature {name!r} is not an input of {model_name}")
        if name not in usable:
            raise VaryError(
                f"feature {name!r} is not an actionable feature of {model_name} "
                f"(actionable: {', '.join(usable)})"
            )
    wanted = set(vary)
    return [name for name in usable if name in wanted]
