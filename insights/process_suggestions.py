"""Suggestions in words for process bottlenecks, built from their kind and numbers.

Each suggestion states the finding (rate or days, benchmark, interval, test), names the peer to
learn from, gives a concrete action for the dimension and the estimated impact, and warns when
the finding would not survive the Benjamini-Hochberg false discovery rate of its dimension.
"""

from __future__ import annotations

from typing import Any

from insights.process_funnel import ALPHA, DIMENSIONS


def _subject(column: str, segment: str) -> str:
    """Return how a segment is named at the start of a sentence."""
    return {
        "product": f"{segment} deals",
        "manager": f"{segment}'s team",
        "regional_office": f"The {segment} office",
        "sector": f"{segment.capitalize()}-sector accounts",
    }.get(column, segment)


def _pct(rate: float | None) -> str:
    """Return a rate as a percentage with one decimal."""
    return "n/a" if rate is None else f"{100 * rate:.1f} %"


def format_money(amount: float) -> str:
    """Return a short USD amount: ``$660``, ``$29.3k``, ``$1.23M``."""
    if abs(amount) >= 1e6:
        return f"${amount / 1e6:.2f}M"
    if abs(amount) >= 1e4:
        return f"${amount / 1e3:.1f}k"
    return f"${amount:,.0f}"


def _fdr_caveat(q_value: float | None, tested: int, column: str) -> str:
    """Return a warning when the finding does not survive the false discovery rate."""
    if q_value is None or q_value < ALPHA:
        return ""
    return (
        f" Not significant once all {tested} {DIMENSIONS[column]} segments are accounted for "
        f"(q = {q_value:.2f}): confirm on next quarter's deals before acting."
    )


def describe_win_rate_gap(
    column: str,
    row: dict[str, Any],
    *,
    overall: float,
    impact: float,
    peer: str | None,
    peer_rate: float | None,
    weakest: dict[str, Any] | None,
    tested: int,
) -> str:
    """Return the suggestion of a win-rate bottleneck, numbers included.

    Args:
        column: The dimension (``sales_agent``, ``product``, ...).
        row: The segment's row of :func:`insights.process_funnel.summarise_segments`.
        overall: Overall win rate.
        impact: Estimated revenue impact (USD).
        peer: Best performer to learn from (``None``: none qualifies).
        peer_rate: The peer's win rate.
        weakest: The segment's weakest product (``product``, ``win_rate``, ``closed``,
            ``product_win_rate``) or ``None``.
        tested: Segments tested in the dimension (for the false-discovery caveat).

    Returns:
        One paragraph: finding, action, impact, caveat.

    """
    segment = row["segment"]
    gap = f"{100 * (row['win_rate'] - overall):+.1f}".replace("-", "−")
    text = (
        f"{_subject(column, segment)}: win rate {_pct(row['win_rate'])} of {row['closed']} closed "
        f"deals vs {_pct(overall)} overall ({gap} pts, "
        f"95 % CI {100 * row['win_rate_ci_low']:.1f}–{100 * row['win_rate_ci_high']:.1f} %, "
        f"p = {row['win_rate_p']:.3f})."
    )
    product = weakest["product"] if weakest else None
    if weakest:
        text += (
            f" Largest shortfall on {product}: {_pct(weakest['win_rate'])} of "
            f"{weakest['closed']} vs {_pct(weakest['product_win_rate'])} for {product} overall."
        )
    stat = f" ({_pct(peer_rate)}{f' on {product}' if product else ''})" if peer else ""
    peer = peer or "the best performers"
    action = {
        "sales_agent": (
            f"pair {segment} with top performer {peer}{stat} for "
            f"{product or 'key'} discovery calls and deal reviews"
        ),
        "manager": f"run joint win/loss reviews with the team of {peer}{stat}",
        "regional_office": f"adopt the qualification playbook of the {peer} office{stat}",
        "product": (
            f"review pricing, positioning and qualification criteria for {segment}; "
            f"have {peer}{stat}, its best closer, run enablement sessions"
        ),
        "sector": (
            f"build {segment} references and objection handling with {peer}{stat}, "
            f"the agent who wins these accounts most"
        ),
    }.get(column, f"learn from {peer}{stat}")
    text += f" Action: {action}."
    worth = format_money(impact)
    text += (
        f" Closing the gap is worth ≈ {worth} on the {row['closed']} closed deals of this snapshot."
    )
    return text + _fdr_caveat(row["win_rate_q"], tested, column)


def describe_slow_cycle(
    column: str,
    row: dict[str, Any],
    *,
    median: float,
    cycle: dict[str, Any],
    impact: float,
    expected: float,
    peer: str | None,
    peer_median: float | None,
    annual_cost: float,
    tested: int,
) -> str:
    """Return the suggestion of a time-in-stage bottleneck, numbers included.

    Args:
        column: The dimension (``sales_agent``, ``product``, ...).
        row: The segment's row of :func:`insights.process_funnel.summarise_segments`.
        median: The segment's median days in Engaging (Kaplan-Meier, or a lower bound).
        cycle: Overall time in Engaging (:func:`insights.process_funnel.cycle_stats`).
        impact: Estimated cost of the delay (USD).
        expected: Expected value of the segment's open Engaging deals (USD).
        peer: Fastest segment of the dimension (``None``: none qualifies).
        peer_median: The peer's median days in Engaging.
        annual_cost: Yearly cost of delay used for ``impact``.
        tested: Segments tested in the dimension (for the false-discovery caveat).

    Returns:
        One paragraph: finding, stalled deals, action, impact, caveat.

    """
    at_least = "at least " if row["cycle_median_km"] is None else ""
    text = (
        f"{_subject(column, row['segment'])}: deals stay in Engaging a median of {at_least}"
        f"{median:g} days (Kaplan-Meier, open deals censored) vs {cycle['median_km']:g} overall "
        f"(+{median - cycle['median_km']:g} days, log-rank p = {row['cycle_p']:.3g})."
    )
    if row["stalled"]:
        text += (
            f" {row['stalled']} of its {row['engaging']} open deals have been in Engaging longer "
            f"than any deal ever took to close ({cycle['longest_closed']:g} days)."
        )
    deadline = cycle["median_closed"] or cycle["median_km"]
    cleanup = "re-qualify or close out the stalled deals and " if row["stalled"] else ""
    text += (
        f" Action: {cleanup}set a follow-up cadence with a go/no-go decision due by day "
        f"{deadline:g}"
    )
    if peer:
        text += f"; learn from {peer}, the fastest (median {peer_median:g} days)"
    text += (
        f". The delay on ≈ {format_money(expected)} of expected open value costs "
        f"≈ {format_money(impact)} at {annual_cost:.0%}/yr."
    )
    return text + _fdr_caveat(row["cycle_q"], tested, column)
