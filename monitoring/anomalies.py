"""Anomaly detection over CRM time series: spikes and dips (STL residuals), level shifts (ruptures).

:func:`detect_anomalies` takes one metric as a :class:`pandas.Series` with a
:class:`~pandas.DatetimeIndex` (daily, weekly or monthly; gaps allowed) and returns
:class:`Anomaly` records:

1. **Seasonal term.** With a seasonal period and at least two periods of data, statsmodels'
   robust STL (:class:`statsmodels.tsa.seasonal.STL`, ``robust=True``) gives the seasonal
   term; otherwise (no period, a short series, a series with gaps) there is none and the
   trend below is statsmodels' robust LOWESS.
2. **Noise scale.** For each point, the normal-consistent median absolute deviation
   (:func:`scipy.stats.median_abs_deviation`) of the series' differences at the seasonal lag
   (lag 1 without a season) around it, divided by sqrt(2): seasonal differences need no
   seasonal estimate, and a trend or a level shift barely moves their median absolute
   deviation. It is never below the whole series' scale, so noisier stretches (a busier
   season) get a wider scale and quiet ones keep the series'. A series without any variation
   gives no anomaly.
3. **Despiking.** Points more than ``threshold`` scales from the rolling median (and, near the
   ends, from the robust trend too) are replaced by the rolling median, which follows a step
   at once.
4. **Level shifts.** ``ruptures`` (:class:`ruptures.KernelCPD`, linear kernel: exact PELT under
   the L2 cost) places change points in the despiked series with the penalty
   ``shift_penalty * sigma**2 * ln(n)``; then the weakest change point is dropped until every
   one left moves the level by at least ``shift_threshold`` scales, on up to ``shift_window``
   points on each side bounded by the neighbouring change points, both as a difference of
   medians and as the step of a least-squares fit with a common local slope. The first drops
   the breaks PELT puts in a wiggling trend, the second those of a steady rise or fall (a
   growing pipeline).
5. **Spikes and dips.** Robust STL (or LOWESS) is fitted again on the despiked series with its
   level shifts taken out, so neither a spike nor a step bends the expected values; a point at
   least ``threshold`` scales (and ``min_relative_change`` of the expected value) above or
   below its expected value is a ``spike`` or a ``dip``.

Thresholds are the ``anomalies`` section of ``configs/monitoring.yaml``
(:func:`load_anomaly_config`), chosen on ``benchmarks/anomaly_bench.py`` (real series with
injected anomalies; results in ``benchmarks/results/anomalies.json``).
:func:`find_crm_anomalies` runs the detector over every CRM metric of the platform database
(:func:`monitoring.anomaly_series.crm_metric_series`).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import ruptures as rpt
import yaml
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from scipy.stats import median_abs_deviation
from statsmodels.nonparametric.smoothers_lowess import lowess
from statsmodels.tsa.seasonal import STL

from haste.settings import CONFIG_DIR
from monitoring.anomaly_series import crm_metric_series, metric_info

logger = logging.getLogger(__name__)

#: Kinds of anomaly :func:`detect_anomalies` reports.
KINDS: tuple[str, ...] = ("spike", "dip", "level_shift")

#: The monitoring config file; the detector reads its ``anomalies`` section.
MONITORING_YAML = CONFIG_DIR / "monitoring.yaml"

#: Section of ``configs/monitoring.yaml`` read by :func:`load_anomaly_config`.
CONFIG_SECTION = "anomalies"

#: Mean absolute deviation x this constant estimates a normal standard deviation.
MEAN_ABS_DEV_TO_SD = math.sqrt(math.pi / 2)

#: Frequencies :func:`series_frequency` recognises (the keys of ``AnomalyConfig.periods``).
Frequency = Literal["hourly", "daily", "weekly", "monthly", "irregular"]


class AnomalyConfig(BaseModel):
    """The ``anomalies`` section of ``configs/monitoring.yaml`` (unknown keys are errors).

    Attributes:
        threshold: A residual at least this many noise scales from the expected value is a
            spike or a dip.
        shift_threshold: A change point is a level shift when the level moves by at least this
            many noise scales.
        shift_penalty: ruptures penalty, in units of ``sigma**2 * ln(n)`` (BIC-like).
        shift_min_size: Fewest points on each side of a change point.
        shift_window: Most points on each side fitted to measure a shift.
        min_points: Series with fewer points give no anomaly.
        min_relative_change: A spike or dip also moves at least this share of the expected
            value (0 disables the rule).
        high_severity: Anomalies scoring at least this many noise scales are ``high``.
        seasonal_smoother: Length of STL's seasonal smoother in periods (odd, >= 3).
        trend_periods: Length of STL's trend smoother in periods (0: statsmodels' default,
            about 1.5 periods, which follows the noise of a short period such as a week).
        local_scale_points: Differences around each point that measure its noise scale (0: the
            whole series).
        local_scale_floor: A local noise scale is at least this share of the whole series'
            (1.0: local scales only ever widen the series' scale, in its noisier stretches).
        trend_points: Points in each local fit of the LOWESS trend (series without a season).
        periods: Seasonal period per frequency (``None``: no seasonal term).
        min_closed_deals: Weeks with fewer closed deals have no win rate (CRM series).
        hot_score: Lead scores at least this high are ``hot`` (CRM series).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(default=3.0, gt=0)
    shift_threshold: float = Field(default=2.5, gt=0)
    shift_penalty: float = Field(default=2.0, gt=0)
    shift_min_size: int = Field(default=5, ge=2)
    shift_window: int = Field(default=14, ge=2)
    min_points: int = Field(default=8, ge=3)
    min_relative_change: float = Field(default=0.05, ge=0)
    high_severity: float = Field(default=6.0, gt=0)
    seasonal_smoother: int = Field(default=13, ge=3)
    trend_periods: float = Field(default=3.0, ge=0)
    local_scale_points: int = Field(default=28, ge=0)
    local_scale_floor: float = Field(default=1.0, gt=0, le=1)
    trend_points: int = Field(default=15, ge=3)
    periods: dict[str, int | None] = Field(
        default_factory=lambda: {"hourly": 24, "daily": 7, "weekly": None, "monthly": 12}
    )
    min_closed_deals: int = Field(default=5, ge=1)
    hot_score: int = Field(default=70, ge=0, le=100)

    @field_validator("seasonal_smoother")
    @classmethod
    def _odd_smoother(cls, value: int) -> int:
        """STL needs an odd seasonal smoother."""
        if value % 2 == 0:
            raise ValueError(f"seasonal_smoother must be odd, got {value}")
        return value

    @field_validator("periods")
    @classmethod
    def _valid_periods(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        """Periods are keyed by a known frequency and are at least 2."""
        known = {"hourly", "daily", "weekly", "monthly"}
        for key, period in value.items():
            if key not in known:
                raise ValueError(f"unknown frequency {key!r} in periods; known: {sorted(known)}")
            if period is not None and period < 2:
                raise ValueError(f"period of {key} must be at least 2 (or null), got {period}")
        return value

    @field_validator("shift_window")
    @classmethod
    def _window_holds_min_size(cls, value: int, info: ValidationInfo) -> int:
        """The step test compares at least ``shift_min_size`` points per side."""
        min_size = info.data.get("shift_min_size")
        if min_size is not None and value < min_size:
            raise ValueError(f"shift_window {value} is below shift_min_size {min_size}")
        return value


def load_anomaly_config(path: Path | str | None = None) -> AnomalyConfig:
    """Read the ``anomalies`` section of ``configs/monitoring.yaml`` (or ``path``).

    Args:
        path: YAML file; defaults to :data:`MONITORING_YAML`.

    Returns:
        The validated section (defaults when the section is absent).
    """
    raw = yaml.safe_load(Path(path or MONITORING_YAML).read_text(encoding="utf-8")) or {}
    return AnomalyConfig.model_validate(raw.get(CONFIG_SECTION) or {})


@dataclass(frozen=True)
class Anomaly:
    """One anomaly of one metric.

    Attributes:
        metric: Metric key (e.g. ``activity_volume[Enterprise Sales]``).
        kind: ``spike``, ``dip`` or ``level_shift``.
        timestamp: The anomalous point; for a level shift, the first point at the new level.
        value: Observed value; for a level shift, the level after the shift.
        expected: Expected value (trend + season); for a level shift, the level before it.
        score: Distance from the expected value in noise scales (robust z-score).
        severity: ``high`` when ``score >= high_severity``, else ``medium``.
        message: One readable sentence with the numbers.
        end: For a level shift, the last point before the next shift or the end of the series.
        label: Readable metric name used in the message.
        unit: ``count``, ``usd``, ``ratio``, ``score`` or ``None``.
    """

    metric: str
    kind: str
    timestamp: pd.Timestamp
    value: float
    expected: float
    score: float
    severity: str
    message: str
    end: pd.Timestamp | None = None
    label: str = ""
    unit: str | None = None

    @property
    def deviation(self) -> float:
        """Value minus expected value."""
        return self.value - self.expected

    @property
    def deviation_pct(self) -> float | None:
        """Deviation in percent of the expected value (``None`` when it is 0)."""
        if self.expected == 0 or not math.isfinite(self.expected):
            return None
        return 100.0 * self.deviation / abs(self.expected)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (ISO 8601 times, rounded floats)."""
        pct = self.deviation_pct
        return {
            "metric": self.metric,
            "label": self.label or self.metric,
            "kind": self.kind,
            "timestamp": _iso(self.timestamp),
            "end": _iso(self.end),
            "value": _round(self.value),
            "expected": _round(self.expected),
            "deviation": _round(self.deviation),
            "deviation_pct": None if pct is None else round(pct, 1),
            "score": round(self.score, 2),
            "severity": self.severity,
            "unit": self.unit,
            "message": self.message,
        }


@dataclass(frozen=True)
class _Fit:
    """Expected value of each point and its parts."""

    trend: np.ndarray
    seasonal: np.ndarray

    @property
    def expected(self) -> np.ndarray:
        """Trend + seasonal term."""
        return self.trend + self.seasonal


# --- helpers ----------------------------------------------------------------------------------


def _iso(moment: pd.Timestamp | None) -> str | None:
    """ISO 8601 of a timestamp (a plain date at midnight)."""
    if moment is None:
        return None
    stamp = pd.Timestamp(moment)
    if stamp == stamp.normalize() and stamp.tzinfo is None:
        return stamp.date().isoformat()
    return stamp.isoformat()


def _round(value: float) -> float | None:
    """Round to 4 decimals; non-finite values become ``None``."""
    return round(float(value), 4) if math.isfinite(value) else None


def series_frequency(index: pd.DatetimeIndex) -> Frequency:
    """Return the frequency of a sorted index from its median spacing.

    Args:
        index: Sorted timestamps.

    Returns:
        ``hourly``, ``daily``, ``weekly``, ``monthly`` or ``irregular``.
    """
    if len(index) < 2:
        return "irregular"
    spacing_days = float(np.median(np.diff(index.asi8))) / 86_400e9
    if 0.9 / 24 <= spacing_days <= 1.1 / 24:
        return "hourly"
    if 0.9 <= spacing_days <= 1.1:
        return "daily"
    if 6.5 <= spacing_days <= 7.5:
        return "weekly"
    if 27.5 <= spacing_days <= 31.5:
        return "monthly"
    return "irregular"


def _is_regular(index: pd.DatetimeIndex, frequency: Frequency) -> bool:
    """Whether the index has no gap (every step one hour, day, week or calendar month)."""
    if frequency == "monthly":
        months = index.year * 12 + index.month
        return bool(np.all(np.diff(months) == 1))
    step = {"hourly": 3600e9, "daily": 86_400e9, "weekly": 7 * 86_400e9}.get(frequency)
    return step is not None and bool(np.all(np.diff(index.asi8) == step))


def resolve_period(
    index: pd.DatetimeIndex, period: int | Literal["auto"] | None, config: AnomalyConfig
) -> int | None:
    """Return the seasonal period used for a series, or ``None`` for no seasonal term.

    ``"auto"`` takes the configured period of the index's frequency, and none when the index
    has gaps (positions would not follow the calendar). A period needs two full periods of data.

    Args:
        index: Sorted timestamps of the series.
        period: An explicit period, ``None``, or ``"auto"``.
        config: The detector's config.

    Returns:
        The period (>= 2) or ``None``.
    """
    if period == "auto":
        frequency = series_frequency(index)
        period = config.periods.get(frequency)
        if period is not None and not _is_regular(index, frequency):
            period = None
    if period is None or period < 2 or len(index) < 2 * period:
        return None
    return int(period)


def _decompose(values: np.ndarray, period: int | None, config: AnomalyConfig) -> _Fit:
    """Fit robust STL (with a period) or a robust LOWESS trend (without)."""
    if period is not None:
        trend = None
        if config.trend_periods > 0:
            trend = max(math.ceil(config.trend_periods * period), period + 1)
            trend += 1 - trend % 2
        result = STL(
            values,
            period=period,
            seasonal=config.seasonal_smoother,
            trend=trend,
            robust=True,
        ).fit()
        return _Fit(np.asarray(result.trend, float), np.asarray(result.seasonal, float))
    n = len(values)
    frac = min(1.0, max(config.trend_points / n, 3.0 / n))
    trend = lowess(values, np.arange(n, dtype=float), frac=frac, it=3, return_sorted=False)
    trend = np.asarray(trend, float)
    if not np.all(np.isfinite(trend)):  # LOWESS gives NaN on degenerate windows
        trend = np.full(n, float(np.median(values)))
    return _Fit(trend, np.zeros(n))


def robust_scale(values: np.ndarray) -> float | None:
    """Return the robust standard deviation of ``values``, or ``None`` when they do not vary.

    The normal-consistent MAD; when it is 0 (more than half the values equal the median) the
    normal-consistent mean absolute deviation around the median.

    Args:
        values: Residuals or differences.

    Returns:
        A positive scale, or ``None``.
    """
    if len(values) == 0:
        return None
    floor = 1e-9 * max(1.0, float(np.max(np.abs(values))))
    scale = float(median_abs_deviation(values, scale="normal"))
    if scale > floor:
        return scale
    scale = MEAN_ABS_DEV_TO_SD * float(np.mean(np.abs(values - np.median(values))))
    return scale if scale > floor else None


def noise_scales(
    values: np.ndarray, period: int | None, config: AnomalyConfig
) -> np.ndarray | None:
    """Return the local noise scale of each point of a series.

    The robust standard deviation of the differences at the seasonal lag (lag 1 without a
    season) divided by sqrt(2): a difference holds two noises, a seasonal difference has no
    seasonal term to estimate, and a trend or a level shift barely moves its median absolute
    deviation. It is measured over the ``local_scale_points`` differences around each point
    (the whole series when 0 or when the series is shorter) and floored at
    ``local_scale_floor`` x the whole series' scale.

    Args:
        values: The series.
        period: Seasonal period, or ``None``.
        config: The detector's config.

    Returns:
        One positive scale per point, or ``None`` when the series does not vary.
    """
    n = len(values)
    lag = period if period is not None and n > 2 * period else 1
    differences = values[lag:] - values[:-lag]
    overall = robust_scale(differences)
    if overall is None:
        return None
    overall /= math.sqrt(2)
    window = config.local_scale_points
    if window <= 0 or len(differences) <= window:
        return np.full(n, overall)
    half = window // 2
    padded = np.pad(differences, half, mode="reflect")
    local = median_abs_deviation(
        sliding_window_view(padded, 2 * half + 1), axis=1, scale="normal"
    ) / math.sqrt(2)
    # Point i gets the differences centred on it (difference j spans points j .. j + lag).
    centre = np.clip(np.arange(n) - lag // 2, 0, len(local) - 1)
    return np.maximum(local[centre], config.local_scale_floor * overall)


# --- formatting -------------------------------------------------------------------------------


def _fmt_number(value: float) -> str:
    """A number with a precision that suits its size."""
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10 or float(value).is_integer():
        return f"{value:.0f}"
    if size >= 1:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_value(value: float, unit: str | None) -> str:
    """Format a metric value for a message (``$``, ``%`` or a plain number)."""
    if unit == "usd":
        return f"${value:,.0f}" if abs(value) >= 100 else f"${value:,.2f}"
    if unit == "ratio":
        return f"{100 * value:.1f} %"
    return _fmt_number(value)


def format_when(moment: pd.Timestamp, frequency: Frequency) -> str:
    """Format a timestamp at the series' frequency (month, week, day or hour)."""
    if frequency == "monthly":
        return moment.strftime("%Y-%m")
    if frequency == "weekly":
        return f"the week of {moment.strftime('%Y-%m-%d')}"
    if frequency == "hourly":
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.strftime("%Y-%m-%d")


def _pct_text(value: float, expected: float) -> str:
    """`` (+154 %)`` or an empty string when the expected value is 0."""
    if expected == 0:
        return ""
    return f" ({100 * (value - expected) / abs(expected):+.0f} %)"


def _point_message(label: str, when: str, value: float, expected: float, unit: str | None) -> str:
    """Message of a spike or dip."""
    return (
        f"{label} on {when}: {format_value(value, unit)} vs "
        f"{format_value(expected, unit)} expected{_pct_text(value, expected)}"
    )


def _shift_message(
    label: str,
    when: str,
    until: str | None,
    value: float,
    expected: float,
    unit: str | None,
) -> str:
    """Message of a level shift."""
    direction = "up" if value > expected else "down"
    span = f" (until {until})" if until else ""
    return (
        f"{label} shifted {direction} from {when}{span}: {format_value(value, unit)} vs "
        f"{format_value(expected, unit)} before{_pct_text(value, expected)}"
    )


# --- detection --------------------------------------------------------------------------------


def _clean_series(series: pd.Series) -> pd.Series:
    """Return the finite values as floats on a sorted, duplicate-free DatetimeIndex."""
    if not isinstance(series.index, pd.DatetimeIndex):
        raise TypeError(f"the series needs a DatetimeIndex, got {type(series.index).__name__}")
    values = pd.to_numeric(series, errors="coerce").astype(float)
    values = values[np.isfinite(values.to_numpy())]
    values = values[~values.index.isna()]
    if values.index.has_duplicates:
        values = values.groupby(level=0).sum()
    return values.sort_index()


@dataclass(frozen=True)
class _Shift:
    """A kept change point: position, levels before and after, and its size in noise scales."""

    position: int
    before: float
    after: float
    score: float


@dataclass(frozen=True)
class _StepFit:
    """A change point's levels before and after, its step allowing for a trend, and the noise."""

    before: float
    after: float
    trend_step: float
    noise: float | None

    def score(self, floor: float) -> float:
        """Size of the step in noise scales (the smaller of the two step estimates).

        The noise is that of the fit's residuals on both sides (so neither the step nor a
        busier stretch elsewhere inflates it), never below ``floor`` (the series' scale).
        """
        noise = max(self.noise or 0.0, floor)
        return min(abs(self.after - self.before), abs(self.trend_step)) / noise


def _step(signal: np.ndarray, bounds: list[int], i: int, window: int) -> _StepFit:
    """Measure change point ``bounds[i]`` on up to ``window`` points on each side.

    The windows are bounded by the neighbouring change points. They give the median level
    before and after, and a least-squares fit of ``level + slope * (t - b) + step * (t >= b)``
    whose common slope keeps a steady rise or fall from being taken for a step; the robust
    scale of that fit's residuals is the local noise.
    """
    position = bounds[i]
    start = max(bounds[i - 1], position - window)
    stop = min(bounds[i + 1], position + window)
    left, right = signal[start:position], signal[position:stop]
    t = np.arange(start, stop, dtype=float) - position
    design = np.column_stack([np.ones_like(t), t, (t >= 0).astype(float)])
    coefficients, *_ = np.linalg.lstsq(design, signal[start:stop], rcond=None)
    noise = robust_scale(signal[start:stop] - design @ coefficients)
    return _StepFit(float(np.median(left)), float(np.median(right)), float(coefficients[2]), noise)


def _despike(
    base: _Fit, values: np.ndarray, scales: np.ndarray, config: AnomalyConfig
) -> np.ndarray:
    """Return the deseasonalised series with its spikes replaced by the rolling median.

    A spike is more than ``threshold`` scales away from the rolling median of
    ``2 * shift_min_size + 1`` points, which follows a step at once (the points next to a level
    shift are not spikes); within ``shift_min_size`` points of either end, where the centred
    median lags behind a steady rise, it must also be that far from the first fit's trend.
    """
    deseasonalised = values - base.seasonal
    median = (
        pd.Series(deseasonalised)
        .rolling(2 * config.shift_min_size + 1, center=True, min_periods=1)
        .median()
        .to_numpy()
    )
    limit = config.threshold * scales
    spikes = np.abs(deseasonalised - median) > limit
    # Within half a window of either end the centred median is one-sided: a point there is a
    # spike only when it is also far from the trend.
    edge = np.zeros(len(values), dtype=bool)
    edge[: config.shift_min_size] = edge[-config.shift_min_size :] = True
    spikes &= ~edge | (np.abs(deseasonalised - base.trend) > limit)
    return np.where(spikes, median, deseasonalised)


def _level_shifts(signal: np.ndarray, scales: np.ndarray, config: AnomalyConfig) -> list[_Shift]:
    """Return the level shifts of a despiked, deseasonalised series (module docstring, step 3)."""
    n = len(signal)
    min_size = config.shift_min_size
    if n < 2 * min_size:
        return []
    sigma = float(np.median(scales))
    floor = float(np.min(scales))  # the whole series' scale (local scales only widen it)
    penalty = config.shift_penalty * sigma**2 * math.log(n)
    algo = rpt.KernelCPD(kernel="linear", min_size=min_size, jump=1).fit(signal)
    bounds = [0, *(int(b) for b in algo.predict(pen=penalty))]
    # Backward elimination: drop the weakest change point until every one left moves the
    # level by at least shift_threshold local noise scales (its neighbours bound its windows).
    while len(bounds) > 2:
        scores = []
        for i in range(1, len(bounds) - 1):
            scores.append(_step(signal, bounds, i, config.shift_window).score(floor))
        weakest = int(np.argmin(scores))
        if scores[weakest] >= config.shift_threshold:
            break
        del bounds[weakest + 1]
    shifts: list[_Shift] = []
    for i in range(1, len(bounds) - 1):
        step = _step(signal, bounds, i, config.shift_window)
        shifts.append(_Shift(bounds[i], step.before, step.after, step.score(floor)))
    return shifts


def _offsets(n: int, shifts: list[_Shift]) -> np.ndarray:
    """Piecewise-constant level of each point relative to the first segment."""
    offset = np.zeros(n)
    for shift in shifts:
        offset[shift.position :] += shift.after - shift.before
    return offset


def _severity(score: float, config: AnomalyConfig) -> str:
    """``high`` at or above ``high_severity`` noise scales, else ``medium``."""
    return "high" if score >= config.high_severity else "medium"


def detect_anomalies(
    series: pd.Series,
    *,
    period: int | Literal["auto"] | None = "auto",
    config: AnomalyConfig | None = None,
    metric: str | None = None,
    label: str | None = None,
    unit: str | None = None,
) -> list[Anomaly]:
    """Return the spikes, dips and level shifts of one metric, oldest first.

    Args:
        series: Values on a :class:`~pandas.DatetimeIndex` (missing and non-finite values are
            dropped; duplicate timestamps are summed).
        period: Seasonal period in points, ``None`` for no seasonal term, or ``"auto"`` (the
            configured period of the series' frequency, none when the index has gaps). A
            series shorter than two periods gets no seasonal term.
        config: Thresholds; defaults to :func:`load_anomaly_config`.
        metric: Metric key; defaults to the series' name.
        label: Readable name used in messages; defaults to the metric key.
        unit: ``count``, ``usd``, ``ratio``, ``score`` or ``None`` (number formatting).

    Returns:
        The anomalies sorted by time (a shift before the spikes and dips of its first point).
        A series shorter than ``min_points`` or without variation gives ``[]``.

    Raises:
        TypeError: When the index is not a DatetimeIndex.
    """
    config = config or load_anomaly_config()
    metric = metric or (str(series.name) if series.name is not None else "value")
    label = label or metric
    clean = _clean_series(series)
    n = len(clean)
    if n < config.min_points:
        return []
    index = pd.DatetimeIndex(clean.index)
    values = clean.to_numpy(dtype=float)
    seasonal_period = resolve_period(index, period, config)
    frequency = series_frequency(index)

    base = _decompose(values, seasonal_period, config)
    scales = noise_scales(values, seasonal_period, config)
    if scales is None:
        return []
    despiked = _despike(base, values, scales, config)
    shifts = _level_shifts(despiked, scales, config)
    offset = _offsets(n, shifts)
    # The expected values: STL/LOWESS again, on the despiked series without its level shifts
    # (a spike or a step then moves the fit only where it is).
    fit = _decompose(despiked + base.seasonal - offset, seasonal_period, config)
    expected = fit.expected + offset
    residual = values - expected

    anomalies: list[Anomaly] = []
    for i, shift in enumerate(shifts):
        last = shifts[i + 1].position - 1 if i + 1 < len(shifts) else n - 1
        until = format_when(index[last], frequency) if last < n - 1 else None
        anomalies.append(
            Anomaly(
                metric=metric,
                kind="level_shift",
                timestamp=index[shift.position],
                end=index[last],
                value=shift.after,
                expected=shift.before,
                score=shift.score,
                severity=_severity(shift.score, config),
                message=_shift_message(
                    label,
                    format_when(index[shift.position], frequency),
                    until,
                    shift.after,
                    shift.before,
                    unit,
                ),
                label=label,
                unit=unit,
            )
        )
    scores = np.abs(residual) / scales
    relative = np.abs(residual) >= config.min_relative_change * np.abs(expected)
    for position in np.flatnonzero((scores >= config.threshold) & relative):
        value, exp = float(values[position]), float(expected[position])
        score = float(scores[position])
        anomalies.append(
            Anomaly(
                metric=metric,
                kind="spike" if value > exp else "dip",
                timestamp=index[position],
                value=value,
                expected=exp,
                score=score,
                severity=_severity(score, config),
                message=_point_message(
                    label, format_when(index[position], frequency), value, exp, unit
                ),
                label=label,
                unit=unit,
            )
        )
    anomalies.sort(key=lambda a: (a.timestamp, a.kind != "level_shift"))
    return anomalies


def sort_by_recency(anomalies: list[Anomaly]) -> list[Anomaly]:
    """Return anomalies newest first, the most severe first among those of the same time."""
    return sorted(anomalies, key=lambda a: (-pd.Timestamp(a.timestamp).value, -a.score))


def find_crm_anomalies(
    database_url: str,
    days: int = 90,
    config: AnomalyConfig | None = None,
    *,
    end: dt.datetime | None = None,
) -> list[Anomaly]:
    """Return the anomalies of every CRM metric of the platform database, newest first.

    The metrics are those of :func:`monitoring.anomaly_series.crm_metric_series` (activity
    volume and AI cost per team, open pipeline value, weekly win rate, daily mean lead score
    and share of hot leads) over the last ``days`` complete days.

    Args:
        database_url: SQLAlchemy URL of the platform database (SQLite or PostgreSQL).
        days: Days of history analysed (the detector needs ``min_points`` points per metric).
        config: Thresholds; defaults to :func:`load_anomaly_config`.
        end: End of the window (exclusive); defaults to the start of the current UTC day.

    Returns:
        Anomalies sorted by recency, then severity; ``[]`` for an empty database.
    """
    config = config or load_anomaly_config()
    series = crm_metric_series(
        database_url,
        days=days,
        end=end,
        min_closed_deals=config.min_closed_deals,
        hot_score=config.hot_score,
    )
    found: list[Anomaly] = []
    for key, values in series.items():
        info = metric_info(key)
        found.extend(
            detect_anomalies(values, config=config, metric=key, label=info.label, unit=info.unit)
        )
    return sort_by_recency(found)


__all__ = [
    "KINDS",
    "Anomaly",
    "AnomalyConfig",
    "detect_anomalies",
    "find_crm_anomalies",
    "format_value",
    "load_anomaly_config",
    "resolve_period",
    "robust_scale",
    "series_frequency",
    "sort_by_recency",
]
