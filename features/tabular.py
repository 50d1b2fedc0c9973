"""Framework-free tabular feature encoding shared by training and online scoring.

The encoder turns raw CRM/lead records into the matrix the gradient-boosted models consume:
yes/no flags become 0/1, other text columns become pandas categoricals with the categories
frozen at fit time (an unseen value becomes missing instead of shifting the codes), numbers
become floats. It is a scikit-learn transformer, so it travels inside the logged MLflow model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

_YES_NO = {"yes": 1.0, "no": 0.0, "true": 1.0, "false": 0.0}


class MissingFeaturesError(ValueError):
    """Raised when records lack columns the model was trained on."""


def is_yes_no(series: pd.Series) -> bool:
    """Return whether a text column only holds yes/no (or true/false) values.

    Args:
        series: A column of raw values.

    Returns:
        True when every non-missing value is a yes/no flag.

    """
    values = series.dropna().astype(str).str.strip().str.lower().unique()
    return len(values) > 0 and set(values) <= set(_YES_NO)


class TabularEncoder(BaseEstimator, TransformerMixin):
    """Encode raw records into model features with frozen categories.

    Args:
        columns: The raw input columns to use, in order.

    """

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = columns

    def fit(self, frame: pd.DataFrame, y: object = None) -> TabularEncoder:
        """Learn which columns are flags, categoricals or numbers, and the category levels.

        Args:
            frame: Training records holding at least ``columns``.
            y: Ignored.

        Returns:
            The fitted encoder.

        """
        self._check_columns(frame)
        self.flag_columns_: list[str] = []
        self.categories_: dict[str, list[str]] = {}
        self.numeric_columns_: list[str] = []
        for column in self.columns:
            series = frame[column]
            if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
                self.numeric_columns_.append(column)
            elif pd.api.types.is_bool_dtype(series) or is_yes_no(series):
                self.flag_columns_.append(column)
            else:
                levels = sorted(series.dropna().astype(str).unique().tolist())
                self.categories_[column] = levels
        self.feature_names_out_ = list(self.columns)
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Encode records with the fitted layout.

        Args:
            frame: Records holding at least ``columns`` (extra columns are ignored).

        Returns:
            A frame with one column per input column, in fit order.

        Raises:
            MissingFeaturesError: When a trained column is absent.

        """
        self._check_columns(frame)
        out: dict[str, Any] = {}
        for column in self.columns:
            series = frame[column]
            if column in self.categories_:
                values = series.where(series.isna(), series.astype(str))
                out[column] = pd.Categorical(values, categories=self.categories_[column])
            elif column in self.flag_columns_:
                out[column] = _encode_flag(series)
            else:
                out[column] = pd.to_numeric(series, errors="coerce").astype(float)
        return pd.DataFrame(out, index=frame.index)

    def encode_values(self, rows: Sequence[Sequence[Any]]) -> np.ndarray:
        """Encode raw rows straight to a float matrix (categoricals as their frozen codes).

        The serving fast path: no pandas, one dictionary lookup per cell. It gives exactly
        what :meth:`transform` gives, with each categorical replaced by its category code
        (the code XGBoost's native categorical support sees); unseen and missing values are
        NaN.

        Args:
            rows: Raw values, one sequence per record, in ``columns`` order.

        Returns:
            A ``(len(rows), len(columns))`` float64 matrix.
        """
        encoders = self._cell_encoders()
        matrix = np.full((len(rows), len(encoders)), np.nan)
        if len(rows) > SMALL_BATCH:  # many rows (stream rescoring): numbers a column at a time
            for j, (encode, values) in enumerate(
                zip(encoders, zip(*rows, strict=True), strict=True)
            ):
                matrix[:, j] = _encode_column(encode, values)
            return matrix
        for i, row in enumerate(rows):
            for j, (encode, value) in enumerate(zip(encoders, row, strict=True)):
                if not _is_missing(value):
                    matrix[i, j] = encode(value)
        return matrix

    def _cell_encoders(self) -> list[Any]:
        """Return one function per column mapping a non-missing raw value to a float (cached)."""
        cached = self.__dict__.get("_cell_encoders_cache")
        if cached is None:
            cached = []
            for column in self.columns:
                if column in self.categories_:
                    codes = {
                        level: float(code) for code, level in enumerate(self.categories_[column])
                    }
                    cached.append(lambda value, codes=codes: codes.get(str(value), np.nan))
                elif column in self.flag_columns_:
                    cached.append(_flag_value)
                else:
                    cached.append(_number_value)
            self.__dict__["_cell_encoders_cache"] = cached
        return cached

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the cached cell encoders (lambdas)."""
        state = dict(super().__getstate__())
        state.pop("_cell_encoders_cache", None)
        return state

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Return the output feature names (identical to the input columns)."""
        return np.asarray(self.feature_names_out_, dtype=object)

    def _check_columns(self, frame: pd.DataFrame) -> None:
        missing = [column for column in self.columns if column not in frame.columns]
        if missing:
            raise MissingFeaturesError(f"records lack required feature columns: {missing}")


#: Below this many rows, flags are mapped in plain Python (a served request has one row).
SMALL_BATCH = 64


def _is_missing(value: Any) -> bool:
    """Return whether a scalar is missing (None or NaN)."""
    return value is None or (isinstance(value, float) and value != value)


def _encode_column(encode: Any, values: Sequence[Any]) -> np.ndarray:
    """Encode one column's raw values (what the per-cell path gives, faster for numbers)."""
    if encode is _number_value:
        try:  # numbers and numeric strings convert in one call; None is missing
            return np.array([np.nan if v is None else v for v in values], dtype=float)
        except (TypeError, ValueError):
            pass  # a non-numeric value: per cell, as pd.to_numeric(errors="coerce")
    return np.array([np.nan if _is_missing(v) else encode(v) for v in values], dtype=float)


def _flag_value(value: Any) -> float:
    """Map one yes/no/true/false (any case) or boolean value to 1.0/0.0, anything else to NaN."""
    return _YES_NO.get(str(value).strip().lower(), np.nan)


def _number_value(value: Any) -> float:
    """Convert one value to float like ``pd.to_numeric(errors="coerce")`` (NaN otherwise)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _encode_flag(series: pd.Series) -> pd.Series:
    """Map yes/no/true/false (any case) or booleans to 1.0/0.0, anything else to NaN."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    if len(series) <= SMALL_BATCH:  # serving path: plain Python beats pandas' string methods
        values = [
            None if _is_missing(value) else _YES_NO.get(str(value).strip().lower())
            for value in series.tolist()
        ]
        return pd.Series(values, index=series.index, dtype=float)
    mapped = series.astype(str).str.strip().str.lower().map(_YES_NO)
    return mapped.where(series.notna()).astype(float)


def select_feature_columns(frame: pd.DataFrame, excluded: Sequence[str]) -> list[str]:
    """Return the model input columns: every column not excluded, in file order.

    Args:
        frame: The raw dataset.
        excluded: Ids, target, leakage, dropped and sensitive columns.

    Returns:
        The remaining column names.

    """
    excluded_set = set(excluded)
    return [column for column in frame.columns if column not in excluded_set]
