"""Action recommendations for one contact: the action-uplift model's ranked lifts.

The model (:mod:`training.action_uplift`, trained by the ``action-uplift-training`` flow) is
read from ``<data_dir>/models/action_uplift/model.joblib`` and kept per process until the file
changes. The lifts are associational (:data:`training.action_uplift_data.CAVEAT`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from training.action_uplift import ActionUpliftModel, default_model_path
from training.action_uplift_data import CAVEAT, contact_features_from_db
from training.next_actions import NextAction

MODEL_REF = "action_uplift (T-learner)"


@lru_cache(maxsize=2)
def _load(path: str, mtime: float) -> ActionUpliftModel:
    return ActionUpliftModel.load(Path(path))


def load_uplift_model(data_dir: Path) -> ActionUpliftModel:
    """Return the saved uplift model (reloaded when the file changes).

    Raises:
        FileNotFoundError: When no model was trained (run ``action-uplift-training``).
    """
    path = default_model_path(data_dir)
    if not path.exists():
        raise FileNotFoundError(
            f"no action-uplift model at {path}: run the action-uplift-training flow "
            "(`haste workflows train-uplift`)"
        )
    return _load(str(path), path.stat().st_mtime)


def recommend_actions(
    url: str,
    data_dir: Path,
    contact_id: uuid.UUID | str,
    top: int,
    now: dt.datetime,
    engagement: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Rank the candidate actions for a contact by estimated lift in conversion.

    Args:
        url: Database URL.
        data_dir: Data folder holding the model.
        contact_id: The contact.
        top: Actions returned.
        now: Decision time.
        engagement: The contact's email/web features (the online store's row), if known.

    Raises:
        FileNotFoundError: No model trained.
        LookupError: Unknown contact.
    """
    model = load_uplift_model(data_dir)
    features = contact_features_from_db(url, contact_id, now, engagement=engagement)
    if features is None:
        raise LookupError(f"contact {contact_id} not found in the CRM")
    lifts = model.recommend(features, top=top)[0]
    return {
        "contact_id": str(contact_id),
        "model": MODEL_REF,
        "actions": [lift.to_dict() for lift in lifts],
        "caveat": CAVEAT,
    }


def uplift_next_actions(
    url: str,
    data_dir: Path,
    contact_id: uuid.UUID,
    now: dt.datetime,
    engagement: Mapping[str, Any] | None = None,
    top: int = 1,
) -> list[NextAction]:
    """Return the best uplift suggestions as next best actions (none without a model)."""
    try:
        model = load_uplift_model(data_dir)
    except FileNotFoundError:
        return []
    features = contact_features_from_db(url, contact_id, now, engagement=engagement)
    if features is None:
        return []
    return model.to_next_actions(features, top=top)
