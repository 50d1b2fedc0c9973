"""Numeric filters of queries: amounts, employee counts, annual revenue and company sizes.

* comparisons and ranges: "over 50k", "above $1.2m", "under 10,000", "between 20k and 40k",
  "at least 500 employees" (employee count), "revenue over $10m" (annual revenue), otherwise
  "lead score above 80" (lead score), otherwise the deal amount; a negated comparison ("not
  over 50k") is its complement;
* company-size words: "small companies", "startups", "mid-market", "large companies".
"""

from __future__ import annotations

import re
from typing import Any

from textai.search.negation import claim_negation, negate_op
from textai.search.parse_state import ParseState
from textai.search.query_model import Filter

_SUFFIX = r"k|mm|m|bn|thousand|million|billion|grand"
_NUM = rf"\$?\s?(\d+(?:,\d{{3}})*(?:\.\d+)?)\s?({_SUFFIX})?(?![\w])"
_MULT = {
    "": 1.0, "k": 1e3, "thousand": 1e3, "grand": 1e3, "m": 1e6, "mm": 1e6, "million": 1e6,
    "bn": 1e9, "billion": 1e9,
}  # fmt: skip
#: Comparison operator -> the phrases expressing it.
COMPARISONS: dict[str, str] = {
    ">": r"over|above|more\s+than|greater\s+than|bigger\s+than|larger\s+than|higher\s+than"
    r"|exceeding|in\s+excess\s+of|>",
    ">=": r"at\s+least|minimum(?:\s+of)?|no\s+less\s+than|not\s+less\s+than|>=",
    "<": r"under|below|less\s+than|smaller\s+than|lower\s+than|fewer\s+than|<",
    "<=": r"at\s+most|up\s+to|maximum(?:\s+of)?|no\s+more\s+than|not\s+more\s+than|<=",
}
_AMOUNT_CMP = re.compile(
    rf"(?:\b(?:worth|valued\s+at|with|of|amount|value|size|revenue|arr|headcount)\s+)?"
    rf"(?P<cmp>{'|'.join(f'(?:{v})' for v in COMPARISONS.values())})\s*{_NUM}"
)
_AMOUNT_BETWEEN = re.compile(
    rf"(?:\b(?:worth|valued\s+at|with|of|amount|value|revenue)\s+)?"
    rf"(?:between\s+{_NUM}\s*(?:and|to|-|–)\s*{_NUM}|from\s+{_NUM}\s*(?:to|-|–)\s*{_NUM})"
)
_EMPLOYEE_AFTER = re.compile(
    r"^\s*(?:employees|employee|staff|people|headcount|workers|ftes?|persons)\b"
)
_EMPLOYEE_BEFORE = re.compile(r"(?:employees|headcount|staff|team\s+size|size)\W*(?:\w+\W+)?$")
_REVENUE_BEFORE = re.compile(r"(?:revenue|arr|turnover|sales\s+volume)\W*(?:\w+\W+)?$")
_SCORE_BEFORE = re.compile(r"(?:\blead\s+)?\bscor(?:e|ed|ing)\W*(?:(?:of|is|was|at)\W+)?$")

#: Company-size words -> employee-count filter arguments.
SIZE_PATTERNS: tuple[tuple[str, tuple[str, str, Any]], ...] = (
    (r"\b(?:small(?:er)?|tiny)\s+(?=compan|businesses|firms|accounts|orgs?)|\bstartups?\b|\bsmbs?\b",
     ("employee_count", "<", 50.0)),
    (r"\bmid[\s-]?(?:sized?|market)\b", ("employee_count", "between", (50.0, 999.0))),
    (r"\b(?:large|big|bigger|larger)\s+(?=compan|businesses|firms|accounts|orgs?)",
     ("employee_count", ">=", 1000.0)),
)  # fmt: skip


def parse_number(digits: str, suffix: str | None) -> float:
    """Turn digits and a magnitude suffix into a number.

    Args:
        digits: The digits, with optional thousands commas and decimals ("1,200", "1.5").
        suffix: A magnitude ("k", "m", "million", "bn"...) or ``None``.

    Returns:
        The value, e.g. ``"1,200"`` + ``"k"`` -> ``1_200_000.0``.

    """
    return float(digits.replace(",", "")) * _MULT[(suffix or "").lower()]


def parse_amounts(state: ParseState) -> None:
    """Find amount / employee-count / revenue comparisons and ranges.

    Args:
        state: The parse state; a filter is added and its span consumed per comparison.

    Raises:
        ValueError: On an inverted range ("between 50k and 10k").

    """
    for pattern in (_AMOUNT_BETWEEN, _AMOUNT_CMP):
        while True:
            m = pattern.search(state.working())
            if m is None:
                break
            end = m.end()
            if pattern is _AMOUNT_BETWEEN:
                groups = m.groups()
                d1, s1, d2, s2 = groups[0:4] if groups[0] is not None else groups[4:8]
                if s2 and not s1 and parse_number(d1, s2) <= parse_number(d2, s2):
                    s1 = s2  # "between 20 and 40k" -> both in thousands
                low, high = parse_number(d1, s1), parse_number(d2, s2)
                if low > high:
                    raise ValueError(
                        f"amount range in {state.raw!r} is inverted: {low:g} is above {high:g}"
                    )
                op, value = "between", (low, high)
            else:
                op = next(
                    k for k, v in COMPARISONS.items() if re.fullmatch(v, m.group("cmp").strip())
                )
                value = parse_number(m.group(2), m.group(3))
                op = negate_op(op, claim_negation(state, m.start()))
            field_name, end = _amount_field(state, m, end)
            state.filters.append(Filter(field_name, op, value))
            state.consume(m.start(), end)


def _amount_field(state: ParseState, m: re.Match[str], end: int) -> tuple[str, int]:
    """Return the field a numeric comparison is about and where its span ends.

    "500 employees" extends the span over the unit word; "headcount over 500" and
    "revenue over $10m" are told by the words before or inside the match.
    """
    before = state.low[: m.start()]
    after = _EMPLOYEE_AFTER.match(state.low[end:])
    if after is not None:
        return "employee_count", end + after.end()
    if _EMPLOYEE_BEFORE.search(before) or re.search(
        r"\b(?:headcount|employees|staff)\b", m.group(0)
    ):
        return "employee_count", end
    if _REVENUE_BEFORE.search(before) or re.search(r"\b(?:revenue|arr)\b", m.group(0)):
        return "annual_revenue", end
    score = _SCORE_BEFORE.search(before)
    if score is not None:
        state.consume(score.start(), score.end())
        return "lead_score", end
    return "amount", end


def parse_sizes(state: ParseState) -> None:
    """Find company-size words ("small companies", "mid-market", "startups").

    Args:
        state: The parse state; an employee-count filter is added per size word.

    """
    for regex, (field_name, op, value) in SIZE_PATTERNS:
        m = re.search(regex, state.working())
        if m is not None:
            state.filters.append(Filter(field_name, op, value))
            state.consume(m.start(), m.end())
