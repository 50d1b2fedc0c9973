"""What a condition reads: each contact's catalogue fields at a point in time.

One code path for the live engine (every field at ``now``) and the dry run (every field at
the moment a trigger fired in the past): :func:`load_frames` reads the CRM tables once,
:func:`build_contexts` computes the fields of :data:`workflows.catalog.FIELDS` for any
``(contact, moment)`` from what was known at that moment (activities, deals, scores and
predictions before it). Deal stages between creation and close are not in the history: an
open deal reads its current stage.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from haste.db.models import Activity, Company, Contact, Deal, LeadScore, Prediction, User
from haste.db.session import session_scope
from pipelines.time_columns import utc_naive
from training.scoring import band_of

#: Prediction type of the trigger model's stored predictions.
TRIGGER_PREDICTION_TYPE = "trigger_prediction"
_CONTACTED_TYPES = ("call", "meeting")
_DAY = np.timedelta64(86_400, "s")


@dataclass
class CRMFrames:
    """The CRM history the fields are computed from (UTC-naive ``datetime64`` columns)."""

    contacts: pd.DataFrame
    activities: pd.DataFrame
    deals: pd.DataFrame
    scores: pd.DataFrame
    predictions: pd.DataFrame


def _frame(rows: Sequence[Any], columns: Sequence[str], times: Sequence[str] = ()) -> pd.DataFrame:
    """Return query rows as a frame with its time columns made UTC-naive."""
    frame = pd.DataFrame([tuple(row) for row in rows], columns=list(columns))
    for column in times:
        frame[column] = utc_naive(frame[column])
    return frame


def load_frames(url: str, contact_ids: Sequence[uuid.UUID] | None = None) -> CRMFrames:
    """Read the CRM tables a context needs (all contacts, or only ``contact_ids``)."""

    def only(column: Any) -> Any:
        return True if contact_ids is None else column.in_(list(contact_ids))

    with session_scope(url) as session:
        contacts = session.execute(
            select(
                Contact.id,
                Contact.first_name,
                Contact.last_name,
                Contact.owner_id,
                User.team_id,
                Contact.lifecycle_stage,
                Contact.lead_source,
                Contact.job_title,
                Contact.ai_consent,
                Contact.created_at,
                Company.industry,
                Company.employee_count,
                Company.country,
            )
            .outerjoin(Company, Company.id == Contact.company_id)
            .outerjoin(User, User.id == Contact.owner_id)
            .where(only(Contact.id))
        ).all()
        activities = session.execute(
            select(
                Activity.contact_id, Activity.type, Activity.occurred_at, Activity.details
            ).where(Activity.contact_id.is_not(None), only(Activity.contact_id))
        ).all()
        deals = session.execute(
            select(
                Deal.id,
                Deal.contact_id,
                Deal.stage,
                Deal.amount,
                Deal.created_at,
                Deal.expected_close_date,
                Deal.closed_at,
                Deal.is_won,
            ).where(Deal.contact_id.is_not(None), only(Deal.contact_id))
        ).all()
        scores = session.execute(
            select(LeadScore.contact_id, LeadScore.score, LeadScore.calculated_at).where(
                only(LeadScore.contact_id)
            )
        ).all()
        predictions = session.execute(
            select(Prediction.entity_id, Prediction.prediction_value, Prediction.created_at).where(
                Prediction.entity_type == "contact",
                Prediction.prediction_type == TRIGGER_PREDICTION_TYPE,
                only(Prediction.entity_id),
            )
        ).all()
    activity_frame = _frame(
        activities, ["contact_id", "type", "occurred_at", "details"], ["occurred_at"]
    )
    direction = (
        activity_frame["details"].map(lambda d: d.get("direction") if isinstance(d, dict) else None)
        if len(activity_frame)
        else pd.Series([], dtype=object)
    )
    activity_frame["contacted"] = activity_frame["type"].isin(_CONTACTED_TYPES) | (
        (activity_frame["type"] == "email") & (direction == "outbound")
    )
    activity_frame["inbound_email"] = (activity_frame["type"] == "email") & (direction == "inbound")
    prediction_frame = _frame(predictions, ["contact_id", "value", "at"], ["at"])
    prediction_frame["probability"] = (
        prediction_frame["value"].map(
            lambda v: (
                float(v.get("probability"))
                if isinstance(v, dict) and "probability" in v
                else np.nan
            )
        )
        if len(prediction_frame)
        else pd.Series([], dtype=float)
    )
    deal_frame = _frame(
        deals,
        [
            "id",
            "contact_id",
            "stage",
            "amount",
            "created_at",
            "expected_close_date",
            "closed_at",
            "is_won",
        ],
        ["created_at", "closed_at"],
    )
    deal_frame["expected_close_date"] = pd.to_datetime(deal_frame["expected_close_date"])
    return CRMFrames(
        contacts=_frame(
            contacts,
            [
                "contact_id",
                "first_name",
                "last_name",
                "owner_id",
                "team_id",
                "lifecycle_stage",
                "lead_source",
                "job_title",
                "ai_consent",
                "created_at",
                "industry",
                "employee_count",
                "country",
            ],
            ["created_at"],
        ),
        activities=activity_frame.drop(columns=["details"]).sort_values(
            "occurred_at", kind="stable"
        ),
        deals=deal_frame.sort_values("created_at", kind="stable"),
        scores=_frame(scores, ["contact_id", "score", "at"], ["at"]).sort_values(
            "at", kind="stable"
        ),
        predictions=prediction_frame.drop(columns=["value"]).sort_values("at", kind="stable"),
    )


_NAT = np.datetime64("NaT", "s")


def _seconds(values: pd.Series) -> np.ndarray:
    """Return a datetime column as ``datetime64[s]`` (NaT kept)."""
    return values.to_numpy(dtype="datetime64[s]")


def _days(later: np.datetime64, earlier: np.datetime64) -> float | None:
    """Return the days between two moments (``None`` when ``earlier`` is NaT)."""
    if np.isnat(earlier):
        return None
    return round(float((later - earlier) / _DAY), 2)


def _grouped(frame: pd.DataFrame, columns: dict[str, Any]) -> dict[Any, dict[str, np.ndarray]]:
    """Return ``contact_id -> {name: array}`` for each column (converted by its function)."""
    out: dict[Any, dict[str, np.ndarray]] = {}
    if frame.empty:
        return out
    arrays = {name: convert(frame[name]) for name, convert in columns.items()}
    ids = frame["contact_id"].to_numpy()
    order = np.argsort(ids.astype(str), kind="stable")
    ids = ids[order]
    bounds = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1], True])
    for start, stop in itertools.pairwise(bounds):
        rows = order[start:stop]
        out[ids[start]] = {name: values[rows] for name, values in arrays.items()}
    return out


class ContextBuilder:
    """Computes contexts from :class:`CRMFrames`, with each contact's history indexed once.

    Each contact's activities, deals, scores and predictions are kept as small time-sorted
    NumPy arrays, so a context costs a few binary searches (tens of microseconds).
    """

    def __init__(self, frames: CRMFrames) -> None:
        self.frames = frames
        contacts = frames.contacts
        self._static: dict[Any, dict[str, Any]] = {}
        self._people: dict[Any, tuple[Any, Any, str]] = {}
        created = (
            _seconds(contacts["created_at"]) if len(contacts) else np.array([], "datetime64[s]")
        )
        for i, row in enumerate(contacts.itertuples(index=False)):
            employees = row.employee_count
            self._static[row.contact_id] = {
                "contact.lifecycle_stage": row.lifecycle_stage,
                "contact.lead_source": row.lead_source,
                "contact.job_title": row.job_title,
                "contact.ai_consent": bool(row.ai_consent),
                "company.industry": row.industry,
                "company.employee_count": None if pd.isna(employees) else float(employees),
                "company.country": row.country,
                "_created": created[i],
            }
            name = " ".join(p for p in (row.first_name, row.last_name) if isinstance(p, str))
            owner = row.owner_id if isinstance(row.owner_id, uuid.UUID) else None
            team = row.team_id if isinstance(row.team_id, uuid.UUID) else None
            self._people[row.contact_id] = (owner, team, name or str(row.contact_id))
        asis = lambda column: column.to_numpy()  # noqa: E731 - a converter like _seconds
        self._activities = _grouped(frames.activities, {"occurred_at": _seconds, "contacted": asis})
        self._deals = _grouped(
            frames.deals,
            {
                "created_at": _seconds,
                "closed_at": _seconds,
                "is_won": asis,
                "stage": asis,
                "amount": asis,
                "expected_close_date": _seconds,
            },
        )
        self._scores = _grouped(frames.scores, {"at": _seconds, "score": asis})
        self._predictions = _grouped(frames.predictions, {"at": _seconds, "probability": asis})

    def known(self, contact_id: uuid.UUID) -> bool:
        """Return whether the contact exists."""
        return contact_id in self._static

    def context(self, contact_id: uuid.UUID, at: dt.datetime | np.datetime64) -> dict[str, Any]:
        """Return the catalogue fields of one contact at ``at`` (UTC).

        Args:
            contact_id: The contact.
            at: The moment (aware, or UTC-naive).

        Raises:
            KeyError: When the contact is unknown.
        """
        stamp = pd.Timestamp(at)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        moment = np.datetime64(stamp.to_datetime64(), "s")
        ctx = dict(self._static[contact_id])
        ctx["contact.days_since_created"] = _days(moment, ctx.pop("_created"))
        ctx.update(self._activity_fields(contact_id, moment))
        ctx.update(self._deal_fields(contact_id, moment))
        ctx.update(self._score_fields(contact_id, moment))
        return ctx

    def _activity_fields(self, contact_id: uuid.UUID, moment: np.datetime64) -> dict[str, Any]:
        group = self._activities.get(contact_id)
        if group is None:
            return {
                "contact.days_since_last_activity": None,
                "contact.days_since_last_contacted": None,
                "contact.activities_30d": 0,
            }
        times = group["occurred_at"]
        end = int(np.searchsorted(times, moment, side="left"))
        start = int(np.searchsorted(times, moment - 30 * _DAY, side="left"))
        contacted = np.flatnonzero(group["contacted"][:end].astype(bool))
        return {
            "contact.days_since_last_activity": _days(moment, times[end - 1]) if end else None,
            "contact.days_since_last_contacted": (
                _days(moment, times[contacted[-1]]) if len(contacted) else None
            ),
            "contact.activities_30d": end - start,
        }

    def _deal_fields(self, contact_id: uuid.UUID, moment: np.datetime64) -> dict[str, Any]:
        empty = {
            "contact.open_deals": 0,
            "deal.stage": None,
            "deal.amount": None,
            "deal.days_open": None,
            "deal.days_to_expected_close": None,
        }
        group = self._deals.get(contact_id)
        if group is None:
            return empty
        known = int(np.searchsorted(group["created_at"], moment, side="left"))
        if not known:
            return empty
        closed_at = group["closed_at"][:known]
        closed = ~np.isnat(closed_at) & (closed_at < moment)
        last = known - 1
        stage = group["stage"][last]
        if closed[last]:
            stage = "closed_won" if group["is_won"][last] else "closed_lost"
        elif stage in ("closed_won", "closed_lost"):  # closes later: open then
            stage = "negotiation"
        amount = group["amount"][last]
        expected = group["expected_close_date"][last]
        return {
            "contact.open_deals": int((~closed).sum()),
            "deal.stage": stage,
            "deal.amount": None if amount is None or pd.isna(amount) else float(amount),
            "deal.days_open": _days(moment, group["created_at"][last]),
            "deal.days_to_expected_close": None if np.isnat(expected) else -_days(moment, expected),
        }

    def _score_fields(self, contact_id: uuid.UUID, moment: np.datetime64) -> dict[str, Any]:
        out: dict[str, Any] = {
            "score.lead_score": None,
            "score.band": None,
            "prediction.trigger_probability": None,
        }
        scores = self._scores.get(contact_id)
        if scores is not None:
            end = int(np.searchsorted(scores["at"], moment, side="right"))
            if end:
                score = int(scores["score"][end - 1])
                out["score.lead_score"] = score
                out["score.band"] = band_of(score)[0]
        predictions = self._predictions.get(contact_id)
        if predictions is not None:
            end = int(np.searchsorted(predictions["at"], moment, side="right"))
            if end:
                value = float(predictions["probability"][end - 1])
                out["prediction.trigger_probability"] = None if np.isnan(value) else value
        return out

    def owner(self, contact_id: uuid.UUID) -> tuple[uuid.UUID | None, uuid.UUID | None, str]:
        """Return the contact's owner id, the owner's team id and the contact's name."""
        return self._people[contact_id]
