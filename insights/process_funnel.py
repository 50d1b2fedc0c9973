"""The sales funnel of a CRM pipeline snapshot: stage counts, conversion and time in stage.

Works on the Maven CRM layout (``sales_pipeline.csv``: ``sales_agent``, ``product``,
``account``, ``deal_stage`` in Prospecting → Engaging → Won / Lost, ``engage_date``,
``close_date``, ``close_value``), joined to the sales teams (``manager``, ``regional_office``),
the products (``sales_price``) and the accounts (``sector``).

What a single snapshot can and cannot say:

* **Prospecting → Engaging** is inferred: the share of deals that have an ``engage_date``.
  There is no creation date, so it is a lower bound (today's prospects may still engage) and
  time spent prospecting is unknown.
* **Engaging → Won** over closed deals is the win rate (Wilson 95 % interval); each segment is
  compared with the rest of its dimension (two-proportion z-test, Fisher's exact test when an
  expected cell count is under 5) and Benjamini-Hochberg q-values are given per dimension.
* **Time in Engaging** (``close_date`` − ``engage_date``, days): the closed-deal median and p75,
  and the Kaplan-Meier median and p75 with open deals right-censored at the snapshot date
  (statsmodels ``SurvfuncRight``; lifelines is not a dependency). A segment is compared with
  the rest by a log-rank test (statsmodels ``survdiff``). A Kaplan-Meier quantile is ``None``
  when too few deals of the segment ever closed to reach it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact
from statsmodels.duration.survfunc import SurvfuncRight, survdiff
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

#: Stages of the pipeline, in funnel order.
STAGES: tuple[str, ...] = ("Prospecting", "Engaging", "Won", "Lost")

#: Segment dimensions: pipeline column → label (sector needs the accounts table).
DIMENSIONS: dict[str, str] = {
    "product": "product",
    "sales_agent": "agent",
    "manager": "manager",
    "regional_office": "regional office",
    "sector": "sector",
}

#: Label of a deal whose segment is missing (blank account, agent not in the teams table).
UNKNOWN = "(unknown)"

#: Known spelling variants of the source data (PROVENANCE.md).
ALIASES: dict[str, dict[str, str]] = {
    "product": {"GTXPro": "GTX Pro"},
    "sector": {"technolgy": "technology"},
}

#: Confidence level of the win-rate intervals; also the significance level of the tests.
ALPHA = 0.05


def prepare_deals(
    pipeline: pd.DataFrame,
    teams: pd.DataFrame | None = None,
    products: pd.DataFrame | None = None,
    accounts: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """Return one row per deal with segments, outcome flags and time in Engaging.

    Args:
        pipeline: ``sales_pipeline.csv`` (raw or loaded by ``load_maven_crm``).
        teams: ``sales_teams.csv`` (``sales_agent``, ``manager``, ``regional_office``).
        products: ``products.csv`` (``product``, ``sales_price``), for open deals' list value
            (a product missing there is valued at its mean won ``close_value``).
        accounts: ``accounts.csv`` (``account``, ``sector``); without it there is no sector.

    Returns:
        The deals (sorted, so the input's row order never matters) and the snapshot date (the
        latest engage or close date; ``None`` when there is no date at all).

    """
    deals = pipeline.copy()
    for column in ("engage_date", "close_date"):
        deals[column] = pd.to_datetime(deals.get(column), errors="coerce")
    deals["close_value"] = pd.to_numeric(deals.get("close_value"), errors="coerce")
    for column in ("deal_stage", "sales_agent", "product", "account"):
        deals[column] = _clean_labels(deals.get(column, pd.Series(index=deals.index)), column)
    deals = _join(deals, teams, "sales_agent", ("manager", "regional_office"))
    deals = _join(deals, accounts, "account", ("sector",))
    deals = _join(deals, products, "product", ("sales_price",), labels=False)
    deals["sales_price"] = pd.to_numeric(deals["sales_price"], errors="coerce")
    won_mean = deals[deals["deal_stage"] == "Won"].groupby("product")["close_value"].mean()
    deals["sales_price"] = deals["sales_price"].fillna(deals["product"].map(won_mean))
    sort_keys = [c for c in ("opportunity_id", *pipeline.columns) if c in deals.columns]
    deals = deals.sort_values(list(dict.fromkeys(sort_keys)), kind="mergesort")
    deals = deals.reset_index(drop=True)
    deals["is_closed"] = deals["deal_stage"].isin(["Won", "Lost"])
    deals["is_won"] = deals["deal_stage"] == "Won"
    deals["is_engaged"] = deals["engage_date"].notna() | deals["is_closed"]
    deals["is_open"] = deals["deal_stage"] == "Engaging"
    dates = pd.concat([deals["engage_date"], deals["close_date"]])
    snapshot = dates.max() if dates.notna().any() else None
    end = deals["close_date"].where(deals["is_closed"], snapshot)
    days = (end - deals["engage_date"]).dt.days.clip(lower=0)
    deals["days_in_engaging"] = days.where(deals["is_closed"] | deals["is_open"])
    return deals, snapshot


def _clean_labels(values: pd.Series, column: str) -> pd.Series:
    """Return stripped labels with known aliases fixed and blanks as ``None``."""
    text = values.astype("string").str.strip().replace(ALIASES.get(column, {}))
    return text.where(text.notna() & (text != ""), None).astype(object)


def _join(
    deals: pd.DataFrame,
    table: pd.DataFrame | None,
    key: str,
    columns: tuple[str, ...],
    *,
    labels: bool = True,
) -> pd.DataFrame:
    """Left-join ``columns`` of ``table`` on ``key`` (missing table or column: all missing)."""
    present = [c for c in columns if table is not None and c in table.columns]
    if table is not None and key in table.columns and present:
        lookup = table[[key, *present]].copy()
        lookup[key] = _clean_labels(lookup[key], key)
        for column in present:
            if labels:
                lookup[column] = _clean_labels(lookup[column], column)
        lookup = lookup.dropna(subset=[key]).drop_duplicates(subset=[key])
        deals = deals.drop(columns=present, errors="ignore").merge(lookup, on=key, how="left")
    for column in columns:
        if column not in deals.columns:
            deals[column] = None
    return deals


def summarise_funnel(deals: pd.DataFrame, snapshot: pd.Timestamp | None) -> dict[str, Any]:
    """Return the overall funnel: stage counts, conversions, win rate and time in Engaging.

    Args:
        deals: Output of :func:`prepare_deals`.
        snapshot: The snapshot date of :func:`prepare_deals`.

    Returns:
        A JSON-ready dict (rates in [0, 1], ``None`` when undefined).

    """
    counts = {stage: int((deals["deal_stage"] == stage).sum()) for stage in STAGES}
    total, engaged, closed = (
        len(deals),
        int(deals["is_engaged"].sum()),
        int(deals["is_closed"].sum()),
    )
    won = int(deals["is_won"].sum())
    low, high = win_rate_interval(won, closed)
    cycle = cycle_stats(deals)
    open_deals = deals[deals["is_open"]]
    longest = cycle["longest_closed"]
    stalled = open_deals["days_in_engaging"] > longest if longest is not None else None
    won_values = deals.loc[deals["is_won"], "close_value"]
    return {
        "deals": total,
        "stages": counts,
        "other_stages": total - sum(counts.values()),
        "snapshot_date": snapshot.date().isoformat() if snapshot is not None else None,
        "prospecting_to_engaging": _ratio(engaged, total),
        "prospecting_to_engaging_note": (
            "inferred from the snapshot: deals with an engage date over all deals; a lower bound "
            "(today's prospects may still engage) and time spent prospecting is unknown"
        ),
        "engaged": engaged,
        "closed": closed,
        "engaging_to_closed": _ratio(closed, engaged),
        "won": won,
        "win_rate": _ratio(won, closed),
        "win_rate_ci": [low, high],
        "won_revenue": float(won_values.sum()),
        "mean_won_value": _mean(won_values),
        "cycle": cycle,
        "open_engaging": len(open_deals),
        "stalled_engaging": int(stalled.sum()) if stalled is not None else 0,
        "stalled_note": "open Engaging deals older than the longest cycle of any closed deal",
        "open_list_value": float(open_deals["sales_price"].sum()),
    }


def win_rate_interval(won: int, closed: int) -> tuple[float | None, float | None]:
    """Return the Wilson 95 % interval of a win rate (``None`` bounds without closed deals)."""
    if closed <= 0:
        return None, None
    low, high = proportion_confint(won, closed, alpha=ALPHA, method="wilson")
    return float(low), float(high)


def compare_win_rate(
    won: int, closed: int, won_rest: int, closed_rest: int
) -> tuple[float | None, str | None]:
    """Return the two-sided p-value of a segment's win rate against the rest, and the test.

    Args:
        won: Won deals of the segment.
        closed: Closed deals of the segment.
        won_rest: Won deals of the rest of the dimension.
        closed_rest: Closed deals of the rest.

    Returns:
        ``(p_value, "z")`` (two-proportion z-test), ``(p_value, "fisher")`` when an expected
        cell count is under 5, or ``(None, None)`` when either side has no closed deal.

    """
    if closed <= 0 or closed_rest <= 0:
        return None, None
    rate = (won + won_rest) / (closed + closed_rest)
    expected = np.outer([closed, closed_rest], [rate, 1 - rate])
    if rate in (0.0, 1.0):
        return 1.0, "z"
    if expected.min() < 5:
        table = [[won, closed - won], [won_rest, closed_rest - won_rest]]
        return float(fisher_exact(table).pvalue), "fisher"
    _, p_value = proportions_ztest([won, won_rest], [closed, closed_rest])
    return float(p_value), "z"


def cycle_stats(deals: pd.DataFrame) -> dict[str, Any]:
    """Return time in Engaging: closed-deal median/p75 and Kaplan-Meier median/p75 (days).

    Args:
        deals: Deals of :func:`prepare_deals` (any subset).

    Returns:
        ``median_closed``, ``p75_closed``, ``median_km``, ``p75_km``, ``longest_closed`` and
        the method used (``None`` values when undefined).

    """
    closed = deals.loc[deals["is_closed"], "days_in_engaging"].dropna()
    timed = deals.dropna(subset=["days_in_engaging"])
    median_km = p75_km = None
    if len(timed) and timed["is_closed"].any():
        fit = SurvfuncRight(
            timed["days_in_engaging"].to_numpy(float), timed["is_closed"].to_numpy(int)
        )
        median_km, p75_km = _finite(fit.quantile(0.5)), _finite(fit.quantile(0.75))
    return {
        "median_closed": _finite(closed.median()) if len(closed) else None,
        "p75_closed": _finite(closed.quantile(0.75)) if len(closed) else None,
        "median_km": median_km,
        "p75_km": p75_km,
        "longest_closed": _finite(closed.max()) if len(closed) else None,
        "longest_observed": _finite(timed["days_in_engaging"].max()) if len(timed) else None,
        "method": "Kaplan-Meier, open deals right-censored at the snapshot (statsmodels)",
    }


def compare_cycle(deals: pd.DataFrame, member: pd.Series) -> float | None:
    """Return the log-rank p-value of the segment's time in Engaging against the rest."""
    timed = deals["days_in_engaging"].notna()
    group = member[timed].to_numpy(int)
    status = deals.loc[timed, "is_closed"].to_numpy(int)
    if group.min(initial=1) == group.max(initial=0) or not status.any():
        return None
    _, p_value = survdiff(deals.loc[timed, "days_in_engaging"].to_numpy(float), status, group)
    return _finite(p_value)


def summarise_segments(deals: pd.DataFrame, column: str, min_deals: int) -> pd.DataFrame:
    """Return the per-segment funnel of one dimension, compared with the rest of it.

    Args:
        deals: Output of :func:`prepare_deals`.
        column: The dimension's column (``product``, ``sales_agent``, ...).
        min_deals: Segments with fewer closed deals are listed but not tested.

    Returns:
        One row per segment (sorted by name; missing labels as :data:`UNKNOWN`): counts,
        conversions, win rate with interval, p- and q-values, time in Engaging, open value.

    """
    labels = deals[column].fillna(UNKNOWN).astype(str)
    total_won, total_closed = int(deals["is_won"].sum()), int(deals["is_closed"].sum())
    longest = deals.loc[deals["is_closed"], "days_in_engaging"].max()
    rows = []
    for segment in sorted(labels.unique()):
        member = labels == segment
        part = deals[member]
        won, closed = int(part["is_won"].sum()), int(part["is_closed"].sum())
        tested = closed >= min_deals and segment != UNKNOWN
        low, high = win_rate_interval(won, closed)
        p_win, test = (None, None)
        p_cycle = None
        if tested:
            p_win, test = compare_win_rate(won, closed, total_won - won, total_closed - closed)
            p_cycle = compare_cycle(deals, member)
        cycle = cycle_stats(part)
        opened = part[part["is_open"]]
        rows.append(
            {
                "segment": segment,
                "deals": len(part),
                **{stage.lower(): int((part["deal_stage"] == stage).sum()) for stage in STAGES},
                "closed": closed,
                "prospecting_to_engaging": _ratio(int(part["is_engaged"].sum()), len(part)),
                "engaging_to_closed": _ratio(closed, int(part["is_engaged"].sum())),
                "win_rate": _ratio(won, closed),
                "win_rate_ci_low": low,
                "win_rate_ci_high": high,
                "tested": tested,
                "win_rate_test": test,
                "win_rate_p": p_win,
                "mean_won_value": _mean(part.loc[part["is_won"], "close_value"]),
                "won_revenue": float(part.loc[part["is_won"], "close_value"].sum()),
                **{f"cycle_{k}": v for k, v in cycle.items() if k != "method"},
                "cycle_p": p_cycle,
                "open_list_value": float(opened["sales_price"].sum()),
                "stalled": int((opened["days_in_engaging"] > longest).sum()),
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["win_rate_q"] = _q_values(table["win_rate_p"])
    table["cycle_q"] = _q_values(table["cycle_p"])
    return table


def _q_values(p_values: pd.Series) -> list[float | None]:
    """Return Benjamini-Hochberg q-values (``None`` where there is no p-value)."""
    known = p_values.dropna().astype(float)
    out: list[float | None] = [None] * len(p_values)
    if len(known):
        adjusted = multipletests(known.to_numpy(), method="fdr_bh")[1]
        for position, value in zip(known.index, adjusted, strict=True):
            out[p_values.index.get_loc(position)] = float(value)
    return out


def _ratio(part: int, whole: int) -> float | None:
    """Return ``part / whole`` or ``None`` when ``whole`` is 0."""
    return part / whole if whole else None


def _mean(values: pd.Series) -> float | None:
    """Return the mean of the known values, or ``None``."""
    known = values.dropna()
    return float(known.mean()) if len(known) else None


def _finite(value: Any) -> float | None:
    """Return ``value`` as a float, or ``None`` when it is missing or not finite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None
