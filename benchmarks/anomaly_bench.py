"""Anomaly detection benchmark: injected anomalies of known type and size in real CRM series.

Series (real data, ``../shared/datasets``; :mod:`monitoring.anomaly_series`):

* Maven CRM deals engaged per day (434 days), period 7;
* Maven CRM won deal value per day (306 days), period 7;
* Bank Marketing calls per month (26 months with calls, gaps: no seasonal term).

Protocol, per series, anomaly type (``spike``, ``dip``, ``level_shift``) and size (3 and 5 noise
scales, :func:`monitoring.anomaly_injection.noise_scale`): ``--trials`` trials, each injecting one
anomaly at a seeded random place (:func:`monitoring.anomaly_injection.inject_anomalies`), then
running every method on the modified series. A spike or dip is found by a detection of the same
kind within +/-1 step; a level shift by a ``level_shift`` detection within +/-2 steps of its
start. Every other detection is a false positive of its kind, except (a) a level shift at the
injected shift's end (the return to the old level) and (b) what the same method already reports
on the clean series (the real series have anomalies of their own, unlabelled: those are counted
separately, as the clean series' flag rate). Precision of a kind pools its false positives over
every trial of the same series and size, whatever type was injected.

Methods, scored the same way:

* ``detector``: :func:`monitoring.anomalies.detect_anomalies` (STL + ruptures) with the
  ``anomalies`` section of ``configs/monitoring.yaml``;
* ``zscore`` (the baseline): global 3-sigma rule on the raw series (mean, standard deviation);
* ``hampel``: rolling median +/- 3 rolling MADs (window of 2 periods + 1 points, 7 without a
  period), a stronger simple baseline.

For the two baselines a run of at least 3 consecutive flagged points on the same side is one
``level_shift`` at its first point; other flagged points are spikes (above) or dips (below).

Writes ``benchmarks/results/anomalies.json``::

    .venv/bin/python benchmarks/anomaly_bench.py            # full: 200 trials per cell
    .venv/bin/python benchmarks/anomaly_bench.py --quick    # 40 trials per cell
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy.stats import median_abs_deviation

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitoring.anomalies import (  # noqa: E402
    AnomalyConfig,
    detect_anomalies,
    load_anomaly_config,
    resolve_period,
)
from monitoring.anomaly_injection import (  # noqa: E402
    INJECTED_KINDS,
    InfeasibleInjection,
    inject_anomalies,
    match_detections,
    noise_scale,
)
from monitoring.anomaly_series import real_series  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "anomalies.json"
NOTES: tuple[str, ...] = (
    "Sizes are in noise scales of the clean series (robust std of its seasonal differences "
    "/ sqrt 2), the same for every method.",
    "One anomaly per trial. A kind's precision pools its false positives over every trial of "
    "the same series and size, whatever was injected.",
    "Unlabelled: what a method already flags on the clean series at 0.9 x its thresholds (the "
    "real series' own anomalies); flags on the clean series at the real thresholds are under "
    "clean_series.",
    "Dips on these non-negative series are only injected where the local level is at least "
    "their size: none fits Maven's won value at 5 sigma (infeasible cells, no trial run).",
    "f1_ratio is null where the baseline's F1 is 0 (the global z-score finds no dip).",
)
SIZES: tuple[float, ...] = (3.0, 5.0)
METHODS: tuple[str, ...] = ("detector", "zscore", "hampel")
BASELINE_THRESHOLD = 3.0
BASELINE_RUN = 3
#: Clean-series detections at this fraction of each method's thresholds are unlabelled.
CLEAN_RELAX = 0.9
SEED = 20261204

Detections = list[tuple[str, int]]


def _datasets_dir() -> Path:
    from haste.settings import Settings

    return Settings().datasets_dir


# --- methods ----------------------------------------------------------------------------------


def detector_positions(series: pd.Series, config: AnomalyConfig) -> Detections:
    found = detect_anomalies(series, config=config)
    index = pd.DatetimeIndex(series.index)
    return [(a.kind, int(index.get_loc(a.timestamp))) for a in found]


def _runs_to_detections(flags: np.ndarray, side: np.ndarray) -> Detections:
    """Flagged points → spikes/dips; runs of >= BASELINE_RUN same-side flags → one level shift."""
    out: Detections = []
    n = len(flags)
    i = 0
    while i < n:
        if not flags[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and flags[j + 1] and side[j + 1] == side[i]:
            j += 1
        if j - i + 1 >= BASELINE_RUN:
            out.append(("level_shift", i))
        else:
            out.extend(("spike" if side[k] > 0 else "dip", k) for k in range(i, j + 1))
        i = j + 1
    return out


def zscore_positions(series: pd.Series, threshold: float = BASELINE_THRESHOLD) -> Detections:
    values = series.to_numpy(dtype=float)
    std = float(np.std(values))
    if std == 0:
        return []
    z = (values - float(np.mean(values))) / std
    return _runs_to_detections(np.abs(z) > threshold, np.sign(z))


def hampel_positions(
    series: pd.Series, half_window: int, threshold: float = BASELINE_THRESHOLD
) -> Detections:
    values = series.to_numpy(dtype=float)
    n = len(values)
    width = 2 * half_window + 1
    if n < width:
        return []
    padded = np.pad(values, half_window, mode="edge")
    windows = sliding_window_view(padded, width)
    median = np.median(windows, axis=1)
    scale = median_abs_deviation(windows, axis=1, scale="normal")
    deviation = values - median
    with np.errstate(divide="ignore", invalid="ignore"):
        flags = np.abs(deviation) > threshold * scale
    flags &= scale > 0
    return _runs_to_detections(flags, np.sign(deviation))


def _methods(
    period: int | None, config: AnomalyConfig, relax: float = 1.0
) -> dict[str, Callable[[pd.Series], Detections]]:
    """The three methods; ``relax`` < 1 lowers every threshold (the clean runs' ignore sets)."""
    half = period if period else 3
    if relax != 1.0:
        config = config.model_copy(
            update={
                "threshold": config.threshold * relax,
                "shift_threshold": config.shift_threshold * relax,
            }
        )
    threshold = BASELINE_THRESHOLD * relax
    return {
        "detector": lambda s: detector_positions(s, config),
        "zscore": lambda s: zscore_positions(s, threshold),
        "hampel": lambda s: hampel_positions(s, half, threshold),
    }


# --- trials -----------------------------------------------------------------------------------


def _empty_counts() -> dict[str, dict[str, int]]:
    return {kind: {"tp": 0, "fn": 0, "fp": 0} for kind in INJECTED_KINDS}


def _add(total: dict[str, dict[str, int]], counts: dict[str, dict[str, int]]) -> None:
    for kind, row in counts.items():
        for key, value in row.items():
            total[kind][key] += value


def run_cell(task: dict[str, Any]) -> dict[str, Any]:
    """All trials of one (series, kind, size): counts per method."""
    series: pd.Series = task["series"]
    config = AnomalyConfig.model_validate(task["config"])
    period = task["period"]
    methods = _methods(period, config)
    clean = task["clean"]
    totals = {method: _empty_counts() for method in METHODS}
    seeds = np.random.SeedSequence([SEED, *task["seed_key"]]).spawn(task["trials"])
    n = len(series)
    infeasible = 0
    for seed in seeds:
        rng = np.random.default_rng(seed)
        try:
            injected, labels = inject_anomalies(
                series, task["kind"], size=task["size"], rng=rng, sigma=task["sigma"], period=period
            )
        except InfeasibleInjection:
            infeasible += 1
            continue
        for method, detect in methods.items():
            counts = match_detections(detect(injected), labels, n, ignore=clean[method])
            _add(totals[method], counts)
    return {
        "series": task["name"],
        "kind": task["kind"],
        "size": task["size"],
        "totals": totals,
        "trials": task["trials"] - infeasible,
        "infeasible": infeasible,
    }


def _rates(counts: dict[str, int]) -> dict[str, float | int | None]:
    tp, fn, fp = counts["tp"], counts["fn"], counts["fp"]
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    if recall is None:
        f1 = None
    elif tp == 0:
        f1 = 0.0  # nothing found (with or without false alarms)
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return {
        "precision": None if precision is None else round(precision, 4),
        "recall": None if recall is None else round(recall, 4),
        "f1": None if f1 is None else round(f1, 4),
        "tp": tp,
        "fn": fn,
        "fp": fp,
    }


def _pool(cells: list[dict[str, Any]], method: str, kind: str) -> dict[str, int]:
    pooled = {"tp": 0, "fn": 0, "fp": 0}
    for cell in cells:
        for key in pooled:
            pooled[key] += cell["totals"][method][kind][key]
    return pooled


def _summary(cells: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """Precision/recall/F1 of one kind pooled over ``cells``, with the baselines' F1."""
    row: dict[str, Any] = _rates(_pool(cells, "detector", kind))
    for method, key in (("zscore", "baseline"), ("hampel", "hampel")):
        rates = _rates(_pool(cells, method, kind))
        row[f"{key}_precision"] = rates["precision"]
        row[f"{key}_recall"] = rates["recall"]
        row[f"{key}_f1"] = rates["f1"]
    for key in ("baseline", "hampel"):
        base = row[f"{key}_f1"]
        ratio_key = "f1_ratio" if key == "baseline" else "f1_ratio_hampel"
        row[ratio_key] = round(row["f1"] / base, 2) if row["f1"] is not None and base else None
    return row


def _clean_flags(name: str, series: pd.Series, detections: dict[str, Detections]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for method, found in detections.items():
        kinds = {kind: sum(1 for k, _ in found if k == kind) for kind in INJECTED_KINDS}
        points = kinds["spike"] + kinds["dip"]
        out[method] = {
            **kinds,
            "flagged_point_rate": round(points / len(series), 4),
            "shifts_per_100_points": round(100 * kinds["level_shift"] / len(series), 2),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200, help="trials per series, kind, size")
    parser.add_argument("--quick", action="store_true", help="40 trials per cell")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    args = parser.parse_args()
    trials = 40 if args.quick else args.trials
    config = load_anomaly_config()
    overrides = {}
    for item in args.set:
        key, value = item.split("=", 1)
        overrides[key] = json.loads(value)
    if overrides:
        config = AnomalyConfig.model_validate({**config.model_dump(), **overrides})

    started = time.perf_counter()
    data = real_series(_datasets_dir())
    tasks: list[dict[str, Any]] = []
    series_info: dict[str, Any] = {}
    clean_info: dict[str, Any] = {}
    for s_i, (name, series) in enumerate(data.items()):
        index = pd.DatetimeIndex(series.index)
        period = resolve_period(index, "auto", config)
        sigma = noise_scale(series, period)
        methods = _methods(period, config)
        clean_info[name] = _clean_flags(
            name, series, {method: detect(series) for method, detect in methods.items()}
        )
        relaxed = _methods(period, config, relax=CLEAN_RELAX)
        clean = {method: detect(series) for method, detect in relaxed.items()}
        series_info[name] = {
            "points": len(series),
            "start": index[0].date().isoformat(),
            "end": index[-1].date().isoformat(),
            "period": period,
            "noise_scale": round(sigma, 4),
            "mean": round(float(series.mean()), 4),
            "std": round(float(series.std(ddof=0)), 4),
        }
        for k_i, kind in enumerate(INJECTED_KINDS):
            for z_i, size in enumerate(SIZES):
                tasks.append(
                    {
                        "name": name,
                        "series": series,
                        "period": period,
                        "sigma": sigma,
                        "kind": kind,
                        "size": size,
                        "trials": trials,
                        "seed_key": [s_i, k_i, z_i],
                        "clean": clean,
                        "config": config.model_dump(),
                    }
                )
    if args.workers > 1:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            cells = list(pool.map(run_cell, tasks))
    else:
        cells = [run_cell(task) for task in tasks]

    per_type = {}
    for kind in INJECTED_KINDS:
        row = _summary(cells, kind)
        row["by_size"] = {
            f"{size:g}sigma": _summary([c for c in cells if c["size"] == size], kind)
            for size in SIZES
        }
        row["by_series"] = {
            name: {
                f"{size:g}sigma": _summary(
                    [c for c in cells if c["series"] == name and c["size"] == size], kind
                )
                for size in SIZES
            }
            for name in data
        }
        per_type[kind] = row
    seconds = round(time.perf_counter() - started, 1)
    result = {
        "run_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "trials": {
            "per_series_kind_size": trials,
            "sizes_sigma": list(SIZES),
            "kinds": list(INJECTED_KINDS),
            "run": sum(cell["trials"] for cell in cells),
            "infeasible": sum(cell["infeasible"] for cell in cells),
            "seed": SEED,
            "cells": [
                {
                    "series": cell["series"],
                    "kind": cell["kind"],
                    "size_sigma": cell["size"],
                    "trials": cell["trials"],
                    "infeasible": cell["infeasible"],
                }
                for cell in cells
            ],
        },
        "notes": NOTES,
        "matching": {
            "point_tolerance_steps": 1,
            "shift_tolerance_steps": 2,
            "clean_detections": "ignored (reported under clean_series)",
        },
        "config": config.model_dump(),
        "baselines": {
            "zscore": f"global |z| > {BASELINE_THRESHOLD} on the raw series",
            "hampel": f"rolling median +/- {BASELINE_THRESHOLD} rolling MADs",
            "level_shift_rule": f"runs of >= {BASELINE_RUN} same-side flags",
        },
        "series": series_info,
        "clean_series": clean_info,
        "per_type": per_type,
        "seconds": seconds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'type':<12} {'P':>6} {'R':>6} {'F1':>6} {'zF1':>6} {'ratio':>6} {'hF1':>6}")
    for kind, row in per_type.items():
        print(
            f"{kind:<12} {row['precision']!s:>6} {row['recall']!s:>6} {row['f1']!s:>6} "
            f"{row['baseline_f1']!s:>6} {row['f1_ratio']!s:>6} {row['hampel_f1']!s:>6}"
        )
        for size, sub in row["by_size"].items():
            print(
                f"  {size:<10} {sub['precision']!s:>6} {sub['recall']!s:>6} {sub['f1']!s:>6} "
                f"{sub['baseline_f1']!s:>6} {sub['f1_ratio']!s:>6} {sub['hampel_f1']!s:>6}"
            )
    for name, info in clean_info.items():
        print(name, {m: (v["flagged_point_rate"], v["level_shift"]) for m, v in info.items()})
    print(f"{seconds} s -> {args.out}")


if __name__ == "__main__":
    main()
