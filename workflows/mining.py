"""Which event sequences precede won deals and replies: PrefixSpan with support and lift.

Each contact becomes one ordered sequence of *items* (CRM events) seen in the ``window_days``
before an anchor:

* **positives**: the anchor is the outcome (the close of the first won deal, or the first
  reply); only events strictly before it count: converters behave differently afterwards;
* **negatives**: ``created_at`` plus an age drawn from the positives' ages at their outcome
  (seeded, capped at the end of the history): both groups are seen at comparable ages.

Items are the real-time engine's event types (:data:`streaming.events.EVENT_TYPES`) with an
optional detail: ``email_opened``, ``email_clicked``, ``email_replied``, ``email_sent`` (a rep's
outbound email), ``meeting_booked`` (a logged meeting), ``call``, ``page_view:pricing`` (by name
for high-intent pages), ``form_submitted:sales``, ``social_engagement``. Campaign sends (they
reach most contacts whatever their intent), notes and tasks (not contact-facing) are left out;
consecutive repeats collapse into one item.

:func:`mine_patterns` mines the patterns frequent among positives with the ``prefixspan``
library (support counted per contact, an item order kept, gaps allowed) and reports for each
the support among positives and negatives, the confidence ``P(outcome | pattern)`` and the
**lift** ``P(outcome | pattern) / P(outcome)``. Associational: reps call and meet contacts
whose deals already move, so a pattern with lift is a cue, not a cause.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from prefixspan import PrefixSpan

from features.extractors import HIGH_INTENT_PAGES, SALES_FORMS
from pipelines.time_columns import utc_naive

if TYPE_CHECKING:
    from pipelines.synthetic_store import SyntheticCRM

Outcome = Literal["won", "replied"]
OUTCOMES: tuple[str, ...] = ("won", "replied")
DEFAULT_WINDOW_DAYS = 30
DEFAULT_MIN_SUPPORT = 0.1
DEFAULT_MAX_LENGTH = 3
#: Longest pattern one may ask for (the search grows fast with the length).
MAX_LENGTH = 5
#: Most recent items kept per sequence, and most patterns :func:`mine_patterns` returns.
MAX_EVENTS, MAX_PATTERNS = 40, 50
_EMAIL_ITEMS = {"open": "email_opened", "click": "email_clicked", "reply": "email_replied"}
#: Streamed event types kept as items (campaign sends and stage changes are left out).
_STREAMED = ("email_opened", "email_clicked", "email_replied", "page_view", "form_submitted",
             "meeting_booked", "social_engagement")  # fmt: skip


@dataclass(frozen=True)
class SequencePattern:
    """One mined pattern with its evidence (built by :meth:`from_counts`).

    Attributes:
        items: The ordered items (gaps allowed between them).
        positive_count: Positive contacts whose sequence contains the pattern.
        negative_count: Negative contacts whose sequence contains it.
        n_positive: Positive contacts in all.
        n_negative: Negative contacts in all.
        support_positive: ``positive_count / n_positive`` (``support_negative`` likewise).
        confidence: ``P(outcome | pattern)``; ``lift``: ``confidence / P(outcome)``.
        score: The ranking score, ``lift * support_positive``.
    """

    items: tuple[str, ...]
    positive_count: int
    negative_count: int
    n_positive: int
    n_negative: int
    support_positive: float
    support_negative: float
    confidence: float
    lift: float
    score: float

    @classmethod
    def from_counts(
        cls, items: Sequence[str], positives: int, negatives: int, n_positive: int, n_negative: int
    ) -> SequencePattern:
        """Compute the figures of a pattern from its counts."""
        confidence = positives / (positives + negatives) if positives + negatives else 0.0
        base = n_positive / (n_positive + n_negative) if n_positive else 0.0
        lift = confidence / base if base else 0.0
        support = positives / n_positive if n_positive else 0.0
        return cls(
            tuple(items), positives, negatives, n_positive, n_negative, support,
            negatives / n_negative if n_negative else 0.0, confidence, lift, lift * support,
        )  # fmt: skip

    @property
    def count(self) -> int:
        """Contacts whose sequence contains the pattern."""
        return self.positive_count + self.negative_count

    def describe(self) -> str:
        """Return the pattern as ``a → b → c``."""
        return " → ".join(self.items)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of the pattern and its figures (shares rounded)."""
        data = {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}
        return {"pattern": list(data.pop("items")), "count": self.count, **data}


@dataclass(frozen=True)
class LabelledSequences:
    """One event sequence per contact, with whether the outcome followed."""

    contact_ids: list[str]
    sequences: list[list[str]]
    outcomes: list[bool]
    outcome: str
    window_days: int

    def summary(self) -> dict[str, Any]:
        """Return the outcome, the window and the counts (JSON-ready)."""
        mean = float(np.mean([len(s) for s in self.sequences])) if self.sequences else 0.0
        return {"outcome": self.outcome, "window_days": self.window_days,
                "contacts": len(self.sequences), "positives": int(sum(self.outcomes)),
                "mean_length": round(mean, 2)}  # fmt: skip


def check_outcome(outcome: str) -> str:
    """Return ``outcome`` if it is ``won`` or ``replied``, else raise a ValueError."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; known: {', '.join(OUTCOMES)}")
    return outcome


def mine_patterns(
    sequences: Sequence[Sequence[str]],
    outcomes: Sequence[bool],
    min_support: float = DEFAULT_MIN_SUPPORT,
    max_length: int = DEFAULT_MAX_LENGTH,
    *,
    min_lift: float = 1.0,
    limit: int = MAX_PATTERNS,
    closed: bool = True,
) -> list[SequencePattern]:
    """Mine the sequential patterns that precede the outcome more often than chance.

    Args:
        sequences: One ordered list of items per contact (empty lists count as contacts).
        outcomes: Whether the outcome followed, per sequence.
        min_support: Least share of positives whose sequence contains a pattern (0.01-1).
        max_length: Longest pattern, in items (1 to :data:`MAX_LENGTH`).
        min_lift: Patterns must have a lift above this.
        limit: Most patterns returned.
        closed: Drop a pattern contained in a one item longer one with the same counts
            (``email_clicked`` when ``email_opened → email_clicked`` has its counts).

    Returns:
        Patterns with ``support_positive >= min_support`` and ``lift > min_lift``, best first
        by lift times support (``[]`` without positives or without negatives).

    Raises:
        ValueError: On mismatched lengths or out-of-range parameters.
    """
    if len(sequences) != len(outcomes):
        raise ValueError(f"{len(sequences)} sequences but {len(outcomes)} outcomes")
    if not (0.01 <= min_support <= 1.0 and 1 <= max_length <= MAX_LENGTH):
        raise ValueError(
            f"min_support must lie in [0.01, 1] and max_length in 1-{MAX_LENGTH}; "
            f"got {min_support} and {max_length}"
        )
    flags = np.asarray(list(outcomes), dtype=bool)
    n_positive, n_negative = int(flags.sum()), int((~flags).sum())
    if n_positive == 0 or n_negative == 0:
        return []

    def positives(_pattern: list[str], matches: list[tuple[int, int]]) -> int:
        return int(sum(flags[sid] for sid, _ in matches))

    found: list[SequencePattern] = []

    def collect(pattern: list[str], matches: list[tuple[int, int]]) -> None:
        hits = positives(pattern, matches)
        found.append(
            SequencePattern.from_counts(pattern, hits, len(matches) - hits, n_positive, n_negative)
        )

    miner = PrefixSpan([list(s) for s in sequences])
    miner.maxlen = max_length
    threshold = max(1, math.ceil(min_support * n_positive - 1e-9))
    miner.frequent(threshold, key=positives, bound=positives, callback=collect)
    kept = [p for p in (drop_unclosed(found) if closed else found) if p.lift > min_lift]
    kept.sort(key=lambda p: (-p.score, -p.lift, len(p.items), p.items))
    return kept[:limit]


def is_subsequence(small: Sequence[str], big: Sequence[str]) -> bool:
    """Return whether ``small`` occurs in ``big`` in order (gaps allowed)."""
    remaining = iter(big)
    return all(item in remaining for item in small)


def drop_unclosed(patterns: Sequence[SequencePattern]) -> list[SequencePattern]:
    """Drop patterns contained in a one item longer pattern with the same counts."""
    longer: dict[tuple[int, int, int], list[tuple[str, ...]]] = defaultdict(list)
    for p in patterns:
        longer[(p.positive_count, p.negative_count, len(p.items))].append(p.items)

    def contained(p: SequencePattern) -> bool:
        key = (p.positive_count, p.negative_count, len(p.items) + 1)
        return any(is_subsequence(p.items, q) for q in longer.get(key, ()))

    return [p for p in patterns if not contained(p)]


def _events(contact_ids: Any, times: Any, items: Any) -> pd.DataFrame:
    """Return an event frame (rows without an item dropped)."""
    ids = pd.Series(contact_ids, dtype=object).map(str).to_numpy()
    item = pd.Series(items, dtype=object).to_numpy()
    frame = pd.DataFrame({"contact_id": ids, "at": utc_naive(times).to_numpy(), "item": item})
    return frame.dropna(subset=["item", "at"])


def activity_events(activities: pd.DataFrame) -> pd.DataFrame:
    """Return the items of rep activities: calls, meetings, outbound and inbound emails."""
    frame = activities.dropna(subset=["contact_id"])
    direction = frame["details"].map(lambda d: d.get("direction") if isinstance(d, dict) else None)
    item = frame["type"].map({"call": "call", "meeting": "meeting_booked"})
    email = frame["type"] == "email"
    item = item.mask(email & (direction == "outbound"), "email_sent")
    item = item.mask(email & (direction == "inbound"), "email_replied")
    return _events(frame["contact_id"], frame["occurred_at"], item)


def page_item(kind: str, page: str | None) -> str | None:
    """Return the item of a web event: ``page_view:pricing``, ``form_submitted:sales``..."""
    if kind == "page_view":
        named = page in HIGH_INTENT_PAGES
        return "page_view:" + str(page).strip("/").replace("-", "_") if named else "page_view"
    if kind in ("form_fill", "form_submitted"):
        return "form_submitted:sales" if page in SALES_FORMS else "form_submitted"
    return None


def crm_events(crm: SyntheticCRM) -> pd.DataFrame:
    """Return every item of a synthetic CRM: activities, email, web and social events."""
    emails, web, social = crm.email_events, crm.web_events, crm.social_events
    pages = [page_item(k, p) for k, p in zip(web["event_type"], web["page"], strict=True)]
    parts = [
        activity_events(crm.activities),
        _events(
            emails["contact_id"], emails["occurred_at"], emails["event_type"].map(_EMAIL_ITEMS)
        ),
        _events(web["contact_id"], web["occurred_at"], pages),
        _events(social["contact_id"], social["occurred_at"], ["social_engagement"] * len(social)),
    ]
    return pd.concat(parts, ignore_index=True)


def outcome_anchors(events: pd.DataFrame, deals: pd.DataFrame, outcome: str) -> pd.Series:
    """Return contact id -> time of the outcome (first won deal close, or first reply)."""
    if check_outcome(outcome) == "won":
        won = deals[deals["is_won"].eq(True) & deals["closed_at"].notna()]
        times = _events(won["contact_id"], won["closed_at"], ["won"] * len(won))
    else:
        times = events.loc[events["item"] == "email_replied", ["contact_id", "at"]]
    return times.groupby("contact_id")["at"].min()


def build_sequences(
    events: pd.DataFrame,
    contacts: pd.DataFrame,
    anchors: pd.Series,
    end: pd.Timestamp,
    *,
    outcome: str,
    window_days: int = DEFAULT_WINDOW_DAYS,
    seed: int = 0,
    max_events: int = MAX_EVENTS,
) -> LabelledSequences:
    """Cut each contact's items in the window before its anchor (see the module docstring).

    Args:
        events: ``contact_id``, ``at``, ``item`` rows.
        contacts: ``contact_id`` and ``created_at`` of every contact.
        anchors: Contact id -> outcome time of the positives.
        end: End of the history (the latest anchor a negative gets).
        outcome: Name of the outcome (reported).
        window_days: Length of the window before the anchor.
        seed: Seed of the negatives' matched ages.
        max_events: Most recent items kept per contact.

    Returns:
        The labelled sequences, contacts in ``contacts`` order.
    """
    if window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    ids = contacts["contact_id"].map(str).to_numpy()
    created = utc_naive(contacts["created_at"]).to_numpy()
    anchor = pd.Series(anchors, dtype="datetime64[ns]").reindex(ids).to_numpy()
    positive = ~np.isnat(anchor)
    end_at = np.datetime64(pd.Timestamp(end), "ns")
    ages = (anchor - created)[positive & (created <= anchor)]
    negatives = np.flatnonzero(~positive)
    if len(ages) and len(negatives):
        drawn = np.random.default_rng(seed).choice(ages, size=len(negatives))
        anchor[negatives] = np.minimum(created[negatives] + drawn, end_at)
    anchor[np.isnat(anchor)] = end_at
    cut = events.merge(pd.DataFrame({"contact_id": ids, "anchor": anchor}), on="contact_id")
    window = np.timedelta64(int(window_days) * 86_400, "s")
    cut = cut[(cut["at"] < cut["anchor"]) & (cut["at"] >= cut["anchor"] - window)]
    cut = cut.sort_values(["contact_id", "at", "item"], kind="stable")
    repeat = (cut["item"] == cut["item"].shift()) & (cut["contact_id"] == cut["contact_id"].shift())
    cut = cut[~repeat].groupby("contact_id", sort=False).tail(max_events)
    grouped = cut.groupby("contact_id", sort=False)["item"].agg(list).to_dict()
    return LabelledSequences(
        contact_ids=list(ids),
        sequences=[grouped.get(cid, []) for cid in ids],
        outcomes=[bool(p) for p in positive],
        outcome=outcome,
        window_days=int(window_days),
    )


def sequences_from_crm(
    crm: SyntheticCRM,
    outcome: Outcome = "won",
    window_days: int = DEFAULT_WINDOW_DAYS,
    *,
    seed: int = 0,
) -> LabelledSequences:
    """Build the labelled sequences of a synthetic CRM (every event stream included).

    Args:
        crm: The synthetic CRM.
        outcome: ``won`` (anchor: first won deal's close) or ``replied`` (first reply).
        window_days: Length of the window before the anchor.
        seed: Seed of the negatives' matched ages.
    """
    events = crm_events(crm)
    anchors = outcome_anchors(events, crm.deals, outcome)
    contacts = crm.contacts.rename(columns={"id": "contact_id"})
    end = pd.Timestamp(crm.labels["label_time"].max())
    return build_sequences(
        events, contacts, anchors, end, outcome=outcome, window_days=window_days, seed=seed
    )


def sequences_from_db(
    database_url: str,
    outcome: Outcome = "won",
    window_days: int = DEFAULT_WINDOW_DAYS,
    *,
    seed: int = 0,
) -> LabelledSequences:
    """Build the labelled sequences from the CRM database.

    The database holds rep activities, deals and the streamed events (``stream_events``:
    opens, clicks, replies, page views without their page); campaign sends are not in it.

    Args:
        database_url: SQLAlchemy URL of the CRM database.
        outcome: ``won`` or ``replied``.
        window_days: Length of the window before the anchor.
        seed: Seed of the negatives' matched ages.
    """
    from sqlalchemy import select

    from haste.db.models import Activity, Contact, Deal
    from haste.db.session import session_scope
    from haste.db.stream_tables import StreamEvent

    def rows(session: Any, *columns: Any) -> pd.DataFrame:
        found = session.execute(select(*columns)).all()
        return pd.DataFrame([tuple(r) for r in found], columns=[c.key for c in columns])

    check_outcome(outcome)
    with session_scope(database_url) as db:
        contacts = rows(db, Contact.id, Contact.created_at).rename(columns={"id": "contact_id"})
        acts = rows(db, Activity.contact_id, Activity.type, Activity.occurred_at, Activity.details)
        deals = rows(db, Deal.contact_id, Deal.closed_at, Deal.is_won).dropna(subset=["contact_id"])
        stream = rows(db, StreamEvent.contact_id, StreamEvent.event_type, StreamEvent.occurred_at)
    streamed = stream["event_type"].where(stream["event_type"].isin(_STREAMED))
    events = pd.concat(
        [activity_events(acts), _events(stream["contact_id"], stream["occurred_at"], streamed)],
        ignore_index=True,
    )
    anchors = outcome_anchors(events, deals, outcome)
    known = [t for t in (events["at"].max(), anchors.max()) if pd.notna(t)]
    end = max(known) if known else pd.Timestamp.now(tz="UTC").tz_localize(None)
    return build_sequences(
        events, contacts, anchors, end, outcome=outcome, window_days=window_days, seed=seed
    )
