"""Inject score-gaming patterns and organic heavy engagement into a copy of the CRM's events.

Ground truth for the detectors of :mod:`monitoring.gaming_rules` (seeded, so reproducible).
Each chosen contact gets one pattern, placed in the 20 days before its newest event (inside
the default 30-day window):

* ``burst``: 6-25 opens / clicks at exponential gaps (mean 2-12 s); 70 % from one campaign,
  the others spread over 2-4 campaigns (a small multi-source burst may stay under the bar);
* ``bot_timing``: 8-29 page views (with time on page) or clicks at a fixed period of 3-120 s
  with up to +/-8 % jitter;
* ``zero_dwell``: 5-25 high-intent page views over 1-7 days with no time on page (0 s, or no
  duration recorded for 30 % of them);
* ``scanner``: an open 0.5-8 s after 2-6 of the contact's sends, half of them followed by a
  click 1-4 s later.

Hard negatives (``organic``): heavy engagers whose extra engagement is human-like: 2-5 visits
of 3-10 pages with log-normal time on page (the last page of half the visits has none, as
analytics tools record it) and inbox sessions opening 2-4 recent campaigns (some opened twice,
half clicked 5-60 s after the open). Their scores rise and must stay unflagged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from monitoring.gaming_log import EngagementData

#: Patterns :func:`inject_gaming` can inject (the hard negatives are ``organic``).
INJECTED_PATTERNS: tuple[str, ...] = ("burst", "bot_timing", "zero_dwell", "scanner")
_HIGH_PAGES = ("/pricing", "/demo", "/case-studies", "/security")
_OTHER_PAGES = ("/", "/blog", "/features", "/integrations", "/about")


@dataclass(frozen=True)
class Injection:
    """The data with injected events and the ground truth.

    Attributes:
        data: A copy of the input with the injected events appended.
        truth: Contact -> pattern (one of :data:`INJECTED_PATTERNS`, or ``organic``).
        injected: Contact -> ids of the events added to it.
    """

    data: EngagementData
    truth: dict[str, str]
    injected: dict[str, list[str]]


class _Builder:
    """Collects the injected rows of one call."""

    def __init__(self) -> None:
        self.email: list[dict[str, Any]] = []
        self.web: list[dict[str, Any]] = []
        self.ids: dict[str, list[str]] = {}

    def _id(self, contact: str, pattern: str) -> str:
        ids = self.ids.setdefault(contact, [])
        event_id = f"inj:{pattern}:{contact}:{len(ids)}"
        ids.append(event_id)
        return event_id

    def email_event(
        self, contact: str, pattern: str, kind: str, campaign: Any, at: pd.Timestamp
    ) -> None:
        row = {"contact_id": contact, "event_type": kind, "campaign": campaign, "occurred_at": at}
        self.email.append({"event_id": self._id(contact, pattern), **row})

    def page_view(
        self, contact: str, pattern: str, page: str, duration: float, at: pd.Timestamp
    ) -> None:
        self.web.append(
            {
                "event_id": self._id(contact, pattern),
                "contact_id": contact,
                "event_type": "page_view",
                "page": page,
                "duration_s": duration,
                "occurred_at": at,
                "duration_recorded": True,
            }
        )


def _seconds(value: float) -> pd.Timedelta:
    """Return seconds as a timedelta (sub-second precision kept)."""
    return pd.Timedelta(microseconds=round(value * 1e6))


def _campaigns(sends: pd.DataFrame, before: pd.Timestamp, n: int) -> list[tuple[Any, Any]]:
    """Return up to ``n`` of the latest ``(campaign, send time)`` before ``before``."""
    prior = sends[sends["occurred_at"] < before].sort_values("occurred_at").tail(n)
    return list(zip(prior["campaign"], prior["occurred_at"], strict=True))


def _burst(b: _Builder, rng: np.random.Generator, c: str, at: pd.Timestamp, sends: Any) -> None:
    n = int(rng.integers(6, 26))
    names = [name for name, _ in _campaigns(sends, at, 4)] or ["campaign-x"]
    one = rng.random() < 0.7 or len(names) == 1
    pool = names[:1] if one else names[: int(rng.integers(2, len(names) + 1))]
    gap = rng.uniform(2.0, 12.0)
    t = at
    for _ in range(n):
        t = t + _seconds(rng.exponential(gap))
        kind = "open" if rng.random() < 0.65 else "click"
        b.email_event(c, "burst", kind, pool[int(rng.integers(len(pool)))], t)


def _bot(b: _Builder, rng: np.random.Generator, c: str, at: pd.Timestamp, sends: Any) -> None:
    n = int(rng.integers(8, 30))
    period = rng.uniform(3.0, 120.0)
    jitter = rng.uniform(0.0, 0.08) * period
    names = [name for name, _ in _campaigns(sends, at, 1)] or ["campaign-x"]
    views = rng.random() < 0.5
    for i in range(n):
        t = at + _seconds(i * period + rng.uniform(-jitter, jitter))
        if views:
            page = _HIGH_PAGES[int(rng.integers(len(_HIGH_PAGES)))]
            b.page_view(c, "bot_timing", page, round(period * rng.uniform(0.5, 0.9), 1), t)
        else:
            b.email_event(c, "bot_timing", "click", names[0], t)


def _zero(b: _Builder, rng: np.random.Generator, c: str, at: pd.Timestamp, sends: Any) -> None:
    n = int(rng.integers(5, 26))
    span_s = rng.uniform(1.0, 7.0) * 86_400
    for offset in np.sort(rng.uniform(0.0, span_s, n)):
        page = _HIGH_PAGES[int(rng.integers(len(_HIGH_PAGES)))]
        duration = np.nan if rng.random() < 0.3 else 0.0
        b.page_view(c, "zero_dwell", page, duration, at + _seconds(offset))


def _scanner(b: _Builder, rng: np.random.Generator, c: str, at: pd.Timestamp, sends: Any) -> None:
    chosen = _campaigns(sends, at + pd.Timedelta(days=20), int(rng.integers(2, 7)))
    for campaign, sent in chosen:
        opened = pd.Timestamp(sent) + _seconds(rng.uniform(0.5, 8.0))
        b.email_event(c, "scanner", "open", campaign, opened)
        if rng.random() < 0.5:
            b.email_event(c, "scanner", "click", campaign, opened + _seconds(rng.uniform(1, 4)))


def _organic(b: _Builder, rng: np.random.Generator, c: str, at: pd.Timestamp, sends: Any) -> None:
    for _ in range(int(rng.integers(2, 6))):
        start = at + _seconds(rng.uniform(0.0, 18.0) * 86_400)
        if rng.random() < 0.5:  # a visit: pages with human time on page
            t = start
            pages = int(rng.integers(3, 11))
            for i in range(pages):
                dwell = float(np.exp(rng.normal(3.6, 0.8)))
                last_unrecorded = i == pages - 1 and rng.random() < 0.5
                pool = _HIGH_PAGES if rng.random() < 0.4 else _OTHER_PAGES
                page = pool[int(rng.integers(len(pool)))]
                b.page_view(c, "organic", page, 0.0 if last_unrecorded else round(dwell, 1), t)
                t = t + _seconds(dwell + rng.uniform(1.0, 5.0))
        else:  # an inbox session over the latest campaigns
            chosen = _campaigns(sends, start, int(rng.integers(2, 5)))
            if not chosen:
                continue
            t = max(start, max(pd.Timestamp(s) for _, s in chosen) + pd.Timedelta(minutes=2))
            for campaign, _ in chosen:
                t = t + _seconds(rng.exponential(40.0) + 3.0)
                b.email_event(c, "organic", "open", campaign, t)
                if rng.random() < 0.3:
                    b.email_event(
                        c, "organic", "open", campaign, t + _seconds(rng.uniform(10, 120))
                    )
                if rng.random() < 0.5:
                    b.email_event(c, "organic", "click", campaign, t + _seconds(rng.uniform(5, 60)))


_INJECTORS = {
    "burst": _burst,
    "bot_timing": _bot,
    "zero_dwell": _zero,
    "scanner": _scanner,
    "organic": _organic,
}


def inject_gaming(
    data: EngagementData,
    per_pattern: int = 40,
    organic: int = 120,
    seed: int = 0,
) -> Injection:
    """Inject each pattern into ``per_pattern`` contacts and organic engagement into others.

    Contacts are drawn (without replacement) among those with at least 3 campaign sends.

    Args:
        data: Engagement data of a CRM (:func:`monitoring.gaming_log.engagement_data`).
        per_pattern: Contacts per gaming pattern.
        organic: Hard-negative contacts (organic heavy engagers).
        seed: Seed of every draw.

    Returns:
        The new data (the input is not modified) and the ground truth.

    Raises:
        ValueError: When the CRM has too few eligible contacts.
    """
    rng = np.random.default_rng(seed)
    sends = data.email[data.email["event_type"] == "sent"]
    per_contact = sends.groupby("contact_id").size()
    eligible = np.sort(per_contact[per_contact >= 3].index.to_numpy())
    plan = [p for p in INJECTED_PATTERNS for _ in range(per_pattern)] + ["organic"] * organic
    if len(plan) > len(eligible):
        raise ValueError(f"{len(plan)} contacts needed, {len(eligible)} have 3+ sends")
    chosen = rng.choice(eligible, size=len(plan), replace=False)
    newest = pd.concat([data.email, data.web])[["contact_id", "occurred_at"]]
    newest = newest.groupby("contact_id")["occurred_at"].max()
    sends_of = dict(tuple(sends.groupby("contact_id")))
    builder = _Builder()
    truth: dict[str, str] = {}
    for contact, pattern in zip(chosen, plan, strict=True):
        contact = str(contact)
        at = newest[contact] - pd.Timedelta(days=float(rng.uniform(1.0, 20.0)))
        _INJECTORS[pattern](builder, rng, contact, at, sends_of[contact])
        truth[contact] = pattern
    email = pd.concat([data.email, pd.DataFrame(builder.email)], ignore_index=True)
    web = pd.concat([data.web, pd.DataFrame(builder.web)], ignore_index=True)
    for frame in (email, web):
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"]).astype("datetime64[ns]")
    return Injection(replace(data, email=email, web=web), truth, builder.ids)


def detection_figures(truth: dict[str, str], flagged: dict[str, list[str]]) -> dict[str, Any]:
    """Return precision and recall per pattern and overall.

    Overall, any flag on a gamed contact is a hit and any flag on another contact (organic or
    untouched) a false alarm. Per pattern, recall is the share of its contacts flagged with its
    own kind; ``precision`` counts as false alarms the flags of that kind on contacts that were
    not gamed at all, ``strict_precision`` also those on contacts gamed with another pattern
    (``cross``: a click bot at 3-second intervals is a burst too).

    Args:
        truth: Contact -> injected pattern (``organic`` for hard negatives); contacts not in
            it were left untouched.
        flagged: Contact -> flag kinds found, for every flagged contact.

    Returns:
        ``overall`` and ``per_pattern`` (``precision``, ``recall``, ``tp``, ``fp``, ``fn``;
        per pattern also ``strict_precision`` and ``cross``) and ``organic_flagged`` (hard
        negatives flagged).
    """

    def ratio(num: int, den: int) -> float | None:
        return round(num / den, 4) if den else None

    gamed = {c for c, p in truth.items() if p in INJECTED_PATTERNS}
    per_pattern = {}
    for pattern in INJECTED_PATTERNS:
        own = {c for c, p in truth.items() if p == pattern}
        hit = {c for c, kinds in flagged.items() if pattern in kinds}
        tp, fp, fn = len(own & hit), len(hit - gamed), len(own - hit)
        cross = len((hit & gamed) - own)
        per_pattern[pattern] = {
            "precision": ratio(tp, tp + fp),
            "strict_precision": ratio(tp, tp + fp + cross),
            "recall": ratio(tp, tp + fn),
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "cross": cross,
        }
    any_flag = {c for c, kinds in flagged.items() if kinds}
    tp, fp, fn = len(gamed & any_flag), len(any_flag - gamed), len(gamed - any_flag)
    return {
        "overall": {
            "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn),
            "tp": tp,
            "fp": fp,
            "fn": fn,
        },
        "per_pattern": per_pattern,
        "organic_flagged": sum(1 for c in any_flag if truth.get(c) == "organic"),
    }


__all__ = ["INJECTED_PATTERNS", "Injection", "detection_figures", "inject_gaming"]
