"""The time series the anomaly detector watches: real benchmark series and the CRM's own metrics.

Real series (the benchmark and the data tests, :mod:`monitoring.anomalies`):

* **Maven CRM** (``sales_pipeline.csv``): deals engaged per day (``engage_date``, 2016-10-20 …
  2017-12-27, days without one are 0) and won deal value per day (``close_value`` of the
  ``Won`` deals by ``close_date``, 2017-03-01 … 2017-12-31);
* **Bank Marketing** (``bank-additional-full.csv``): calls per month. The file has a ``month``
  column but no year; its rows are in date order, May 2008 … Nov 2010 (PROVENANCE.md), so the
  year is rebuilt by counting the times the month number goes back (``dec`` → ``mar``) in row
  order: 26 months, Sep 2008 and every Jan/Feb absent (no call in the file).

CRM metrics (:func:`crm_metric_series`, read from the platform database with SQLAlchemy, the
same queries on SQLite and PostgreSQL), over the last ``days`` complete days (UTC):

* ``activity_volume[<team>]``: activities per day and team (``activities.user_id`` →
  ``users.team_id``; ``(no team)`` when either is missing);
* ``open_pipeline_value``: sum of ``deals.amount`` of the deals open at the end of each day
  (created, not yet closed);
* ``win_rate``: won / closed deals per week (weeks from Monday, inside the window, with at least
  ``min_closed_deals`` closed deals);
* ``lead_score_mean`` and ``lead_score_hot_share``: mean of the lead scores computed each day and
  the share of them that are hot (>= ``hot_score``), the centre and the top of the distribution;
* ``ai_cost_usd[<team>]``: cost of the AI calls per day and team (``ai_interactions.team_id``,
  else the user's team).

Counts and costs are 0 on the days without any row, from the first day with data up to the
last complete day (a team that goes silent shows up as a drop); means and rates have no value
on days without data.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, case, func, or_, select

from haste.db.models import Activity, AIInteraction, Deal, LeadScore, Team, User
from haste.db.session import create_db_engine, session_scope
from pipelines.datasets import MavenCRM, load_bank_marketing, load_maven_crm
from pipelines.time_columns import utc_naive

#: Group name of rows without a team.
NO_TEAM = "(no team)"

#: Calendar month of the first row of bank-additional-full.csv (PROVENANCE.md).
BANK_FIRST_MONTH = pd.Timestamp("2008-05-01")

#: Month abbreviations of the Bank Marketing ``month`` column.
MONTHS: dict[str, int] = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}


@dataclass(frozen=True)
class MetricInfo:
    """How a metric is shown: readable label, unit and sampling frequency.

    Attributes:
        key: Metric key, ``base`` or ``base[group]``.
        base: Metric family (``activity_volume``...).
        group: Team (or other group) of a per-group metric.
        label: Readable name, e.g. ``Activities (Enterprise Sales)``.
        unit: ``count``, ``usd``, ``ratio``, ``score`` or ``None``.
        frequency: ``daily``, ``weekly`` or ``monthly``.
    """

    key: str
    base: str
    group: str | None
    label: str
    unit: str | None
    frequency: str


#: Metric family -> (label, unit, frequency).
METRICS: dict[str, tuple[str, str | None, str]] = {
    "activity_volume": ("Activities", "count", "daily"),
    "open_pipeline_value": ("Open pipeline value", "usd", "daily"),
    "win_rate": ("Weekly win rate", "ratio", "weekly"),
    "lead_score_mean": ("Mean lead score", "score", "daily"),
    "lead_score_hot_share": ("Share of hot lead scores", "ratio", "daily"),
    "ai_cost_usd": ("AI cost", "usd", "daily"),
    "maven_deals_engaged": ("Deals engaged", "count", "daily"),
    "maven_won_value": ("Won deal value", "usd", "daily"),
    "bank_contacts": ("Bank Marketing contacts", "count", "monthly"),
}

_KEY = re.compile(r"^(?P<base>[a-z0-9_]+)(?:\[(?P<group>.*)\])?$", re.DOTALL)


def metric_key(base: str, group: str | None = None) -> str:
    """Return the key of a metric, ``base[group]`` for a per-group metric."""
    return base if group is None else f"{base}[{group}]"


def metric_info(key: str) -> MetricInfo:
    """Return the label, unit and frequency of a metric key (unknown families get the key).

    Args:
        key: ``base`` or ``base[group]``.

    Returns:
        The metric's :class:`MetricInfo`.
    """
    match = _KEY.match(key)
    base, group = (match["base"], match["group"]) if match else (key, None)
    label, unit, frequency = METRICS.get(base, (key if match is None else base, None, "daily"))
    if group is not None:
        label = f"{label} {group}" if group.startswith("(") else f"{label} ({group})"
    return MetricInfo(key, base, group, label, unit, frequency)


# --- real datasets ----------------------------------------------------------------------------


def maven_daily_deals_engaged(crm: MavenCRM) -> pd.Series:
    """Return the deals engaged per day (0 on days without one), first to last engage date."""
    dates = crm.pipeline["engage_date"].dropna().dt.normalize()
    counts = dates.value_counts().sort_index()
    days = pd.date_range(counts.index.min(), counts.index.max(), freq="D")
    series = counts.reindex(days, fill_value=0).astype(float)
    series.name = "maven_deals_engaged"
    series.index.name = "date"
    return series


def maven_daily_won_value(crm: MavenCRM) -> pd.Series:
    """Return the won deal value per close date (0 on days without a win)."""
    won = crm.pipeline[crm.pipeline["deal_stage"] == "Won"].dropna(subset=["close_date"])
    value = won.groupby(won["close_date"].dt.normalize())["close_value"].sum().sort_index()
    days = pd.date_range(value.index.min(), value.index.max(), freq="D")
    series = value.reindex(days, fill_value=0).astype(float)
    series.name = "maven_won_value"
    series.index.name = "date"
    return series


def maven_series(datasets_dir: Path | str) -> dict[str, pd.Series]:
    """Return Maven CRM's daily deals engaged and daily won value.

    Args:
        datasets_dir: The shared datasets folder.

    Returns:
        ``maven_deals_engaged`` and ``maven_won_value``.
    """
    crm = load_maven_crm(Path(datasets_dir))
    return {
        "maven_deals_engaged": maven_daily_deals_engaged(crm),
        "maven_won_value": maven_daily_won_value(crm),
    }


def bank_call_months(
    frame: pd.DataFrame, first_month: pd.Timestamp = BANK_FIRST_MONTH
) -> pd.Series:
    """Return the calendar month (first day) of every row of the Bank Marketing file.

    The rows are in date order and start in ``first_month``; the file has no year, so a new
    year starts each time the month number goes back (``dec`` → ``mar``) from one row to the
    next.

    Args:
        frame: The Bank Marketing rows in file order (a ``month`` column such as ``may``).
        first_month: Month of the first row (May 2008 per PROVENANCE.md).

    Returns:
        One month-start timestamp per row, aligned with ``frame``.

    Raises:
        ValueError: On an unknown month name, or when the first row is not in ``first_month``.
    """
    numbers = frame["month"].astype(str).str.strip().str.lower().map(MONTHS)
    if numbers.isna().any():
        unknown = sorted(frame.loc[numbers.isna(), "month"].astype(str).unique())
        raise ValueError(f"unknown month names in the Bank Marketing file: {unknown}")
    numbers = numbers.astype(int)
    if len(numbers) and numbers.iloc[0] != first_month.month:
        raise ValueError(
            f"the first row's month is {numbers.iloc[0]}, expected {first_month.month} "
            f"({first_month:%b %Y}, PROVENANCE.md)"
        )
    years = first_month.year + (numbers < numbers.shift()).cumsum()
    return pd.Series(pd.to_datetime({"year": years, "month": numbers, "day": 1}), index=frame.index)


def bank_monthly_contacts(data: Path | str | pd.DataFrame) -> pd.Series:
    """Return the Bank Marketing calls per month (26 months, May 2008 … Nov 2010).

    Args:
        data: The shared datasets folder, or the loaded rows in file order.

    Returns:
        Calls per calendar month (month-start index); months without a call are absent.
    """
    frame = data if isinstance(data, pd.DataFrame) else load_bank_marketing(Path(data))
    months = bank_call_months(frame)
    series = months.value_counts().sort_index().astype(float)
    series.index = pd.DatetimeIndex(series.index, name="month")
    series.name = "bank_contacts"
    return series


def real_series(datasets_dir: Path | str) -> dict[str, pd.Series]:
    """Return the three real benchmark series (Maven daily deals and won value, Bank months)."""
    return {**maven_series(datasets_dir), "bank_contacts": bank_monthly_contacts(datasets_dir)}


# --- CRM metrics from the platform database ---------------------------------------------------


def _window(days: int, end: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    """Return ``(start, end)`` in aware UTC: ``end`` defaults to the start of today."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if end is None:
        end = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    elif end.tzinfo is None:
        end = end.replace(tzinfo=dt.UTC)
    end = end.astimezone(dt.UTC)
    return end - dt.timedelta(days=days), end


def _day(column: Any, dialect: str) -> ColumnElement[Any]:
    """SQL expression of the UTC calendar day of a timestamp column."""
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite stores UTC wall times


def _days(values: Any) -> pd.DatetimeIndex:
    """Dates (strings from SQLite, dates from PostgreSQL) as a naive daily index."""
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(list(values), dtype=object).astype(str)))


def _last_day(end: dt.datetime) -> pd.Timestamp:
    """Last complete day before ``end`` (exclusive)."""
    return (
        pd.Timestamp(end).tz_convert("UTC").tz_localize(None) - pd.Timedelta(1, "ns")
    ).normalize()


def _filled(values: pd.Series, last_day: pd.Timestamp, name: str) -> pd.Series:
    """Daily totals from their first day to ``last_day``, 0 on days without a row."""
    values = values.groupby(level=0).sum().sort_index()
    days = pd.date_range(values.index.min(), last_day, freq="D", name="date")
    series = values.reindex(days, fill_value=0.0).astype(float)
    series.name = name
    return series


def _per_team_daily(rows: list[Any], base: str, last_day: pd.Timestamp) -> dict[str, pd.Series]:
    """``(day, team, total)`` rows → one zero-filled daily series per team."""
    if not rows:
        return {}
    frame = pd.DataFrame(rows, columns=["day", "team", "total"])
    frame["day"] = _days(frame["day"])
    frame["team"] = frame["team"].fillna(NO_TEAM)
    frame["total"] = pd.to_numeric(frame["total"], errors="coerce").fillna(0.0).astype(float)
    out: dict[str, pd.Series] = {}
    for team, group in frame.groupby("team", sort=True):
        key = metric_key(base, str(team))
        out[key] = _filled(group.set_index("day")["total"], last_day, key)
    return out


def _activity_volume(session: Any, dialect: str, start: dt.datetime, end: dt.datetime) -> list[Any]:
    """``(day, team, activities)`` rows of the window."""
    day = _day(Activity.occurred_at, dialect)
    statement = (
        select(day, Team.name, func.count())
        .select_from(Activity)
        .outerjoin(User, Activity.user_id == User.id)
        .outerjoin(Team, User.team_id == Team.id)
        .where(Activity.occurred_at >= start, Activity.occurred_at < end)
        .group_by(day, Team.name)
    )
    return list(session.execute(statement).all())


def _ai_cost(session: Any, dialect: str, start: dt.datetime, end: dt.datetime) -> list[Any]:
    """``(day, team, cost)`` rows of the window (the call's team, else its user's)."""
    day = _day(AIInteraction.created_at, dialect)
    team_id = func.coalesce(AIInteraction.team_id, User.team_id)
    statement = (
        select(day, Team.name, func.sum(AIInteraction.cost_usd))
        .select_from(AIInteraction)
        .outerjoin(User, AIInteraction.user_id == User.id)
        .outerjoin(Team, Team.id == team_id)
        .where(AIInteraction.created_at >= start, AIInteraction.created_at < end)
        .group_by(day, Team.name)
    )
    return list(session.execute(statement).all())


def _open_pipeline_value(
    session: Any, start: dt.datetime, end: dt.datetime, last_day: pd.Timestamp
) -> pd.Series | None:
    """Sum of the amounts of the deals open at the end of each day of the window."""
    statement = select(Deal.created_at, Deal.closed_at, Deal.amount).where(
        Deal.amount.is_not(None),
        Deal.created_at < end,
        or_(Deal.closed_at.is_(None), Deal.closed_at >= start),
        # A deal with an outcome but no close time cannot be placed in time.
        or_(Deal.closed_at.is_not(None), Deal.is_won.is_(None)),
    )
    rows = session.execute(statement).all()
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=["created_at", "closed_at", "amount"])
    first_day = pd.Timestamp(start).tz_convert("UTC").tz_localize(None).normalize()
    created = utc_naive(frame["created_at"]).dt.normalize().clip(lower=first_day)
    closed = utc_naive(frame["closed_at"]).dt.normalize()
    amount = frame["amount"].astype(float)
    days = pd.date_range(max(first_day, created.min()), last_day, freq="D", name="date")
    if len(days) == 0:
        return None
    # Deals created before the window count from its first day (``created`` is clipped).
    opened = amount.groupby(created).sum().reindex(days, fill_value=0.0)
    is_closed = closed.notna()
    done = amount[is_closed].groupby(closed[is_closed]).sum()
    done = done[done.index <= last_day].reindex(days, fill_value=0.0)
    series = (opened.cumsum() - done.cumsum()).astype(float)
    series.name = "open_pipeline_value"
    return series


def _weekly_win_rate(
    session: Any,
    dialect: str,
    start: dt.datetime,
    end: dt.datetime,
    min_closed_deals: int,
) -> pd.Series | None:
    """Won / closed deals per whole week (from Monday) inside the window."""
    day = _day(Deal.closed_at, dialect)
    won = func.sum(case((Deal.is_won.is_(True), 1), else_=0))
    statement = (
        select(day, func.count(), won)
        .where(Deal.closed_at >= start, Deal.closed_at < end, Deal.is_won.is_not(None))
        .group_by(day)
    )
    rows = session.execute(statement).all()
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=["day", "closed", "won"])
    frame["day"] = _days(frame["day"])
    frame["week"] = frame["day"] - pd.to_timedelta(frame["day"].dt.dayofweek, unit="D")
    first = pd.Timestamp(start).tz_convert("UTC").tz_localize(None)
    last = pd.Timestamp(end).tz_convert("UTC").tz_localize(None)
    whole = (frame["week"] >= first) & (frame["week"] + pd.Timedelta(days=7) <= last)
    weeks = frame[whole].groupby("week")[["closed", "won"]].sum().astype(float)
    weeks = weeks[weeks["closed"] >= min_closed_deals]
    if weeks.empty:
        return None
    series = (weeks["won"] / weeks["closed"]).astype(float)
    series.index = pd.DatetimeIndex(series.index, name="week")
    series.name = "win_rate"
    return series


def _lead_scores(
    session: Any, dialect: str, start: dt.datetime, end: dt.datetime, hot_score: int
) -> dict[str, pd.Series]:
    """Daily mean lead score and share of hot scores (days with scores only)."""
    day = _day(LeadScore.calculated_at, dialect)
    hot = func.sum(case((LeadScore.score >= hot_score, 1), else_=0))
    statement = (
        select(day, func.avg(LeadScore.score), func.count(), hot)
        .where(LeadScore.calculated_at >= start, LeadScore.calculated_at < end)
        .group_by(day)
    )
    rows = session.execute(statement).all()
    if not rows:
        return {}
    frame = pd.DataFrame(rows, columns=["day", "mean", "count", "hot"])
    index = pd.DatetimeIndex(_days(frame["day"]), name="date")
    mean = pd.Series(frame["mean"].astype(float).to_numpy(), index=index, name="lead_score_mean")
    share = pd.Series(
        (frame["hot"].astype(float) / frame["count"].astype(float)).to_numpy(),
        index=index,
        name="lead_score_hot_share",
    )
    return {"lead_score_mean": mean.sort_index(), "lead_score_hot_share": share.sort_index()}


def crm_metric_series(
    database_url: str,
    days: int = 180,
    *,
    end: dt.datetime | None = None,
    min_closed_deals: int = 5,
    hot_score: int = 70,
) -> dict[str, pd.Series]:
    """Return the CRM's metrics over the last ``days`` complete days, one series per metric.

    Args:
        database_url: SQLAlchemy URL of the platform database (SQLite or PostgreSQL).
        days: Length of the window in days.
        end: End of the window (exclusive); defaults to the start of the current UTC day, so
            only complete days are analysed. A naive time is read as UTC.
        min_closed_deals: Weeks with fewer closed deals have no win rate.
        hot_score: Lead scores at least this high count as hot.

    Returns:
        Metric key → series on a naive UTC DatetimeIndex (see the module docstring); metrics
        without data are left out, so an empty database gives ``{}``.

    Raises:
        ValueError: When ``days < 1``.
        sqlalchemy.exc.SQLAlchemyError: When the database is unreachable or not migrated.
    """
    start, end = _window(days, end)
    last_day = _last_day(end)
    dialect = create_db_engine(database_url).dialect.name
    out: dict[str, pd.Series] = {}
    with session_scope(database_url) as session:
        out.update(
            _per_team_daily(
                _activity_volume(session, dialect, start, end), "activity_volume", last_day
            )
        )
        pipeline = _open_pipeline_value(session, start, end, last_day)
        if pipeline is not None:
            out["open_pipeline_value"] = pipeline
        win_rate = _weekly_win_rate(session, dialect, start, end, min_closed_deals)
        if win_rate is not None:
            out["win_rate"] = win_rate
        out.update(_lead_scores(session, dialect, start, end, hot_score))
        out.update(_per_team_daily(_ai_cost(session, dialect, start, end), "ai_cost_usd", last_day))
    return {key: series for key, series in out.items() if len(series) and np.isfinite(series).any()}


__all__ = [
    "BANK_FIRST_MONTH",
    "METRICS",
    "NO_TEAM",
    "MetricInfo",
    "bank_call_months",
    "bank_monthly_contacts",
    "crm_metric_series",
    "maven_daily_deals_engaged",
    "maven_daily_won_value",
    "maven_series",
    "metric_info",
    "metric_key",
    "real_series",
]
