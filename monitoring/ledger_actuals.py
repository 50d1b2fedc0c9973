"""Where the forecast ledger's actuals come from, and when each one counts as arrived.

An :class:`ActualsSource` answers "what happened, and when was it known?" for one ledger entry;
:func:`monitoring.ledger.resolve_ledger` uses an actual only once it was known by ``as_of``.

* :class:`MavenActuals`: the Maven CRM export: a month's won revenue (known at the month's
  end), a deal's days to close and won/lost (known on its close date);
* :class:`CrmActuals`: the platform's own CRM tables: ``deals`` (``closed_at``, ``is_won``,
  ``amount``; days to close from ``created_at``) and ``accounts.status`` (``churned``), read when
  the entry is due;
* :class:`LabelActuals`: held-out labels revealed at the horizon. The Telco churn table has no
  time axis, so a churn prediction of a held-out customer (never seen in training) is resolved at
  its ``target_at`` against that customer's ``Churn`` label (:meth:`LabelActuals.from_telco`);
* :class:`CombinedActuals`: the first source that knows the entry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd

#: Ledger kinds resolved by an event (a deal closing), possibly before ``target_at``.
EVENT_KINDS: tuple[str, ...] = ("deal_velocity", "win_probability")


def as_utc(value: dt.datetime | dt.date | pd.Timestamp | str) -> dt.datetime:
    """Return ``value`` as a timezone-aware UTC datetime (naive values are taken as UTC)."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def month_end(month: pd.Period | str) -> dt.datetime:
    """Return when a month's actual is known: 00:00 UTC on the first day of the next month."""
    period = pd.Period(month, freq="M")
    return as_utc((period + 1).to_timestamp())


@dataclass(frozen=True)
class Actual:
    """A realised value and when it became known.

    Attributes:
        value: Revenue, days to close, or an event (1.0 happened, 0.0 did not).
        observed_at: When it was known (close date, month end, horizon end).
    """

    value: float
    observed_at: dt.datetime


@dataclass(frozen=True)
class PendingEntry:
    """What a source needs to know about an unresolved ledger entry."""

    kind: str
    entity_id: str
    made_at: dt.datetime
    target_at: dt.datetime


class ActualsSource(Protocol):
    """Anything that can tell an entry's actual (None: not known to this source)."""

    def actual_of(self, entry: PendingEntry) -> Actual | None:
        """Return the entry's actual and when it was known, or None."""
        ...


def _deal_actual(kind: str, days: float, won: bool, closed: dt.datetime) -> Actual | None:
    """Return a closed deal's actual for a deal kind."""
    if kind == "deal_velocity":
        return Actual(float(days), closed)
    if kind == "win_probability":
        return Actual(1.0 if won else 0.0, closed)
    return None


@dataclass
class MavenActuals:
    """Actuals of the Maven CRM export (:func:`training.deal_data.build_deal_frame`'s frame).

    Args:
        frame: The deal frame (``opportunity_id``, ``deal_stage``, ``engage_date``,
            ``close_date``, ``close_value``, ``days_to_close``).
    """

    frame: pd.DataFrame
    _deals: dict[str, tuple[float, bool, dt.datetime]] = field(init=False, repr=False)
    _revenue: dict[str, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        closed = self.frame[self.frame["deal_stage"].isin(("Won", "Lost"))]
        closed = closed.dropna(subset=["close_date", "engage_date"])
        days = (closed["close_date"] - closed["engage_date"]).dt.days
        self._deals = {
            str(i): (float(d), stage == "Won", as_utc(c))
            for i, d, stage, c in zip(
                closed["opportunity_id"], days, closed["deal_stage"], closed["close_date"],
                strict=True,
            )
        }  # fmt: skip
        months = closed["close_date"].dt.to_period("M")
        won = closed["deal_stage"] == "Won"
        by_month = closed.loc[won, "close_value"].groupby(months[won]).sum()
        span = pd.period_range(months.min(), months.max(), freq="M") if len(months) else []
        self._revenue = {str(m): float(by_month.get(m, 0.0)) for m in span}

    def actual_of(self, entry: PendingEntry) -> Actual | None:
        """Return a month's won revenue or a closed deal's days / outcome."""
        if entry.kind == "revenue_forecast":
            value = self._revenue.get(entry.entity_id)
            return None if value is None else Actual(value, month_end(entry.entity_id))
        deal = self._deals.get(entry.entity_id)
        return None if deal is None else _deal_actual(entry.kind, *deal)


@dataclass
class CrmActuals:
    """Actuals from the platform's CRM tables (deals and accounts of the database at ``url``)."""

    url: str
    _deals: dict[str, tuple[float, bool, dt.datetime, float]] | None = field(
        default=None, init=False, repr=False
    )
    _status: dict[str, str] | None = field(default=None, init=False, repr=False)

    def _load(self) -> None:
        """Read closed deals and account statuses once."""
        from sqlalchemy import select

        from haste.db import Account, Deal, session_scope

        with session_scope(self.url) as session:
            deals = session.execute(
                select(Deal.id, Deal.created_at, Deal.closed_at, Deal.is_won, Deal.amount).where(
                    Deal.closed_at.is_not(None)
                )
            ).all()
            accounts = session.execute(select(Account.id, Account.status)).all()
        self._deals = {}
        for deal_id, created, closed, won, amount in deals:
            closed_at, created_at = as_utc(closed), as_utc(created)
            days = max((closed_at - created_at).total_seconds() / 86400.0, 0.0)
            self._deals[str(deal_id)] = (days, bool(won), closed_at, float(amount or 0.0))
        self._status = {str(a): str(s or "") for a, s in accounts}

    def actual_of(self, entry: PendingEntry) -> Actual | None:
        """Return a CRM deal's outcome, an account's churn, or a month's won deal amounts."""
        if self._deals is None or self._status is None:
            self._load()
        assert self._deals is not None and self._status is not None
        if entry.kind == "churn":
            status = self._status.get(entry.entity_id)
            if status not in ("churned", "active"):
                return None
            return Actual(1.0 if status == "churned" else 0.0, entry.target_at)
        if entry.kind == "revenue_forecast":
            month = pd.Period(entry.entity_id, freq="M")
            won = [
                amount
                for _, is_won, closed, amount in self._deals.values()
                if is_won and pd.Timestamp(closed).tz_localize(None).to_period("M") == month
            ]
            return Actual(float(sum(won)), month_end(month)) if won else None
        deal = self._deals.get(entry.entity_id)
        return None if deal is None else _deal_actual(entry.kind, *deal[:3])


@dataclass(frozen=True)
class LabelActuals:
    """Held-out labels of one kind, revealed at each entry's ``target_at``.

    Args:
        kind: The ledger kind the labels resolve (``churn``).
        labels: Entity id -> event (1.0 / 0.0).
    """

    kind: str
    labels: Mapping[str, float]

    def actual_of(self, entry: PendingEntry) -> Actual | None:
        """Return the entity's label, known at the entry's horizon."""
        if entry.kind != self.kind or entry.entity_id not in self.labels:
            return None
        return Actual(float(self.labels[entry.entity_id]), entry.target_at)

    @classmethod
    def from_telco(cls, datasets_dir: Path) -> LabelActuals:
        """Return the Telco ``Churn`` labels keyed like the churn predictions (entity UUIDs)."""
        from haste.records import entity_uuid
        from pipelines.datasets import load_telco

        telco = load_telco(datasets_dir)
        labels = {
            str(entity_uuid("telco", str(customer))): float(churn)
            for customer, churn in zip(telco["customerID"], telco["Churn"], strict=True)
        }
        return cls("churn", labels)


@dataclass(frozen=True)
class CombinedActuals:
    """The first of several sources that knows an entry."""

    sources: Sequence[ActualsSource]

    def actual_of(self, entry: PendingEntry) -> Actual | None:
        """Return the first known actual."""
        for source in self.sources:
            actual = source.actual_of(entry)
            if actual is not None:
                return actual
        return None


def default_actuals(url: str, datasets_dir: Path | None) -> CombinedActuals:
    """Return the platform's sources: the CRM, then Maven and Telco when the datasets exist.

    Args:
        url: Database URL (CRM deals and accounts).
        datasets_dir: The shared datasets folder (None or absent: CRM only).

    Returns:
        The combined source.
    """
    from pipelines.datasets import DatasetNotFoundError, load_maven_crm

    sources: list[ActualsSource] = [CrmActuals(url)]
    if datasets_dir is not None:
        try:
            from training.deal_data import build_deal_frame

            sources.append(MavenActuals(build_deal_frame(load_maven_crm(datasets_dir))))
        except (DatasetNotFoundError, FileNotFoundError):
            pass
        with contextlib.suppress(DatasetNotFoundError, FileNotFoundError):
            sources.append(LabelActuals.from_telco(datasets_dir))
    return CombinedActuals(sources)
