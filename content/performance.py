"""Performance of the content library per item and per segment, with uncertainty.

Per item: sends, the raw rate of a metric (``open``, ``click``, ``reply`` or ``win`` per send),
the empirical-Bayes posterior mean (shrunk toward the library's mean), a 95 % credible
interval and the posterior probability of being the best item. Differences are also checked
the frequentist way: each item against the observed leader (two-proportion z test, Fisher's
exact test when a cell is small), Holm-corrected over the comparisons.

Per segment (``industry``, ``seniority`` or ``stage``): every item x segment cell, shrunk
toward its item's posterior mean (strength fitted by empirical Bayes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from content.bayes import credible_interval, fit_beta_prior, fit_strength, prob_best
from content.segments import SEGMENTS
from content.sends import METRICS

#: Significance level of the Holm-corrected comparisons.
ALPHA = 0.05


def load_sends(url: str | None = None, kind: str | None = None) -> pd.DataFrame:
    """Return every send with its item and its recipient's segments, and 0/1 outcomes.

    Args:
        url: Database URL.
        kind: Only items of this kind.

    Returns:
        Columns ``content_id``, ``content_name``, ``kind``, ``topic``, ``contact_id``,
        ``open``, ``click``, ``reply``, ``win``, ``industry``, ``seniority``, ``stage``.
    """
    from sqlalchemy import select

    from content.segments import load_contexts
    from haste.db import ContentItem, ContentSend, session_scope

    query = select(
        ContentSend.content_id,
        ContentItem.name,
        ContentItem.kind,
        ContentItem.topic,
        ContentSend.contact_id,
        ContentSend.opened_at.is_not(None),
        ContentSend.clicked_at.is_not(None),
        ContentSend.replied_at.is_not(None),
        ContentSend.won,
    ).join(ContentItem, ContentItem.id == ContentSend.content_id)
    if kind is not None:
        query = query.where(ContentItem.kind == kind)
    columns = ["content_id", "content_name", "kind", "topic", "contact_id", *METRICS]
    with session_scope(url) as session:
        sends = pd.DataFrame(session.execute(query).all(), columns=columns)
    for metric in METRICS:
        sends[metric] = sends[metric].astype(bool).astype(np.int8)
    if sends.empty:
        return sends.assign(**{dim: pd.Series(dtype=object) for dim in SEGMENTS})
    contexts = load_contexts(url, synthetic_only=False)[["contact_id", *SEGMENTS]]
    return sends.merge(contexts, on="contact_id", how="left").fillna(
        {dim: "unknown" for dim in SEGMENTS}
    )


def _compare_to_leader(successes: np.ndarray, trials: np.ndarray) -> list[dict[str, Any]]:
    """Test each group against the group with the highest raw rate (Holm-corrected)."""
    from scipy.stats import fisher_exact
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.proportion import proportions_ztest

    rates = np.divide(successes, trials, out=np.zeros(len(trials)), where=trials > 0)
    leader = int(np.argmax(rates))
    out: list[dict[str, Any]] = [{} for _ in trials]
    tested, p_values = [], []
    for i in range(len(trials)):
        if i == leader or trials[i] == 0:
            continue
        s = np.array([successes[leader], successes[i]])
        n = np.array([trials[leader], trials[i]])
        if min(s.min(), (n - s).min()) < 5:
            test = "fisher"
            _, p = fisher_exact([[s[0], n[0] - s[0]], [s[1], n[1] - s[1]]])
        else:
            test = "z"
            _, p = proportions_ztest(s, n)
        tested.append((i, test))
        p_values.append(float(p) if np.isfinite(p) else 1.0)
    if p_values:
        reject, adjusted, _, _ = multipletests(p_values, alpha=ALPHA, method="holm")
        for (i, test), p, p_adj, significant in zip(
            tested, p_values, adjusted, reject, strict=True
        ):
            out[i] = {
                "test": test,
                "p_value": round(p, 5),
                "p_holm": round(float(p_adj), 5),
                "worse_than_leader": bool(significant),
            }
    out[leader] = {"leader": True}
    return out


def _counts(sends: pd.DataFrame, keys: list[str], metric: str) -> pd.DataFrame:
    """Return sends and successes of ``metric`` per ``keys``."""
    return (
        sends.groupby(keys, observed=True)[metric].agg(sends="size", successes="sum").reset_index()
    )


def item_table(sends: pd.DataFrame, metric: str = "reply") -> tuple[pd.DataFrame, dict]:
    """Return the per-item performance of ``metric`` and the fitted prior.

    Returns:
        One row per item (``content_name``, ``kind``, ``sends``, ``successes``, ``rate``,
        ``posterior_mean``, ``ci_low``, ``ci_high``, ``prob_best``, ``alpha``, ``beta``),
        best posterior mean first; and the prior (:meth:`BetaPrior.to_dict`).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    table = _counts(sends, ["content_name", "kind"], metric)
    s, n = table["successes"].to_numpy(float), table["sends"].to_numpy(float)
    prior = fit_beta_prior(s, n)
    a, b = prior.alpha + s, prior.beta + n - s
    low, high = credible_interval(a, b)
    table = table.assign(
        rate=s / n,
        posterior_mean=a / (a + b),
        ci_low=low,
        ci_high=high,
        prob_best=prob_best(a, b),
        alpha=a,
        beta=b,
    )
    return table.sort_values("posterior_mean", ascending=False).reset_index(drop=True), (
        prior.to_dict()
    )


def segment_table(sends: pd.DataFrame, items: pd.DataFrame, metric: str, segment: str) -> dict:
    """Return every item x segment cell of ``metric``, shrunk toward its item's rate.

    Args:
        sends: Sends (:func:`load_sends`).
        items: :func:`item_table` of the same sends.
        metric: Metric.
        segment: One of :data:`content.segments.SEGMENTS`.

    Returns:
        ``strength`` (pseudo-sends of the cell priors) and ``cells`` (one row per cell).
    """
    if segment not in SEGMENTS:
        raise ValueError(f"segment must be one of {', '.join(SEGMENTS)}, got {segment!r}")
    cells = _counts(sends, ["content_name", segment], metric).merge(
        items[["content_name", "posterior_mean"]].rename(columns={"posterior_mean": "item_mean"}),
        on="content_name",
    )
    s, n = cells["successes"].to_numpy(float), cells["sends"].to_numpy(float)
    m = cells["item_mean"].to_numpy(float)
    k = fit_strength(s, n, m)
    a, b = k * m + s, k * (1 - m) + n - s
    low, high = credible_interval(a, b)
    cells = cells.assign(rate=s / n, posterior_mean=a / (a + b), ci_low=low, ci_high=high).rename(
        columns={segment: "segment"}
    )
    return {"strength": round(k, 2), "cells": cells}


def _round(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return round(float(value), 5)
    if isinstance(value, np.integer):
        return int(value)
    return value


def content_performance(
    url: str | None = None,
    kind: str | None = None,
    segment: str | None = None,
    metric: str = "reply",
    min_sends: int = 0,
) -> dict[str, Any]:
    """Return the library's performance (the body of ``GET /api/ai/content/performance``).

    Args:
        url: Database URL.
        kind: Only items of this kind.
        segment: Also return the per-segment table of this dimension.
        metric: ``open``, ``click``, ``reply`` or ``win`` (per send).
        min_sends: Items (and segment cells) with fewer sends are left out of the answer (the
            prior is still fitted on every item).

    Raises:
        ValueError: On an unknown metric or segment.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if segment is not None and segment not in SEGMENTS:
        raise ValueError(f"segment must be one of {', '.join(SEGMENTS)}, got {segment!r}")
    sends = load_sends(url, kind)
    answer: dict[str, Any] = {
        "metric": metric,
        "kind": kind,
        "segment": segment,
        "min_sends": min_sends,
        "n_sends": len(sends),
        "prior": None,
        "items": [],
    }
    if sends.empty:
        return answer
    items, prior = item_table(sends, metric)
    shown = items[items["sends"] >= min_sends].reset_index(drop=True)
    tests = _compare_to_leader(
        shown["successes"].to_numpy(float), shown["sends"].to_numpy(float)
    ) if len(shown) else []  # fmt: skip
    columns = ["content_name", "kind", "sends", "successes", "rate", "posterior_mean"]
    answer["prior"] = prior
    answer["items"] = [
        {
            **{c: _round(row[c]) for c in columns},
            "ci95": [_round(row["ci_low"]), _round(row["ci_high"])],
            "prob_best": _round(row["prob_best"]),
            "vs_leader": test,
        }
        for (_, row), test in zip(shown.iterrows(), tests, strict=True)
    ]
    if segment is not None:
        table = segment_table(sends, items, metric, segment)
        cells = table["cells"]
        cells = cells[cells["sends"] >= min_sends]
        answer["segments"] = {
            "dimension": segment,
            "strength": table["strength"],
            "cells": [
                {
                    "content_name": row.content_name,
                    "segment": str(row.segment),
                    "sends": int(row.sends),
                    "successes": int(row.successes),
                    "rate": _round(row.rate),
                    "posterior_mean": _round(row.posterior_mean),
                    "ci95": [_round(row.ci_low), _round(row.ci_high)],
                }
                for row in cells.itertuples(index=False)
            ],
        }
    return answer
