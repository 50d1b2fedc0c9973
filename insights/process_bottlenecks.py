"""Process bottlenecks: segments that convert worse or move slower, ranked by revenue impact.

Two kinds, each tested against the rest of its dimension at :data:`ALPHA` (the raw p-value;
the Benjamini-Hochberg q-value over the dimension is reported and a suggestion says when the
finding would not survive it):

* ``win_rate``: win rate over closed deals below the overall rate.
  ``impact = (overall win rate − segment win rate) × segment closed deals × segment mean won
  value`` (the overall mean won value when the segment never won): the revenue the segment
  would have added at the overall rate, on the volume of the snapshot.
* ``cycle``: Kaplan-Meier median time in Engaging longer than the overall one (log-rank test).
  ``impact = extra days × expected open value × daily cost of delay`` where the expected open
  value is the list price of the segment's open Engaging deals × its win rate and the daily
  cost of delay is :data:`ANNUAL_COST_OF_DELAY` ÷ 365, a proxy for the time value of revenue
  received later. A segment without open deals has no impact and is not listed.

Segments below ``min_deals`` closed deals and missing labels are never bottlenecks nor peers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from insights.process_funnel import ALPHA, UNKNOWN
from insights.process_suggestions import describe_slow_cycle, describe_win_rate_gap

#: Yearly cost of delaying revenue (cost of capital + slippage), the cycle impact's proxy.
ANNUAL_COST_OF_DELAY = 0.10

#: Daily cost of delay, as a share of the expected open value.
DAILY_COST_OF_DELAY = ANNUAL_COST_OF_DELAY / 365

#: The impact formula of each kind, as shown to users.
FORMULAS: dict[str, str] = {
    "win_rate": (
        "impact = (overall win rate − segment win rate) × segment closed deals × segment mean "
        "won value"
    ),
    "cycle": (
        "impact = extra median days in Engaging (Kaplan-Meier) × expected open value (list price "
        "of the segment's open Engaging deals × its win rate) × daily cost of delay "
        f"({ANNUAL_COST_OF_DELAY:.0%}/yr ÷ 365)"
    ),
}

#: Fewest closed deals of a segment on one product for a per-product comparison.
MIN_CELL_DEALS = 10


@dataclass(frozen=True)
class Bottleneck:
    """One segment that converts worse or moves slower than the whole pipeline."""

    kind: str
    dimension: str
    segment: str
    value: float
    benchmark: float
    gap: float
    p_value: float
    q_value: float | None
    closed: int
    open: int
    impact: float
    formula: str
    suggestion: str
    peer: str | None = None
    peer_value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the bottleneck as a dict of plain values."""
        return asdict(self)


def find_bottlenecks(
    deals: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    funnel: dict[str, Any],
    *,
    min_deals: int,
    top: int,
) -> list[Bottleneck]:
    """Return the bottlenecks of every dimension, largest impact first.

    Args:
        deals: Deals of :func:`insights.process_funnel.prepare_deals`.
        tables: Per-dimension tables of :func:`insights.process_funnel.summarise_segments`.
        funnel: Overall funnel of :func:`insights.process_funnel.summarise_funnel`.
        min_deals: Fewest closed deals of a segment, also for a peer.
        top: Most bottlenecks returned.

    Returns:
        At most ``top`` bottlenecks sorted by impact (ties: kind, dimension, segment).

    """
    found: list[Bottleneck] = []
    for column, table in tables.items():
        if table.empty:
            continue
        eligible = table[table["tested"] & (table["segment"] != UNKNOWN)]
        for row in eligible.to_dict("records"):
            if funnel["win_rate"] is not None:
                found.extend(_win_rate_bottleneck(deals, column, row, eligible, funnel, min_deals))
            if funnel["cycle"]["median_km"] is not None:
                found.extend(_cycle_bottleneck(column, row, eligible, funnel))
    found.sort(key=lambda b: (-b.impact, b.kind, b.dimension, b.segment))
    return found[: max(top, 0)]


def _win_rate_bottleneck(
    deals: pd.DataFrame,
    column: str,
    row: dict[str, Any],
    eligible: pd.DataFrame,
    funnel: dict[str, Any],
    min_deals: int,
) -> list[Bottleneck]:
    """Return the segment's win-rate bottleneck, if its rate is significantly low."""
    overall, rate, p_value = funnel["win_rate"], row["win_rate"], row["win_rate_p"]
    if p_value is None or rate is None or p_value >= ALPHA or rate >= overall:
        return []
    unit = row["mean_won_value"] or funnel["mean_won_value"] or 0.0
    gap = overall - rate
    impact = gap * row["closed"] * unit
    if not impact > 0:
        return []
    formula = (
        f"{FORMULAS['win_rate']} = ({overall:.4f} − {rate:.4f}) × {row['closed']} × "
        f"${unit:,.2f} = ${impact:,.2f}"
    )
    member = deals[column].fillna(UNKNOWN).astype(str) == row["segment"]
    weakest = _weakest_product(deals, member) if column != "product" else None
    peer, peer_rate = _best_peer(deals, column, row["segment"], eligible, weakest, min_deals)
    details = {
        "win_rate_ci": [row["win_rate_ci_low"], row["win_rate_ci_high"]],
        "test": row["win_rate_test"],
        "mean_won_value": unit,
        "weakest_product": weakest,
    }
    text = describe_win_rate_gap(
        column,
        row,
        overall=overall,
        impact=impact,
        peer=peer,
        peer_rate=peer_rate,
        weakest=weakest,
        tested=len(eligible),
    )
    return [
        Bottleneck(
            "win_rate",
            column,
            row["segment"],
            rate,
            overall,
            gap,
            p_value,
            row["win_rate_q"],
            row["closed"],
            row["engaging"],
            impact,
            formula,
            text,
            peer,
            peer_rate,
            details,
        )
    ]


def _cycle_bottleneck(
    column: str, row: dict[str, Any], eligible: pd.DataFrame, funnel: dict[str, Any]
) -> list[Bottleneck]:
    """Return the segment's time-in-stage bottleneck, if it is significantly slower."""
    overall, p_value = funnel["cycle"]["median_km"], row["cycle_p"]
    median = row["cycle_median_km"]
    if median is None:  # fewer than half ever closed: at least the longest time observed
        median = row["cycle_longest_observed"]
    if p_value is None or median is None or p_value >= ALPHA or median <= overall:
        return []
    rate = row["win_rate"] if row["win_rate"] is not None else funnel["win_rate"] or 0.0
    expected = row["open_list_value"] * rate
    extra = median - overall
    impact = extra * expected * DAILY_COST_OF_DELAY
    if not impact > 0:
        return []
    formula = (
        f"{FORMULAS['cycle']} = {extra:g} × ${expected:,.2f} × "
        f"({ANNUAL_COST_OF_DELAY:g} ÷ 365) = ${impact:,.2f}"
    )
    timed = eligible.dropna(subset=["cycle_median_km"])
    fastest = timed.sort_values(["cycle_median_km", "segment"]).head(1).to_dict("records")
    peer = fastest[0]["segment"] if fastest and fastest[0]["segment"] != row["segment"] else None
    peer_median = fastest[0]["cycle_median_km"] if peer else None
    details = {
        "median_km_censored": row["cycle_median_km"] is None,
        "p75_km": row["cycle_p75_km"],
        "median_closed": row["cycle_median_closed"],
        "stalled": row["stalled"],
        "expected_open_value": expected,
    }
    text = describe_slow_cycle(
        column,
        row,
        median=median,
        cycle=funnel["cycle"],
        impact=impact,
        expected=expected,
        peer=peer,
        peer_median=peer_median,
        annual_cost=ANNUAL_COST_OF_DELAY,
        tested=len(eligible),
    )
    return [
        Bottleneck(
            "cycle",
            column,
            row["segment"],
            median,
            overall,
            extra,
            p_value,
            row["cycle_q"],
            row["closed"],
            row["engaging"],
            impact,
            formula,
            text,
            peer,
            peer_median,
            details,
        )
    ]


def _closed_cells(deals: pd.DataFrame, by: str) -> pd.DataFrame:
    """Return won and closed counts of closed deals per value of ``by`` (missing dropped)."""
    closed = deals[deals["is_closed"]].dropna(subset=[by])
    return closed.groupby(by)["is_won"].agg(won="sum", closed="size")


def _weakest_product(deals: pd.DataFrame, member: pd.Series) -> dict[str, Any] | None:
    """Return the product where the segment loses most wins against the product's own rate."""
    overall = _closed_cells(deals, "product")
    cells = _closed_cells(deals[member], "product")
    cells = cells[cells["closed"] >= MIN_CELL_DEALS]
    if cells.empty:
        return None
    rates = cells["won"] / cells["closed"]
    benchmark = (overall["won"] / overall["closed"]).reindex(cells.index)
    lost_wins = ((benchmark - rates) * cells["closed"]).sort_index()
    product = lost_wins.idxmax()
    if not lost_wins[product] > 0:
        return None
    return {
        "product": product,
        "win_rate": float(rates[product]),
        "closed": int(cells.loc[product, "closed"]),
        "product_win_rate": float(benchmark[product]),
    }


def _best_peer(
    deals: pd.DataFrame,
    column: str,
    segment: str,
    eligible: pd.DataFrame,
    weakest: dict[str, Any] | None,
    min_deals: int,
) -> tuple[str | None, float | None]:
    """Return the best performer to learn from and its win rate.

    Agents, managers and offices: the best of the same dimension on the segment's weakest
    product, else overall. Products and sectors: the agent who wins the segment's deals most
    often. Best means the highest lower bound of the Wilson interval (a reliable record, not a
    lucky handful); candidates need ``min_deals`` closed deals overall and
    :data:`MIN_CELL_DEALS` (at most ``min_deals``) on the product or segment compared.
    """
    if column in ("product", "sector"):
        mask = deals[column].fillna(UNKNOWN).astype(str) == segment
        cells = _closed_cells(deals[mask], "sales_agent")
        totals = _closed_cells(deals, "sales_agent")["closed"]
        qualified = set(totals[totals >= min_deals].index)
    elif weakest is not None:
        cells = _closed_cells(deals[deals["product"] == weakest["product"]], column)
        qualified = set(eligible["segment"]) - {segment}
    else:
        cells = eligible.set_index("segment")[["won", "closed"]]
        qualified = set(eligible["segment"]) - {segment}
    cells = cells[cells.index.isin(qualified) & (cells["closed"] >= min(min_deals, MIN_CELL_DEALS))]
    if cells.empty:
        return None, None
    low, _ = proportion_confint(cells["won"], cells["closed"], alpha=ALPHA, method="wilson")
    ranked = pd.DataFrame({"low": low, "rate": cells["won"] / cells["closed"]})
    ranked = ranked.reset_index(names="name").sort_values(
        ["low", "rate", "name"], ascending=[False, False, True]
    )
    best = ranked.iloc[0]
    return str(best["name"]), float(best["rate"])
