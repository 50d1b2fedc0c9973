"""The synthetic CRM's activity as a stream of events (``haste events replay``).

Email events, web events, social events and booked meetings of the seeded CRM
(:mod:`pipelines.synthetic`) become :class:`~streaming.events.CRMEvent` s in time order.
Their ids derive from the source rows (``email:<uuid>``...), so replaying the same window twice
applies nothing the second time; ``fresh=True`` mints new ids and stamps the events "now" (the
same activity happening again, e.g. for a demo burst or a benchmark).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator, Sequence

import pandas as pd

from pipelines.synthetic_store import SyntheticCRM
from streaming.broker import EventBroker
from streaming.events import CRMEvent

_EMAIL_TYPES = {
    "sent": "email_sent",
    "open": "email_opened",
    "click": "email_clicked",
    "reply": "email_replied",
}


def _utc(values: pd.Series) -> pd.Series:
    """Return timestamps as aware UTC."""
    stamps = pd.to_datetime(values)
    return stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")


def activity_frame(crm: SyntheticCRM) -> pd.DataFrame:
    """Return every replayable activity, one row per event, oldest first.

    Columns: ``event_id``, ``event_type``, ``contact_id``, ``occurred_at`` and the
    type-specific ``page``, ``duration_s``, ``platform``, ``engagement``, ``deal_id``.
    """
    email = crm.email_events
    email = pd.DataFrame(
        {
            "event_id": "email:" + email["event_id"].astype(str),
            "event_type": email["event_type"].map(_EMAIL_TYPES),
            "contact_id": email["contact_id"],
            "occurred_at": email["occurred_at"],
        }
    )
    web = crm.web_events
    web = pd.DataFrame(
        {
            "event_id": "web:" + web["event_id"].astype(str),
            "event_type": web["event_type"].map(
                {"page_view": "page_view", "form_fill": "form_submitted"}
            ),
            "contact_id": web["contact_id"],
            "occurred_at": web["occurred_at"],
            "page": web["page"],
            "duration_s": web["duration_s"].where(web["event_type"] == "page_view"),
        }
    )
    social = crm.social_events
    social = pd.DataFrame(
        {
            "event_id": "social:" + social["event_id"].astype(str),
            "event_type": "social_engagement",
            "contact_id": social["contact_id"],
            "occurred_at": social["occurred_at"],
            "platform": social["platform"].where(
                social["platform"].isin(["linkedin", "twitter"]), "other"
            ),
            "engagement": social["event_type"],
        }
    )
    meetings = crm.activities[crm.activities["type"] == "meeting"]
    meetings = pd.DataFrame(
        {
            "event_id": "meeting:" + meetings["id"].astype(str),
            "event_type": "meeting_booked",
            "contact_id": meetings["contact_id"],
            "occurred_at": meetings["occurred_at"],
            "deal_id": meetings["deal_id"],
        }
    )
    frame = pd.concat([email, web, social, meetings], ignore_index=True)
    frame = frame.dropna(subset=["event_type", "contact_id"])
    frame["occurred_at"] = _utc(frame["occurred_at"])
    return frame.sort_values(["occurred_at", "event_id"], kind="stable").reset_index(drop=True)


def _utc_stamp(value: dt.datetime) -> pd.Timestamp:
    """Return a time as a UTC timestamp (naive times are UTC; aware ones are converted)."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def select_window(
    frame: pd.DataFrame,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Return the events in ``[since, until)`` (aware or naive UTC), at most ``limit``."""
    if since is not None:
        frame = frame[frame["occurred_at"] >= _utc_stamp(since)]
    if until is not None:
        frame = frame[frame["occurred_at"] < _utc_stamp(until)]
    return frame.head(limit) if limit is not None else frame


def to_events(frame: pd.DataFrame, fresh: bool = False) -> Iterator[CRMEvent]:
    """Yield the rows as events (new ids and "now" when ``fresh``)."""
    run = uuid.uuid4().hex[:8]
    now = dt.datetime.now(dt.UTC)
    optional = ("page", "duration_s", "platform", "engagement", "deal_id")
    for index, row in enumerate(frame.itertuples(index=False)):
        fields = {
            name: getattr(row, name)
            for name in optional
            if name in frame.columns and not pd.isna(getattr(row, name))
        }
        yield CRMEvent(
            event_id=f"replay-{run}-{index}" if fresh else row.event_id,
            event_type=row.event_type,
            contact_id=row.contact_id,
            occurred_at=now if fresh else row.occurred_at.to_pydatetime(),
            **fields,
        )


async def replay_events(
    broker: EventBroker,
    events: Sequence[CRMEvent],
    rate: float = 0.0,
    batch_size: int = 200,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Publish events in batches, paced at ``rate`` events/s (0: as fast as confirmed).

    Returns:
        ``{"events", "seconds", "events_per_s"}`` of the publishing.
    """
    started = time.perf_counter()
    for start in range(0, len(events), batch_size):
        chunk = events[start : start + batch_size]
        await broker.publish_events(chunk)
        if progress is not None:
            progress(len(chunk))
        if rate > 0:
            due = started + (start + len(chunk)) / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
    seconds = time.perf_counter() - started
    return {
        "events": len(events),
        "seconds": round(seconds, 3),
        "events_per_s": round(len(events) / seconds, 1) if seconds else 0.0,
    }
