"""Ranking of the hybrid index: candidate selection, fusion of two rankings, filter listings.

* **Fusion**: by default a convex combination ``0.5 * semantic + 0.5 * keyword`` of the
  min-max normalised scores of the two candidate lists (``fusion="convex"``), or weighted
  reciprocal-rank fusion (``fusion="rrf"``, ``1 / (60 + rank)``). The default was picked on the
  labelled query set of :mod:`textai.search.evaluate` (500 contacts, 86 queries: convex 0.5
  gave recall@10 0.942 / MRR 0.830 against 0.907 / 0.773 for RRF k=60; convex 0.6 / 0.7 and
  RRF k=20 or weighted 0.6 / 0.7 were all lower).
* A query left with no free text after parsing ("deals over 50k in healthcare closing this
  quarter") lists the matching documents (:func:`browse_order`): deals by amount, others
  newest first.
"""

from __future__ import annotations

import numpy as np

#: Fusion methods.
FUSIONS: tuple[str, ...] = ("rrf", "convex")


def ranked(scores: dict[int, float], limit: int) -> list[tuple[int, float]]:
    """Return the best ``limit`` ``(position, score)`` pairs, ties broken by position.

    Args:
        scores: Document position -> score.
        limit: Maximum number of pairs.

    Returns:
        Pairs, best first.

    """
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def top_positive(scores: np.ndarray, allowed: np.ndarray, k: int) -> dict[int, float]:
    """Return the top-``k`` allowed documents with a positive (BM25) score.

    Args:
        scores: One score per document.
        allowed: Positions of the documents passing the filters.
        k: Number of candidates.

    Returns:
        Document position -> score (unordered).

    """
    sub = scores[allowed]
    positive = np.flatnonzero(sub > 0)
    if len(positive) == 0:
        return {}
    if len(positive) > k:
        positive = positive[np.argpartition(-sub[positive], k - 1)[:k]]
    return {int(allowed[j]): float(sub[j]) for j in positive}


def fuse(
    semantic: dict[int, float],
    keyword: dict[int, float],
    *,
    fusion: str,
    alpha: float,
    rrf_k: int,
) -> dict[int, float]:
    """Fuse two candidate rankings.

    Args:
        semantic: Semantic candidates, position -> cosine similarity.
        keyword: Keyword candidates, position -> BM25 score.
        fusion: ``"rrf"`` (weighted reciprocal-rank fusion) or ``"convex"`` (convex
            combination of min-max normalised scores).
        alpha: Weight of the semantic ranking, in ``[0, 1]``.
        rrf_k: RRF rank offset.

    Returns:
        Document position -> fused score, for every candidate of either ranking.

    """
    fused: dict[int, float] = {}
    if fusion == "rrf":
        weights = (2.0 * alpha, 2.0 * (1.0 - alpha))
        for ranking, weight in zip((semantic, keyword), weights, strict=True):
            order = ranked(ranking, len(ranking))
            for rank, (i, _) in enumerate(order, start=1):
                fused[i] = fused.get(i, 0.0) + weight / (rrf_k + rank)
        return fused
    sem, kw = _normalise(semantic), _normalise(keyword)
    for i in set(sem) | set(kw):
        fused[i] = alpha * sem.get(i, 0.0) + (1.0 - alpha) * kw.get(i, 0.0)
    return fused


def _normalise(ranking: dict[int, float]) -> dict[int, float]:
    """Min-max normalise scores to ``[0, 1]`` (all equal: 0)."""
    if not ranking:
        return {}
    values = np.fromiter(ranking.values(), dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    span = high - low if high > low else 1.0
    return {i: (s - low) / span for i, s in ranking.items()}


def browse_order(
    allowed: np.ndarray, amount: np.ndarray, created: np.ndarray, limit: int
) -> list[int]:
    """Order filtered documents without free text: largest amount first, then newest first.

    Args:
        allowed: Positions of the documents passing the filters.
        amount: Amount column of all documents (NaN when missing).
        created: Creation-date column of all documents (``datetime64[D]``, NaT when missing).
        limit: Maximum number of documents.

    Returns:
        Up to ``limit`` positions, in listing order (ties broken by position).

    """
    dates = created[allowed]
    days = dates.astype("datetime64[D]").astype(np.int64)
    days = np.where(np.isnat(dates), -(2**62), days)
    amounts = amount[allowed]
    amounts = np.where(np.isnan(amounts), -np.inf, amounts)
    order = np.lexsort((allowed, -days, -amounts))[:limit]
    return [int(allowed[j]) for j in order]
