"""Trigger probabilities of the live contacts, for the workflow engine's prediction threshold.

:func:`build_current_trigger_features` rebuilds, at any "now", the feature rows the
``trigger_prediction`` model was trained on (one per contact created before ``now`` and not yet
converted, events strictly before ``now``); :func:`predict_triggers` scores them with a fitted
model (the generic flow's pipeline, e.g. from :func:`training.registry.load_alias_model`).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.trigger_table import ID_COLUMN, SNAPSHOT_COLUMN, extract_trigger_features

if TYPE_CHECKING:
    from pipelines.synthetic_store import SyntheticCRM

#: Registered name of the trigger model (``configs/models/trigger_prediction.yaml``).
MODEL_NAME = "trigger_prediction"


def build_current_trigger_features(crm: SyntheticCRM, now: pd.Timestamp | str) -> pd.DataFrame:
    """Build one feature row per live contact at ``now``.

    Args:
        crm: The CRM frames (as read from the database or :func:`pipelines.synthetic_store.
            read_crm`); ``labels`` is never read.
        now: The scoring time; only events strictly before it count.

    Returns:
        ``contact_id``, ``snapshot_at`` (= ``now``), the trigger table's feature columns and
        ``gender`` (ignored by the model), without label columns.

    """
    return extract_trigger_features(crm, pd.Timestamp(now))


def predict_triggers(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """Return each contact's probability of a trigger (reply, meeting or stage move) soon.

    When ``frame`` holds several snapshots of a contact, only its latest one is scored.

    Args:
        model: A fitted classifier with ``predict_proba`` over the raw feature columns (the
            generic flow's ``encode -> model`` pipeline picks its own columns).
        frame: Rows from :func:`build_current_trigger_features` (or the trigger table).

    Returns:
        ``contact_id``, ``snapshot_at`` (when given) and ``probability``, highest first.

    Raises:
        KeyError: When ``frame`` has no ``contact_id`` column.

    """
    if ID_COLUMN not in frame.columns:
        raise KeyError(f"frame needs a {ID_COLUMN!r} column")
    latest = frame
    if SNAPSHOT_COLUMN in frame.columns:
        latest = frame.sort_values(SNAPSHOT_COLUMN, kind="stable")
    latest = latest.drop_duplicates(ID_COLUMN, keep="last")
    keep = [column for column in (ID_COLUMN, SNAPSHOT_COLUMN) if column in latest.columns]
    out = latest[keep].copy()
    out["probability"] = model.predict_proba(latest)[:, 1] if len(latest) else []
    return out.sort_values("probability", ascending=False, kind="stable").reset_index(drop=True)


def store_trigger_predictions(settings: Any, now: pd.Timestamp | None = None) -> tuple[int, str]:
    """Score every live contact of the CRM with the champion trigger model and store it.

    The workflow engine's ``prediction.trigger_probability`` field reads these rows
    (``predictions``: entity ``contact``, type ``trigger_prediction``).

    Args:
        settings: Platform settings (data folder, database, MLflow).
        now: Scoring time (default: now, or the end of the CRM's history if that is earlier,
            so the seeded demo CRM is scored where its history ends).

    Returns:
        Rows stored and the model version.

    Raises:
        training.registry.NoChampionError: When no trigger model is registered.
    """
    from haste.records import record_batch_predictions
    from pipelines.stages import PipelinePaths
    from pipelines.synthetic_store import read_crm
    from training.calibration import calibration_of
    from training.registry import configure_mlflow, load_alias_model
    from training.scoring import confidence_of

    configure_mlflow(settings)
    model, version = load_alias_model(MODEL_NAME)
    crm = read_crm(PipelinePaths(settings.data_dir).crm_dir)
    end = pd.Timestamp(crm.activities["occurred_at"].max()) + pd.Timedelta(seconds=1)
    moment = now if now is not None else min(pd.Timestamp.now(tz="UTC").tz_localize(None), end)
    scored = predict_triggers(model, build_current_trigger_features(crm, moment))
    calibration = calibration_of(model)
    rows = [
        (
            uuid.UUID(str(cid)),
            {"probability": round(float(p), 4), "at": moment.isoformat()},
            confidence_of(float(p), calibration),
        )
        for cid, p in zip(scored[ID_COLUMN], scored["probability"], strict=True)
    ]
    stored = record_batch_predictions(
        settings.database_url, "contact", MODEL_NAME, str(version.version), rows
    )
    return stored, str(version.version)
