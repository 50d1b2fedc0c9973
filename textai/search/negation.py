"""Negation scope of query filters: "not", "excluding", "other than", "except", "outside", "non-".

A categorical value (stage, lifecycle stage, industry, country, score band) is negated when a
negation cue stands right before it, with only glue words between ("deals that are not closed
won", "companies excluding those in retail", "contacts outside the UK", "non-healthcare
accounts"). The scope is that one phrase: a value after another value ("not won deals in
healthcare") is not negated, except the next items of a list ("excluding retail and media").
A negated value becomes a ``!=`` / ``not in`` filter, a negated comparison its complement
("deals not over 50k" -> amount <= 50k).
"""

from __future__ import annotations

import re

from textai.search.parse_state import ParseState

_CUE = (
    r"\bnot|\w+n['’]t|\bexcluding|\bexclude|\bexcept(?:\s+for)?|\bother\s+than|\bapart\s+from"
    r"|\baside\s+from|\bbut\s+not|\bwithout|\boutside(?:\s+of)?|\bno\s+longer|\bnever|\bnon"
)
_GLUE = (
    r"in|the|a|an|from|at|of|for|yet|been|being|any|those|ones|that|are|is|was|were|be|as"
    r"|marked|currently|still|based|located|headquartered|stage|stages|status|counting|including"
    r"|them|it|they|who|which|leads?|deals?|companies|contacts?|accounts?|one"
)
#: A negation cue followed only by glue words, at the end of the text before a value.
_NEGATED_BEFORE = re.compile(rf"(?P<cue>{_CUE})(?:[\s-]+(?:{_GLUE})\b)*[\s-]*$")

#: Complement of each comparison (a negated "over 50k" is "at most 50k").
COMPLEMENT: dict[str, str] = {
    ">": "<=", ">=": "<", "<": ">=", "<=": ">", "==": "!=", "in": "not in", "!=": "==",
    "not in": "in",
}  # fmt: skip


def negation_before(state: ParseState, start: int) -> int | None:
    """Return where the negation cue scoping the phrase at ``start`` begins (``None``: none).

    Args:
        state: The parse state (its lower-case text is read, consumed spans included, so a
            value between the cue and the phrase ends the cue's scope).
        start: First character of the phrase.

    Returns:
        The cue's first character, or ``None`` when the phrase is not negated.

    """
    m = _NEGATED_BEFORE.search(state.low[:start])
    return None if m is None else m.start("cue")


def claim_negation(state: ParseState, start: int) -> bool:
    """Return whether the phrase at ``start`` is negated, consuming the cue when it is.

    Args:
        state: The parse state.
        start: First character of the phrase.

    Returns:
        ``True`` for a negated phrase.

    """
    cue = negation_before(state, start)
    if cue is None:
        return False
    state.consume(cue, start)
    return True


def negate_op(op: str, negated: bool) -> str:
    """Return ``op`` or, for a negated phrase, its complement.

    Args:
        op: A filter operator.
        negated: Whether the phrase is negated.

    Returns:
        The operator to use.

    Raises:
        ValueError: For a negated ``between`` (no single operator expresses its complement).

    """
    if not negated:
        return op
    if op not in COMPLEMENT:
        raise ValueError(f"cannot negate the operator {op!r}")
    return COMPLEMENT[op]
