"""Date spans of time expressions in queries: quarters, months, relative and rolling ranges."""

from __future__ import annotations

import calendar
import datetime as dt
import re

from textai.search.query_model import Filter


def quarter_range(year: int, quarter: int) -> tuple[dt.date, dt.date]:
    """Return the first and last day of a calendar quarter.

    Args:
        year: Calendar year.
        quarter: Quarter number, 1 to 4.

    Returns:
        ``(first_day, last_day)``.

    """
    first_month = 3 * (quarter - 1) + 1
    last_month = first_month + 2
    return (
        dt.date(year, first_month, 1),
        dt.date(year, last_month, calendar.monthrange(year, last_month)[1]),
    )


def _month_range(year: int, month: int) -> tuple[dt.date, dt.date]:
    """Return the first and last day of a month."""
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def _add_months(day: dt.date, months: int) -> dt.date:
    """Shift a date by whole months, clamping the day to the target month's length."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _relative_range(rel: str, unit: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """Resolve "this/last/next week|month|quarter|year" to a calendar period."""
    shift = {"this": 0, "current": 0, "last": -1, "previous": -1, "past": -1, "next": 1}.get(rel, 1)
    if unit == "week":
        monday = today - dt.timedelta(days=today.weekday()) + dt.timedelta(weeks=shift)
        return monday, monday + dt.timedelta(days=6)
    if unit == "month":
        first = _add_months(today.replace(day=1), shift)
        return _month_range(first.year, first.month)
    if unit == "quarter":
        index = today.year * 4 + (today.month - 1) // 3 + shift
        return quarter_range(index // 4, index % 4 + 1)
    year = today.year + shift
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def _rolling_range(rel: str, n: int, unit: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """Resolve "last/next N days|weeks|months|years" to a rolling window ending/starting today."""
    unit = unit.rstrip("s")
    if unit in ("day", "week"):
        delta = dt.timedelta(days=n * (7 if unit == "week" else 1))
        return (today - delta, today) if rel in ("last", "past") else (today, today + delta)
    months = n * (12 if unit == "year" else 1)
    if rel in ("last", "past"):
        return _add_months(today, -months), today
    return today, _add_months(today, months)


_EDGE_UNITS = {"w": "week", "m": "month", "q": "quarter", "y": "year"}


def _edge_range(groups: dict[str, str | None], today: dt.date) -> tuple[dt.date, dt.date]:
    """Resolve "end / start of (this|next|last) week|month|quarter|year" to that one day."""
    abbr = groups.get("abbr")
    if abbr:
        edge, unit, rel = (
            ("end" if abbr.startswith("eo") else "start"),
            _EDGE_UNITS[abbr[2]],
            "this",
        )
    else:
        edge, unit, rel = groups["edge"] or "end", groups["unit"] or "month", groups.get("rel")
    first, last = _relative_range(rel or "this", unit, today)
    day = last if edge in ("end", "close") else first
    return day, day


def _parsed_day(text: str, mod: str | None, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """Resolve an explicit day ("March 3rd", "2 weeks ago", "last Friday") with dateparser.

    A day without a year is the latest one not after ``today`` after "since" and in the
    past-tense phrases ("ago", "last"), else the one of the current year.
    """
    import dateparser

    base = dt.datetime.combine(today, dt.time(12))
    past = mod == "since" or "ago" in text or text.startswith(("last", "past"))
    settings = {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": "past" if past else "current_period",
        "PREFER_DAY_OF_MONTH": "first",
        "DATE_ORDER": "MDY",
    }
    parsed = dateparser.parse(text, languages=["en"], settings=settings)
    if parsed is None:
        return None
    return parsed.date(), parsed.date()


def _month_number(token: str) -> int:
    """Return the month number of an English month name or abbreviation."""
    return [m.lower() for m in calendar.month_abbr].index(token[:3].lower())


def time_range(kind: str, m: re.Match[str], today: dt.date) -> tuple[dt.date, dt.date] | None:
    """Resolve one time-phrase match to a date range.

    Args:
        kind: The kind of time phrase (``rel_n``, ``rel``, ``quarter``, ``iso``, ``month``,
            ``year``, ``day``, ``ytd`` or ``soon``).
        m: The phrase's match, with the named groups of its kind.
        today: Reference date of relative phrases.

    Returns:
        ``(first_day, last_day)``, or ``None`` when the match is not a time phrase after all
        (a bare month name, a year without a preposition...).

    """
    groups = m.groupdict()
    mod = groups.get("mod")
    if kind == "edge":
        return _edge_range(groups, today)
    if kind == "dp":
        return _parsed_day(groups["dp"], mod, today)
    if kind == "rel_n":
        return _rolling_range(groups["rel"], int(groups["n"]), groups["unit"], today)
    if kind == "rel":
        return _relative_range(groups["rel"], groups["unit"], today)
    if kind == "quarter":
        year = int(groups["y"]) if groups.get("y") else today.year
        return quarter_range(year, int(groups["q"]))
    if kind == "iso":
        try:
            day = dt.date.fromisoformat(groups["iso"])
        except ValueError:
            return None
        return day, day
    if kind == "month":
        # A bare month name needs a preposition or a year ("in March", "May 2026").
        if groups.get("y") is None and mod is None:
            return None
        if groups["mon"] == "may" and groups.get("y") is None and mod not in (
            "in", "during", "since", "before", "after", "until", "by", "of",
        ):  # fmt: skip
            return None
        year = int(groups["y"]) if groups.get("y") else today.year
        month = _month_number(groups["mon"])
        if groups.get("y") is None and mod in ("since", "after", "from") and month > today.month:
            year -= 1  # "since November" in May: last November
        return _month_range(year, month)
    if kind == "year":
        if mod is None or mod == "over":
            return None
        year = int(groups["y"])
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    if kind == "day":
        offset = {"today": 0, "yesterday": -1, "tomorrow": 1}[groups["day"]]
        day = today + dt.timedelta(days=offset)
        return day, day
    if kind == "ytd":
        unit = {"y": "year", "q": "quarter", "m": "month", "w": "week"}[groups["ytd"][0]]
        return _relative_range("this", unit, today)[0], today
    if kind == "soon":
        if not groups.get("verb") and not re.search(r"\bclos", m.string[: m.start()]):
            return None
        return today, today + dt.timedelta(days=30)
    return None


def date_filter(field_name: str, mod: str | None, span: tuple[dt.date, dt.date]) -> Filter:
    """Build the date filter of a time phrase with its modifier.

    Args:
        field_name: The date attribute filtered.
        mod: The phrase's modifier (``since``, ``after``, ``before``, ``until``, ``by``...).
        span: The phrase's ``(first_day, last_day)``.

    Returns:
        An open-ended filter for since / after / before / until / by, else ``between``.

    """
    start, end = span
    if mod == "since":
        return Filter(field_name, ">=", start)
    if mod == "after":
        return Filter(field_name, ">", end)
    if mod == "before":
        return Filter(field_name, "<", start)
    if mod in ("until", "by"):
        return Filter(field_name, "<=", end)
    return Filter(field_name, "between", (start, end))
