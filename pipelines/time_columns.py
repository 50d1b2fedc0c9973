"""Time columns as the frames use them: UTC-naive ``datetime64[ns]``.

The database gives naive UTC times back on SQLite and aware ones on PostgreSQL, the synthetic
CRM is naive UTC, and frames built from ORM rows hold ``datetime`` objects of either kind:
:func:`utc_naive` reads them all the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd


def utc_naive(values: pd.Series | pd.Index | Iterable[Any]) -> pd.Series:
    """Return times as a UTC-naive ``datetime64[ns]`` series (aware ones converted to UTC).

    Args:
        values: A series (its index is kept), an index or any iterable of times; naive times
            are read as UTC.

    Returns:
        The times, ``NaT`` where missing.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    return pd.to_datetime(series, utc=True).dt.tz_localize(None).astype("datetime64[ns]")
