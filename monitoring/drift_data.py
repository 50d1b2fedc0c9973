"""Deterministic drift injection, for tests and for demonstrating the drift monitor."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def inject_drift(
    frame: pd.DataFrame, columns: Iterable[str], shift: float = 1.0, seed: int = 0
) -> pd.DataFrame:
    """Return a copy of ``frame`` whose ``columns`` are shifted away from their distribution.

    * Numerical columns (booleans excluded): every present value moves by ``shift`` standard
      deviations of the column (1 when the deviation is 0 or undefined), plus a jitter of a tenth
      of that step so constant columns do not stay constant. Missing values stay missing; integer
      columns become floats.
    * Other columns (categorical, text, boolean): a random ``min(1, |shift| / 2)`` share of the
      rows takes the column's least frequent value.

    Args:
        frame: Rows to perturb (left unchanged).
        columns: Columns to shift.
        shift: Size of the shift (standard deviations; its sign gives the direction).
        seed: Seed of the jitter and of the rows picked in categorical columns.

    Returns:
        The drifted copy.

    Raises:
        KeyError: When a column is absent.

    """
    rng = np.random.default_rng(seed)
    drifted = frame.copy()
    for column in columns:
        if column not in drifted.columns:
            raise KeyError(f"cannot inject drift: no column {column!r}")
        series = drifted[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values = series.astype(float)
            std = float(values.std())
            step = shift * (std if np.isfinite(std) and std > 0 else 1.0)
            jitter = rng.normal(0.0, abs(step) / 10 or 0.1, size=len(values))
            drifted[column] = values + step + jitter
        else:
            counts = series.dropna().value_counts()
            if counts.empty:
                continue
            share = min(1.0, abs(shift) / 2)
            chosen = rng.random(len(series)) < share
            rare = counts.index[-1]
            drifted[column] = series.astype(object).where(~chosen, rare)
    return drifted
