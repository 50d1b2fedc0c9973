"""A/B routing between a model's champion and challenger: sticky, hash-based splits.

A subject (a contact id) falls in bucket ``sha256(salt:subject) mod 100``; buckets below the
model's rollout percentage go to the challenger. The same contact always gets the same variant
for a given model, and the share of challenger traffic converges to the rollout percentage.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from sqlalchemy import select

from haste.db.models import AIFeatureFlag
from haste.db.session import session_scope

Variant = Literal["champion", "challenger"]


def bucket_of(subject: str, salt: str) -> int:
    """Return the subject's stable bucket in [0, 100) for this salt (the model name)."""
    digest = hashlib.sha256(f"{salt}:{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def choose_variant(subject: str, model_name: str, rollout_percentage: int) -> Variant:
    """Return ``challenger`` for the first ``rollout_percentage`` buckets, else ``champion``."""
    if not 0 <= rollout_percentage <= 100:
        raise ValueError(f"rollout_percentage must be in [0, 100], got {rollout_percentage}")
    return "challenger" if bucket_of(subject, model_name) < rollout_percentage else "champion"


def flag_name(model_name: str) -> str:
    """Return the ``ai_feature_flags.feature_name`` of a model's A/B test."""
    return f"ab_test:{model_name}"


def parse_rollouts(user_config: dict[str, Any]) -> dict[str, int]:
    """Read and check ``{"ab_rollout": {model: percentage}}`` from a deployment's user_config.

    Raises:
        ValueError: When a percentage is not an integer in [0, 100].
    """
    rollouts = {}
    for model, value in (user_config.get("ab_rollout") or {}).items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            raise ValueError(f"ab_rollout[{model!r}] must be an integer 0-100, got {value!r}")
        rollouts[str(model)] = value
    return rollouts


def store_rollouts(url: str, rollouts: dict[str, int], generation: Any = None) -> None:
    """Record the live split of each model in ``ai_feature_flags`` (one transaction).

    Args:
        url: Database URL.
        rollouts: Model name -> challenger percentage.
        generation: The ``models_generation`` the replicas run (kept in each flag's config).
    """
    with session_scope(url) as session:
        flags = {
            flag.feature_name: flag
            for flag in session.scalars(
                select(AIFeatureFlag).where(AIFeatureFlag.feature_name.like(flag_name("%")))
            )
        }
        for name, flag in flags.items():  # models left out of the split get no challenger traffic
            if name.split(":", 1)[1] not in rollouts:
                flag.is_enabled, flag.rollout_percentage = False, 0
                flag.config = {**(flag.config or {}), "models_generation": generation}
        for model, percentage in rollouts.items():
            name = flag_name(model)
            flag = flags.get(name)
            if flag is None:
                flag = AIFeatureFlag(feature_name=name)
                session.add(flag)
            flag.is_enabled = percentage > 0
            flag.rollout_percentage = percentage
            flag.config = {
                "model_name": model,
                "variants": ["champion", "challenger"],
                "models_generation": generation,
            }


def load_rollouts(url: str) -> tuple[dict[str, int], Any]:
    """Return the recorded split of every model and the latest recorded models generation."""
    with session_scope(url) as session:
        flags = session.scalars(
            select(AIFeatureFlag)
            .where(AIFeatureFlag.feature_name.like(flag_name("%")))
            .order_by(AIFeatureFlag.updated_at)
        ).all()
        rollouts, generation = {}, None
        for flag in flags:
            config = flag.config or {}
            model = config.get("model_name") or flag.feature_name.split(":", 1)[1]
            rollouts[model] = int(flag.rollout_percentage or 0)
            generation = config.get("models_generation", generation)
    return rollouts, generation
