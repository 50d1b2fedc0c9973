"""Anomaly detection over time series: the detector, the injection, the CRM series and config."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from monitoring.anomalies import (
    Anomaly,
    AnomalyConfig,
    detect_anomalies,
    find_crm_anomalies,
    format_value,
    load_anomaly_config,
    resolve_period,
    series_frequency,
    sort_by_recency,
)
from monitoring.anomaly_injection import (
    InfeasibleInjection,
    InjectedAnomaly,
    inject_anomalies,
    match_detections,
    noise_scale,
)
from monitoring.anomaly_series import (
    NO_TEAM,
    bank_call_months,
    bank_monthly_contacts,
    crm_metric_series,
    metric_info,
    metric_key,
)
from tests.support.anomaly_seed import DAYS, END, SHIFT_DAY, SPIKE_DAY, seed_anomaly_crm

CONFIG = AnomalyConfig()


def seasonal_series(days: int = 180, seed: int = 0, noise: float = 4.0) -> pd.Series:
    """Weekly pattern + slow trend + Gaussian noise, daily from 2026-01-01."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    values = 60 + 0.05 * t + 12 * np.sin(2 * np.pi * t / 7) + rng.normal(0, noise, days)
    index = pd.date_range("2026-01-01", periods=days, freq="D")
    return pd.Series(values, index=index, name="activities")


def positions(series: pd.Series, found: list[Anomaly]) -> list[tuple[str, int]]:
    index = pd.DatetimeIndex(series.index)
    return [(a.kind, int(index.get_loc(a.timestamp))) for a in found]


# --- the detector on a synthetic seasonal series ----------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_a_spike_a_dip_and_a_level_shift_are_found_at_their_timestamps(seed: int) -> None:
    clean = seasonal_series(seed=seed)
    injected, labels = inject_anomalies(
        clean, ["spike", "dip", "level_shift"], size=6, rng=seed, period=7, gap=10
    )
    found = detect_anomalies(injected, config=CONFIG, metric="activities")
    counts = match_detections(positions(injected, found), labels, len(injected))
    for kind in ("spike", "dip", "level_shift"):
        assert counts[kind]["tp"] == 1, (kind, labels, found)
    by_kind = {a.kind: a for a in found}
    shift_label = next(label for label in labels if label.kind == "level_shift")
    shift = min(
        (a for a in found if a.kind == "level_shift"),
        key=lambda a: abs(a.timestamp - shift_label.timestamp),
    )
    assert abs((shift.timestamp - shift_label.timestamp).days) <= 2
    assert math.copysign(1, shift.value - shift.expected) == math.copysign(1, shift_label.delta)
    assert by_kind["spike"].value > by_kind["spike"].expected
    assert by_kind["dip"].value < by_kind["dip"].expected


def test_a_clean_seasonal_series_gives_few_anomalies() -> None:
    flagged = [
        len(detect_anomalies(seasonal_series(seed=seed), config=CONFIG)) for seed in range(20)
    ]
    # 20 series x 180 Gaussian days: about 1 false alarm per series at a 3-scale threshold.
    assert sum(flagged) / (20 * 180) < 0.01
    assert max(flagged) <= 4


def test_the_weekly_pattern_is_not_an_anomaly() -> None:
    clean = seasonal_series(noise=1.0)
    assert not [a for a in detect_anomalies(clean, config=CONFIG) if a.score > 4.5]


def test_a_steady_rise_is_not_a_level_shift() -> None:
    index = pd.date_range("2026-01-01", periods=90, freq="D")
    rng = np.random.default_rng(1)
    pipeline = pd.Series(100_000 + 5_000 * np.arange(90) + rng.normal(0, 1_000, 90), index=index)
    assert not [a for a in detect_anomalies(pipeline, config=CONFIG) if a.kind == "level_shift"]


def test_a_spike_in_an_otherwise_constant_series_is_found() -> None:
    index = pd.date_range("2026-01-01", periods=40, freq="D")
    series = pd.Series(5.0, index=index)
    series.iloc[25] = 50.0
    found = detect_anomalies(series, config=CONFIG)
    assert [(a.kind, a.timestamp) for a in found] == [("spike", index[25])]


# --- degenerate series -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        [5.0] * 60,
        [0.0] * 60,
        [1.0, 2.0, 3.0],
        [7.0],
        [],
        list(range(10)),
        [np.nan] * 30,
        [np.inf, *[1.0] * 40],
    ],
    ids=["constant", "zeros", "three", "one", "empty", "ten", "all-nan", "inf"],
)
def test_constant_short_and_empty_series_do_not_crash(values: list[float]) -> None:
    index = pd.date_range("2026-01-01", periods=len(values), freq="D")
    assert detect_anomalies(pd.Series(values, index=index, dtype=float), config=CONFIG) == []


def test_a_series_shorter_than_two_periods_has_no_seasonal_term() -> None:
    index = pd.date_range("2026-01-01", periods=12, freq="D")
    assert resolve_period(index, "auto", CONFIG) is None
    assert resolve_period(pd.date_range("2026-01-01", periods=14, freq="D"), "auto", CONFIG) == 7
    values = pd.Series([10.0, 11, 9, 10, 12, 10, 9, 11, 10, 60, 10, 11], index=index)
    found = detect_anomalies(values, config=CONFIG)
    assert [(a.kind, a.timestamp) for a in found] == [("spike", index[9])]


def test_gaps_and_frequencies_set_the_period() -> None:
    months = pd.date_range("2008-05-01", periods=30, freq="MS")
    assert series_frequency(months) == "monthly"
    assert resolve_period(months, "auto", CONFIG) == 12
    assert resolve_period(months.delete(4), "auto", CONFIG) is None  # a missing month
    weeks = pd.date_range("2026-01-05", periods=30, freq="W-MON")
    assert series_frequency(weeks) == "weekly"
    assert resolve_period(weeks, "auto", CONFIG) is None
    assert resolve_period(weeks, 4, CONFIG) == 4
    assert resolve_period(weeks, None, CONFIG) is None


def test_unsorted_duplicated_and_tz_aware_indexes_are_accepted() -> None:
    clean = seasonal_series(days=60)
    shuffled = clean.sample(frac=1.0, random_state=1)
    assert [a.timestamp for a in detect_anomalies(shuffled, config=CONFIG)] == [
        a.timestamp for a in detect_anomalies(clean, config=CONFIG)
    ]
    aware = clean.tz_localize("UTC")
    aware.iloc[30] += 80
    assert any(a.kind == "spike" for a in detect_anomalies(aware, config=CONFIG))
    duplicated = pd.concat([clean.iloc[:5], clean.iloc[:5]])
    detect_anomalies(duplicated, config=CONFIG)
    with pytest.raises(TypeError):
        detect_anomalies(pd.Series([1.0, 2.0]), config=CONFIG)


# --- messages and JSON -------------------------------------------------------------------------


def test_messages_carry_the_numbers() -> None:
    index = pd.date_range("2017-04-01", periods=60, freq="D")
    rng = np.random.default_rng(5)
    series = pd.Series(24 + rng.normal(0, 2, 60).round(), index=index)
    series.loc["2017-05-03"] = 61
    found = detect_anomalies(series, config=CONFIG, label="Deals engaged", unit="count")
    spike = next(a for a in found if a.timestamp == pd.Timestamp("2017-05-03"))
    pct = 100 * (61 - spike.expected) / spike.expected
    assert spike.message == (
        f"Deals engaged on 2017-05-03: 61 vs {spike.expected:.0f} expected ({pct:+.0f} %)"
    )
    assert re.fullmatch(
        r"Deals engaged on 2017-05-03: 61 vs 2\d expected \(\+\d+ %\)", spike.message
    )
    assert spike.severity == "high" and spike.score >= CONFIG.high_severity


def test_level_shift_messages_and_units() -> None:
    index = pd.date_range("2026-03-01", periods=60, freq="D")
    rng = np.random.default_rng(2)
    cost = np.r_[np.full(30, 1.0), np.full(30, 2.0)] + rng.normal(0, 0.05, 60)
    found = detect_anomalies(
        pd.Series(cost, index=index), config=CONFIG, label="AI cost (SMB Growth)", unit="usd"
    )
    shift = next(a for a in found if a.kind == "level_shift")
    assert shift.timestamp == index[30]
    assert shift.end == index[-1]
    assert re.fullmatch(
        r"AI cost \(SMB Growth\) shifted up from 2026-03-31: \$2\.\d\d vs \$1\.\d\d before "
        r"\(\+\d+ %\)",
        shift.message,
    )
    assert format_value(0.4123, "ratio") == "41.2 %"
    assert format_value(1_548_005.2, "usd") == "$1,548,005"
    assert format_value(3.25, "usd") == "$3.25"
    assert format_value(7.0, "count") == "7"


def test_to_dict_is_json_ready() -> None:
    series = seasonal_series()
    series.iloc[100] += 60
    payload = [a.to_dict() for a in detect_anomalies(series, config=CONFIG, metric="m")]
    assert payload
    text = json.dumps(payload)
    spike = next(p for p in json.loads(text) if p["timestamp"] == "2026-04-11")
    assert spike["kind"] == "spike"
    assert spike["metric"] == "m"
    assert set(spike) >= {"value", "expected", "deviation", "deviation_pct", "score", "message"}
    assert spike["end"] is None


def test_sort_by_recency_then_severity() -> None:
    def anomaly(day: str, score: float) -> Anomaly:
        return Anomaly("m", "spike", pd.Timestamp(day), 2.0, 1.0, score, "medium", "")

    ordered = sort_by_recency(
        [anomaly("2026-01-01", 9), anomaly("2026-01-03", 3), anomaly("2026-01-03", 5)]
    )
    assert [(str(a.timestamp.date()), a.score) for a in ordered] == [
        ("2026-01-03", 5),
        ("2026-01-03", 3),
        ("2026-01-01", 9),
    ]


# --- config ------------------------------------------------------------------------------------


def test_the_config_section_is_read_from_monitoring_yaml() -> None:
    assert load_anomaly_config() == AnomalyConfig()


def test_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_text("anomalies:\n  threshold: 4\n  unknown: 1\n", encoding="utf-8")
    with pytest.raises(ValidationError):
        load_anomaly_config(path)
    path.write_text("anomalies:\n  seasonal_smoother: 8\n", encoding="utf-8")
    with pytest.raises(ValidationError):
        load_anomaly_config(path)
    path.write_text("anomalies:\n  shift_min_size: 10\n  shift_window: 5\n", encoding="utf-8")
    with pytest.raises(ValidationError):
        load_anomaly_config(path)
    path.write_text("streaming: {}\n", encoding="utf-8")
    assert load_anomaly_config(path) == AnomalyConfig()


# --- injection and matching --------------------------------------------------------------------


def test_injection_is_seeded_and_sized_in_noise_scales() -> None:
    clean = seasonal_series()
    sigma = noise_scale(clean, 7)
    first, labels = inject_anomalies(clean, ["spike", "dip"], size=3, rng=11, period=7)
    again, labels_again = inject_anomalies(clean, ["spike", "dip"], size=3, rng=11, period=7)
    pd.testing.assert_series_equal(first, again)
    assert labels == labels_again
    changed = np.flatnonzero(first.to_numpy() != clean.to_numpy())
    assert sorted(changed.tolist()) == sorted(label.position for label in labels)
    for label in labels:
        assert label.delta == pytest.approx((3 if label.kind == "spike" else -3) * sigma)
        assert label.timestamp == clean.index[label.position]


def test_level_shifts_last_at_least_two_periods_and_dips_stay_non_negative() -> None:
    clean = seasonal_series()
    for seed in range(20):
        shifted, (label,) = inject_anomalies(clean, "level_shift", size=5, rng=seed, period=7)
        assert label.end_position is not None
        length = label.end_position - label.position + 1
        assert length >= 14 or label.end_position == len(clean) - 1
        moved = np.flatnonzero(shifted.to_numpy() != clean.to_numpy())
        assert moved.min() == label.position and moved.max() == label.end_position
    counts = pd.Series([0.0, 1, 0, 2, 30, 31, 29, 30, 1, 0] * 5)
    sigma = noise_scale(counts)
    for seed in range(10):
        dipped, (label,) = inject_anomalies(counts, "dip", size=1, rng=seed, sigma=sigma)
        assert dipped.min() >= 0
    with pytest.raises(InfeasibleInjection):
        inject_anomalies(pd.Series([1.0, 2.0, 1.0, 2.0] * 5), "dip", size=10, rng=0)
    with pytest.raises(ValueError):
        inject_anomalies(counts, "trend", size=3, rng=0)


def test_match_detections_counts_per_kind() -> None:
    ts = pd.Timestamp("2026-01-01")
    labels = [
        InjectedAnomaly("spike", 10, ts, 3, 1.0),
        InjectedAnomaly("level_shift", 50, ts, 3, 1.0, end_position=69),
    ]
    detected = [
        ("spike", 11),  # found (within 1)
        ("dip", 30),  # a false alarm
        ("level_shift", 52),  # found (within 2)
        ("level_shift", 70),  # the return to the old level: neither right nor wrong
        ("spike", 90),  # already flagged on the clean series: ignored
    ]
    counts = match_detections(detected, labels, 100, ignore=[("spike", 90)])
    assert counts == {
        "spike": {"tp": 1, "fn": 0, "fp": 0},
        "dip": {"tp": 0, "fn": 0, "fp": 1},
        "level_shift": {"tp": 1, "fn": 0, "fp": 0},
    }
    assert match_detections([("spike", 13)], labels[:1], 100)["spike"] == {
        "tp": 0,
        "fn": 1,
        "fp": 1,
    }


# --- series builders ---------------------------------------------------------------------------


def test_bank_months_roll_over_the_year_when_the_month_goes_back() -> None:
    frame = pd.DataFrame({"month": ["may", "may", "jun", "dec", "mar", "mar", "nov", "apr"]})
    months = bank_call_months(frame)
    assert [m.strftime("%Y-%m") for m in months] == [
        "2008-05", "2008-05", "2008-06", "2008-12", "2009-03", "2009-03", "2009-11", "2010-04",
    ]  # fmt: skip
    series = bank_monthly_contacts(frame)
    assert series.to_dict() == {
        pd.Timestamp("2008-05-01"): 2.0,
        pd.Timestamp("2008-06-01"): 1.0,
        pd.Timestamp("2008-12-01"): 1.0,
        pd.Timestamp("2009-03-01"): 2.0,
        pd.Timestamp("2009-11-01"): 1.0,
        pd.Timestamp("2010-04-01"): 1.0,
    }
    with pytest.raises(ValueError, match="unknown month"):
        bank_call_months(pd.DataFrame({"month": ["may", "mai"]}))
    with pytest.raises(ValueError, match="first row"):
        bank_call_months(pd.DataFrame({"month": ["jun"]}))


def test_metric_keys_and_labels() -> None:
    key = metric_key("activity_volume", "Enterprise Sales")
    assert key == "activity_volume[Enterprise Sales]"
    info = metric_info(key)
    assert (info.base, info.group, info.label, info.unit) == (
        "activity_volume",
        "Enterprise Sales",
        "Activities (Enterprise Sales)",
        "count",
    )
    assert metric_info(metric_key("ai_cost_usd", NO_TEAM)).label == "AI cost (no team)"
    assert metric_info("win_rate").frequency == "weekly"
    assert metric_info("something_else").label == "something_else"


# --- CRM metrics from the database (SQLite here, PostgreSQL in the integration tests) ----------


def test_an_empty_database_gives_no_series_and_no_anomaly(db_url: str) -> None:
    assert crm_metric_series(db_url) == {}
    assert find_crm_anomalies(db_url) == []
    assert find_crm_anomalies(db_url, days=7, end=END) == []


def test_crm_metric_series_aggregate_the_database(db_url: str) -> None:
    seeded = seed_anomaly_crm(db_url)
    series = crm_metric_series(db_url, days=DAYS, end=END)
    assert set(series) == {
        "activity_volume[Enterprise Sales]",
        "activity_volume[SMB Growth]",
        f"activity_volume[{NO_TEAM}]",
        "open_pipeline_value",
        "win_rate",
        "lead_score_mean",
        "lead_score_hot_share",
        "ai_cost_usd[Enterprise Sales]",
        "ai_cost_usd[SMB Growth]",
    }
    first, last = pd.Timestamp(seeded["days"][0]), pd.Timestamp(seeded["days"][-1])
    for team in ("Enterprise Sales", "SMB Growth", None):
        volume = series[metric_key("activity_volume", team or NO_TEAM)]
        expected = {pd.Timestamp(day): float(n) for day, n in seeded["activities"][team].items()}
        # Zero-filled from the first day with an activity to the last complete day.
        start = min(day for day, n in expected.items() if n > 0)
        assert volume.index[0] == start and volume.index[-1] == last
        assert volume.to_dict() == {day: n for day, n in expected.items() if day >= start}
    cost = series["ai_cost_usd[SMB Growth]"]
    assert cost.index[0] == first
    assert cost.to_dict() == pytest.approx(
        {pd.Timestamp(day): float(c) for day, c in seeded["ai_cost"]["SMB Growth"].items()}
    )
    assert series["win_rate"].index.dayofweek.tolist() == [0] * len(series["win_rate"])
    assert series["win_rate"].between(0, 1).all()
    assert series["lead_score_mean"].between(30, 70).all()
    assert (series["open_pipeline_value"] > 0).all()


def test_find_crm_anomalies_reports_the_seeded_spike_and_shift(db_url: str) -> None:
    seed_anomaly_crm(db_url)
    found = find_crm_anomalies(db_url, days=DAYS, end=END)
    spike = [
        a for a in found if a.metric == "activity_volume[Enterprise Sales]" and a.kind == "spike"
    ]
    assert pd.Timestamp(SPIKE_DAY) in [a.timestamp for a in spike]
    top = next(a for a in spike if a.timestamp == pd.Timestamp(SPIKE_DAY))
    assert top.message.startswith(f"Activities (Enterprise Sales) on {SPIKE_DAY}: 90 vs ")
    shifts = [a for a in found if a.metric == "ai_cost_usd[SMB Growth]" and a.kind == "level_shift"]
    assert [a.timestamp for a in shifts] == [pd.Timestamp(SHIFT_DAY)]
    assert shifts[0].value == pytest.approx(2 * shifts[0].expected, rel=0.2)
    assert not [a for a in found if a.metric == "ai_cost_usd[Enterprise Sales]" and a.score > 4]
    stamps = [a.timestamp for a in found]
    assert stamps == sorted(stamps, reverse=True)
    json.dumps([a.to_dict() for a in found])


def test_the_window_ends_at_the_start_of_today_by_default(db_url: str) -> None:
    seed_anomaly_crm(db_url)
    # The seeded CRM ends on END (in the past): a 30-day window ending today holds only the
    # deals still open (a stock, flat since END), and no anomaly.
    today = dt.datetime.now(dt.UTC)
    if today - END > dt.timedelta(days=31):
        series = crm_metric_series(db_url, days=30)
        assert list(series) == ["open_pipeline_value"]
        pipeline = series["open_pipeline_value"]
        assert pipeline.index[-1] == pd.Timestamp(today.date()) - pd.Timedelta(days=1)
        assert pipeline.nunique() == 1
        assert find_crm_anomalies(db_url, days=30) == []
    with pytest.raises(ValueError):
        crm_metric_series(db_url, days=0)
