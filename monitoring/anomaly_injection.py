"""Inject anomalies of known type and size into a (real) series, with ground-truth labels.

Sizes are in units of the series' **noise scale** (:func:`noise_scale`): the normal-consistent
median absolute deviation of its differences at the seasonal lag (lag 1 without a season),
divided by sqrt(2). It is computed from the clean series alone, independently of any detector,
and is robust to the series' own outliers.

* ``spike``: ``+size * sigma`` at one point;
* ``dip``: ``-size * sigma`` at one point. On a non-negative series (counts, amounts) a dip is
  only placed where the local level (rolling median of ``2 * period + 1`` points, 7 without a
  period) is at least ``size * sigma``, and clipped at 0; where no point qualifies, the dip is
  infeasible (:class:`InfeasibleInjection`);
* ``level_shift``: ``+/- size * sigma`` (random sign) added to every point from a start
  position for ``min_shift_length`` to ``2 * min_shift_length`` points (by default two seasonal
  periods, 6 points without a season), or up to the end of the series when it is shorter. On a
  non-negative series a downward shift is clipped at 0 and the label keeps the mean change
  actually injected.

Anomalies of one call never overlap: each keeps ``gap`` points free on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import median_abs_deviation

#: Kinds of anomaly :func:`inject_anomalies` can inject.
INJECTED_KINDS: tuple[str, ...] = ("spike", "dip", "level_shift")

#: Length of an injected level shift without a seasonal period (points).
DEFAULT_SHIFT_LENGTH = 6


@dataclass(frozen=True)
class InjectedAnomaly:
    """Ground truth of one injected anomaly.

    Attributes:
        kind: ``spike``, ``dip`` or ``level_shift``.
        position: Position of the point (of the first shifted point for a shift).
        timestamp: Its timestamp.
        size_sigma: Requested size in noise scales.
        delta: Change actually added (mean change over the segment for a clipped shift).
        end_position: Last shifted point (level shifts only).
        end_timestamp: Its timestamp.
    """

    kind: str
    position: int
    timestamp: pd.Timestamp
    size_sigma: float
    delta: float
    end_position: int | None = None
    end_timestamp: pd.Timestamp | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "kind": self.kind,
            "position": self.position,
            "timestamp": pd.Timestamp(self.timestamp).isoformat(),
            "size_sigma": self.size_sigma,
            "delta": round(float(self.delta), 4),
            "end_position": self.end_position,
            "end_timestamp": (
                None if self.end_timestamp is None else pd.Timestamp(self.end_timestamp).isoformat()
            ),
        }


def noise_scale(series: pd.Series | np.ndarray, period: int | None = None) -> float:
    """Return the noise scale of a series: robust std of its (seasonal) differences / sqrt(2).

    Args:
        series: The clean series.
        period: Seasonal period (lag of the differences); ``None`` or too short a series: lag 1.

    Returns:
        A positive scale (the standard deviation of the differences when their MAD is 0, and
        1.0 for a constant series).
    """
    values = np.asarray(series, dtype=float)
    values = values[np.isfinite(values)]
    lag = period if period is not None and len(values) > 2 * period else 1
    if len(values) <= lag:
        return 1.0
    differences = values[lag:] - values[:-lag]
    scale = float(median_abs_deviation(differences, scale="normal")) / np.sqrt(2)
    if scale <= 0:
        scale = float(np.std(differences)) / np.sqrt(2)
    return scale if scale > 0 else 1.0


class InfeasibleInjection(ValueError):
    """Raised when an anomaly of the requested kind and size has no place in the series."""


def local_level(values: np.ndarray, period: int | None = None) -> np.ndarray:
    """Rolling median of ``2 * period + 1`` points (7 without a period), centred."""
    half = period if period else 3
    return (
        pd.Series(values)
        .rolling(2 * half + 1, center=True, min_periods=1)
        .median()
        .to_numpy(dtype=float)
    )


def _free_positions(free: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Positions in ``[start, stop)`` not yet taken."""
    stop = min(stop, len(free))
    if stop <= start:
        return np.empty(0, dtype=int)
    return start + np.flatnonzero(free[start:stop])


def inject_anomalies(
    series: pd.Series,
    kinds: Sequence[str] | str,
    *,
    size: float,
    rng: np.random.Generator | int | None = None,
    sigma: float | None = None,
    period: int | None = None,
    nonnegative: bool | None = None,
    min_shift_length: int | None = None,
    gap: int = 3,
) -> tuple[pd.Series, list[InjectedAnomaly]]:
    """Return a copy of ``series`` with anomalies injected, and their labels.

    Args:
        series: A clean series (any index; positions are used).
        kinds: One kind, or one kind per anomaly to inject (e.g. ``["spike", "dip"]``).
        size: Size in noise scales (e.g. 3 or 5).
        rng: A seeded generator, or a seed.
        sigma: Noise scale; defaults to :func:`noise_scale` of the clean series.
        period: Seasonal period (noise scale lag, default shift length).
        nonnegative: Whether values cannot go below 0; defaults to ``series.min() >= 0``.
        min_shift_length: Shortest level shift; defaults to two periods (6 points without one).
        gap: Points kept free on each side of an anomaly.

    Returns:
        ``(series with anomalies, labels)``; labels are sorted by position.

    Raises:
        ValueError: On an unknown kind or a non-positive size.
        InfeasibleInjection: When an anomaly finds no room (a subclass of ValueError).
    """
    wanted = [kinds] if isinstance(kinds, str) else list(kinds)
    unknown = sorted(set(wanted) - set(INJECTED_KINDS))
    if unknown:
        raise ValueError(f"unknown anomaly kinds {unknown}; known: {list(INJECTED_KINDS)}")
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    original = series.astype(float)
    values = original.to_numpy(dtype=float).copy()
    n = len(values)
    sigma = noise_scale(values, period) if sigma is None else float(sigma)
    if nonnegative is None:
        nonnegative = bool(np.nanmin(values) >= 0) if n else False
    if min_shift_length is None:
        min_shift_length = 2 * period if period else DEFAULT_SHIFT_LENGTH
    delta = size * sigma
    level = local_level(original.to_numpy(dtype=float), period)
    free = np.ones(n, dtype=bool)
    labels: list[InjectedAnomaly] = []
    # Level shifts first: they need the longest free stretch.
    for kind in sorted(wanted, key=lambda k: k != "level_shift"):
        if kind == "level_shift":
            margin = max(1, min_shift_length // 2)
            length = int(generator.integers(min_shift_length, 2 * min_shift_length + 1))
            candidates = [
                p
                for p in _free_positions(free, margin, n - min(length, min_shift_length) + 1)
                if free[max(0, p - gap) : min(n, p + length + gap)].all()
            ]
            if not candidates:
                raise InfeasibleInjection(
                    f"no room for a level shift of {length} points in {n} points"
                )
            start = int(generator.choice(candidates))
            stop = min(n, start + length)
            sign = 1.0 if generator.random() < 0.5 else -1.0
            before = values[start:stop].copy()
            shifted = before + sign * delta
            if nonnegative:
                shifted = np.maximum(shifted, 0.0)
            values[start:stop] = shifted
            free[max(0, start - gap) : min(n, stop + gap)] = False
            labels.append(
                InjectedAnomaly(
                    kind="level_shift",
                    position=start,
                    timestamp=original.index[start],
                    size_sigma=size,
                    delta=float(np.mean(shifted - before)),
                    end_position=stop - 1,
                    end_timestamp=original.index[stop - 1],
                )
            )
            continue
        candidates = _free_positions(free, 0, n)
        if kind == "dip" and nonnegative:
            candidates = candidates[level[candidates] >= delta]
        if candidates.size == 0:
            raise InfeasibleInjection(f"no room for a {kind} of {size} sigma in {n} points")
        position = int(generator.choice(candidates))
        change = delta if kind == "spike" else -delta
        if nonnegative and values[position] + change < 0:
            change = -values[position]
        values[position] += change
        free[max(0, position - gap) : min(n, position + gap + 1)] = False
        labels.append(
            InjectedAnomaly(
                kind=kind,
                position=position,
                timestamp=original.index[position],
                size_sigma=size,
                delta=change,
            )
        )
    injected = pd.Series(values, index=original.index, name=series.name)
    return injected, sorted(labels, key=lambda label: label.position)


def match_detections(
    detected: Sequence[tuple[str, int]],
    labels: Sequence[InjectedAnomaly],
    n: int,
    *,
    point_tolerance: int = 1,
    shift_tolerance: int = 2,
    ignore: Sequence[tuple[str, int]] = (),
) -> dict[str, dict[str, int]]:
    """Count true positives, misses and false positives per kind.

    A label is found by an unused detection of its kind within ``point_tolerance`` positions
    (``shift_tolerance`` from the start of a level shift). Detections left over are false
    positives, except a level shift within ``shift_tolerance`` of the point where an injected
    shift ends (the return to the old level is a real change) and detections matching one of
    ``ignore`` (same kind, same tolerance: e.g. what the detector already reports on the clean
    series, whose own anomalies are unlabelled).

    Args:
        detected: ``(kind, position)`` of each detection.
        labels: The injected anomalies.
        n: Length of the series.
        point_tolerance: Tolerance of spikes and dips (positions).
        shift_tolerance: Tolerance of level shifts (positions).
        ignore: ``(kind, position)`` detections that are neither right nor wrong.

    Returns:
        ``{kind: {"tp": .., "fn": .., "fp": ..}}`` for every kind of :data:`INJECTED_KINDS`.
    """
    counts = {kind: {"tp": 0, "fn": 0, "fp": 0} for kind in INJECTED_KINDS}

    def tolerance(kind: str) -> int:
        return shift_tolerance if kind == "level_shift" else point_tolerance

    used = [False] * len(detected)
    for label in labels:
        best = None
        for i, (kind, position) in enumerate(detected):
            distance = abs(position - label.position)
            if used[i] or kind != label.kind or distance > tolerance(kind):
                continue
            if best is None or distance < abs(detected[best][1] - label.position):
                best = i
        if best is None:
            counts[label.kind]["fn"] += 1
        else:
            used[best] = True
            counts[label.kind]["tp"] += 1
    returns = [
        label.end_position + 1
        for label in labels
        if label.kind == "level_shift"
        and label.end_position is not None
        and label.end_position + 1 < n
    ]
    for i, (kind, position) in enumerate(detected):
        if used[i] or kind not in counts:
            continue
        if kind == "level_shift" and any(abs(position - r) <= shift_tolerance for r in returns):
            continue
        if any(k == kind and abs(position - p) <= tolerance(kind) for k, p in ignore):
            continue
        counts[kind]["fp"] += 1
    return counts


__all__ = [
    "DEFAULT_SHIFT_LENGTH",
    "INJECTED_KINDS",
    "InfeasibleInjection",
    "InjectedAnomaly",
    "inject_anomalies",
    "local_level",
    "match_detections",
    "noise_scale",
]
