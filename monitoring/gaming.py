"""Score-gaming detection: flags with evidence, and the lead score with and without them.

For each contact, the engagement of its last ``window_days`` (up to its newest event, or up to
``until``) goes through the detectors of :mod:`monitoring.gaming_rules`. A flagged contact's
lead features are then computed twice with :mod:`features.extractors`, from all its events and
from its events minus the suspicious ones (point-in-time at the window's end), and both rows are
scored by the champion ``lead_scoring_crm`` (:func:`champion_scorer`, or the model deployment
when served). Without a champion the flags still stand; the scores are ``None`` with the reason.

Results are stored in the ``predictions`` table (``prediction_type`` ``score_gaming``, entity
``contact``): ``prediction_value`` holds ``suspicious_events`` (the count), the flags with their
evidence, the suspicious event ids and the scores with and without them.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.gaming_log import EngagementData, engagement_log, platform_data
from monitoring.gaming_rules import (
    FLAG_KINDS,
    ContactEvents,
    GamingConfig,
    GamingFlag,
    detect_gaming,
    load_gaming_config,
    suspicious_ids,
)

logger = logging.getLogger(__name__)

#: ``predictions.prediction_type`` of the stored flags.
PREDICTION_TYPE = "score_gaming"
#: Scores rows of lead features: ``(rows, contact ids) -> [{"score", "probability"...}]``.
ScoreRows = Callable[[list[dict[str, Any]], list[str]], list[dict[str, Any]]]


@dataclass(frozen=True)
class LeadModel:
    """A lead model that scores feature rows (the champion, or the served deployment).

    Attributes:
        ref: ``name@vN`` of the model.
        score_rows: Scores rows of lead features.
    """

    ref: str
    score_rows: ScoreRows


def champion_scorer(model_name: str = "lead_scoring_crm") -> LeadModel:
    """Load the champion of ``model_name`` from the registry as a :class:`LeadModel`.

    Raises:
        training.registry.NoChampionError: When the model has no champion.
    """
    from training.registry import load_alias_model
    from training.scoring import LeadScorer

    model, version = load_alias_model(model_name)
    scorer = LeadScorer(model, top_k=3)

    def score_rows(rows: list[dict[str, Any]], ids: list[str]) -> list[dict[str, Any]]:
        frame = pd.DataFrame(rows)
        return [s.to_dict(include_explanation=False) for s in scorer.score(frame, ids)]

    return LeadModel(f"{model_name}@v{version.version}", score_rows)


@dataclass
class GamingReport:
    """One contact's flags, evidence and lead score with and without the suspicious events.

    Attributes:
        contact_id: The contact (lower-case UUID text).
        window_start: First moment examined (ISO, UTC).
        window_end: End of the window, exclusive (ISO, UTC).
        events: Engagement events (sends excluded) in the window.
        flags: What was found.
        score_with: Lead score (0-100) from every event (None: no model, see ``score_note``).
        score_without: Lead score without the suspicious events.
        probability_with: Probability behind ``score_with``.
        probability_without: Probability behind ``score_without``.
        model: ``name@vN`` of the scoring model.
        score_note: Why the scores are missing, if they are.
    """

    contact_id: str
    window_start: str
    window_end: str
    events: int
    flags: list[GamingFlag] = field(default_factory=list)
    score_with: int | None = None
    score_without: int | None = None
    probability_with: float | None = None
    probability_without: float | None = None
    model: str | None = None
    score_note: str | None = None

    @property
    def flagged(self) -> bool:
        """Whether any detector fired."""
        return bool(self.flags)

    @property
    def suspicious_event_ids(self) -> list[str]:
        """Distinct suspicious events over every flag."""
        return suspicious_ids(self.flags)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the stored ``prediction_value`` and the API answer)."""
        delta = (
            None
            if self.score_with is None or self.score_without is None
            else self.score_with - self.score_without
        )
        return {
            "contact_id": self.contact_id,
            "flagged": self.flagged,
            "suspicious_events": len(self.suspicious_event_ids),
            "flag_kinds": [flag.kind for flag in self.flags],
            "flags": [flag.to_dict() for flag in self.flags],
            "suspicious_event_ids": self.suspicious_event_ids,
            "events_in_window": self.events,
            "window": {"start": self.window_start, "end": self.window_end},
            "score_with": self.score_with,
            "score_without": self.score_without,
            "score_inflation": delta,
            "probability_with": _round(self.probability_with),
            "probability_without": _round(self.probability_without),
            "model": self.model,
            "score_note": self.score_note,
        }


def _round(value: float | None) -> float | None:
    """Round a probability for display (None stays None)."""
    return None if value is None else round(float(value), 4)


def _iso(moment: pd.Timestamp) -> str:
    """Return a UTC-naive timestamp as ISO text with its zone."""
    return pd.Timestamp(moment).tz_localize("UTC").isoformat()


def _naive(moment: dt.datetime | pd.Timestamp | None) -> pd.Timestamp | None:
    """Return a time as a UTC-naive timestamp (naive input is read as UTC)."""
    if moment is None:
        return None
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def detect_contacts(
    data: EngagementData,
    config: GamingConfig,
    until: dt.datetime | None = None,
    contact_ids: Sequence[str] | None = None,
) -> list[GamingReport]:
    """Run the detectors over each contact's window (no scores yet).

    Args:
        data: Engagement data (:mod:`monitoring.gaming_log`).
        config: Thresholds.
        until: End of every window (exclusive); None: each contact's newest event (included).
        contact_ids: Contacts to examine (None: every contact with events).

    Returns:
        One report per examined contact (unflagged ones included), in id order.
    """
    log = engagement_log(data)
    end_at = _naive(until)
    if end_at is not None:
        log = log[log["occurred_at"] < end_at]
    log = log.assign(t=_epoch_seconds(log["occurred_at"]))
    log = log.sort_values(["contact_id", "t", "event_id"], kind="stable").reset_index(drop=True)
    arrays = ContactEvents.from_frame(log.iloc[:0]) if log.empty else _as_arrays(log)
    contacts = log["contact_id"].to_numpy(dtype=object)
    bounds = _bounds(contacts)
    wanted = sorted(bounds) if contact_ids is None else [str(c).lower() for c in contact_ids]
    span = config.window_days * 86_400.0
    now = pd.Timestamp(dt.datetime.now(dt.UTC).replace(tzinfo=None))
    reports = []
    for contact in wanted:
        lo, hi = bounds.get(contact, (0, 0))
        if end_at is not None:
            end = end_at
        elif hi > lo:
            end = _stamp(arrays.t[hi - 1] + 1.0)
        else:
            end = now
        end_s = _epoch(end)
        lo = lo + int(np.searchsorted(arrays.t[lo:hi], end_s - span, side="left"))
        window = _slice(arrays, lo, hi)
        flags = detect_gaming(window, config) if hi > lo else []
        reports.append(
            GamingReport(
                contact_id=contact,
                window_start=_iso(end - pd.Timedelta(seconds=span)),
                window_end=_iso(end),
                events=int((window.kind != "sent").sum()),
                flags=flags,
            )
        )
    return reports


def _epoch_seconds(times: pd.Series) -> np.ndarray:
    """Return UTC-naive times as float epoch seconds."""
    return pd.to_datetime(times).to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9


def _epoch(moment: pd.Timestamp) -> float:
    """Return a UTC-naive timestamp as float epoch seconds."""
    return pd.Timestamp(moment).value / 1e9


def _stamp(seconds: float) -> pd.Timestamp:
    """Return float epoch seconds as a UTC-naive timestamp."""
    return pd.Timestamp(round(seconds * 1e9))


def _as_arrays(log: pd.DataFrame) -> ContactEvents:
    """Return the sorted log as arrays (no re-sorting: the order is the log's)."""
    return ContactEvents(
        event_id=log["event_id"].astype(str).to_numpy(dtype=object),
        kind=log["kind"].to_numpy(dtype=object),
        t=log["t"].to_numpy(dtype=float),
        source=log["source"].to_numpy(dtype=object),
        page=log["page"].to_numpy(dtype=object),
        duration_s=pd.to_numeric(log["duration_s"], errors="coerce").to_numpy(dtype=float),
        duration_recorded=log["duration_recorded"].fillna(False).to_numpy(dtype=bool),
    )


def _bounds(contacts: np.ndarray) -> dict[str, tuple[int, int]]:
    """Return each contact's ``[start, end)`` rows in a log sorted by contact."""
    if not len(contacts):
        return {}
    change = np.flatnonzero(contacts[1:] != contacts[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(contacts)]])
    return {str(contacts[s]): (int(s), int(e)) for s, e in zip(starts, ends, strict=True)}


def _slice(arrays: ContactEvents, lo: int, hi: int) -> ContactEvents:
    """Return rows ``[lo, hi)`` of the arrays."""
    return ContactEvents(**{f.name: getattr(arrays, f.name)[lo:hi] for f in fields(ContactEvents)})


def lead_feature_rows(data: EngagementData, as_of: pd.Series) -> pd.DataFrame:
    """Compute the lead model's features (as :func:`features.extractors.build_lead_table` does).

    Args:
        data: Engagement data holding the contacts.
        as_of: Cut-off per contact (UTC-naive), indexed by lower-case contact id.

    Returns:
        One row of every lead feature column per ``as_of`` entry, indexed like it.
    """
    from features.extractors import (
        extract_company_data,
        extract_email_engagement,
        extract_social_signals,
        extract_web_activity,
    )

    contacts = data.contacts.set_index("id").reindex(pd.Index(as_of.index, name="id"))
    contacts = contacts.reset_index()
    parts = [
        extract_email_engagement(data.email, as_of),
        extract_web_activity(data.web, as_of),
        extract_social_signals(data.social, as_of),
        extract_company_data(contacts, data.companies),
    ]
    frame = pd.concat([part.reset_index(drop=True) for part in parts], axis=1)
    frame.index = as_of.index
    return frame


def _score(model: LeadModel, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Score feature rows (NaN as None, numpy numbers as Python ones)."""
    return model.score_rows(feature_records(frame), [str(i) for i in frame.index])


def add_scores(
    reports: list[GamingReport],
    data: EngagementData,
    model: LeadModel | None,
    *,
    note: str | None = None,
    all_contacts: bool = False,
) -> None:
    """Fill the scores with and without the suspicious events (flagged contacts only).

    Args:
        reports: Reports of :func:`detect_contacts` (updated in place).
        data: The engagement data they were detected on.
        model: The lead model (None: scores stay None with ``note``).
        note: Why there is no model.
        all_contacts: Score unflagged contacts too (their two scores are equal).
    """
    chosen = [r for r in reports if r.flagged or all_contacts]
    if not chosen:
        return
    if model is None:
        for report in chosen:
            report.score_note = note or "no lead model to score with"
        return
    ids = [r.contact_id for r in chosen]
    as_of = pd.Series(
        [_naive(pd.Timestamp(r.window_end)) for r in chosen], index=pd.Index(ids), name="as_of"
    )
    subset = data.restrict(ids)
    with_rows = lead_feature_rows(subset, as_of)
    dropped = [event for r in chosen for event in r.suspicious_event_ids]
    without_rows = lead_feature_rows(subset.without(dropped), as_of)
    flagged = [i for i, r in enumerate(chosen) if r.flagged]
    scored = _score(model, pd.concat([with_rows, without_rows.iloc[flagged]]))
    for report, result in zip(chosen, scored[: len(chosen)], strict=True):
        report.score_with = report.score_without = int(result["score"])
        report.probability_with = report.probability_without = float(result["probability"])
        report.model = model.ref
    for i, result in zip(flagged, scored[len(chosen) :], strict=True):
        chosen[i].score_without = int(result["score"])
        chosen[i].probability_without = float(result["probability"])


def load_lead_model(config: GamingConfig) -> tuple[LeadModel | None, str | None]:
    """Return the champion lead model, or None with the reason (logged)."""
    from training.registry import NoChampionError

    try:
        return champion_scorer(config.model_name), None
    except NoChampionError as error:
        logger.warning("gaming scores without a model: %s", error)
        return None, str(error)


@dataclass(frozen=True)
class ScanResult:
    """A scan of every contact.

    Attributes:
        contacts: Contacts examined.
        flagged: Reports of the flagged contacts (with their scores).
        by_kind: Flagged contacts per flag kind.
        stored: Prediction rows written.
        model: ``name@vN`` of the scoring model (None: none).
        score_note: Why there are no scores, if there are none.
    """

    contacts: int
    flagged: list[GamingReport]
    by_kind: dict[str, int]
    stored: int
    model: str | None
    score_note: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the flagged contacts' ids and score changes)."""
        return {
            "contacts": self.contacts,
            "flagged": len(self.flagged),
            "by_kind": self.by_kind,
            "stored": self.stored,
            "model": self.model,
            "score_note": self.score_note,
            "contacts_flagged": [
                {
                    "contact_id": r.contact_id,
                    "flags": [f.kind for f in r.flags],
                    "suspicious_events": len(r.suspicious_event_ids),
                    "score_with": r.score_with,
                    "score_without": r.score_without,
                }
                for r in self.flagged
            ],
        }


def count_by_kind(reports: Sequence[GamingReport]) -> dict[str, int]:
    """Return flagged contacts per flag kind (every kind listed)."""
    return {kind: sum(kind in [f.kind for f in r.flags] for r in reports) for kind in FLAG_KINDS}


def store_reports(url: str, reports: Sequence[GamingReport]) -> int:
    """Store reports as ``score_gaming`` predictions of their contacts; return the rows written."""
    from haste.records import record_batch_predictions

    rows = [(uuid.UUID(r.contact_id), r.to_dict(), None) for r in reports]
    models = {r.model for r in reports}
    version = models.pop() if len(models) == 1 else None
    return record_batch_predictions(url, "contact", PREDICTION_TYPE, version, rows)  # type: ignore[arg-type]


def scan_contacts(
    url: str,
    crm_dir: Path,
    days: float | None = None,
    until: dt.datetime | None = None,
    config: GamingConfig | None = None,
    model: LeadModel | None = None,
    store: bool = True,
) -> ScanResult:
    """Examine every contact of the platform, score and store the flagged ones.

    Args:
        url: Database URL (streamed events, contacts, predictions).
        crm_dir: The stored CRM's folder.
        days: Window in days (default: the config's ``window_days``).
        until: End of the windows (default: each contact's newest event).
        config: Thresholds (default: ``configs/monitoring.yaml``).
        model: Lead model (default: the champion; none: flags without scores).
        store: Write the flagged contacts to ``predictions``.

    Returns:
        The scan's summary and flagged reports.
    """
    config = config or load_gaming_config()
    if days is not None:
        config = config.model_copy(update={"window_days": float(days)})
    data = platform_data(url, crm_dir)
    reports = detect_contacts(data, config, until)
    flagged = [r for r in reports if r.flagged]
    note = None
    if flagged and model is None:
        model, note = load_lead_model(config)
    add_scores(flagged, data, model, note=note)
    stored = store_reports(url, flagged) if store and flagged else 0
    return ScanResult(
        contacts=len(reports),
        flagged=flagged,
        by_kind=count_by_kind(flagged),
        stored=stored,
        model=model.ref if model is not None else None,
        score_note=note,
    )


def contact_known(data: EngagementData, contact_id: str) -> bool:
    """Whether the contact is in the CRM (database or stored CRM)."""
    return str(contact_id).lower() in set(data.contacts["id"])


def inspect_contact(
    url: str,
    crm_dir: Path,
    contact_id: uuid.UUID,
    config: GamingConfig | None = None,
) -> tuple[GamingReport, pd.DataFrame, pd.DataFrame] | None:
    """Detect one contact's flags and compute its feature rows with and without them.

    The scoring is left to the caller (the gateway scores through the model deployment).

    Args:
        url: Database URL.
        crm_dir: The stored CRM's folder.
        contact_id: The contact.
        config: Thresholds (default: ``configs/monitoring.yaml``).

    Returns:
        ``(report, row with, row without)`` (one-row frames of lead features), or None when
        the contact is not in the CRM.
    """
    config = config or load_gaming_config()
    data = platform_data(url, crm_dir, [contact_id])
    key = str(contact_id).lower()
    if not contact_known(data, key):
        return None
    report = detect_contacts(data, config, contact_ids=[key])[0]
    as_of = pd.Series([_naive(pd.Timestamp(report.window_end))], index=pd.Index([key]))
    with_row = lead_feature_rows(data, as_of)
    without_row = lead_feature_rows(data.without(report.suspicious_event_ids), as_of)
    return report, with_row, without_row


def contact_report(
    url: str,
    crm_dir: Path,
    contact_id: uuid.UUID,
    config: GamingConfig | None = None,
    model: LeadModel | None = None,
) -> GamingReport | None:
    """Return one contact's flags with its scores (the champion's unless ``model`` is given).

    Args:
        url: Database URL.
        crm_dir: The stored CRM's folder.
        contact_id: The contact.
        config: Thresholds (default: ``configs/monitoring.yaml``).
        model: Lead model (default: the champion; none: flags with the reason).

    Returns:
        The report, or None when the contact is not in the CRM.
    """
    config = config or load_gaming_config()
    found = inspect_contact(url, crm_dir, contact_id, config)
    if found is None:
        return None
    report, with_row, without_row = found
    note = None
    if model is None:
        model, note = load_lead_model(config)
    if model is None:
        report.score_note = note
        return report
    apply_scores(report, model.ref, _score(model, pd.concat([with_row, without_row])))
    return report


def apply_scores(report: GamingReport, ref: str, scored: Sequence[dict[str, Any]]) -> None:
    """Set a report's scores from the model's answers for ``[with, without]``."""
    report.model = ref
    report.score_with, report.score_without = (int(s["score"]) for s in scored)
    report.probability_with, report.probability_without = (float(s["probability"]) for s in scored)


def feature_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return feature rows as plain dicts (NaN as None) for a model deployment."""
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in frame.astype(object).to_dict("records")
    ]


def stored_reports(url: str, contact_id: uuid.UUID | None = None, limit: int = 20) -> list[dict]:
    """Return the latest stored ``score_gaming`` predictions, newest first.

    Args:
        url: Database URL.
        contact_id: One contact's (None: every contact's).
        limit: Most rows returned.

    Returns:
        Each row's ``prediction_value`` with ``created_at`` (ISO).
    """
    from sqlalchemy import select

    from haste.db.models import Prediction
    from haste.db.session import session_scope

    query = (
        select(Prediction.prediction_value, Prediction.created_at)
        .where(Prediction.prediction_type == PREDICTION_TYPE)
        .order_by(Prediction.created_at.desc(), Prediction.id)
        .limit(limit)
    )
    if contact_id is not None:
        query = query.where(Prediction.entity_id == contact_id)
    with session_scope(url) as session:
        rows = session.execute(query).all()
    return [{**(value or {}), "created_at": created.isoformat()} for value, created in rows]


__all__ = [
    "PREDICTION_TYPE",
    "GamingReport",
    "LeadModel",
    "ScanResult",
    "add_scores",
    "apply_scores",
    "champion_scorer",
    "contact_report",
    "count_by_kind",
    "detect_contacts",
    "feature_records",
    "inspect_contact",
    "lead_feature_rows",
    "scan_contacts",
    "store_reports",
    "stored_reports",
]
