"""Score-gaming detectors on known sequences: what must flag, what must not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.gaming_rules import (
    GamingConfig,
    detect_bot_timing,
    detect_bursts,
    detect_gaming,
    detect_scanner,
    detect_zero_dwell,
    load_gaming_config,
    suspicious_ids,
)

T0 = pd.Timestamp("2026-03-02 09:00:00")
CONFIG = GamingConfig()


def log(rows: list[tuple]) -> pd.DataFrame:
    """Build a log from ``(seconds after T0, kind, source, page, duration)`` rows."""
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(rows))],
            "contact_id": "c1",
            "kind": [r[1] for r in rows],
            "occurred_at": [T0 + pd.Timedelta(seconds=r[0]) for r in rows],
            "source": [r[2] if len(r) > 2 else None for r in rows],
            "page": [r[3] if len(r) > 3 else None for r in rows],
            "duration_s": [r[4] if len(r) > 4 else np.nan for r in rows],
            "duration_recorded": [len(r) > 3 for r in rows],
        }
    )


# --- bursts ------------------------------------------------------------------------------------


def test_one_source_burst_flags_with_its_evidence() -> None:
    rows = [(i * 7.0, "open" if i % 3 else "click", "promo") for i in range(6)]
    rows.append((5 * 86_400.0, "open", "newsletter"))  # days later: not part of it
    flag = detect_bursts(log(rows), CONFIG)
    assert flag is not None and flag.kind == "burst"
    assert set(flag.event_ids) == {f"e{i}" for i in range(6)}
    assert flag.evidence["largest_burst"] == 6
    assert flag.evidence["largest_span_s"] == 35.0
    assert flag.evidence["top_source"] == "promo"
    assert flag.evidence["top_source_events"] == 6
    assert flag.evidence["opens"] + flag.evidence["clicks"] == 6


def test_a_human_inbox_session_over_several_campaigns_is_not_a_burst() -> None:
    # 4 campaigns opened within 3 minutes, one reopened, two clicked: 7 events, <= 2 per source
    rows = [
        (0, "open", "a"), (20, "click", "a"), (45, "open", "b"), (70, "open", "b"),
        (95, "open", "c"), (130, "click", "c"), (170, "open", "d"),
    ]  # fmt: skip
    assert detect_bursts(log(rows), CONFIG) is None


def test_many_events_of_many_sources_are_a_burst() -> None:
    rows = [(i * 10.0, "click", f"s{i % 4}") for i in range(CONFIG.burst_min_events)]
    flag = detect_bursts(log(rows), CONFIG)
    assert flag is not None and len(flag.event_ids) == CONFIG.burst_min_events


def test_streamed_events_without_source_need_the_any_source_bar() -> None:
    few = [(i * 5.0, "open") for i in range(CONFIG.burst_min_events - 1)]
    assert detect_bursts(log(few), CONFIG) is None
    many = [(i * 5.0, "open") for i in range(CONFIG.burst_min_events)]
    flag = detect_bursts(log(many), CONFIG)
    assert flag is not None and flag.evidence["top_source"] == "unknown"


def test_the_same_events_spread_over_hours_are_no_burst() -> None:
    rows = [(i * 1800.0, "open", "promo") for i in range(10)]
    assert detect_bursts(log(rows), CONFIG) is None


# --- bot timing ----------------------------------------------------------------------------------


def test_regular_intervals_flag_with_a_low_cv() -> None:
    rng = np.random.default_rng(0)
    rows = [
        (i * 30.0 + rng.uniform(-0.5, 0.5), "page_view", None, "/pricing", 25.0) for i in range(10)
    ]
    flag = detect_bot_timing(log(rows), CONFIG)
    assert flag is not None and flag.kind == "bot_timing"
    assert len(flag.event_ids) == 10
    assert flag.evidence["lowest_interval_cv"] < 0.05
    assert flag.evidence["median_interval_s"] == pytest.approx(30.0, abs=1.0)


def test_sub_second_intervals_flag() -> None:
    rows = [(0.0, "click", "a"), (0.3, "click", "a"), (0.5, "click", "a"), (0.9, "click", "a")]
    flag = detect_bot_timing(log(rows), CONFIG)
    assert flag is not None and flag.evidence["subsecond_intervals"] == 3


def test_human_irregular_browsing_is_not_bot_timing() -> None:
    rng = np.random.default_rng(1)
    t = np.cumsum(np.exp(rng.normal(3.6, 0.8, 20)) + 2.0)
    rows = [(float(x), "page_view", None, "/blog", 30.0) for x in t]
    assert detect_bot_timing(log(rows), CONFIG) is None


def test_weekly_sends_are_not_engagement() -> None:
    rows = [(i * 7 * 86_400.0, "sent", "promo") for i in range(12)]
    assert detect_bot_timing(log(rows), CONFIG) is None


# --- page views without time on page ----------------------------------------------------------


def test_zero_dwell_views_flag_with_missing_durations_counted() -> None:
    rows = [(i * 3600.0, "page_view", None, "/pricing", 0.0) for i in range(4)]
    rows += [(10_000.0 + i, "page_view", None, "/demo", np.nan) for i in range(2)]
    rows += [(20_000.0, "page_view", None, "/blog", 45.0)]
    flag = detect_zero_dwell(log(rows), CONFIG)
    assert flag is not None and flag.kind == "zero_dwell"
    assert flag.evidence["events"] == 6 and flag.evidence["page_views"] == 7
    assert flag.evidence["missing_duration"] == 2
    assert flag.evidence["top_pages"]["/pricing"] == 4


def test_last_page_of_each_visit_without_time_is_not_flagged() -> None:
    rows = []
    for visit in range(6):  # 6 visits of 4 pages, the last page without a recorded time
        for page in range(4):
            rows.append(
                (visit * 86_400.0 + page * 60, "page_view", None, "/x", 0.0 if page == 3 else 40.0)
            )
    assert detect_zero_dwell(log(rows), CONFIG) is None


def test_streamed_views_without_duration_are_unknown_not_zero() -> None:
    frame = log([(i * 60.0, "page_view", None, "/pricing", np.nan) for i in range(8)])
    frame["duration_recorded"] = False
    assert detect_zero_dwell(frame, CONFIG) is None


# --- mail scanners -------------------------------------------------------------------------------


def test_opens_seconds_after_their_send_flag() -> None:
    rows = [
        (0, "sent", "a"), (2.5, "open", "a"), (4.0, "click", "a"),
        (7 * 86_400, "sent", "b"), (7 * 86_400 + 3, "open", "b"),
        (14 * 86_400, "sent", "c"), (14 * 86_400 + 5400, "open", "c"),
    ]  # fmt: skip
    flag = detect_scanner(log(rows), CONFIG)
    assert flag is not None and flag.kind == "scanner"
    assert set(flag.event_ids) == {"e1", "e2", "e4"}  # the hour-later open is a person
    assert flag.evidence["opens"] == 2 and flag.evidence["clicks"] == 1
    assert flag.evidence["max_delay_s"] <= CONFIG.scanner_s


def test_a_fast_reader_a_minute_after_the_send_is_not_a_scanner() -> None:
    rows = [(i * 86_400.0, "sent", f"s{i}") for i in range(5)]
    rows += [(i * 86_400.0 + 61, "open", f"s{i}") for i in range(5)]
    assert detect_scanner(log(rows), CONFIG) is None


def test_no_sends_no_scanner_flag() -> None:
    assert detect_scanner(log([(0, "open", "a"), (1, "open", "a")]), CONFIG) is None


# --- together ---------------------------------------------------------------------------------


def test_detect_gaming_reports_kinds_in_order_and_distinct_ids() -> None:
    rows = [(i * 0.4, "click", "promo") for i in range(8)]  # a burst with sub-second gaps
    flags = detect_gaming(log(rows), CONFIG)
    assert [f.kind for f in flags] == ["burst", "bot_timing"]
    assert sorted(suspicious_ids(flags)) == sorted(f"e{i}" for i in range(8))
    assert detect_gaming(log([(0, "open", "a")]), CONFIG) == []


def test_config_section_is_read_and_validated(tmp_path) -> None:
    assert load_gaming_config().model_name == "lead_scoring_crm"
    path = tmp_path / "monitoring.yaml"
    path.write_text("gaming:\n  burst_min_events: 20\n", encoding="utf-8")
    assert load_gaming_config(path).burst_min_events == 20
    path.write_text("gaming:\n  unknown_key: 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown_key"):
        load_gaming_config(path)
