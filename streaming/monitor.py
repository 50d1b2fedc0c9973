"""Streaming monitor: drift and group-gap alerts on the scores the consumers store.

Every ``interval_s`` seconds :class:`StreamMonitor` runs :func:`check_stream` in a thread:

* the window is the latest ``window`` rows of ``score_changes`` (optionally of one model
  version), each with the audited attribute of its contact (``contacts.gender``);
* ``score_drift``: PSI of the window's 0-100 scores against the reference, the scores the model
  gives to its own training rows (:func:`reference_scores`), on quantile bins of the reference
  (:func:`monitoring.stream_checks.score_psi`); raised when ``psi >= psi_threshold``;
* ``group_gap``: largest difference of mean score between groups of at least
  ``min_group_size`` scores (:func:`monitoring.stream_checks.group_gap`); raised when
  ``gap > group_gap_threshold``;
* an alert is written to ``stream_alerts`` unless one of the same kind for the same model was
  written within ``cooldown_s``.

``score_changes`` has no model-name column: the engine streams a single model
(``configs/streaming.yaml`` ``scoring.model_name``), so the window holds every row unless a
``model_version`` is given (:meth:`StreamMonitor.from_registry` passes the champion's). The
thresholds are the ``streaming`` section of ``configs/monitoring.yaml``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from haste.db.models import Contact, as_utc
from haste.db.session import session_scope
from haste.db.stream_tables import ScoreChange, StreamAlert
from haste.settings import CONFIG_DIR
from monitoring.stream_checks import group_gap, group_stats, score_psi

logger = logging.getLogger("haste.streaming")

#: Alert kinds written to ``stream_alerts``.
SCORE_DRIFT = "score_drift"
GROUP_GAP = "group_gap"

#: Group of a contact whose audited attribute is missing (as in the training fairness audit).
MISSING_GROUP = "Unknown"

#: The monitoring config file (shared with the batch monitor, :mod:`monitoring.drift`).
MONITORING_YAML = CONFIG_DIR / "monitoring.yaml"

#: Section of ``configs/monitoring.yaml`` read by :func:`load_stream_monitor_config`.
CONFIG_SECTION = "streaming"


class StreamMonitorConfig(BaseModel):
    """The ``streaming`` section of ``configs/monitoring.yaml`` (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: int = Field(default=500, ge=10)
    min_scores: int = Field(default=200, ge=1)
    psi_threshold: float = Field(default=0.2, gt=0)
    psi_bins: int = Field(default=10, ge=2, le=100)
    group_column: str = "gender"
    group_gap_threshold: float = Field(default=10.0, ge=0)
    min_group_size: int = Field(default=30, ge=1)
    cooldown_s: float = Field(default=300.0, ge=0)

    @field_validator("group_column")
    @classmethod
    def _check_group_column(cls, value: str) -> str:
        """The audited attribute must be a column of ``contacts``."""
        if value not in Contact.__table__.columns:
            raise ValueError(f"contacts has no column {value!r}")
        return value

    @model_validator(mode="after")
    def _check_window(self) -> StreamMonitorConfig:
        """A check needs ``min_scores`` scores out of at most ``window``."""
        if self.min_scores > self.window:
            raise ValueError(f"min_scores {self.min_scores} exceeds window {self.window}")
        return self


def load_stream_monitor_config(path: Path | None = None) -> StreamMonitorConfig:
    """Read the ``streaming`` section of ``configs/monitoring.yaml`` (or ``path``).

    Args:
        path: YAML file; defaults to :data:`MONITORING_YAML`.

    Returns:
        The validated section (defaults when the section is absent).
    """
    raw = yaml.safe_load(Path(path or MONITORING_YAML).read_text(encoding="utf-8")) or {}
    return StreamMonitorConfig.model_validate(raw.get(CONFIG_SECTION) or {})


# --- reference ---------------------------------------------------------------------------------


def training_rows(
    model_name: str, data_dir: Path | None = None, table: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Return the model inputs of the rows the model was trained on.

    The training flow fits on the training part of a seeded, stratified split of the feature
    table ``<data_dir>/features/<model>.parquet`` (:func:`training.train.fit_models`); the same
    split of the same table gives back those rows.

    Args:
        model_name: Model (``configs/models/<name>.yaml``).
        data_dir: Data folder; defaults to the platform's ``data_dir``.
        table: The feature table itself (skips the parquet read).

    Returns:
        The training rows' input columns (ids, target and sensitive columns left out).
    """
    from training.config import load_training_config
    from training.dataset import prepare_labelled_data, split_labelled_data

    config = load_training_config(model_name)
    if table is None:
        from pipelines.stages import PipelinePaths

        if data_dir is None:
            from haste.settings import get_settings

            data_dir = get_settings().data_dir
        table = pd.read_parquet(PipelinePaths(Path(data_dir)).features(model_name))
    data = prepare_labelled_data(table, config)
    train, _ = split_labelled_data(
        data, config.split.test_size, config.split.random_state, config.split.group_by_id
    )
    return train.features


def scores_of(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """Return the 0-100 scores a fitted pipeline gives to ``frame``'s rows (as the API does)."""
    from training.scoring import probability_to_score

    probabilities = model.predict_proba(frame)[:, 1]
    return np.asarray([probability_to_score(float(p)) for p in probabilities], dtype=float)


def reference_scores(
    model: Any,
    model_name: str = "lead_scoring_crm",
    data_dir: Path | None = None,
    table: pd.DataFrame | None = None,
) -> np.ndarray:
    """Return the training reference of the score distribution: the model's scores of its rows.

    Args:
        model: The fitted pipeline (e.g. the champion from :func:`training.registry
            .load_alias_model`); ``predict_proba`` on the raw feature columns.
        model_name: Model whose feature table and split are used.
        data_dir: Data folder; defaults to the platform's ``data_dir``.
        table: The feature table itself (skips the parquet read).

    Returns:
        One 0-100 score per training row.
    """
    return scores_of(model, training_rows(model_name, data_dir, table))


# --- checks ------------------------------------------------------------------------------------


def _utc(value: dt.datetime | None) -> dt.datetime:
    """Return ``value`` as an aware UTC time (None: now)."""
    return dt.datetime.now(dt.UTC) if value is None else as_utc(value)


def read_window(
    db_url: str, config: StreamMonitorConfig, model_version: str | None = None
) -> tuple[np.ndarray, list[str]]:
    """Return the latest ``config.window`` streamed scores and their contacts' groups.

    Args:
        db_url: Database URL.
        config: Monitor config (window size, audited column).
        model_version: Only rows scored by this version (None: every row).

    Returns:
        ``(scores, groups)``, newest first; a contact without the attribute (or unknown to
        ``contacts``) is in :data:`MISSING_GROUP`.
    """
    group = getattr(Contact, config.group_column)
    query = select(ScoreChange.score, group).outerjoin(
        Contact, Contact.id == ScoreChange.contact_id
    )
    if model_version is not None:
        query = query.where(ScoreChange.model_version == model_version)
    query = query.order_by(ScoreChange.created_at.desc(), ScoreChange.id.desc()).limit(
        config.window
    )
    with session_scope(db_url) as session:
        rows = session.execute(query).all()
    scores = np.asarray([row[0] for row in rows], dtype=float)
    groups = [MISSING_GROUP if row[1] in (None, "") else str(row[1]) for row in rows]
    return scores, groups


def measure_window(
    scores: np.ndarray, groups: list[str], reference: np.ndarray, config: StreamMonitorConfig
) -> list[dict[str, Any]]:
    """Return both measurements of a window, each with its threshold and whether it passed.

    Args:
        scores: The window's scores.
        groups: Their contacts' groups.
        reference: Reference scores.
        config: Monitor config.

    Returns:
        ``[{"kind", "value", "threshold", "passed", "details"}, ...]`` (score drift, group gap).
    """
    psi, psi_details = score_psi(reference, scores, config.psi_bins)
    gap, means = group_gap(scores, groups, config.min_group_size)
    stats = group_stats(scores, groups)
    gap_details = {
        "column": config.group_column,
        "min_group_size": config.min_group_size,
        "audited": sorted(means),
        "groups": {
            name: {"mean": round(float(stat["mean"]), 3), "count": int(stat["count"])}
            for name, stat in stats.items()
        },
    }
    return [
        {
            "kind": SCORE_DRIFT,
            "value": psi,
            "threshold": config.psi_threshold,
            "passed": psi >= config.psi_threshold,
            "details": {**psi_details, "bins": config.psi_bins},
        },
        {
            "kind": GROUP_GAP,
            "value": gap,
            "threshold": config.group_gap_threshold,
            "passed": len(means) >= 2 and gap > config.group_gap_threshold,
            "details": gap_details,
        },
    ]


def alert_dict(alert: StreamAlert) -> dict[str, Any]:
    """Return a ``stream_alerts`` row as a JSON-ready dict."""
    return {
        "id": str(alert.id),
        "kind": alert.kind,
        "model_name": alert.model_name,
        "value": round(float(alert.value), 6),
        "threshold": float(alert.threshold),
        "window_size": int(alert.window_size),
        "details": dict(alert.details or {}),
        "created_at": _utc(alert.created_at).isoformat(),
    }


def _cooling_down(session: Session, kind: str, model_name: str, since: dt.datetime) -> bool:
    """Return whether an alert of ``kind`` for ``model_name`` was written after ``since``."""
    query = (
        select(StreamAlert.id)
        .where(StreamAlert.kind == kind)
        .where(StreamAlert.model_name == model_name)
        .where(StreamAlert.created_at > since)
        .limit(1)
    )
    return session.execute(query).first() is not None


def write_alerts(
    db_url: str,
    model_name: str,
    measurements: list[dict[str, Any]],
    window_size: int,
    cooldown_s: float,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """Write one ``stream_alerts`` row per passed measurement outside its cooldown.

    Args:
        db_url: Database URL.
        model_name: The watched model.
        measurements: Output of :func:`measure_window`.
        window_size: Scores in the window.
        cooldown_s: Seconds during which the same kind is not raised again for the model.
        now: Time of the check (the alerts' ``created_at``).

    Returns:
        The alerts written (:func:`alert_dict`).
    """
    since = now - dt.timedelta(seconds=cooldown_s)
    written: list[StreamAlert] = []
    with session_scope(db_url) as session:
        for measurement in measurements:
            if not measurement["passed"]:
                continue
            if _cooling_down(session, measurement["kind"], model_name, since):
                logger.debug("%s on %s: cooling down", measurement["kind"], model_name)
                continue
            alert = StreamAlert(
                kind=measurement["kind"],
                model_name=model_name,
                value=float(measurement["value"]),
                threshold=float(measurement["threshold"]),
                window_size=window_size,
                details=measurement["details"],
                created_at=now,
            )
            session.add(alert)
            written.append(alert)
        session.flush()
        return [alert_dict(alert) for alert in written]


def check_stream(
    db_url: str,
    model_name: str,
    reference: np.ndarray,
    config: StreamMonitorConfig | None = None,
    now: dt.datetime | None = None,
    model_version: str | None = None,
) -> list[dict[str, Any]]:
    """Check the latest streamed scores; write and return the alerts they raise.

    Args:
        db_url: Database URL.
        model_name: The watched model (the alerts' ``model_name``).
        reference: Reference scores (:func:`reference_scores`).
        config: Monitor config; defaults to :func:`load_stream_monitor_config`.
        now: Time of the check (default: now, UTC).
        model_version: Only scores of this version (None: every ``score_changes`` row).

    Returns:
        The alerts written (:func:`alert_dict`); empty when the window holds fewer than
        ``min_scores`` scores, no threshold was passed or the passed ones are cooling down.
    """
    config = config or load_stream_monitor_config()
    now = _utc(now)
    scores, groups = read_window(db_url, config, model_version)
    if scores.size < config.min_scores:
        logger.debug(
            "%s: %d streamed scores, no check below %d", model_name, scores.size, config.min_scores
        )
        return []
    measurements = measure_window(scores, groups, np.asarray(reference, dtype=float), config)
    return write_alerts(db_url, model_name, measurements, int(scores.size), config.cooldown_s, now)


def recent_alerts(db_url: str, limit: int = 20) -> list[dict[str, Any]]:
    """Return the latest ``stream_alerts``, newest first (status command, dashboard).

    Args:
        db_url: Database URL.
        limit: Most alerts returned.

    Returns:
        :func:`alert_dict` of each alert.
    """
    query = (
        select(StreamAlert)
        .order_by(StreamAlert.created_at.desc(), StreamAlert.id.desc())
        .limit(limit)
    )
    with session_scope(db_url) as session:
        return [alert_dict(alert) for alert in session.scalars(query)]


# --- runner ------------------------------------------------------------------------------------


class StreamMonitor:
    """Periodic :func:`check_stream` of one model, one log line per alert.

    Args:
        db_url: Database URL.
        model_name: The watched model.
        reference: Reference scores (:func:`reference_scores`).
        config: Monitor config; defaults to :func:`load_stream_monitor_config`.
        model_version: Only scores of this version (None: every ``score_changes`` row).
    """

    def __init__(
        self,
        db_url: str,
        model_name: str,
        reference: np.ndarray,
        config: StreamMonitorConfig | None = None,
        model_version: str | None = None,
    ) -> None:
        self.db_url = db_url
        self.model_name = model_name
        self.reference = np.asarray(reference, dtype=float)
        self.config = config or load_stream_monitor_config()
        self.model_version = model_version
        self.checks = 0

    @classmethod
    def from_registry(
        cls,
        db_url: str,
        model_name: str = "lead_scoring_crm",
        config: StreamMonitorConfig | None = None,
        data_dir: Path | None = None,
    ) -> StreamMonitor:
        """Build a monitor of the champion: its training-row scores, its version's window.

        MLflow must already point at the registry (:func:`training.registry.configure_mlflow`).

        Raises:
            training.registry.NoChampionError: When the model has no champion.
        """
        from training.registry import CHAMPION, load_alias_model

        model, version = load_alias_model(model_name, CHAMPION)
        reference = reference_scores(model, model_name, data_dir)
        logger.info(
            "stream monitor of %s v%s: %d reference scores",
            model_name,
            version.version,
            reference.size,
        )
        return cls(db_url, model_name, reference, config, model_version=str(version.version))

    def check(self, now: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Run one check; log one line per alert written."""
        alerts = check_stream(
            self.db_url, self.model_name, self.reference, self.config, now, self.model_version
        )
        self.checks += 1
        for alert in alerts:
            logger.warning(
                "stream alert %s on %s: %.4f (threshold %s) over %d scores",
                alert["kind"],
                alert["model_name"],
                alert["value"],
                alert["threshold"],
                alert["window_size"],
            )
        return alerts

    async def run(self, stop: asyncio.Event, interval_s: float = 10.0) -> None:
        """Check every ``interval_s`` seconds (in a thread) until ``stop`` is set.

        A failed check (database down, ...) is logged and retried at the next interval.
        """
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.check)
            except Exception:
                logger.exception("stream check of %s failed", self.model_name)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            except TimeoutError:
                continue
