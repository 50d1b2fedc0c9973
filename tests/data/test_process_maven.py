"""Process optimisation on the real Maven CRM pipeline: funnel figures and ranked bottlenecks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from insights.process import ProcessReport, analyse_maven_process
from insights.process_suggestions import format_money


@pytest.fixture(scope="module")
def report(datasets_dir: Path) -> ProcessReport:
    return analyse_maven_process(datasets_dir, top=10)


def test_funnel_matches_provenance(report: ProcessReport) -> None:
    funnel = report.funnel
    assert funnel["stages"] == {"Prospecting": 500, "Engaging": 1589, "Won": 4238, "Lost": 2473}
    assert funnel["closed"] == 6711
    assert funnel["win_rate"] == pytest.approx(4238 / 6711)  # 63.2 %
    low, high = funnel["win_rate_ci"]
    assert 0.615 < low < 4238 / 6711 < high < 0.648
    assert funnel["won_revenue"] == 10_005_534
    assert funnel["prospecting_to_engaging"] == pytest.approx(8300 / 8800)
    assert funnel["snapshot_date"] == "2017-12-31"


def test_time_in_engaging_counts_open_deals(report: ProcessReport) -> None:
    cycle = report.funnel["cycle"]
    assert cycle["median_closed"] == 45 and cycle["p75_closed"] == 85
    assert cycle["longest_closed"] == 138
    # Open deals (median age 165 days) are censored, not dropped: the median moves to ~69 days.
    assert 60 <= cycle["median_km"] <= 80 and cycle["p75_km"] > cycle["p75_closed"]
    assert 1200 <= report.funnel["stalled_engaging"] <= 1400


def test_tables_cover_every_deal_once(report: ProcessReport) -> None:
    assert set(report.tables) == {"product", "sales_agent", "manager", "regional_office", "sector"}
    for table in report.tables.values():
        assert table["deals"].sum() == 8800 and table["won"].sum() == 4238
    products = report.tables["product"]["segment"].tolist()
    assert "GTX Pro" in products and "GTXPro" not in products
    assert len(report.tables["sales_agent"]) == 30
    assert not report.tables["product"].set_index("segment").loc["GTK 500", "tested"]  # 25 closed


def test_bottlenecks_are_ranked_by_positive_finite_impact(report: ProcessReport) -> None:
    impacts = [b.impact for b in report.bottlenecks]
    assert 5 <= len(impacts) <= 10
    assert impacts == sorted(impacts, reverse=True)
    assert all(math.isfinite(i) and i > 0 for i in impacts)
    top = report.bottlenecks[0]
    assert (top.kind, top.segment) == ("win_rate", "MG Advanced")
    assert top.impact == pytest.approx(103_500, rel=0.02)
    assert {b.kind for b in report.bottlenecks} == {"win_rate", "cycle"}


def test_win_rate_impacts_follow_their_formula(report: ProcessReport) -> None:
    overall = report.funnel["win_rate"]
    for b in (b for b in report.bottlenecks if b.kind == "win_rate"):
        row = report.tables[b.dimension].set_index("segment").loc[b.segment]
        assert row["tested"] and row["closed"] >= report.min_deals
        assert b.value < overall and b.p_value < 0.05
        expected = (overall - row["win_rate"]) * row["closed"] * row["mean_won_value"]
        assert b.impact == pytest.approx(expected)
        assert b.peer and b.peer != b.segment


def test_each_suggestion_names_its_numbers(report: ProcessReport) -> None:
    for b in report.bottlenecks:
        assert b.segment in b.suggestion and format_money(b.impact) in b.suggestion
        assert "Action:" in b.suggestion and b.formula.endswith(f"${b.impact:,.2f}")
        if b.kind == "win_rate":
            assert f"{100 * b.value:.1f} %" in b.suggestion and "95 % CI" in b.suggestion
        else:
            assert f"{b.value:g} days" in b.suggestion and "log-rank" in b.suggestion
    json.dumps(report.to_dict(), allow_nan=False)
