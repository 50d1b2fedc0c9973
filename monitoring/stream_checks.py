"""Checks of a window of streamed scores: PSI against a reference, mean score gap between groups.

Pure numpy functions, used by the streaming monitor (:mod:`streaming.monitor`):

* :func:`score_psi` compares the binned shares of the current scores with those of the reference
  (the model's scores of its training rows), on quantile bins of the reference;
* :func:`group_gap` is the largest difference of mean score between groups large enough to be
  audited (:func:`group_stats` gives each group's mean and count).

The batch monitor (:mod:`monitoring.drift`) delegates its PSI to Evidently on whole frames; this
module is the light, dependency-free PSI of a single score column checked every few seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: Floor of a bin share: an empty bin adds a finite (large) term instead of ``inf``.
SHARE_EPSILON = 1e-4


def _as_scores(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    """Return finite scores as a float array; raise on an empty input."""
    array = np.asarray(values, dtype=float).ravel()
    array = array[np.isfinite(array)]
    if array.size == 0:
        raise ValueError(f"{name} holds no finite score")
    return array


def quantile_edges(reference: Sequence[float] | np.ndarray, bins: int) -> np.ndarray:
    """Return the interior edges of ``bins`` quantile bins of the reference, ties merged.

    Edges are reference values (``method="higher"``: a bin holds the scores below its upper
    edge). The outer bins are open (``(-inf, edge_0)`` and ``[edge_last, inf)``), so a current score
    outside the reference range still falls in a bin. Repeated quantiles (many equal scores)
    are merged, which leaves fewer bins; a constant reference has none (one bin).

    Args:
        reference: Reference scores.
        bins: Wanted number of bins (at least 1).

    Returns:
        Sorted, distinct interior edges (at most ``bins - 1``).

    Raises:
        ValueError: On ``bins < 1`` or a reference without finite scores.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    scores = _as_scores(reference, "reference")
    interior = np.quantile(scores, np.linspace(0.0, 1.0, bins + 1)[1:-1], method="higher")
    edges = np.unique(interior)
    return edges[edges > scores.min()]


def bin_shares(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Return the share of ``scores`` in each bin delimited by the interior ``edges``.

    A score equal to an edge belongs to the bin above it.
    """
    index = np.searchsorted(edges, scores, side="right")
    counts = np.bincount(index, minlength=len(edges) + 1)
    return counts / counts.sum()


def score_psi(
    reference_scores: Sequence[float] | np.ndarray,
    current_scores: Sequence[float] | np.ndarray,
    bins: int = 10,
) -> tuple[float, dict[str, Any]]:
    """Return the population stability index of the current scores against the reference.

    ``PSI = sum((current_share - reference_share) * ln(current_share / reference_share))`` over
    quantile bins of the reference (:func:`quantile_edges`); shares are floored at
    :data:`SHARE_EPSILON` so an empty bin gives a large finite term. 0 means the same
    distribution; 0.1-0.2 a moderate shift; 0.2 and more a significant one.

    Args:
        reference_scores: Reference scores (e.g. the model's 0-100 scores of its training rows).
        current_scores: Current scores (the latest streamed window).
        bins: Wanted number of quantile bins (fewer when the reference has ties).

    Returns:
        ``(psi, details)``; details holds ``edges`` (interior edges), ``reference_shares``,
        ``current_shares`` (one per bin), ``reference_size`` and ``current_size``.

    Raises:
        ValueError: On an empty input or ``bins < 1``.
    """
    reference = _as_scores(reference_scores, "reference_scores")
    current = _as_scores(current_scores, "current_scores")
    edges = quantile_edges(reference, bins)
    expected = bin_shares(reference, edges)
    actual = bin_shares(current, edges)
    floored_expected = np.clip(expected, SHARE_EPSILON, None)
    floored_actual = np.clip(actual, SHARE_EPSILON, None)
    terms = (floored_actual - floored_expected) * np.log(floored_actual / floored_expected)
    details = {
        "edges": [round(float(edge), 4) for edge in edges],
        "reference_shares": [round(float(share), 6) for share in expected],
        "current_shares": [round(float(share), 6) for share in actual],
        "reference_size": int(reference.size),
        "current_size": int(current.size),
    }
    return float(max(terms.sum(), 0.0)), details


def group_stats(
    scores: Sequence[float] | np.ndarray, groups: Sequence[Any] | np.ndarray
) -> dict[str, dict[str, float | int]]:
    """Return each group's mean score and count (groups named by ``str``).

    Args:
        scores: Scores, one per row.
        groups: Group of each row (aligned with ``scores``).

    Returns:
        ``{group: {"mean": ..., "count": ...}}``, groups sorted by name.

    Raises:
        ValueError: When ``scores`` and ``groups`` differ in length.
    """
    values = np.asarray(scores, dtype=float).ravel()
    labels = np.asarray([str(group) for group in groups], dtype=object)
    if values.size != labels.size:
        raise ValueError(f"{values.size} scores for {labels.size} groups")
    stats: dict[str, dict[str, float | int]] = {}
    for group in sorted(set(labels)):
        members = values[labels == group]
        stats[group] = {"mean": float(members.mean()), "count": int(members.size)}
    return stats


def group_gap(
    scores: Sequence[float] | np.ndarray,
    groups: Sequence[Any] | np.ndarray,
    min_group_size: int,
) -> tuple[float, dict[str, float]]:
    """Return the largest difference of mean score between audited groups.

    Groups with fewer than ``min_group_size`` rows are not audited (their mean is too noisy).

    Args:
        scores: Scores, one per row.
        groups: Group of each row (aligned with ``scores``).
        min_group_size: Rows a group needs to be audited.

    Returns:
        ``(gap, per_group_means)``: ``max(mean) - min(mean)`` over the audited groups (0.0 when
        fewer than two qualify) and the mean score of each audited group.

    Raises:
        ValueError: When ``scores`` and ``groups`` differ in length.
    """
    stats = group_stats(scores, groups)
    means = {
        group: float(stat["mean"])
        for group, stat in stats.items()
        if stat["count"] >= min_group_size
    }
    if len(means) < 2:
        return 0.0, means
    return float(max(means.values()) - min(means.values())), means
