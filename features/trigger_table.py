"""Point-in-time trigger-prediction table: will a contact reply, meet or move stage soon?

One row per (contact, snapshot time) for contacts that exist and have not converted at the
snapshot. Snapshots lie on a regular grid (every ``every_days`` from the window start) and only
where the next ``horizon_days`` are fully observed, so every label is complete.

Features (:func:`extract_trigger_features`) use only events **strictly before** the snapshot:

* the lead table's email, web and social extractors (:mod:`features.extractors`) and its
  company / contact attributes;
* recencies and 7/30-day counts of opens, clicks, sends, page views and form fills, the
  number of campaign emails sent since the last reply;
* rep activities (meetings, calls, all touches) before the snapshot;
* the deal state *at the snapshot*, rebuilt from ``deals.created_at`` / ``closed_at`` (an open
  deal, its age, earlier lost deals). The end-of-window ``stage`` of a deal still open at the
  snapshot is never read, nor ``lifecycle_stage``, ``accounts`` or ``labels``;
* the recency-frequency pair of the baseline: days since the last engagement (email open,
  click or reply, web event, social event, meeting or call; days since creation when none) and
  engagements in the last 7 / 30 days;
* ``days_since_created``.

Labels look at ``[snapshot, snapshot + horizon_days)``, cut at the contact's conversion (the
closing of its won deal, which itself counts as a stage move): ``will_reply`` (an email
reply), ``will_meet`` (a meeting activity), ``will_move_stage`` (a deal created or closed) and
``triggered`` (any of them). Converters leave the table once converted, so post-conversion
customer behaviour never reaches a feature or a label. ``gender`` is kept for the fairness
audit only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.extractors import (
    extract_company_data,
    extract_email_engagement,
    extract_social_signals,
    extract_web_activity,
)

if TYPE_CHECKING:
    from pipelines.synthetic_store import SyntheticCRM

ID_COLUMN = "contact_id"
SNAPSHOT_COLUMN = "snapshot_at"
TARGET_COLUMN = "triggered"
#: Per-trigger labels; ``triggered`` is their union.
TRIGGER_LABELS: tuple[str, ...] = ("will_reply", "will_meet", "will_move_stage")
LABEL_COLUMNS: tuple[str, ...] = (*TRIGGER_LABELS, TARGET_COLUMN)
SENSITIVE_COLUMNS: tuple[str, ...] = ("gender",)
#: The recency-frequency baseline's inputs.
RECENCY_COLUMN = "engagement_days_since_last"
FREQUENCY_COLUMN = "engagement_events_30d"

_NS_PER_DAY = 86_400 * 10**9
_NEVER = np.iinfo(np.int64).max
_NAT = np.iinfo(np.int64).min
_ENGAGING_EMAIL = ("open", "click", "reply")
_ENGAGING_ACTIVITY = ("meeting", "call")


@dataclass(frozen=True)
class _Events:
    """One event stream as contact positions, int64 nanosecond times and kinds."""

    codes: np.ndarray
    times: np.ndarray
    kinds: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame, ids: pd.Index, kind: str, time: str) -> _Events:
        """Index ``frame``'s events by contact position (-1: unknown contact or time)."""
        codes = ids.get_indexer(frame["contact_id"])
        if len(frame) and len(ids) and not (codes >= 0).any():
            codes = ids.astype(str).get_indexer(frame["contact_id"].astype(str))
        times = _ns(frame[time])
        codes = np.where(times == _NAT, -1, codes)
        return cls(codes, times, frame[kind].to_numpy(dtype=object))

    @classmethod
    def concat(cls, parts: Sequence[_Events]) -> _Events:
        """Join streams into one."""
        return cls(
            np.concatenate([part.codes for part in parts]),
            np.concatenate([part.times for part in parts]),
            np.concatenate([part.kinds for part in parts]),
        )

    def select(self, kinds: Sequence[str]) -> _Events:
        """Return the events of the given kinds."""
        keep = np.isin(self.kinds, list(kinds))
        return _Events(self.codes[keep], self.times[keep], self.kinds[keep])

    def last_before(self, snapshot: int, n: int) -> np.ndarray:
        """Per contact: time of the last event before ``snapshot`` (int64 min when none)."""
        before = (self.codes >= 0) & (self.times < snapshot)
        out = np.full(n, _NAT, dtype=np.int64)
        np.maximum.at(out, self.codes[before], self.times[before])
        return out

    def stats(self, snapshot: int, n: int, windows: Sequence[int] = ()) -> dict[str, np.ndarray]:
        """Per contact: days since the last event before ``snapshot`` and window counts.

        Returns:
            ``last`` (NaN without an event), ``total`` and ``<N>d`` per window.

        """
        before = (self.codes >= 0) & (self.times < snapshot)
        codes = self.codes[before]
        age = (snapshot - self.times[before]) / _NS_PER_DAY
        last = self.last_before(snapshot, n)
        out = {"last": np.where(last == _NAT, np.nan, (snapshot - last) / _NS_PER_DAY)}
        out["total"] = np.bincount(codes, minlength=n)
        for days in windows:
            out[f"{days}d"] = np.bincount(codes[age <= days], minlength=n)
        return out

    def any_within(self, start: int, end: int, cap: np.ndarray) -> np.ndarray:
        """Per contact: whether an event lies in ``[start, end)`` and at or before ``cap``."""
        known = self.codes >= 0
        cap_at = cap[np.where(known, self.codes, 0)]
        hit = known & (self.times >= start) & (self.times < end) & (self.times <= cap_at)
        return np.bincount(self.codes[hit], minlength=len(cap)) > 0


def _ns(values: pd.Series) -> np.ndarray:
    """Return timestamps as UTC-naive int64 nanoseconds (NaT: the int64 minimum)."""
    times = pd.to_datetime(values)
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _deal_events(crm: SyntheticCRM, ids: pd.Index) -> _Events:
    """Deal creations and closings as one stream (kinds ``created`` and ``closed``)."""
    deals = crm.deals
    created = deals.assign(kind="created")
    closed = deals.assign(kind="closed", created_at=deals["closed_at"])
    return _Events.concat(
        [_Events.of(frame, ids, "kind", "created_at") for frame in (created, closed)]
    )


def conversion_times(crm: SyntheticCRM) -> np.ndarray:
    """Return each contact's conversion time (its first won deal's close) in int64 ns.

    Args:
        crm: The CRM; only ``contacts`` and ``deals`` (``is_won``, ``closed_at``) are read.

    Returns:
        One value per ``contacts`` row; the int64 maximum for contacts that never converted.

    """
    ids = pd.Index(crm.contacts["id"])
    won = crm.deals[crm.deals["is_won"].astype(object).eq(True) & crm.deals["closed_at"].notna()]
    events = _Events.of(won, ids, "stage", "closed_at")
    out = np.full(len(ids), _NEVER, dtype=np.int64)
    known = events.codes >= 0
    np.minimum.at(out, events.codes[known], events.times[known])
    return out


def live_contacts(crm: SyntheticCRM, snapshot: pd.Timestamp) -> np.ndarray:
    """Return the mask of contacts created before ``snapshot`` and not converted by then."""
    value = pd.Timestamp(snapshot).value
    return (_ns(crm.contacts["created_at"]) < value) & (conversion_times(crm) > value)


def _deal_state(crm: SyntheticCRM, ids: pd.Index, snapshot: int) -> dict[str, np.ndarray]:
    """Deal state at ``snapshot`` from creation / closing times only."""
    deals = crm.deals
    codes = _Events.of(deals, ids, "stage", "created_at").codes
    created, closed = _ns(deals["created_at"]), _ns(deals["closed_at"])
    started = (codes >= 0) & (created < snapshot)
    is_open = started & ((closed == _NAT) | (closed >= snapshot))
    lost = started & (closed != _NAT) & (closed < snapshot)
    lost &= deals["is_won"].astype(object).eq(False).to_numpy()
    age = np.full(len(ids), -np.inf)
    np.maximum.at(age, codes[is_open], (snapshot - created[is_open]) / _NS_PER_DAY)
    return {
        "deal_open": (np.bincount(codes[is_open], minlength=len(ids)) > 0).astype(np.int64),
        "deal_days_open": np.where(np.isinf(age), np.nan, age),
        "deals_lost": np.bincount(codes[lost], minlength=len(ids)),
    }


def _extra_features(crm: SyntheticCRM, ids: pd.Index, snapshot: int) -> dict[str, np.ndarray]:
    """Trigger-specific recencies, window counts, activities, deals and the RF pair."""
    n = len(ids)
    email = _Events.of(crm.email_events, ids, "event_type", "occurred_at")
    web = _Events.of(crm.web_events, ids, "event_type", "occurred_at")
    social = _Events.of(crm.social_events, ids, "event_type", "occurred_at")
    activity = _Events.of(crm.activities, ids, "type", "occurred_at")
    sent = email.select(["sent"]).stats(snapshot, n, (30,))
    opens = email.select(["open"]).stats(snapshot, n, (7, 30))
    clicks = email.select(["click"]).stats(snapshot, n, (30,))
    last_reply = email.select(["reply"]).last_before(snapshot, n)
    views = web.select(["page_view"]).stats(snapshot, n)
    forms = web.select(["form_fill"]).stats(snapshot, n, (30,))
    meetings = activity.select(["meeting"]).stats(snapshot, n, (30,))
    calls = activity.select(["call"]).stats(snapshot, n, (30,))
    touches = activity.stats(snapshot, n, (30,))
    # Campaign emails received since the last reply (all of them when never replied).
    sends = email.select(["sent"])
    known = sends.codes >= 0
    codes, times = sends.codes[known], sends.times[known]
    unanswered = np.bincount(codes[(times < snapshot) & (times > last_reply[codes])], minlength=n)
    engaging = _Events.concat(
        [email.select(_ENGAGING_EMAIL), web, social, activity.select(_ENGAGING_ACTIVITY)]
    ).stats(snapshot, n, (7, 30))
    age = (snapshot - _ns(crm.contacts["created_at"])) / _NS_PER_DAY
    return {
        "email_days_since_last_sent": sent["last"],
        "email_days_since_last_click": clicks["last"],
        "email_sent_30d": sent["30d"],
        "email_opens_7d": opens["7d"],
        "email_opens_30d": opens["30d"],
        "email_clicks_30d": clicks["30d"],
        "email_sent_since_last_reply": unanswered,
        "web_days_since_last_view": views["last"],
        "web_days_since_last_form": forms["last"],
        "web_forms_30d": forms["30d"],
        "activity_days_since_last": touches["last"],
        "activity_days_since_last_meeting": meetings["last"],
        "activity_days_since_last_call": calls["last"],
        "activity_touches_30d": touches["30d"],
        "activity_meetings_30d": meetings["30d"],
        "activity_calls_30d": calls["30d"],
        **_deal_state(crm, ids, snapshot),
        RECENCY_COLUMN: np.where(np.isnan(engaging["last"]), age, engaging["last"]),
        "engagement_events_7d": engaging["7d"],
        FREQUENCY_COLUMN: engaging["30d"],
        "days_since_created": age,
    }


def extract_trigger_features(crm: SyntheticCRM, snapshot: pd.Timestamp | str) -> pd.DataFrame:
    """Build the feature rows of every live contact at ``snapshot`` (events strictly before it).

    Args:
        crm: The CRM (``contacts``, ``companies``, ``deals``, ``activities`` and the three event
            streams; ``labels``, ``accounts`` and ``lifecycle_stage`` are never read).
        snapshot: The scoring time.

    Returns:
        ``contact_id`` (str), ``snapshot_at``, the feature columns and ``gender``, one row per
        contact created before ``snapshot`` and not converted by then, in ``contacts`` order.

    """
    snapshot = pd.Timestamp(snapshot)
    contacts = crm.contacts
    ids = pd.Index(contacts["id"])
    live = live_contacts(crm, snapshot)
    as_of = pd.Series(snapshot, index=ids[live])
    extracted = [
        extract_email_engagement(crm.email_events, as_of, recent_days=(7, 30)),
        extract_web_activity(crm.web_events, as_of, recent_days=(7, 30)),
        extract_social_signals(crm.social_events, as_of),
    ]
    extra = pd.DataFrame(_extra_features(crm, ids, snapshot.value)).loc[live]
    company = extract_company_data(contacts.loc[live], crm.companies)
    parts = [part.reset_index(drop=True) for part in (*extracted, extra, company)]
    head = pd.DataFrame(
        {ID_COLUMN: ids[live].astype(str), SNAPSHOT_COLUMN: np.repeat(snapshot, int(live.sum()))}
    )
    gender = pd.DataFrame({"gender": contacts.loc[live, "gender"].to_numpy(dtype=object)})
    return pd.concat([head, *parts, gender], axis=1)


def trigger_labels(
    crm: SyntheticCRM, snapshot: pd.Timestamp, horizon_days: int, live: np.ndarray
) -> pd.DataFrame:
    """Return the labels of the live contacts for ``[snapshot, snapshot + horizon_days)``.

    Args:
        crm: The CRM (``contacts``, ``email_events``, ``activities`` and ``deals``).
        snapshot: Start of the label window.
        horizon_days: Length of the label window.
        live: Mask of the contacts with a row (see :func:`live_contacts`).

    Returns:
        ``will_reply``, ``will_meet``, ``will_move_stage`` and ``triggered`` (0/1), one row per
        live contact; events after a contact's conversion never count.

    """
    ids = pd.Index(crm.contacts["id"])
    start = pd.Timestamp(snapshot).value
    end = start + horizon_days * _NS_PER_DAY
    cap = conversion_times(crm)
    email = _Events.of(crm.email_events, ids, "event_type", "occurred_at")
    activity = _Events.of(crm.activities, ids, "type", "occurred_at")
    labels = {
        "will_reply": email.select(["reply"]).any_within(start, end, cap),
        "will_meet": activity.select(["meeting"]).any_within(start, end, cap),
        "will_move_stage": _deal_events(crm, ids).any_within(start, end, cap),
    }
    frame = pd.DataFrame(labels)[live].reset_index(drop=True)
    frame[TARGET_COLUMN] = frame.any(axis=1)
    return frame.astype(np.int64)


def trigger_snapshot_times(
    crm: SyntheticCRM,
    horizon_days: int = 14,
    every_days: int = 14,
    *,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
) -> pd.DatetimeIndex:
    """Return the snapshot grid: ``start + k * every_days`` (k >= 1) with a complete horizon.

    Args:
        crm: The CRM; the window defaults to the day of the first contact's creation and the
            day after the last event (the generator's ``[start, start + days)``).
        horizon_days: Label window after each snapshot.
        every_days: Days between snapshots.
        start: Window start (inferred when None).
        end: Window end, exclusive (inferred when None).

    Returns:
        Snapshots ``s`` with ``s + horizon_days <= end``.

    Raises:
        ValueError: When ``horizon_days`` or ``every_days`` is not positive.

    """
    if horizon_days <= 0 or every_days <= 0:
        raise ValueError(
            f"horizon_days and every_days must be positive: {horizon_days}, {every_days}"
        )
    times = [crm.email_events["occurred_at"], crm.web_events["occurred_at"]]
    times += [crm.social_events["occurred_at"], crm.activities["occurred_at"]]
    first = (
        pd.Timestamp(start) if start is not None else crm.contacts["created_at"].min().floor("D")
    )
    last = (
        pd.Timestamp(end)
        if end is not None
        else max(series.max() for series in times).floor("D") + pd.Timedelta(days=1)
    )
    step, horizon = pd.Timedelta(days=every_days), pd.Timedelta(days=horizon_days)
    count = int((last - horizon - first) / step)
    return pd.DatetimeIndex([first + k * step for k in range(1, count + 1)], name=SNAPSHOT_COLUMN)


def build_trigger_table(
    crm: SyntheticCRM,
    horizon_days: int = 14,
    every_days: int = 14,
    *,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Build the trigger-prediction table: one row per (live contact, snapshot).

    Args:
        crm: The CRM (see :func:`extract_trigger_features`).
        horizon_days: Label window after each snapshot.
        every_days: Days between snapshots.
        start: Window start (inferred when None, see :func:`trigger_snapshot_times`).
        end: Window end, exclusive (inferred when None).

    Returns:
        ``contact_id``, ``snapshot_at``, the features, ``gender`` and the label columns
        :data:`LABEL_COLUMNS`, ordered by snapshot then ``contacts`` order.

    """
    frames = []
    for snapshot in trigger_snapshot_times(crm, horizon_days, every_days, start=start, end=end):
        features = extract_trigger_features(crm, snapshot)
        labels = trigger_labels(crm, snapshot, horizon_days, live_contacts(crm, snapshot))
        frames.append(pd.concat([features, labels], axis=1))
    return pd.concat(frames, ignore_index=True)
