"""Scores of the forecast ledger: one entry's errors, and accuracy per kind and per month.

Error maths (each next to the naive baseline's, computed the same way on the same entries):

* value forecasts (``revenue_forecast``, ``deal_velocity``): absolute error and absolute
  percentage error ``|forecast - actual| / |actual|`` (undefined, so left out of the MAPE, when
  the actual is 0); whether the actual fell inside the interval ``[low, high]``;
* probability forecasts (``win_probability``, ``churn``): the Brier score ``(p - y)^2`` of the
  event ``y`` in {0, 1}.

Aggregates are plain means over resolved entries: MAPE, MAE, empirical interval coverage (next
to the nominal coverage the model promised) and the Brier score; ``*_ratio`` is model / naive
(below 1: the model beats the naive baseline).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

#: Kinds whose forecast is a value (revenue, days): MAPE, MAE, interval coverage.
VALUE_KINDS: tuple[str, ...] = ("revenue_forecast", "deal_velocity")
#: Kinds whose forecast is the probability of an event (won, churned): Brier score.
PROBABILITY_KINDS: tuple[str, ...] = ("win_probability", "churn")


def _finite(value: Any) -> float | None:
    """Return ``value`` as a float, or None when missing or not finite."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _pct(error: float | None, actual: float) -> float | None:
    """Return ``error / |actual|`` (None when the actual is 0 or the error is missing)."""
    if error is None or actual == 0:
        return None
    return error / abs(actual)


def entry_errors(
    kind: str,
    actual: float,
    predicted: float | None = None,
    probability: float | None = None,
    naive: float | None = None,
    interval_low: float | None = None,
    interval_high: float | None = None,
) -> dict[str, Any]:
    """Return the scores of one resolved forecast.

    Args:
        kind: The entry's kind (:data:`VALUE_KINDS` or :data:`PROBABILITY_KINDS`).
        actual: The realised value (revenue, days) or event (1.0 happened, 0.0 did not).
        predicted: The value forecast.
        probability: The probability forecast.
        naive: The naive baseline's forecast (a value or a probability, as the kind).
        interval_low: Lower interval bound, if the model gave one.
        interval_high: Upper interval bound.

    Returns:
        Value kinds: ``abs_error``, ``pct_error``, ``naive_abs_error``, ``naive_pct_error`` and,
        with an interval, ``covered`` and ``interval_width``. Probability kinds: ``brier`` and
        ``naive_brier``. Missing inputs give None.

    Raises:
        ValueError: For an unknown kind, a non-finite actual or an event that is not 0/1.
    """
    actual_value = _finite(actual)
    if actual_value is None:
        raise ValueError(f"actual of a {kind} entry must be a finite number, not {actual!r}")
    if kind in VALUE_KINDS:
        forecast, baseline = _finite(predicted), _finite(naive)
        abs_error = None if forecast is None else abs(forecast - actual_value)
        naive_abs = None if baseline is None else abs(baseline - actual_value)
        errors: dict[str, Any] = {
            "abs_error": abs_error,
            "pct_error": _pct(abs_error, actual_value),
            "naive_abs_error": naive_abs,
            "naive_pct_error": _pct(naive_abs, actual_value),
        }
        low, high = _finite(interval_low), _finite(interval_high)
        if low is not None and high is not None:
            errors["covered"] = bool(low <= actual_value <= high)
            errors["interval_width"] = high - low
        return errors
    if kind in PROBABILITY_KINDS:
        if actual_value not in (0.0, 1.0):
            raise ValueError(f"actual of a {kind} entry is an event, 0 or 1, not {actual!r}")
        p, baseline = _finite(probability), _finite(naive)
        return {
            "brier": None if p is None else (p - actual_value) ** 2,
            "naive_brier": None if baseline is None else (baseline - actual_value) ** 2,
        }
    raise ValueError(f"unknown ledger kind {kind!r}")


def _mean(values: Iterable[Any]) -> float | None:
    """Return the mean of the non-missing values (None when there is none)."""
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _ratio(model: float | None, naive: float | None) -> float | None:
    """Return model / naive (None when either is missing or the naive is 0)."""
    if model is None or naive is None or naive == 0:
        return None
    return model / naive


def summarize_entries(entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Return the accuracy of a group of ledger entries of one kind.

    Args:
        entries: Rows with ``kind``, ``errors`` (None while pending), ``coverage``.

    Returns:
        ``n`` (entries), ``resolved``, ``pending``, and over resolved entries: ``mape``,
        ``naive_mape``, ``mape_ratio``, ``mae``, ``naive_mae``, ``coverage`` (share covered,
        among entries with an interval), ``nominal_coverage``, ``n_intervals``, ``brier``,
        ``naive_brier``, ``brier_ratio``. Metrics that do not apply are None.
    """
    rows = list(entries)
    resolved = [r for r in rows if r.get("errors") is not None]
    errors = [r["errors"] for r in resolved]
    covered = [e["covered"] for e in errors if e.get("covered") is not None]
    nominal = _mean(r.get("coverage") for r in resolved if r["errors"].get("covered") is not None)
    mape = _mean(e.get("pct_error") for e in errors)
    naive_mape = _mean(e.get("naive_pct_error") for e in errors)
    brier = _mean(e.get("brier") for e in errors)
    naive_brier = _mean(e.get("naive_brier") for e in errors)
    return {
        "n": len(rows),
        "resolved": len(resolved),
        "pending": len(rows) - len(resolved),
        "mape": mape,
        "naive_mape": naive_mape,
        "mape_ratio": _ratio(mape, naive_mape),
        "mae": _mean(e.get("abs_error") for e in errors),
        "naive_mae": _mean(e.get("naive_abs_error") for e in errors),
        "coverage": _mean(1.0 if c else 0.0 for c in covered),
        "nominal_coverage": nominal,
        "n_intervals": len(covered),
        "brier": brier,
        "naive_brier": naive_brier,
        "brier_ratio": _ratio(brier, naive_brier),
    }


def summarize_by(entries: Iterable[Mapping[str, Any]], key: str = "month") -> list[dict[str, Any]]:
    """Return :func:`summarize_entries` per ``(kind, entry[key])``, sorted by kind then key.

    Args:
        entries: Ledger rows carrying ``kind`` and ``key`` (e.g. ``month`` of ``made_at``).
        key: The grouping field.

    Returns:
        One dict per group: ``kind``, ``key``'s value, and the summary.
    """
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for entry in entries:
        groups.setdefault((str(entry["kind"]), str(entry[key])), []).append(entry)
    return [
        {"kind": kind, key: value, **summarize_entries(rows)}
        for (kind, value), rows in sorted(groups.items())
    ]
