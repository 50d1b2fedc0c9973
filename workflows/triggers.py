"""Trigger occurrences (what happened) and whether a workflow's trigger matches one."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from workflows.definition import (
    EventTrigger,
    FieldUpdatedTrigger,
    PredictionTrigger,
    ScheduleTrigger,
    ScoreBandTrigger,
    Trigger,
)


@dataclass(frozen=True)
class Occurrence:
    """One thing that happened to one contact and may fire workflows.

    Attributes:
        key: Unique key of the occurrence (``event:<id>``, ``change:<id>``, ``schedule:<slot>``,
            ``field:<action record id>``): a workflow fires at most once per key and contact.
        kind: ``event``, ``score_band``, ``schedule``, ``prediction_threshold`` or
            ``field_updated`` (the trigger types).
        contact_id: The contact.
        at: When it happened (UTC).
        event_type: The CRM event's type (``event``).
        from_band: Band before (``score_band``).
        to_band: Band after (``score_band``).
        field: The field set (``field_updated``).
        workflow_id: Only this workflow may fire on it (schedule slots and threshold checks
            are made for one workflow).
    """

    key: str
    kind: str
    contact_id: uuid.UUID
    at: dt.datetime
    event_type: str | None = None
    from_band: str | None = None
    to_band: str | None = None
    field: str | None = None
    workflow_id: uuid.UUID | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return it as JSON (stored with the run)."""
        out = {k: v for k, v in asdict(self).items() if v is not None}
        out["contact_id"] = str(self.contact_id)
        out["at"] = self.at.isoformat()
        if self.workflow_id is not None:
            out["workflow_id"] = str(self.workflow_id)
        return out


def trigger_matches(trigger: Trigger, occurrence: Occurrence) -> bool:
    """Return whether ``trigger`` fires on ``occurrence`` (conditions are checked after)."""
    if isinstance(trigger, EventTrigger):
        return occurrence.kind == "event" and occurrence.event_type == trigger.event_type
    if isinstance(trigger, ScoreBandTrigger):
        return (
            occurrence.kind == "score_band"
            and occurrence.to_band == trigger.to_band
            and occurrence.from_band != occurrence.to_band
            and (trigger.from_band is None or occurrence.from_band == trigger.from_band)
        )
    if isinstance(trigger, FieldUpdatedTrigger):
        return occurrence.kind == "field_updated" and occurrence.field == trigger.field
    if isinstance(trigger, ScheduleTrigger):
        return occurrence.kind == "schedule"
    if isinstance(trigger, PredictionTrigger):
        return occurrence.kind == "prediction_threshold"
    return False  # pragma: no cover - the union is exhaustive


def prediction_passes(trigger: PredictionTrigger, context: dict[str, Any]) -> bool:
    """Return whether the watched model output is past the trigger's threshold."""
    value = context.get(trigger.field)
    if value is None:
        return False
    return (
        float(value) >= trigger.threshold
        if trigger.op == "gte"
        else float(value) <= trigger.threshold
    )


def schedule_slot(trigger: ScheduleTrigger, now: dt.datetime) -> dt.datetime:
    """Return the latest slot of a schedule at or before ``now`` (UTC).

    ``hour``: the current hour; ``day``: today at ``at_hour`` (or yesterday's if not reached);
    ``week``: the latest Monday at ``at_hour``.
    """
    now = now.astimezone(dt.UTC)
    if trigger.every == "hour":
        return now.replace(minute=0, second=0, microsecond=0)
    slot = now.replace(hour=trigger.at_hour, minute=0, second=0, microsecond=0)
    if slot > now:
        slot -= dt.timedelta(days=1)
    if trigger.every == "week":
        slot -= dt.timedelta(days=slot.weekday())
    return slot
