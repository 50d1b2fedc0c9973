"""Time phrases of queries and the date field each one filters.

Phrases are relative to ``today``: "closing this quarter", "next month", "created last week",
"in 2026", "Q3", "since March", "last 30 days", "before the end of the quarter", "since the
start of the year", "quarter to date"; explicit days ("March 3rd", "3 June 2026", "2 weeks
ago", "last Friday") are resolved by ``dateparser``. The verb picks the date field (closing ->
expected close date, won/lost/closed -> close time, created/added/new -> creation date,
sent/held -> activity time); without one, the query's entity types do
(:func:`default_date_field`). The date arithmetic is :mod:`textai.search.time_ranges`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from textai.search.parse_state import ParseState
from textai.search.time_ranges import time_range

#: Verb phrases -> the date field they refer to.
VERB_FIELDS: tuple[tuple[str, str], ...] = (
    (r"expected\s+to\s+close|close\s+date|due\s+to\s+close|closing|closes|close",
     "expected_close_date"),
    (r"closed|won|lost|signed", "closed_at"),
    (r"created|added|new|joined|signed\s+up|registered|entered|opened", "created_at"),
    (r"sent|received|held|happened|logged|took\s+place|had|scheduled|occurred", "occurred_at"),
)  # fmt: skip
_VERB = re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p, _ in VERB_FIELDS) + r")\b")
_MODS = r"since|before|after|until|till|through|by|in|during|for|within|on|from|of|over|at"
_TIME_PREFIX = (
    r"(?:\b(?P<verb>"
    + "|".join(p for p, _ in VERB_FIELDS)
    + r")\s+)?(?:\b(?P<mod>"
    + _MODS
    + r")\s+)?(?:the\s+)?"
)
_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_WEEKDAYS = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_TIME_BODIES: tuple[tuple[str, str], ...] = (
    ("edge", r"(?P<edge>end|start|beginning|close)\s+of\s+(?:the\s+)?"
             r"(?:(?P<rel>this|current|next|coming|last|previous)\s+)?(?P<unit>week|month|quarter|year)"),
    ("edge", r"(?P<abbr>eo[wmqy]|bo[wmqy])"),
    ("dp", rf"(?P<dp>\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})(?:,?\s+\d{{4}})?"
           rf"|(?:{_MONTHS})\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?(?![\d,.])"
           r"|\d{1,3}\s+(?:days?|weeks?|months?)\s+ago|a\s+(?:day|week|month)\s+ago"
           rf"|(?:last|this|next|past)\s+(?:{_WEEKDAYS})|\d{{1,2}}/\d{{1,2}}/\d{{2,4}})"),
    ("rel_n", r"(?P<rel>last|past|next|coming)\s+(?P<n>\d{1,3})\s+"
              r"(?P<unit>days?|weeks?|months?|years?)"),
    ("rel", r"(?P<rel>this|current|last|previous|past|next|coming)\s+"
            r"(?P<unit>week|month|quarter|year)"),
    ("quarter", r"q(?P<q>[1-4])(?:\s*(?:of\s+)?(?P<y>(?:19|20)\d{2}))?"),
    ("quarter", r"(?P<y>(?:19|20)\d{2})\s*q(?P<q>[1-4])"),
    ("iso", r"(?P<iso>\d{4}-\d{2}-\d{2})"),
    ("month", rf"(?P<mon>{_MONTHS})(?:\s+(?P<y>(?:19|20)\d{{2}}))?"),
    ("year", r"(?P<y>(?:19|20)\d{2})"),
    ("day", r"(?P<day>today|yesterday|tomorrow)"),
    ("ytd", r"(?P<ytd>(?:year|quarter|month|week)[\s-]+to[\s-]+date|ytd|qtd|mtd|wtd)"),
    ("soon", r"(?P<soon>soon)"),
)  # fmt: skip
_TIME_RES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(_TIME_PREFIX + r"\b" + body + r"\b")) for kind, body in _TIME_BODIES
)


def parse_times(state: ParseState, today: dt.date) -> None:
    """Find time phrases; their date field is resolved once entity types are known.

    Args:
        state: The parse state; each phrase is added to ``pending_dates`` with the field of
            its verb (or of the last verb before it, or ``None``) and consumed.
        today: Reference date of relative phrases.

    """
    while True:
        working = state.working()
        best: tuple[re.Match[str], tuple[dt.date, dt.date]] | None = None
        for kind, regex in _TIME_RES:
            for m in regex.finditer(working):
                span = time_range(kind, m, today)
                if span is not None:
                    if best is None or m.start() < best[0].start():
                        best = (m, span)
                    break
        if best is None:
            return
        m, span = best
        verb_field = _verb_field(m.group("verb")) if m.group("verb") else None
        if verb_field is None:
            verbs = list(_VERB.finditer(state.low[: m.start()]))
            verb_field = _verb_field(verbs[-1].group(0)) if verbs else None
        mod = m.group("mod")
        if mod in ("till", "through"):
            mod = "until"
        if _is_end_edge(m) and mod in (None, "before", "at", "of", "by", "until"):
            mod = "by"  # "before the end of the quarter": up to its last day
        elif mod in ("at", "of"):
            mod = None
        state.pending_dates.append((m.start(), verb_field, mod, span))
        state.consume(m.start(), m.end())


def _is_end_edge(m: re.Match[str]) -> bool:
    """Whether a time match names the end of a period ("end of the quarter", "EOM")."""
    groups = m.groupdict()
    return groups.get("edge") in ("end", "close") or (groups.get("abbr") or "").startswith("eo")


def _verb_field(verb: str) -> str | None:
    """Map a verb ("closing", "created"...) to its date field."""
    for pattern, field_name in VERB_FIELDS:
        if re.fullmatch(pattern, verb.strip()):
            return field_name
    return None


def default_date_field(entities: Sequence[str]) -> str:
    """Return the date field of a verb-less time phrase for the query's entity types.

    Args:
        entities: The query's entity types.

    Returns:
        ``expected_close_date`` for deals only, ``occurred_at`` for emails / transcripts
        only, else ``created_at``.

    """
    if entities and all(e == "deal" for e in entities):
        return "expected_close_date"
    if entities and all(e in ("email", "transcript") for e in entities):
        return "occurred_at"
    return "created_at"
