"""The forecast ledger: record forecasts where they are made, resolve them, report accuracy.

* :func:`record_forecasts`: store :class:`LedgerEntry` rows (idempotent: the same kind, entity,
  model version and ``made_at`` is stored once);
* :func:`resolve_ledger`: for every pending entry whose actual has arrived by ``as_of``, store
  the actual and its errors (:func:`monitoring.ledger_scoring.entry_errors`). A revenue month
  or a churn horizon resolves only once ``target_at`` has passed; a deal resolves when it closes
  (days to close and won/lost are known then, early or late);
* :func:`ledger_report`: accuracy per kind and per month of ``made_at`` (MAPE, coverage, Brier),
  each next to the naive baseline's; :func:`ledger_markdown` renders it.

Framework-free; :mod:`flows.forecast_ledger` schedules the resolution daily.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from monitoring.ledger_actuals import EVENT_KINDS, ActualsSource, PendingEntry, as_utc
from monitoring.ledger_scoring import entry_errors, summarize_by, summarize_entries

#: Kinds of ledger entry (mirrors :data:`haste.db.LEDGER_KINDS`).
KINDS: tuple[str, ...] = ("revenue_forecast", "deal_velocity", "win_probability", "churn")
#: Columns of the unique key (one row per forecast).
UNIQUE_KEY: tuple[str, ...] = ("kind", "entity_id", "model_version", "made_at")


def _number(value: Any) -> float | None:
    """Return ``value`` as a float, None for missing / NaN values."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class LedgerEntry:
    """One forecast to record.

    Attributes:
        kind: One of :data:`KINDS`.
        entity_type: ``period``, ``deal`` or ``account``.
        entity_id: ``2017-06`` (a month), an opportunity id, an account id.
        model_name: Producing model.
        model_version: Its version.
        made_at: When the forecast was made.
        target_at: When the actual is due.
        predicted: Value forecast (revenue, days to close).
        interval_low: Interval lower bound.
        interval_high: Interval upper bound.
        coverage: Nominal coverage of the interval.
        probability: Probability forecast (win, churn).
        naive: The naive baseline's forecast made at the same time.
    """

    kind: str
    entity_type: str
    entity_id: str
    model_name: str
    model_version: str
    made_at: dt.datetime
    target_at: dt.datetime
    predicted: float | None = None
    interval_low: float | None = None
    interval_high: float | None = None
    coverage: float | None = None
    probability: float | None = None
    naive: float | None = None

    def to_row(self) -> dict[str, Any]:
        """Return the validated ``forecast_ledger`` row (times in UTC, NaN as None).

        Raises:
            ValueError: Unknown kind, empty ids, a target before ``made_at``, a probability or
                coverage outside [0, 1], an interval with low > high, or no forecast at all.
        """
        if self.kind not in KINDS:
            raise ValueError(f"unknown ledger kind {self.kind!r}; expected one of {KINDS}")
        if not str(self.entity_id) or not self.model_name or not self.model_version:
            raise ValueError("a ledger entry needs an entity id, a model name and a version")
        made, target = as_utc(self.made_at), as_utc(self.target_at)
        if target < made:
            raise ValueError(f"target_at {target} is before made_at {made}")
        row = {
            "kind": self.kind,
            "entity_type": self.entity_type,
            "entity_id": str(self.entity_id)[:100],
            "model_name": self.model_name,
            "model_version": str(self.model_version)[:50],
            "made_at": made,
            "target_at": target,
            "horizon_days": (target - made).days,
            **{
                name: _number(getattr(self, name))
                for name in (
                    "predicted", "interval_low", "interval_high", "coverage", "probability",
                    "naive",
                )
            },
        }  # fmt: skip
        for name in ("probability", "coverage"):
            if row[name] is not None and not 0.0 <= row[name] <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], not {row[name]}")
        low, high = row["interval_low"], row["interval_high"]
        if low is not None and high is not None and low > high:
            raise ValueError(f"interval low {low} is above high {high}")
        if row["predicted"] is None and row["probability"] is None:
            raise ValueError(f"a {self.kind} entry needs a predicted value or a probability")
        return row


def record_forecasts(url: str, entries: Iterable[LedgerEntry]) -> int:
    """Store forecasts in the ledger, skipping those already recorded.

    Args:
        url: Database URL.
        entries: The forecasts (validated first: nothing is written if one is invalid).

    Returns:
        Rows newly inserted.
    """
    from sqlalchemy import func, select
    from sqlalchemy.dialects import postgresql, sqlite

    from haste.db import ForecastLedgerEntry, session_scope
    from haste.db.models import utcnow

    now = utcnow()
    rows = [{"id": uuid.uuid4(), "created_at": now, **e.to_row()} for e in entries]
    if not rows:
        return 0
    table = ForecastLedgerEntry.__table__
    with session_scope(url) as session:
        module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        statement = module.insert(table).on_conflict_do_nothing(index_elements=list(UNIQUE_KEY))
        before = session.scalar(select(func.count()).select_from(table)) or 0
        for start in range(0, len(rows), 2000):
            session.execute(statement, rows[start : start + 2000])
        after = session.scalar(select(func.count()).select_from(table)) or 0
    return int(after - before)


def _is_due(
    kind: str, target_at: dt.datetime, observed_at: dt.datetime, as_of: dt.datetime
) -> bool:
    """Return whether an actual counts at ``as_of`` (arrived; horizon passed unless an event)."""
    if observed_at > as_of:
        return False
    return kind in EVENT_KINDS or target_at <= as_of


@dataclass(frozen=True)
class ResolveResult:
    """What one resolution pass did."""

    resolved: int
    pending: int
    as_of: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"resolved": self.resolved, "pending": self.pending, "as_of": self.as_of.isoformat()}


def resolve_ledger(
    url: str, actuals_source: ActualsSource, as_of: dt.datetime | str | None = None
) -> ResolveResult:
    """Fill the actual and errors of every pending entry whose actual has arrived by ``as_of``.

    Args:
        url: Database URL.
        actuals_source: Where actuals come from (:mod:`monitoring.ledger_actuals`).
        as_of: "Now" of the resolution (default: the current time). An actual known later, or
            a revenue month / churn horizon not over by then, leaves the entry pending.

    Returns:
        Entries resolved now and entries still pending.
    """
    from sqlalchemy import select, update

    from haste.db import ForecastLedgerEntry, session_scope
    from haste.db.models import utcnow

    now = as_utc(as_of) if as_of is not None else utcnow()
    with session_scope(url) as session:
        pending = session.execute(
            select(
                ForecastLedgerEntry.id, ForecastLedgerEntry.kind, ForecastLedgerEntry.entity_id,
                ForecastLedgerEntry.made_at, ForecastLedgerEntry.target_at,
                ForecastLedgerEntry.predicted, ForecastLedgerEntry.probability,
                ForecastLedgerEntry.naive, ForecastLedgerEntry.interval_low,
                ForecastLedgerEntry.interval_high,
            ).where(ForecastLedgerEntry.resolved_at.is_(None))
        ).all()  # fmt: skip
        updates = []
        for row in pending:
            entry = PendingEntry(
                row.kind, row.entity_id, as_utc(row.made_at), as_utc(row.target_at)
            )
            actual = actuals_source.actual_of(entry)
            if actual is None or not _is_due(row.kind, entry.target_at, actual.observed_at, now):
                continue
            errors = entry_errors(
                row.kind, actual.value, row.predicted, row.probability, row.naive,
                row.interval_low, row.interval_high,
            )  # fmt: skip
            updates.append(
                {"id": row.id, "actual": actual.value, "resolved_at": now, "errors": errors}
            )
        for start in range(0, len(updates), 2000):
            session.execute(update(ForecastLedgerEntry), updates[start : start + 2000])
    return ResolveResult(resolved=len(updates), pending=len(pending) - len(updates), as_of=now)


def ledger_rows(url: str, kinds: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Return every ledger row as a dict (with ``month``, the ``YYYY-MM`` of ``made_at``).

    Args:
        url: Database URL.
        kinds: Only these kinds (default: all).

    Returns:
        Rows ordered by ``made_at``.
    """
    from sqlalchemy import select

    from haste.db import ForecastLedgerEntry, session_scope

    query = select(ForecastLedgerEntry).order_by(ForecastLedgerEntry.made_at)
    if kinds:
        query = query.where(ForecastLedgerEntry.kind.in_(list(kinds)))
    columns = [c.name for c in ForecastLedgerEntry.__table__.columns]
    with session_scope(url) as session:
        rows = [{c: getattr(entry, c) for c in columns} for entry in session.scalars(query)]
    for row in rows:
        for name in ("made_at", "target_at", "resolved_at", "created_at"):
            if row[name] is not None:
                row[name] = as_utc(row[name])
        row["month"] = row["made_at"].strftime("%Y-%m")
    return rows


def build_report(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Return the accuracy report of ledger rows (see :func:`ledger_report`)."""
    by_kind = {
        kind: summarize_entries(r for r in rows if r["kind"] == kind)
        for kind in KINDS
        if any(r["kind"] == kind for r in rows)
    }
    return {
        "entries": len(rows),
        "resolved": sum(1 for r in rows if r.get("errors") is not None),
        "kinds": by_kind,
        "months": summarize_by(rows, "month"),
    }


def ledger_report(url: str, kinds: Sequence[str] | None = None) -> dict[str, Any]:
    """Return the ledger's accuracy per kind and per month, next to the naive baseline.

    Args:
        url: Database URL.
        kinds: Only these kinds (default: all).

    Returns:
        ``entries``, ``resolved``, ``kinds`` (kind -> summary: ``mape``, ``naive_mape``,
        ``mape_ratio``, ``mae``, ``coverage``, ``nominal_coverage``, ``brier``, ``naive_brier``,
        ``brier_ratio``, counts) and ``months`` (the same per kind and month of ``made_at``).
    """
    return build_report(ledger_rows(url, kinds))


def _fmt(value: Any, percent: bool = False) -> str:
    """Return a table cell (``-`` for a missing figure)."""
    if value is None:
        return "-"
    return f"{100 * value:.1f}%" if percent else f"{value:.3f}"


def report_table(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one flat row per kind (for Prefect table artifacts and the CLI)."""
    return [
        {
            "kind": kind,
            "resolved": s["resolved"],
            "pending": s["pending"],
            "mape": _fmt(s["mape"], True),
            "naive_mape": _fmt(s["naive_mape"], True),
            "coverage": _fmt(s["coverage"], True),
            "nominal": _fmt(s["nominal_coverage"], True),
            "brier": _fmt(s["brier"]),
            "naive_brier": _fmt(s["naive_brier"]),
        }
        for kind, s in report["kinds"].items()
    ]


def ledger_markdown(report: dict[str, Any]) -> str:
    """Return the report as Markdown: the per-kind table, then accuracy per month."""
    lines = [
        f"# Forecast ledger: {report['resolved']} of {report['entries']} forecasts resolved",
        "",
        "| kind | resolved | pending | MAPE | naive MAPE | coverage | nominal | Brier "
        "| naive Brier |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report_table(report):
        lines.append("| " + " | ".join(str(v) for v in row.values()) + " |")
    lines += ["", "## Per month (of the forecast)", ""]
    lines += ["| kind | month | resolved | MAPE | naive MAPE | coverage | Brier | naive Brier |"]
    lines += ["|---|---|---:|---:|---:|---:|---:|---:|"]
    for m in report["months"]:
        if not m["resolved"]:
            continue
        cells = (
            m["kind"], m["month"], m["resolved"], _fmt(m["mape"], True),
            _fmt(m["naive_mape"], True), _fmt(m["coverage"], True), _fmt(m["brier"]),
            _fmt(m["naive_brier"]),
        )  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
