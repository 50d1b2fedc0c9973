"""The named queries of the executive summary: every figure it states comes from one of these.

A :class:`NamedQuery` has a dotted name (``pipeline.open_value``), a description, a unit, the
summary section it belongs to, and the SQL it runs: SQLAlchemy statements whose bind parameters
are the week's bounds (``:week_start`` / ``:week_end``, the half-open UTC interval
``[first day 00:00, last day + 1 00:00)``, and ``:first_day`` / ``:last_day`` for date
columns). Two figures are computed in Python (the CRM anomalies, found by
:func:`monitoring.anomalies.find_crm_anomalies`); their ``source`` names the function.

Kinds: ``flow`` figures count what happened during the week (deals created, AI calls); ``stock``
figures are a state at the end of the week (open pipeline, accounts at high churn risk).

:func:`compute_weeks` runs every query over consecutive weeks in one session, so the summary's
figures and the trends' 8-week sparklines come from the same SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    Select,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
)

from haste.db.models import AIInteraction, Deal, LeadScore, Prediction
from haste.db.session import session_scope
from haste.db.stream_tables import StreamAlert
from haste.db.workflow_tables import ReviewItem

#: Units of the figures (how the writer formats them).
UNITS: tuple[str, ...] = ("count", "usd", "ratio", "score")
#: Sections of the summary, in order, with their titles.
SECTIONS: dict[str, str] = {
    "pipeline": "Pipeline",
    "forecast": "Forecast vs actual",
    "churn": "Churn risk",
    "anomalies": "Anomalies and alerts",
    "ai": "AI usage and adoption",
}
#: History of the trends (weeks, the current one included).
HISTORY_WEEKS = 8
#: Days of history the anomaly detector reads before the end of the last week.
ANOMALY_DAYS = 90
#: Earliest accepted week end (older dates have no meaning for this CRM).
EARLIEST_DAY = dt.date(2000, 1, 1)

WEEK_START = bindparam("week_start", type_=DateTime(timezone=True))
WEEK_END = bindparam("week_end", type_=DateTime(timezone=True))
FIRST_DAY = bindparam("first_day", type_=Date())
LAST_DAY = bindparam("last_day", type_=Date())

Value = int | float | None


@dataclass(frozen=True)
class Week:
    """Seven days, ``start`` to ``end`` included (UTC calendar days)."""

    start: dt.date
    end: dt.date

    @classmethod
    def ending(cls, day: dt.date) -> Week:
        """Return the week of the 7 days ending on ``day`` (included)."""
        return cls(day - dt.timedelta(days=6), day)

    @property
    def since(self) -> dt.datetime:
        """First instant of the week (UTC)."""
        return dt.datetime(self.start.year, self.start.month, self.start.day, tzinfo=dt.UTC)

    @property
    def until(self) -> dt.datetime:
        """First instant after the week (UTC, exclusive)."""
        return self.since + dt.timedelta(days=7)

    def previous(self, weeks: int = 1) -> Week:
        """Return the week ``weeks`` weeks before this one."""
        return Week.ending(self.end - dt.timedelta(days=7 * weeks))

    def history(self, weeks: int = HISTORY_WEEKS) -> list[Week]:
        """Return the ``weeks`` weeks ending with this one, oldest first."""
        return [self.previous(n) for n in range(weeks - 1, -1, -1)]

    @property
    def label(self) -> str:
        """``YYYY-MM-DD to YYYY-MM-DD``."""
        return f"{self.start.isoformat()} to {self.end.isoformat()}"

    def params(self) -> dict[str, Any]:
        """Return the bind parameters of the named queries for this week."""
        return {
            "week_start": self.since,
            "week_end": self.until,
            "first_day": self.start,
            "last_day": self.end,
        }


def week_ending(day: dt.date | None = None, today: dt.date | None = None) -> Week:
    """Return the week ending on ``day`` (default: today, UTC).

    Raises:
        ValueError: When ``day`` is in the future or before :data:`EARLIEST_DAY`.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    day = day or today
    if day > today:
        raise ValueError(f"week_ending {day.isoformat()} is in the future (today is {today})")
    if day < EARLIEST_DAY:
        raise ValueError(f"week_ending must be on or after {EARLIEST_DAY.isoformat()}")
    return Week.ending(day)


Reader = Callable[[list[Any]], Value]


@dataclass(frozen=True)
class NamedQuery:
    """A figure of the executive summary and the query that computes it.

    Attributes:
        name: Dotted name cited in the summary, e.g. ``pipeline.open_value``.
        section: Key of :data:`SECTIONS`.
        description: What the figure is, in one sentence.
        unit: One of :data:`UNITS`.
        kind: ``flow`` (during the week) or ``stock`` (at the end of the week).
        statements: SQL statements run for the week (their first rows go to ``read``).
        read: Turns the first rows of ``statements`` into the value (``None``: not defined).
        source: For figures computed in Python: the function that computes them.
        higher_is_better: Whether a rise is good news (``None``: neither).
    """

    name: str
    section: str
    description: str
    unit: str
    kind: str
    statements: tuple[Select[Any], ...] = ()
    read: Reader | None = None
    source: str | None = None
    higher_is_better: bool | None = None

    def sql(self) -> str:
        """Return the query as text (SQL with the week's bind parameters, or its function)."""
        if self.source:
            return self.source
        return ";\n".join(str(statement) for statement in self.statements)


def _scalar(rows: list[Any]) -> Value:
    """Return the first column of the first row as a plain number (``None`` stays ``None``)."""
    value = rows[0][0] if rows and rows[0] is not None else None
    return _plain(value)


def _plain(value: Any) -> Value:
    """Return a database number as int or float (Decimals rounded to 6 places)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return round(float(value), 6)
    return round(float(value), 6)


def _ratio(rows: list[Any]) -> Value:
    """Return ``numerator / denominator`` of a row ``(numerator, denominator)``."""
    numerator, denominator = (rows[0] or (0, 0)) if rows else (0, 0)
    if not denominator:
        return None
    return round(float(numerator or 0) / float(denominator), 4)


def _two_ratio(rows: list[Any]) -> Value:
    """Return ``(a1 + b1) / (a2 + b2)`` of two rows ``(accepted, shown)``."""
    accepted = sum(float((row or (0, 0))[0] or 0) for row in rows)
    shown = sum(float((row or (0, 0))[1] or 0) for row in rows)
    return round(accepted / shown, 4) if shown else None


def _quotient(rows: list[Any]) -> Value:
    """Return the first statement's value over the second's (``None`` when the second is 0)."""
    top, bottom = _plain(rows[0][0]), _plain(rows[1][0])
    if not bottom:
        return None
    return round(float(top or 0) / float(bottom), 4)


def _open_at(moment: Any) -> Any:
    """Deals open at ``moment``: created before it and not closed before it."""
    return and_(Deal.created_at < moment, or_(Deal.closed_at.is_(None), Deal.closed_at >= moment))


def _in_week(column: Any) -> Any:
    """``column`` within the week."""
    return and_(column >= WEEK_START, column < WEEK_END)


def _latest(prediction_type: str, entity_type: str, *columns: Any) -> Any:
    """Return the latest prediction of each entity made before the week's end (a subquery)."""
    rank = func.row_number().over(
        partition_by=Prediction.entity_id,
        order_by=(Prediction.created_at.desc(), Prediction.id.desc()),
    )
    return (
        select(Prediction.entity_id, *columns, rank.label("rank"))
        .where(
            Prediction.prediction_type == prediction_type,
            Prediction.entity_type == entity_type,
            Prediction.created_at < WEEK_END,
        )
        .subquery(f"latest_{prediction_type}")
    )


def _due_deals() -> Any:
    """Deals open at the week's start whose expected close date falls in the week."""
    return and_(
        _open_at(WEEK_START),
        Deal.expected_close_date >= FIRST_DAY,
        Deal.expected_close_date <= LAST_DAY,
    )


def _forecast(what: str) -> Select[Any]:
    """Return a statement over the due deals joined to their latest win probability."""
    win = Prediction.prediction_value["win_probability"].as_float().label("win_probability")
    latest = _latest("deal_velocity", "deal", win)
    joined = (
        select(Deal.id)
        .join(latest, and_(latest.c.entity_id == Deal.id, latest.c.rank == 1))
        .where(_due_deals(), latest.c.win_probability.is_not(None))
    )
    if what == "expected":
        total = func.sum(latest.c.win_probability * Deal.amount)
        return joined.with_only_columns(func.coalesce(total, 0.0))
    if what == "actual":
        won = and_(Deal.is_won.is_(True), Deal.closed_at < WEEK_END)
        return joined.with_only_columns(func.coalesce(func.sum(Deal.amount), 0.0)).where(won)
    return joined.with_only_columns(func.count())


def _churn(high_only: bool) -> Select[Any]:
    """Return the count of accounts whose latest churn prediction is (high) risk."""
    band = Prediction.prediction_value["risk_band"].as_string().label("risk_band")
    latest = _latest("churn", "account", band)
    statement = select(func.count()).select_from(latest).where(latest.c.rank == 1)
    return statement.where(latest.c.risk_band == "high") if high_only else statement


def _adoption_statements() -> tuple[Select[Any], ...]:
    """Accepted / shown AI suggestions and decided review items of the week."""
    from workflows.adoption import ACCEPTED_FEEDBACK, SUGGESTION_FEATURES

    suggestions = select(
        func.sum(case((AIInteraction.feedback_score >= ACCEPTED_FEEDBACK, 1), else_=0)),
        func.count(),
    ).where(
        AIInteraction.feature.in_(SUGGESTION_FEATURES),
        AIInteraction.error_message.is_(None),
        _in_week(AIInteraction.created_at),
    )
    reviews = select(
        func.sum(case((ReviewItem.status == "approved", 1), else_=0)), func.count()
    ).where(ReviewItem.status != "pending", _in_week(ReviewItem.decided_at))
    return suggestions, reviews


def _count(model: Any, column: Any, *where: Any) -> Select[Any]:
    """``SELECT count(*) FROM model WHERE column in the week AND where``."""
    return select(func.count()).select_from(model).where(_in_week(column), *where)


def _sum(column: Any, moment: Any, *where: Any) -> Select[Any]:
    """``SELECT coalesce(sum(column), 0) WHERE moment in the week AND where``."""
    return select(func.coalesce(func.sum(column), 0)).where(_in_week(moment), *where)


ANOMALY_SOURCE = (
    "monitoring.anomalies.find_crm_anomalies(days={days}, end=min(:week_end, today)): "
    "anomalies of the CRM's daily series whose timestamp falls in the week{extra}"
)


def build_registry() -> dict[str, NamedQuery]:
    """Return every named query, by name, in the order of the summary."""
    won = Deal.is_won.is_(True)
    queries = [
        NamedQuery("pipeline.open_value", "pipeline", "Value of the deals open at the end of "
                   "the week (sum of deals.amount).", "usd", "stock",
                   (select(func.coalesce(func.sum(Deal.amount), 0.0)).where(_open_at(WEEK_END)),),
                   higher_is_better=True),
        NamedQuery("pipeline.open_deals", "pipeline", "Deals open at the end of the week.",
                   "count", "stock",
                   (select(func.count()).select_from(Deal).where(_open_at(WEEK_END)),),
                   higher_is_better=True),
        NamedQuery("pipeline.new_deals_week", "pipeline", "Deals created during the week.",
                   "count", "flow", (_count(Deal, Deal.created_at),), higher_is_better=True),
        NamedQuery("pipeline.new_value_week", "pipeline", "Value of the deals created during "
                   "the week.", "usd", "flow", (_sum(Deal.amount, Deal.created_at),),
                   higher_is_better=True),
        NamedQuery("deals.won_count_week", "pipeline", "Deals won (closed with is_won) during "
                   "the week.", "count", "flow", (_count(Deal, Deal.closed_at, won),),
                   higher_is_better=True),
        NamedQuery("deals.won_value_week", "pipeline", "Value of the deals won during the week.",
                   "usd", "flow", (_sum(Deal.amount, Deal.closed_at, won),),
                   higher_is_better=True),
        NamedQuery("deals.win_rate_week", "pipeline", "Deals won / deals closed (won or lost) "
                   "during the week.", "ratio", "flow",
                   (select(func.sum(case((won, 1), else_=0)), func.count())
                    .select_from(Deal).where(_in_week(Deal.closed_at), Deal.is_won.is_not(None)),),
                   _ratio, higher_is_better=True),
        NamedQuery("forecast.deals_due", "forecast", "Deals open at the start of the week whose "
                   "expected close date falls in the week.", "count", "flow",
                   (select(func.count()).select_from(Deal).where(_due_deals()),)),
        NamedQuery("forecast.scored_deals", "forecast", "Due deals with a win-probability "
                   "prediction (predictions, type deal_velocity, latest before the week's end).",
                   "count", "flow", (_forecast("count"),)),
        NamedQuery("forecast.expected_value", "forecast", "Forecast: sum of win probability x "
                   "amount over the scored due deals.", "usd", "flow",
                   (_forecast("expected"),)),
        NamedQuery("forecast.actual_won", "forecast", "Actual: value of the scored due deals "
                   "won by the end of the week.", "usd", "flow", (_forecast("actual"),),
                   higher_is_better=True),
        NamedQuery("forecast.attainment", "forecast", "forecast.actual_won / "
                   "forecast.expected_value.", "ratio", "flow",
                   (_forecast("actual"), _forecast("expected")), _quotient,
                   higher_is_better=True),
        NamedQuery("churn.high_risk_accounts", "churn", "Accounts whose latest churn prediction "
                   "(before the week's end) has risk band high.", "count", "stock",
                   (_churn(high_only=True),), higher_is_better=False),
        NamedQuery("churn.scored_accounts", "churn", "Accounts with a churn prediction made "
                   "before the week's end.", "count", "stock", (_churn(high_only=False),)),
        NamedQuery("anomalies.count_week", "anomalies", "Anomalies (spikes, dips, level shifts) "
                   "of the CRM's daily series during the week.", "count", "flow",
                   source=ANOMALY_SOURCE.format(days=ANOMALY_DAYS, extra=""),
                   higher_is_better=False),
        NamedQuery("anomalies.high_severity_week", "anomalies", "Anomalies of high severity "
                   "during the week.", "count", "flow",
                   source=ANOMALY_SOURCE.format(days=ANOMALY_DAYS, extra=" (severity high)"),
                   higher_is_better=False),
        NamedQuery("alerts.stream_week", "anomalies", "Alerts of the streaming monitor (score "
                   "drift, group score gap) raised during the week.", "count", "flow",
                   (_count(StreamAlert, StreamAlert.created_at),), higher_is_better=False),
        NamedQuery("ai.calls_week", "ai", "AI calls recorded in ai_interactions during the "
                   "week (models and LLMs).", "count", "flow",
                   (_count(AIInteraction, AIInteraction.created_at),)),
        NamedQuery("ai.cost_week", "ai", "Cost of the week's AI calls (sum of cost_usd).", "usd",
                   "flow", (_sum(AIInteraction.cost_usd, AIInteraction.created_at),)),
        NamedQuery("ai.error_rate_week", "ai", "Failed AI calls / AI calls during the week.",
                   "ratio", "flow",
                   (select(func.sum(case((AIInteraction.error_message.is_not(None), 1),
                                         else_=0)), func.count())
                    .where(_in_week(AIInteraction.created_at)),),
                   _ratio, higher_is_better=False),
        NamedQuery("ai.predictions_week", "ai", "Predictions stored during the week (every "
                   "model).", "count", "flow", (_count(Prediction, Prediction.created_at),)),
        NamedQuery("leads.mean_score_week", "ai", "Mean of the lead scores computed during the "
                   "week (0-100).", "score", "flow",
                   (select(func.avg(LeadScore.score)).where(_in_week(LeadScore.calculated_at)),),
                   higher_is_better=True),
        NamedQuery("adoption.accept_rate_week", "ai", "AI suggestions accepted / shown during "
                   "the week: suggestions rated 4-5 and approved review items over suggestions "
                   "and decided review items.", "ratio", "flow", _adoption_statements(),
                   _two_ratio, higher_is_better=True),
    ]  # fmt: skip
    return {query.name: query for query in queries}


_REGISTRY: dict[str, NamedQuery] | None = None


def registry() -> dict[str, NamedQuery]:
    """Return the named queries (built once)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = build_registry()
    return _REGISTRY


def _anomaly_counts(url: str, weeks: Sequence[Week]) -> dict[str, list[Value]]:
    """Return the anomalies (all, high) per week, from one detector run ending after the last."""
    from monitoring.anomalies import find_crm_anomalies

    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = min(weeks[-1].until, today)
    days = ANOMALY_DAYS + 7 * (len(weeks) - 1)
    found = find_crm_anomalies(url, days=days, end=end)
    counts: list[Value] = []
    high: list[Value] = []
    for week in weeks:
        inside = [a for a in found if week.since <= _utc(a.timestamp) < week.until]
        counts.append(len(inside))
        high.append(sum(1 for a in inside if a.severity == "high"))
    return {"anomalies.count_week": counts, "anomalies.high_severity_week": high}


def _utc(moment: Any) -> dt.datetime:
    """Return a pandas or Python timestamp as an aware UTC datetime."""
    value = moment.to_pydatetime() if hasattr(moment, "to_pydatetime") else moment
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def compute_weeks(url: str, weeks: Sequence[Week]) -> dict[str, list[Value]]:
    """Run every named query over each week.

    Args:
        url: Database URL.
        weeks: Weeks, oldest first.

    Returns:
        Query name -> one value per week (``None`` where the figure is not defined, e.g. a win
        rate with no closed deal), in :func:`registry` order.
    """
    queries = registry()
    values: dict[str, list[Value]] = {name: [] for name in queries}
    with session_scope(url) as session:
        for week in weeks:
            params = week.params()
            for query in queries.values():
                if not query.statements:
                    continue
                rows = [session.execute(s, params).first() for s in query.statements]
                values[query.name].append((query.read or _scalar)(rows))
    values.update(_anomaly_counts(url, weeks))
    return values
