"""Numbers written in words and sales shorthands, rewritten as digits before the query rules run.

* number words go through ``text2num`` (:func:`text_to_num.alpha2digit`): "fifty thousand" ->
  "50000", "three weeks" -> "3 weeks"; a decimal read as two numbers ("one point five
  million" -> "1.5 1000000") is joined back ("1.5m"), "a million" / "half a million" become
  numbers. A number-word span is rewritten only in a numeric context (a comparison or time
  word before it, a magnitude or unit after it), so a name such as "Five Star Labs" is kept;
* shorthands: "50k+", "50k plus", "50k or more", "50k and up" -> "at least 50k"; "50k or
  less" / "50k and under" -> "at most 50k"; "north of" / "upwards of" -> "over"; "south of"
  -> "under"; "20k-40k" / "20 to 40k" -> "between 20k and 40k".
"""

from __future__ import annotations

import re

_UNITS = (
    "zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen"
    "|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fourty|fifty|sixty"
    "|seventy|eighty|ninety"
)
_MAGNITUDES = "hundred|thousand|million|billion"
_WORD = rf"(?:{_UNITS}|{_MAGNITUDES})"
#: A run of number words ("two hundred and fifty thousand", "one point five").
_SPAN = re.compile(
    rf"\b(?:(?:a|an)\s+(?={_MAGNITUDES}))?{_WORD}(?:(?:[\s-]+|\s+and\s+|\s+point\s+){_WORD})*\b",
    re.IGNORECASE,
)
#: Words after a number that make it a quantity (magnitudes, units, currencies).
_UNIT_AFTER = re.compile(
    r"^\s*(?:k\b|m\b|mm\b|bn\b|grand\b|dollars?|bucks|usd|eur|euros?|gbp|pounds?|%|percent"
    r"|days?|weeks?|months?|quarters?|years?|employees|staff|people|persons|workers|seats"
    r"|users|licen[cs]es)",
    re.IGNORECASE,
)
#: Words before a number that make it a quantity (comparisons, ranges, rolling windows).
_CUE_BEFORE = re.compile(
    r"(?:over|above|under|below|than|least|most|up\s+to|\d\s*(?:and|to)|between|from|of|worth|at|last"
    r"|past|next|within|exceeding|around|about|roughly|score|minimum|maximum|\$)\s*$",
    re.IGNORECASE,
)
_DECIMAL_MAGNITUDE = re.compile(r"\b(\d+\.\d+)\s+(1000|1000000|1000000000)\b")
_ARTICLE_NUMBER = re.compile(r"\b(?:a|an)\s+(\d{3,})\b", re.IGNORECASE)
_HALF = re.compile(r"\bhalf\s+(?:a|one)\s+(million|billion)\b", re.IGNORECASE)
_NUM = r"\$?\d+(?:,\d{3})*(?:\.\d+)?\s?(?:k|m|mm|bn|thousand|million|billion|grand)?"
_UNIT = r"(\s+(?:employees|staff|people|workers|seats|users|dollars|usd))?"
_SHORTHANDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"(?<![\w$])({_NUM})\s*\+", re.IGNORECASE), r"at least \1"),
    (re.compile(rf"(?<![\w$])({_NUM}){_UNIT}\s+(?:plus|or\s+more|or\s+above|or\s+higher"
                r"|and\s+up|and\s+above|or\s+bigger|or\s+greater)\b", re.IGNORECASE),
     r"at least \1\2"),
    (re.compile(rf"(?<![\w$])({_NUM}){_UNIT}\s+(?:or\s+less|or\s+below|or\s+lower|or\s+under"
                r"|and\s+under|and\s+below|or\s+smaller|or\s+fewer|max)\b", re.IGNORECASE),
     r"at most \1\2"),
    (re.compile(r"\b(?:north\s+of|upwards\s+of|in\s+excess\s+of|more\s+then)\s+", re.IGNORECASE),
     "over "),
    (re.compile(r"\bsouth\s+of\s+", re.IGNORECASE), "under "),
    (re.compile(r"(\d)\s*(?:dollars|bucks|usd)\b", re.IGNORECASE), r"\1"),
    (re.compile(r"(?<![\w$-])(\$?\d+(?:\.\d+)?\s?(?:k|m|mm|bn)?)\s*(?:-|–|to)\s*"
                r"(\$?\d+(?:\.\d+)?\s?(?:k|m|mm|bn))\b(?!\s*(?:days?|weeks?|months?|years?))",
                re.IGNORECASE), r"between \1 and \2"),
)  # fmt: skip
_MAGNITUDE_SUFFIX = {"1000": "k", "1000000": "m", "1000000000": "bn"}


_RANGE_MAGNITUDE = re.compile(r"\s(thousand|million|billion)$", re.IGNORECASE)


def _convert_span(span: str, *, in_range: bool = False) -> str:
    """Return a number-word span as digits (text2num), decimals joined to their magnitude.

    In a range ("between twenty and forty thousand") the two ends are converted apart and
    the lower end takes the upper end's magnitude: "20k and 40k".
    """
    from text_to_num import alpha2digit

    if in_range and re.search(r"\sand\s", span):
        pieces = re.split(r"\s+and\s+", span)
        for cut in range(len(pieces) - 1, 0, -1):  # the longest lower end that reads alone
            low, high = " and ".join(pieces[:cut]), " and ".join(pieces[cut:])
            magnitude = _RANGE_MAGNITUDE.search(high)
            if magnitude and not re.search(_MAGNITUDES, low, re.IGNORECASE):
                low = f"{low} {magnitude.group(1)}"
            low_text, high_text = _convert_span(low), _convert_span(high)
            numbers = [_number(low_text), _number(high_text)]
            if None not in numbers and numbers[0] <= numbers[1]:
                return f"{low_text} and {high_text}"
    text = alpha2digit(span, "en", threshold=0)
    text = _DECIMAL_MAGNITUDE.sub(lambda m: m.group(1) + _MAGNITUDE_SUFFIX[m.group(2)], text)
    text = _ARTICLE_NUMBER.sub(r"\1", text)
    magnitude = _RANGE_MAGNITUDE.search(" " + span.strip())
    if magnitude and text.isdigit():  # "fifteen thousand" -> "15k": a range's ends agree
        size = {"thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
        unit = size[magnitude.group(1).lower()]
        if int(text) % unit == 0:
            text = f"{int(text) // unit}{_MAGNITUDE_SUFFIX[str(unit)]}"
    return text


def _number(text: str) -> float | None:
    """Return the value of a converted span that is one number ("1.5m", "40000"), else None."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(k|m|bn)?", text.strip())
    if m is None:
        return None
    return float(m.group(1)) * {None: 1, "k": 1e3, "m": 1e6, "bn": 1e9}[m.group(2)]


def _in_numeric_context(text: str, start: int, end: int) -> bool:
    """Return whether the span ``[start, end)`` of ``text`` reads as a quantity."""
    return bool(_UNIT_AFTER.match(text[end:]) or _CUE_BEFORE.search(text[:start]))


def normalise_numbers(text: str) -> str:
    """Rewrite number words and amount shorthands of a query as digits and plain comparisons.

    Args:
        text: The query.

    Returns:
        The query with quantities in digits, e.g. "deals over fifty thousand" -> "deals over
        50000", "50k+ deals" -> "at least 50k deals".

    """
    text = _HALF.sub(lambda m: "500000" if m.group(1).lower() == "million" else "500000000", text)
    parts: list[str] = []
    last = 0
    for m in _SPAN.finditer(text):
        span = m.group(0)
        if not _in_numeric_context(text, m.start(), m.end()):
            continue
        in_range = re.search(r"\b(?:between|from)\s*$", text[: m.start()], re.IGNORECASE)
        converted = _convert_span(span, in_range=bool(in_range))
        if converted == span:
            continue
        parts += [text[last : m.start()], converted]
        last = m.end()
    text = "".join([*parts, text[last:]])
    for pattern, replacement in _SHORTHANDS:
        text = pattern.sub(replacement, text)
    return text
