"""Monthly AI budgets enforced exactly: reserve the worst case, settle the real cost.

Budgets come from ``budgets`` in ``configs/llm.yaml`` (:class:`~textai.llm.config.BudgetConfig`).
Each applicable budget is one ``ai_budgets`` row per calendar month (UTC), created on first use
with the configured limit. A call

1. **reserves** its worst-case cost (:func:`textai.llm.usage.max_cost_of`) in every budget that
   applies to it, in one transaction: per budget, ``INSERT ... ON CONFLICT DO NOTHING`` creates
   the month's row, then ONE conditional ``UPDATE ai_budgets SET spent_usd = spent_usd + :c
   WHERE <row> AND spent_usd + :c <= limit_usd`` takes the money. If any budget refuses, the
   transaction rolls back (all budgets or none) and :class:`BudgetExceededError` names the
   budget, its limit and spend, and the ``degrade_to`` provider that applies, if any;
2. **settles** with the real cost, refunding ``reserved - actual`` (the reservation is an upper
   bound, so a settle never adds money), or **releases** the whole reservation on failure.

Rows are locked in one global order (scope, id), so concurrent reservations never deadlock on
PostgreSQL; SQLite serialises writers. Since every change of ``spent_usd`` is a single atomic
statement guarded by the limit, ``spent_usd <= limit_usd`` holds at every instant, and a call is
refused only when it does not fit at the moment it is tried. Amounts are micro-dollars (NUMERIC
12,6); SQLite stores them as floating point, so comparisons allow half a micro-dollar and
updates re-round to 6 decimals, which keeps them exact.

Alerts: after a reservation, every configured threshold (a fraction of the limit) reached by
``spent_usd`` and not yet in ``alerts_sent`` is appended there (once per month), logged as a
warning and returned in :attr:`Reservation.alerts` for the caller to surface. ``spent_usd``
includes in-flight reservations, so an alert may fire on a reservation that is later refunded.

A reservation lives in the caller's memory: a process that dies between reserve and settle
leaves it counted (the conservative side).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Numeric, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError

from haste.db.models import AIBudget
from haste.db.session import create_db_engine
from textai.llm.config import BudgetConfig, LLMConfig
from textai.llm.usage import MICRO_USD, UsageContext, to_usd

logger = logging.getLogger(__name__)

HALF_MICRO_USD = Decimal("0.0000005")
"""Tolerance of limit comparisons: amounts are whole micro-dollars, SQLite compares floats."""
MAX_ATTEMPTS = 8
"""Tries of a budget transaction hitting a deadlock, a serialization failure or a lock."""
ReservationState = Literal["reserved", "settled", "released"]
_TABLE = AIBudget.__table__


class BudgetExceededError(RuntimeError):
    """A call does not fit in a budget (and, from the service, in no cheaper provider either).

    Attributes:
        scope_type: ``user``, ``team``, ``feature`` or ``global``.
        scope_id: The user/team id, feature name or ``*``.
        limit_usd: The budget's monthly limit.
        spent_usd: Spent (settled and reserved) this month when the call was refused.
        requested_usd: What the call needed to reserve.
        degrade_to: Provider the budget degrades to, if any.
        period_start: First day of the month.
    """

    def __init__(
        self,
        scope_type: str,
        scope_id: str,
        limit_usd: Decimal,
        spent_usd: Decimal,
        requested_usd: Decimal,
        degrade_to: str | None = None,
        period_start: dt.date | None = None,
        detail: str | None = None,
    ) -> None:
        self.scope_type = scope_type
        self.scope_id = scope_id
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.requested_usd = requested_usd
        self.degrade_to = degrade_to
        self.period_start = period_start
        month = f" in {period_start:%Y-%m}" if period_start else ""
        message = (
            f"AI budget exceeded: {scope_type} budget {scope_id!r}{month} has spent "
            f"${spent_usd} of its ${limit_usd} limit; this call needs up to ${requested_usd}"
        )
        super().__init__(f"{message} ({detail})" if detail else message)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with every attribute."""
        return (
            type(self),
            (
                self.scope_type,
                self.scope_id,
                self.limit_usd,
                self.spent_usd,
                self.requested_usd,
                self.degrade_to,
                self.period_start,
            ),
        )


@dataclass(frozen=True)
class BudgetAlert:
    """A budget reached an alert threshold (sent once per threshold and month).

    Attributes:
        scope_type: Budget scope.
        scope_id: Budget id.
        threshold: Fraction of the limit reached.
        spent_usd: Spend after the reservation that reached it.
        limit_usd: The limit.
        period_start: First day of the month.
    """

    scope_type: str
    scope_id: str
    threshold: float
    spent_usd: Decimal
    limit_usd: Decimal
    period_start: dt.date

    @property
    def message(self) -> str:
        """A human-readable line."""
        return (
            f"AI budget alert: {self.scope_type} budget {self.scope_id!r} reached "
            f"{self.threshold:.0%} of its ${self.limit_usd} limit for {self.period_start:%Y-%m} "
            f"(spent ${self.spent_usd})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (amounts as strings)."""
        return {
            "scope_type": self.scope_type,
            "scope_id": self.scope_id,
            "threshold": self.threshold,
            "spent_usd": str(self.spent_usd),
            "limit_usd": str(self.limit_usd),
            "period_start": self.period_start.isoformat(),
            "message": self.message,
        }


@dataclass(frozen=True)
class AppliedBudget:
    """A configured budget resolved for one call: the row key and its settings.

    Attributes:
        scope_type: Budget scope.
        scope_id: The concrete user/team id, feature name or ``*``.
        config: The configuration entry it comes from.
    """

    scope_type: str
    scope_id: str
    config: BudgetConfig

    @property
    def key(self) -> tuple[str, str]:
        """The (scope_type, scope_id) pair, also the lock order."""
        return (self.scope_type, self.scope_id)


@dataclass
class Reservation:
    """Money held in every budget applying to one call until it is settled or released.

    Attributes:
        id: Reservation id (logs).
        amount: The reserved (worst-case) cost.
        budgets: The budgets it holds money in, in lock order.
        period_start: The month of the budget rows.
        alerts: Alerts raised by this reservation.
        state: ``reserved``, ``settled`` or ``released``.
        settled_usd: The actual cost once settled.
    """

    amount: Decimal
    budgets: tuple[AppliedBudget, ...]
    period_start: dt.date
    alerts: list[BudgetAlert] = field(default_factory=list)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: ReservationState = "reserved"
    settled_usd: Decimal | None = None


@dataclass(frozen=True)
class BudgetStatus:
    """One budget row of the month, for dashboards.

    Attributes:
        scope_type: Budget scope.
        scope_id: Budget id.
        period_start: First day of the month.
        limit_usd: The limit.
        spent_usd: Settled plus in-flight reserved spend.
        alerts_sent: Thresholds already alerted.
    """

    scope_type: str
    scope_id: str
    period_start: dt.date
    limit_usd: Decimal
    spent_usd: Decimal
    alerts_sent: list[float]

    @property
    def remaining_usd(self) -> Decimal:
        """What is left this month."""
        return max(self.limit_usd - self.spent_usd, Decimal(0)).quantize(MICRO_USD)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (amounts as strings)."""
        return {
            "scope_type": self.scope_type,
            "scope_id": self.scope_id,
            "period_start": self.period_start.isoformat(),
            "limit_usd": str(self.limit_usd),
            "spent_usd": str(self.spent_usd),
            "remaining_usd": str(self.remaining_usd),
            "alerts_sent": list(self.alerts_sent),
        }


def _usd(amount: Decimal) -> Any:
    """Return a bound NUMERIC(18, 7) literal of an amount (typed for both backends)."""
    return literal(amount, Numeric(18, 7))


def _utcnow() -> dt.datetime:
    """Return the current UTC time."""
    return dt.datetime.now(dt.UTC)


def month_start(moment: dt.date | dt.datetime) -> dt.date:
    """Return the first day of ``moment``'s month (datetimes are taken in UTC)."""
    if isinstance(moment, dt.datetime) and moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return dt.date(moment.year, moment.month, 1)


def _is_transient(exc: OperationalError) -> bool:
    """Return whether a database error is worth retrying (deadlock, serialization, lock)."""
    text = str(exc.orig if exc.orig is not None else exc).lower()
    return any(
        marker in text
        for marker in ("deadlock", "could not serialize", "database is locked", "busy")
    )


class BudgetManager:
    """Reserve, settle and release AI spend against the configured monthly budgets.

    Thread-safe and multi-process safe: all state is in ``ai_budgets``.

    Args:
        url: Database URL (SQLite or PostgreSQL).
        budgets_config: The budget entries, or a whole :class:`LLMConfig`.
        clock: Returns the current time (the month of the budget rows); UTC now by default.
    """

    def __init__(
        self,
        url: str,
        budgets_config: Sequence[BudgetConfig] | LLMConfig,
        clock: Callable[[], dt.date | dt.datetime] = _utcnow,
    ) -> None:
        self.url = url
        entries = (
            budgets_config.budgets if isinstance(budgets_config, LLMConfig) else budgets_config
        )
        self.budgets: tuple[BudgetConfig, ...] = tuple(entries)
        self.clock = clock

    @property
    def engine(self) -> Engine:
        """The (cached) engine of :attr:`url`."""
        return create_db_engine(self.url)

    def applicable(self, context: UsageContext) -> tuple[AppliedBudget, ...]:
        """Return the budgets that apply to a call, in lock order.

        An entry with ``id: "*"`` applies to each user/team/feature separately; an entry
        naming the call's user/team/feature explicitly replaces the ``*`` entry of its scope.
        User and team budgets do not apply to calls without a user or team.
        """
        subjects = {
            "user": None if context.user_id is None else str(context.user_id),
            "team": None if context.team_id is None else str(context.team_id),
            "feature": context.feature,
            "global": "*",
        }
        chosen: dict[tuple[str, str], BudgetConfig] = {}
        explicit: set[tuple[str, str]] = set()
        for entry in self.budgets:
            subject = subjects[entry.scope]
            if subject is None or entry.id not in ("*", subject):
                continue
            key = (entry.scope, subject)
            if entry.id == subject:
                chosen[key] = entry
                explicit.add(key)
            elif key not in explicit:
                chosen[key] = entry
        return tuple(
            AppliedBudget(scope, scope_id, chosen[(scope, scope_id)])
            for scope, scope_id in sorted(chosen)
        )

    def current_period(self) -> dt.date:
        """Return the first day of the current month (from :attr:`clock`)."""
        return month_start(self.clock())

    def reserve(self, context: UsageContext, max_cost: Decimal) -> Reservation:
        """Hold ``max_cost`` in every budget applying to ``context``, all or none.

        Args:
            context: Who makes the call.
            max_cost: The call's worst-case cost (at most 6 decimals; rounded up otherwise).

        Returns:
            The reservation, with the alerts it raised. A zero cost reserves nothing.

        Raises:
            BudgetExceededError: When a budget cannot take ``max_cost``; nothing is reserved.
            ValueError: When ``max_cost`` is negative.
        """
        amount = Decimal(max_cost)
        if amount < 0:
            raise ValueError(f"max_cost must be >= 0, got {max_cost}")
        amount = amount.quantize(MICRO_USD, rounding=ROUND_CEILING)
        budgets = self.applicable(context)
        period = self.current_period()
        reservation = Reservation(amount=amount, budgets=budgets, period_start=period)
        if amount == 0 or not budgets:
            return reservation
        alerts = self._run_transaction(lambda conn: self._reserve_in(conn, reservation))
        reservation.alerts = alerts
        for alert in alerts:
            logger.warning(alert.message)
        return reservation

    def settle(self, reservation: Reservation, actual_cost: Decimal) -> Decimal:
        """Charge the actual cost of a reserved call, refunding the rest of the reservation.

        Args:
            reservation: A reservation in state ``reserved``.
            actual_cost: The real cost, ``0 <= actual_cost <= reservation.amount`` (rounded up
                to the micro-dollar).

        Returns:
            The amount refunded.

        Raises:
            ValueError: When the reservation is not open or the cost is out of range.
        """
        actual = Decimal(actual_cost).quantize(MICRO_USD, rounding=ROUND_CEILING)
        if reservation.state != "reserved":
            raise ValueError(f"reservation {reservation.id} is already {reservation.state}")
        if not 0 <= actual <= reservation.amount:
            raise ValueError(
                f"actual cost ${actual} is outside [0, ${reservation.amount}] (the reservation is "
                "the upper bound of the call)"
            )
        refund = reservation.amount - actual
        self._refund(reservation, refund)
        reservation.state = "settled"
        reservation.settled_usd = actual
        return refund

    def release(self, reservation: Reservation) -> None:
        """Give back a whole reservation (the call failed or was not made); idempotent."""
        if reservation.state == "released":
            return
        if reservation.state != "reserved":
            raise ValueError(f"reservation {reservation.id} is already {reservation.state}")
        self._refund(reservation, reservation.amount)
        reservation.state = "released"
        reservation.settled_usd = Decimal(0).quantize(MICRO_USD)

    def status(self, period: dt.date | None = None) -> list[BudgetStatus]:
        """Return every budget row of a month (default: the current one)."""
        start = month_start(period) if period is not None else self.current_period()
        query = (
            select(_TABLE)
            .where(_TABLE.c.period_start == start)
            .order_by(_TABLE.c.scope_type, _TABLE.c.scope_id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            BudgetStatus(
                scope_type=row["scope_type"],
                scope_id=row["scope_id"],
                period_start=row["period_start"],
                limit_usd=to_usd(row["limit_usd"]),
                spent_usd=to_usd(row["spent_usd"]),
                alerts_sent=list(row["alerts_sent"] or []),
            )
            for row in rows
        ]

    def apply_limits(self) -> int:
        """Set this month's rows to their configured limits (after a config edit).

        A limit is never set below the row's current spend, so ``spent_usd <= limit_usd``
        keeps holding.

        Returns:
            The number of rows changed.
        """
        period = self.current_period()

        def apply(conn: Connection) -> int:
            changed = 0
            rows = conn.execute(
                select(_TABLE.c.id, _TABLE.c.scope_type, _TABLE.c.scope_id, _TABLE.c.limit_usd)
                .where(_TABLE.c.period_start == period)
                .order_by(_TABLE.c.scope_type, _TABLE.c.scope_id)
            ).all()
            for row in rows:
                entry = self._config_for(row.scope_type, row.scope_id)
                if entry is None:
                    continue
                limit = to_usd(entry.monthly_limit_usd)
                if to_usd(row.limit_usd) == limit:
                    continue
                larger = func.max if conn.dialect.name == "sqlite" else func.greatest
                result = conn.execute(
                    update(_TABLE)
                    .where(_TABLE.c.id == row.id)
                    .values(limit_usd=larger(_usd(limit), _TABLE.c.spent_usd))
                )
                changed += result.rowcount or 0
            return changed

        return int(self._run_transaction(apply))

    def _config_for(self, scope_type: str, scope_id: str) -> BudgetConfig | None:
        """Return the entry governing a row (explicit id first, then ``*``)."""
        matches = [b for b in self.budgets if b.scope == scope_type and b.id in (scope_id, "*")]
        matches.sort(key=lambda b: b.id == "*")
        return matches[0] if matches else None

    def _run_transaction(self, work: Callable[[Connection], Any]) -> Any:
        """Run ``work`` in one transaction, retrying deadlocks and lock timeouts."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self.engine.begin() as conn:
                    return work(conn)
            except OperationalError as exc:
                if attempt == MAX_ATTEMPTS or not _is_transient(exc):
                    raise
                logger.info("budget transaction retried (%s): %s", attempt, exc.orig)
                time.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")

    def _ensure_row(self, conn: Connection, budget: AppliedBudget, period: dt.date) -> None:
        """Create the month's row of a budget unless it exists (safe under races)."""
        values = {
            "id": uuid.uuid4(),
            "scope_type": budget.scope_type,
            "scope_id": budget.scope_id,
            "period_start": period,
            "limit_usd": to_usd(budget.config.monthly_limit_usd),
            "spent_usd": Decimal(0),
            "alerts_sent": [],
        }
        keys = ["scope_type", "scope_id", "period_start"]
        dialect = conn.dialect.name
        if dialect == "postgresql":
            conn.execute(
                postgresql.insert(_TABLE)
                .values(**values)
                .on_conflict_do_nothing(index_elements=keys)
            )
        elif dialect == "sqlite":
            conn.execute(
                sqlite.insert(_TABLE).values(**values).on_conflict_do_nothing(index_elements=keys)
            )
        else:
            exists = conn.execute(select(_TABLE.c.id).where(*self._row_filter(budget, period)))
            if exists.first() is None:
                try:
                    with conn.begin_nested():
                        conn.execute(_TABLE.insert().values(**values))
                except IntegrityError:
                    pass

    @staticmethod
    def _row_filter(budget: AppliedBudget, period: dt.date) -> list[Any]:
        """Return the WHERE clauses selecting a budget's row of a month."""
        return [
            _TABLE.c.scope_type == budget.scope_type,
            _TABLE.c.scope_id == budget.scope_id,
            _TABLE.c.period_start == period,
        ]

    def _reserve_in(self, conn: Connection, reservation: Reservation) -> list[BudgetAlert]:
        """Take the reservation in every budget (in lock order) or raise, inside ``conn``."""
        amount = reservation.amount
        period = reservation.period_start
        alerts: list[BudgetAlert] = []
        for budget in reservation.budgets:
            self._ensure_row(conn, budget, period)
            statement = (
                update(_TABLE)
                .where(
                    *self._row_filter(budget, period),
                    _TABLE.c.spent_usd + _usd(amount) <= _TABLE.c.limit_usd + _usd(HALF_MICRO_USD),
                )
                .values(
                    spent_usd=func.round(_TABLE.c.spent_usd + _usd(amount), 6),
                    updated_at=_utcnow(),
                )
                .returning(
                    _TABLE.c.id, _TABLE.c.spent_usd, _TABLE.c.limit_usd, _TABLE.c.alerts_sent
                )
            )
            row = conn.execute(statement).first()
            if row is None:
                current = conn.execute(
                    select(_TABLE.c.spent_usd, _TABLE.c.limit_usd).where(
                        *self._row_filter(budget, period)
                    )
                ).first()
                spent, limit = (to_usd(current[0]), to_usd(current[1])) if current else (None, None)
                raise BudgetExceededError(
                    budget.scope_type,
                    budget.scope_id,
                    limit if limit is not None else to_usd(budget.config.monthly_limit_usd),
                    spent if spent is not None else to_usd(0),
                    amount,
                    budget.config.degrade_to,
                    period,
                )
            alerts.extend(self._raise_alerts(conn, budget, period, row))
        return alerts

    def _raise_alerts(
        self, conn: Connection, budget: AppliedBudget, period: dt.date, row: Any
    ) -> list[BudgetAlert]:
        """Record and return the thresholds newly reached by a budget row (row lock held)."""
        row_id, spent_raw, limit_raw, sent_raw = row
        spent, limit = to_usd(spent_raw), to_usd(limit_raw)
        sent = [float(t) for t in (sent_raw or [])]
        reached = [
            threshold
            for threshold in sorted(budget.config.alert_thresholds)
            if threshold not in sent and spent >= Decimal(str(threshold)) * limit and limit > 0
        ]
        if not reached:
            return []
        conn.execute(
            update(_TABLE).where(_TABLE.c.id == row_id).values(alerts_sent=sorted(sent + reached))
        )
        return [
            BudgetAlert(budget.scope_type, budget.scope_id, threshold, spent, limit, period)
            for threshold in reached
        ]

    def _refund(self, reservation: Reservation, refund: Decimal) -> None:
        """Give ``refund`` back to every budget of the reservation (one transaction)."""
        if refund <= 0 or reservation.amount == 0 or not reservation.budgets:
            return

        def give_back(conn: Connection) -> None:
            for budget in reservation.budgets:
                conn.execute(
                    update(_TABLE)
                    .where(*self._row_filter(budget, reservation.period_start))
                    .values(
                        spent_usd=func.round(_TABLE.c.spent_usd - _usd(refund), 6),
                        updated_at=_utcnow(),
                    )
                )

        self._run_transaction(give_back)


def summarize_alerts(alerts: Iterable[BudgetAlert]) -> list[dict[str, Any]]:
    """Return alerts as JSON-ready dicts (for API responses)."""
    return [alert.to_dict() for alert in alerts]
