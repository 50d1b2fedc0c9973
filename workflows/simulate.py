"""Dry run: replay the CRM's history through a workflow without doing anything.

The history gives back the occurrences each trigger type would have seen: logged activities
(an outbound email is ``email_sent``, an inbound one ``email_replied``, a meeting
``meeting_booked``), deals opened (``deal_stage_changed``), the streamed events, the band
crossings of the stored lead scores, every schedule slot, and the first time a stored score
or trigger prediction passed a threshold. Field updates are not kept in the history, so a
``field_updated`` trigger cannot be replayed (the answer says so). Conditions are checked on
each contact's fields at the moment of the occurrence (:mod:`workflows.context`).

The outcomes compare contacts it would have touched with those it would not have: win rate,
deals won and days from deal creation to close. This is associational: a workflow that
targets hot leads touches contacts that win more anyway.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from haste.db.session import session_scope
from haste.db.stream_tables import StreamEvent
from training.scoring import band_of
from workflows.conditions import conditions_hold
from workflows.context import ContextBuilder, CRMFrames, load_frames
from workflows.definition import (
    EventTrigger,
    FieldUpdatedTrigger,
    PredictionTrigger,
    ScheduleTrigger,
    ScoreBandTrigger,
    WorkflowDefinition,
)
from workflows.triggers import prediction_passes

#: How many fired contacts the answer lists.
SAMPLE = 20
#: Most occurrences one dry run checks (each is a point-in-time context): narrow the window.
MAX_OCCURRENCES = 100_000
#: Default window of a schedule's dry run, back from the end of the history.
SCHEDULE_WINDOW = {
    "hour": pd.Timedelta(days=2),
    "day": pd.Timedelta(days=30),
    "week": pd.Timedelta(days=90),
}
_STEP = {"hour": pd.Timedelta(hours=1), "day": pd.Timedelta(days=1), "week": pd.Timedelta(days=7)}


def _event_occurrences(frames: CRMFrames, url: str, event_type: str) -> pd.DataFrame:
    """Return (contact_id, at) of every past event of ``event_type``."""
    acts = frames.activities
    parts = []
    if event_type == "email_sent":
        parts.append(
            acts.loc[acts["contacted"] & (acts["type"] == "email"), ["contact_id", "occurred_at"]]
        )
    elif event_type == "email_replied":
        parts.append(acts.loc[acts["inbound_email"], ["contact_id", "occurred_at"]])
    elif event_type == "meeting_booked":
        parts.append(acts.loc[acts["type"] == "meeting", ["contact_id", "occurred_at"]])
    elif event_type == "deal_stage_changed":
        parts.append(
            frames.deals[["contact_id", "created_at"]].rename(columns={"created_at": "occurred_at"})
        )
    with session_scope(url) as session:
        rows = session.execute(
            select(StreamEvent.contact_id, StreamEvent.occurred_at).where(
                StreamEvent.event_type == event_type
            )
        ).all()
    if rows:
        streamed = pd.DataFrame([tuple(r) for r in rows], columns=["contact_id", "occurred_at"])
        streamed["occurred_at"] = pd.to_datetime(streamed["occurred_at"], utc=True).dt.tz_localize(
            None
        )
        parts.append(streamed)
    if not parts:
        return pd.DataFrame(columns=["contact_id", "at"])
    out = pd.concat(parts, ignore_index=True).rename(columns={"occurred_at": "at"})
    return out.sort_values("at", kind="stable")


def _band_occurrences(frames: CRMFrames, trigger: ScoreBandTrigger) -> pd.DataFrame:
    """Return (contact_id, at) of every stored score that crossed into the trigger's band."""
    scores = frames.scores.copy()
    if scores.empty:
        return pd.DataFrame(columns=["contact_id", "at"])
    scores["band"] = scores["score"].map(lambda s: band_of(int(s))[0])
    scores["previous"] = scores.groupby("contact_id")["band"].shift(1)
    crossed = (scores["band"] == trigger.to_band) & (scores["previous"] != trigger.to_band)
    if trigger.from_band is not None:
        crossed &= scores["previous"] == trigger.from_band
    return scores.loc[crossed, ["contact_id", "at"]]


def _first_past_threshold(frames: CRMFrames, trigger: PredictionTrigger) -> pd.DataFrame:
    """Return the first moment each contact's stored output passed the threshold."""
    source = (
        frames.scores.rename(columns={"score": "value"})
        if trigger.model == "lead_score"
        else (frames.predictions.rename(columns={"probability": "value"}))
    )
    if source.empty:
        return pd.DataFrame(columns=["contact_id", "at"])
    past = (
        source["value"] >= trigger.threshold
        if trigger.op == "gte"
        else source["value"] <= trigger.threshold
    )
    return source.loc[past].groupby("contact_id", as_index=False)["at"].min()


def _schedule_occurrences(
    frames: CRMFrames, trigger: ScheduleTrigger, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Return (contact_id, at) for every slot of the schedule and every contact alive then."""
    first = start.normalize() + pd.Timedelta(
        hours=0 if trigger.every == "hour" else trigger.at_hour
    )
    if trigger.every == "week":
        first -= pd.Timedelta(days=first.weekday())
    slots = pd.date_range(first, end, freq=_STEP[trigger.every])
    slots = slots[slots >= start]
    contacts = frames.contacts[["contact_id", "created_at"]]
    rows = [
        (c, s) for s in slots for c, created in contacts.itertuples(index=False) if created <= s
    ]
    return pd.DataFrame(rows, columns=["contact_id", "at"])


def _window(frames: CRMFrames) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the span of the CRM's history."""
    times = pd.concat(
        [frames.activities["occurred_at"], frames.deals["created_at"], frames.scores["at"]]
    )
    times = times.dropna()
    if times.empty:
        now = pd.Timestamp.now(tz="UTC").tz_localize(None)
        return now, now
    return times.min(), times.max()


def historical_occurrences(
    frames: CRMFrames,
    url: str,
    definition: WorkflowDefinition,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """Return the (contact_id, at) occurrences of the workflow's trigger in ``[start, end]``."""
    trigger = definition.trigger
    if isinstance(trigger, EventTrigger):
        found = _event_occurrences(frames, url, trigger.event_type)
    elif isinstance(trigger, ScoreBandTrigger):
        found = _band_occurrences(frames, trigger)
    elif isinstance(trigger, PredictionTrigger):
        found = _first_past_threshold(frames, trigger)
    elif isinstance(trigger, ScheduleTrigger):
        found = _schedule_occurrences(frames, trigger, start, end)
    else:
        found = pd.DataFrame(columns=["contact_id", "at"])
    found = found[(found["at"] >= start) & (found["at"] <= end)]
    return found.reset_index(drop=True)


def _outcomes(frames: CRMFrames, contacts: set[Any]) -> dict[str, Any]:
    """Return the deal outcomes of a group of contacts."""
    deals = frames.deals[frames.deals["contact_id"].isin(contacts)]
    closed = deals[deals["closed_at"].notna()]
    won = closed[closed["is_won"] == True]  # noqa: E712 - object column of True/False/None
    days = (won["closed_at"] - won["created_at"]).dt.total_seconds() / 86_400
    return {
        "contacts": len(contacts),
        "closed_deals": len(closed),
        "won_deals": len(won),
        "win_rate": None if closed.empty else round(len(won) / len(closed), 4),
        "conversion": None
        if not contacts
        else round(won["contact_id"].nunique() / len(contacts), 4),
        "median_days_to_close": None if won.empty else round(float(np.median(days)), 1),
    }


def simulate_workflow(
    url: str,
    definition: WorkflowDefinition,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    frames: CRMFrames | None = None,
) -> dict[str, Any]:
    """Replay the history through ``definition`` and report fires, whom and their outcomes.

    Args:
        url: Database URL.
        definition: The workflow (stored or not: nothing is written).
        since: Start of the replay (default: the start of the history; for a schedule, the
            last 2 days (hourly), 30 days (daily) or 90 days (weekly) of it).
        until: End of the replay (default: the end of the history).
        frames: Preloaded history (tests and repeated calls).

    Returns:
        Counts (occurrences, fires, contacts), a sample of fired contacts, fires per month,
        and the outcomes of touched vs untouched contacts.

    Raises:
        ValueError: When the window holds more than :data:`MAX_OCCURRENCES` occurrences.
    """
    frames = frames or load_frames(url)
    start, end = _window(frames)
    if isinstance(definition.trigger, ScheduleTrigger):
        start = max(start, end - SCHEDULE_WINDOW[definition.trigger.every])
    if since is not None:
        start = pd.Timestamp(since).tz_convert("UTC").tz_localize(None)
    if until is not None:
        end = pd.Timestamp(until).tz_convert("UTC").tz_localize(None)
    replayable = not isinstance(definition.trigger, FieldUpdatedTrigger)
    occurrences = (
        historical_occurrences(frames, url, definition, start, end)
        if replayable
        else (pd.DataFrame(columns=["contact_id", "at"]))
    )
    if len(occurrences) > MAX_OCCURRENCES:
        raise ValueError(
            f"the window holds {len(occurrences):,} trigger occurrences (at most "
            f"{MAX_OCCURRENCES:,} per dry run): narrow it with since/until"
        )
    builder = ContextBuilder(frames)
    fired: list[tuple[Any, pd.Timestamp]] = []
    trigger = definition.trigger
    for contact_id, at in occurrences.itertuples(index=False):
        if not builder.known(contact_id):
            continue
        context = builder.context(contact_id, at)
        if isinstance(trigger, PredictionTrigger) and not prediction_passes(trigger, context):
            continue
        if conditions_hold(definition.conditions, context):
            fired.append((contact_id, at))
    touched = {contact for contact, _ in fired}
    everyone = set(frames.contacts["contact_id"])
    per_contact = Counter(contact for contact, _ in fired)
    months = Counter(at.strftime("%Y-%m") for _, at in fired)
    sample = []
    for contact, at in fired[:SAMPLE]:
        name = builder.owner(contact)[2]
        sample.append({"contact_id": str(contact), "name": name, "at": at.isoformat() + "Z"})
    touched_out, untouched_out = _outcomes(frames, touched), _outcomes(frames, everyone - touched)
    return {
        "replayable": replayable,
        "note": None
        if replayable
        else "field updates are not kept in the history: nothing to replay",
        "window": {"since": start.isoformat() + "Z", "until": end.isoformat() + "Z"},
        "occurrences": len(occurrences),
        "fires": len(fired),
        "contacts_fired": len(touched),
        "max_fires_per_contact": max(per_contact.values(), default=0),
        "fires_per_month": dict(sorted(months.items())),
        "sample": sample,
        "outcomes": {"touched": touched_out, "untouched": untouched_out},
        "caveat": "associational: the contacts a workflow targets differ from the others "
        "before it acts; use an A/B holdout to measure its effect",
    }
