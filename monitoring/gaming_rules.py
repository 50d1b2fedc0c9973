"""Detectors of inflated engagement (score gaming) over one contact's engagement events.

Each detector reads one contact's events (a frame in the :data:`LOG_COLUMNS` form, see
:mod:`monitoring.gaming_log`) and returns at most one :class:`GamingFlag` with its evidence
(counts, time span, intervals) and the ids of the suspicious events:

* ``burst``: many opens / clicks within a few minutes (:attr:`GamingConfig.burst_window_s`),
  with a lower bar when they share one source. The synthetic CRM records no IP address or user
  agent; an email event's source is its campaign (``None`` for streamed events);
* ``bot_timing``: engagement events whose intervals are too regular (coefficient of variation
  at most :attr:`GamingConfig.bot_max_cv` over :attr:`GamingConfig.bot_min_events` events in a
  row) or sub-second;
* ``zero_dwell``: page views without time on page (duration under
  :attr:`GamingConfig.zero_dwell_s`, or none where the source records durations);
* ``scanner``: opens or clicks within seconds of their campaign's send (mail security
  scanners open and follow every link on delivery).

Framework-free: numpy and pandas only; thresholds come from ``configs/monitoring.yaml``
(``gaming:``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field

from haste.settings import CONFIG_DIR

#: Section of ``configs/monitoring.yaml`` read by :func:`load_gaming_config`.
CONFIG_SECTION = "gaming"
#: Kinds of flag, in the order they are reported.
FLAG_KINDS: tuple[str, ...] = ("burst", "bot_timing", "zero_dwell", "scanner")
#: Columns of an engagement log (one row per event).
LOG_COLUMNS: tuple[str, ...] = (
    "event_id",
    "contact_id",
    "kind",
    "occurred_at",
    "source",
    "page",
    "duration_s",
    "duration_recorded",
)
#: Events a contact does (sends are ours, so they never count as engagement).
ENGAGEMENT_KINDS: tuple[str, ...] = ("open", "click", "reply", "page_view", "form_fill")
#: Events a burst counts.
BURST_KINDS: tuple[str, ...] = ("open", "click")

_NS = 1_000_000_000


class GamingConfig(BaseModel):
    """The ``gaming`` section of ``configs/monitoring.yaml`` (unknown keys are errors).

    Attributes:
        window_days: Days of a contact's events examined, up to its newest event (or the
            scan's ``until``).
        burst_window_s: Span of a burst (seconds).
        burst_min_events: Opens / clicks within ``burst_window_s`` that make a burst.
        burst_min_events_one_source: Opens / clicks of ONE source (campaign) within
            ``burst_window_s`` that make a burst (events without a source never count here).
        bot_min_events: Consecutive engagement events whose intervals are compared.
        bot_max_cv: Coefficient of variation (std / mean) of their intervals at most this is
            machine-regular.
        bot_max_interval_s: Mean intervals longer than this are schedules, not bots.
        subsecond_s: An interval shorter than this is sub-second (no person clicks that fast).
        subsecond_min_events: Sub-second intervals needed for a flag.
        zero_dwell_s: A page view with less time on page is "without time on page".
        zero_dwell_min_events: Such page views needed for a flag.
        zero_dwell_min_share: ... and their least share of the window's page views (analytics
            tools record no time for the last page of a visit: a real visitor has some).
        scanner_s: An open / click this soon after its send is a scanner's.
        scanner_min_events: Such events needed for a flag.
        model_name: Registered lead model scoring the contacts (with and without).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_days: float = Field(default=30.0, gt=0)
    burst_window_s: float = Field(default=300.0, gt=0)
    burst_min_events: int = Field(default=12, ge=2)
    burst_min_events_one_source: int = Field(default=5, ge=2)
    bot_min_events: int = Field(default=8, ge=3)
    bot_max_cv: float = Field(default=0.15, gt=0)
    bot_max_interval_s: float = Field(default=3600.0, gt=0)
    subsecond_s: float = Field(default=1.0, gt=0)
    subsecond_min_events: int = Field(default=3, ge=1)
    zero_dwell_s: float = Field(default=1.0, ge=0)
    zero_dwell_min_events: int = Field(default=5, ge=1)
    zero_dwell_min_share: float = Field(default=0.5, ge=0, le=1)
    scanner_s: float = Field(default=10.0, gt=0)
    scanner_min_events: int = Field(default=2, ge=1)
    model_name: str = Field(default="lead_scoring_crm", min_length=1)


def load_gaming_config(path: Path | str | None = None) -> GamingConfig:
    """Read the ``gaming`` section of ``configs/monitoring.yaml`` (or ``path``).

    Args:
        path: YAML file; defaults to ``configs/monitoring.yaml``.

    Returns:
        The validated section (defaults when the section is absent).
    """
    source = Path(path or CONFIG_DIR / "monitoring.yaml")
    raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    return GamingConfig.model_validate(raw.get(CONFIG_SECTION) or {})


@dataclass(frozen=True)
class GamingFlag:
    """One kind of inflated engagement found for one contact.

    Attributes:
        kind: One of :data:`FLAG_KINDS`.
        event_ids: The suspicious events (removed for the score without them).
        evidence: Counts, time span and intervals, JSON-ready.
        message: One readable sentence with the numbers.
    """

    kind: str
    event_ids: tuple[str, ...]
    evidence: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "kind": self.kind,
            "events": len(self.event_ids),
            "event_ids": list(self.event_ids),
            "evidence": self.evidence,
            "message": self.message,
        }


def _seconds(times: pd.Series) -> np.ndarray:
    """Return event times as float seconds (UTC-naive or aware datetimes)."""
    values = pd.to_datetime(times)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.to_numpy(dtype="datetime64[ns]").astype(np.int64) / _NS


def _iso(seconds: float) -> str:
    """Return float epoch seconds as an ISO UTC time."""
    return pd.Timestamp(round(seconds * _NS), tz="UTC").isoformat()


@dataclass(frozen=True)
class ContactEvents:
    """One contact's events as arrays, oldest first (what the detectors read).

    Attributes:
        event_id: Event ids.
        kind: ``sent``, ``open``, ``click``, ``reply``, ``page_view``, ``form_fill``.
        t: Times in epoch seconds.
        source: Source (campaign) or None.
        page: Page or None.
        duration_s: Time on page (NaN: none).
        duration_recorded: Whether the source records durations (a NaN then means none).
    """

    event_id: np.ndarray
    kind: np.ndarray
    t: np.ndarray
    source: np.ndarray
    page: np.ndarray
    duration_s: np.ndarray
    duration_recorded: np.ndarray

    @classmethod
    def from_frame(cls, events: pd.DataFrame) -> ContactEvents:
        """Build from a log frame (:data:`LOG_COLUMNS`; ``t`` seconds used when present)."""
        t = events["t"].to_numpy(dtype=float) if "t" in events else _seconds(events["occurred_at"])
        order = np.lexsort((events["event_id"].astype(str).to_numpy(), t))
        duration = pd.to_numeric(events["duration_s"], errors="coerce").to_numpy(dtype=float)
        return cls(
            event_id=events["event_id"].astype(str).to_numpy(dtype=object)[order],
            kind=events["kind"].to_numpy(dtype=object)[order],
            t=t[order],
            source=events["source"].to_numpy(dtype=object)[order],
            page=events["page"].to_numpy(dtype=object)[order],
            duration_s=duration[order],
            duration_recorded=events["duration_recorded"].fillna(False).to_numpy(bool)[order],
        )

    def select(self, kinds: tuple[str, ...]) -> np.ndarray:
        """Return the positions of the events of ``kinds``."""
        return np.flatnonzero(np.isin(self.kind, kinds))


Events = ContactEvents | pd.DataFrame


def _events(events: Events) -> ContactEvents:
    """Return the arrays of ``events`` (a frame is converted)."""
    return events if isinstance(events, ContactEvents) else ContactEvents.from_frame(events)


def _counts(values: np.ndarray) -> dict[str, int]:
    """Return value -> count, most frequent first (None as ``unknown``)."""
    labels = pd.Series(values, dtype=object).fillna("unknown").astype(str)
    return {str(k): int(v) for k, v in labels.value_counts().items()}


def _known(source: Any) -> bool:
    """Whether an event has a source."""
    return source is not None and not (isinstance(source, float) and np.isnan(source))


def detect_bursts(events: Events, config: GamingConfig) -> GamingFlag | None:
    """Flag opens / clicks packed into a few minutes (lower bar for those of one source).

    A window of ``burst_window_s`` starting at any open / click is a burst when it holds
    ``burst_min_events`` of them, or ``burst_min_events_one_source`` from one source (a person
    opens an email once or twice and clicks it, a script repeats it); its events are suspicious.

    Args:
        events: One contact's engagement log (frame or arrays).
        config: Thresholds.

    Returns:
        The ``burst`` flag, or None.
    """
    ev = _events(events)
    pos = ev.select(BURST_KINDS)
    low = min(config.burst_min_events, config.burst_min_events_one_source)
    if len(pos) < low:
        return None
    t = ev.t[pos]
    sources = np.array([s if _known(s) else None for s in ev.source[pos]], dtype=object)
    ends = np.searchsorted(t, t + config.burst_window_s, side="right")
    hit = np.zeros(len(t), dtype=bool)
    largest: tuple[int, int, str, int] | None = None  # count, start, top source, its count
    for start in np.flatnonzero(ends - np.arange(len(t)) >= low):
        end = int(ends[start])
        count = end - int(start)
        named = [s for s in sources[start:end] if s is not None]
        top, top_count = ("unknown", 0)
        if named:
            names, counts = np.unique(np.array(named, dtype=str), return_counts=True)
            top, top_count = str(names[counts.argmax()]), int(counts.max())
        if count >= config.burst_min_events or top_count >= config.burst_min_events_one_source:
            hit[start:end] = True
            if largest is None or count > largest[0]:
                largest = (count, int(start), top, top_count)
    if largest is None:
        return None
    count, start, top, top_count = largest
    span = float(t[start + count - 1] - t[start])
    picked = pos[hit]
    kinds = ev.kind[picked]
    evidence = {
        "events": int(hit.sum()),
        "opens": int((kinds == "open").sum()),
        "clicks": int((kinds == "click").sum()),
        "largest_burst": count,
        "largest_span_s": round(span, 1),
        "first_at": _iso(float(ev.t[picked[0]])),
        "last_at": _iso(float(ev.t[picked[-1]])),
        "top_source": top,
        "top_source_events": top_count,
        "sources": _counts(ev.source[picked]),
        "window_s": config.burst_window_s,
    }
    message = (
        f"{count} opens/clicks within {span:.0f} s ({top_count} from {top}); "
        f"{int(hit.sum())} events in bursts"
    )
    return GamingFlag("burst", tuple(ev.event_id[picked]), evidence, message)


def _regular_runs(t: np.ndarray, config: GamingConfig) -> tuple[np.ndarray, float | None]:
    """Return the events in machine-regular runs and the lowest CV seen among them."""
    k = config.bot_min_events
    hit = np.zeros(len(t), dtype=bool)
    if len(t) < k:
        return hit, None
    gaps = np.diff(t)
    windows = np.lib.stride_tricks.sliding_window_view(gaps, k - 1)
    mean = windows.mean(axis=1)
    cv = np.divide(windows.std(axis=1), mean, out=np.full(len(mean), np.inf), where=mean > 0)
    regular = (cv <= config.bot_max_cv) & (mean <= config.bot_max_interval_s) & (mean > 0)
    for start in np.flatnonzero(regular):
        hit[start : start + k] = True
    return hit, (float(cv[regular].min()) if regular.any() else None)


def detect_bot_timing(events: Events, config: GamingConfig) -> GamingFlag | None:
    """Flag engagement at machine-regular or sub-second intervals.

    Args:
        events: One contact's engagement log (frame or arrays).
        config: Thresholds.

    Returns:
        The ``bot_timing`` flag, or None.
    """
    ev = _events(events)
    pos = ev.select(ENGAGEMENT_KINDS)
    if len(pos) < 2:
        return None
    t = ev.t[pos]
    regular, best_cv = _regular_runs(t, config)
    fast = np.diff(t) < config.subsecond_s
    subsecond = np.zeros(len(t), dtype=bool)
    if int(fast.sum()) >= config.subsecond_min_events:
        subsecond[1:] |= fast
        subsecond[:-1] |= fast
    hit = regular | subsecond
    if not hit.any():
        return None
    picked = pos[hit]
    picked_gaps = np.diff(ev.t[picked])
    evidence = {
        "events": int(hit.sum()),
        "regular_events": int(regular.sum()),
        "lowest_interval_cv": None if best_cv is None else round(best_cv, 4),
        "subsecond_intervals": int(fast.sum()) if subsecond.any() else 0,
        "median_interval_s": round(float(np.median(picked_gaps)), 3) if len(picked_gaps) else None,
        "first_at": _iso(float(ev.t[picked[0]])),
        "last_at": _iso(float(ev.t[picked[-1]])),
        "kinds": _counts(ev.kind[picked]),
    }
    parts = []
    if regular.any():
        parts.append(f"{int(regular.sum())} events at regular intervals (CV {best_cv:.3f})")
    if subsecond.any():
        parts.append(f"{int(fast.sum())} sub-second intervals")
    return GamingFlag("bot_timing", tuple(ev.event_id[picked]), evidence, "; ".join(parts))


def detect_zero_dwell(events: Events, config: GamingConfig) -> GamingFlag | None:
    """Flag page views without time on page (enough of them, and most of the visits).

    A missing duration counts only where the source records durations
    (``duration_recorded``): streamed page views may come without one.

    Args:
        events: One contact's engagement log (frame or arrays).
        config: Thresholds.

    Returns:
        The ``zero_dwell`` flag, or None.
    """
    ev = _events(events)
    pos = ev.select(("page_view",))
    if len(pos) < config.zero_dwell_min_events:
        return None
    duration = ev.duration_s[pos]
    empty = np.where(np.isnan(duration), ev.duration_recorded[pos], duration < config.zero_dwell_s)
    share = float(empty.mean())
    if int(empty.sum()) < config.zero_dwell_min_events or share < config.zero_dwell_min_share:
        return None
    picked = pos[empty]
    evidence = {
        "events": int(empty.sum()),
        "page_views": len(pos),
        "share": round(share, 3),
        "missing_duration": int(np.isnan(duration[empty]).sum()),
        "top_pages": dict(list(_counts(ev.page[picked]).items())[:5]),
        "first_at": _iso(float(ev.t[picked[0]])),
        "last_at": _iso(float(ev.t[picked[-1]])),
    }
    message = f"{int(empty.sum())} of {len(pos)} page views ({share:.0%}) without time on page"
    return GamingFlag("zero_dwell", tuple(ev.event_id[picked]), evidence, message)


def detect_scanner(events: Events, config: GamingConfig) -> GamingFlag | None:
    """Flag opens / clicks within seconds of the send they answer (mail scanners).

    Each open or click is matched to the latest send at or before it from the same source
    (campaign); events without a source match the latest send of any campaign. A click within
    ``scanner_s`` of such an open (same source) is the scanner following its links.

    Args:
        events: One contact's engagement log (frame or arrays).
        config: Thresholds.

    Returns:
        The ``scanner`` flag, or None (also when the log holds no sends).
    """
    ev = _events(events)
    sends, reactions = ev.select(("sent",)), ev.select(BURST_KINDS)
    if not len(sends) or len(reactions) < config.scanner_min_events:
        return None
    send_t, send_source = ev.t[sends], ev.source[sends]
    delays = np.full(len(reactions), np.inf)
    for i, position in enumerate(reactions):
        mask = send_t <= ev.t[position]
        if _known(ev.source[position]):
            mask &= send_source == ev.source[position]
        if mask.any():
            delays[i] = ev.t[position] - send_t[mask].max()
    fast = delays <= config.scanner_s
    # A link scanner clicks right after its open: such clicks go with it.
    for i, position in enumerate(reactions):
        if fast[i] or ev.kind[position] != "click":
            continue
        opened = reactions[fast & (ev.kind[reactions] == "open")]
        if _known(ev.source[position]):
            opened = opened[ev.source[opened] == ev.source[position]]
        lag = ev.t[position] - ev.t[opened]
        fast[i] = bool(((lag >= 0) & (lag <= config.scanner_s)).any())
    if int(fast.sum()) < config.scanner_min_events:
        return None
    picked = reactions[fast]
    kinds = ev.kind[picked]
    evidence = {
        "events": int(fast.sum()),
        "opens": int((kinds == "open").sum()),
        "clicks": int((kinds == "click").sum()),
        "median_delay_s": round(float(np.median(delays[fast])), 2),
        "max_delay_s": round(float(np.max(delays[fast])), 2),
        "sends_matched": len({s for s in ev.source[picked] if _known(s)}),
        "first_at": _iso(float(ev.t[picked[0]])),
        "last_at": _iso(float(ev.t[picked[-1]])),
    }
    message = (
        f"{int(fast.sum())} opens/clicks within {config.scanner_s:g} s of their send "
        f"(median {evidence['median_delay_s']} s)"
    )
    return GamingFlag("scanner", tuple(ev.event_id[picked]), evidence, message)


#: Detector of each flag kind.
DETECTORS = {
    "burst": detect_bursts,
    "bot_timing": detect_bot_timing,
    "zero_dwell": detect_zero_dwell,
    "scanner": detect_scanner,
}


def detect_gaming(events: Events, config: GamingConfig) -> list[GamingFlag]:
    """Run every detector over one contact's events (already cut to the window).

    Args:
        events: The contact's engagement log (frame of :data:`LOG_COLUMNS`, or arrays).
        config: Thresholds.

    Returns:
        The flags found, in :data:`FLAG_KINDS` order.
    """
    events = _events(events)
    flags = []
    for kind in FLAG_KINDS:
        flag = DETECTORS[kind](events, config)
        if flag is not None:
            flags.append(flag)
    return flags


def suspicious_ids(flags: list[GamingFlag]) -> list[str]:
    """Return the distinct suspicious event ids of the flags, in order of first mention."""
    return list(dict.fromkeys(event for flag in flags for event in flag.event_ids))


__all__ = [
    "FLAG_KINDS",
    "LOG_COLUMNS",
    "ContactEvents",
    "GamingConfig",
    "GamingFlag",
    "detect_bot_timing",
    "detect_bursts",
    "detect_gaming",
    "detect_scanner",
    "detect_zero_dwell",
    "load_gaming_config",
    "suspicious_ids",
]
