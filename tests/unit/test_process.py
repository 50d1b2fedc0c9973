"""Process optimisation on a hand-built pipeline whose funnel and bottlenecks are known."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from insights.process import analyse_process, plot_bottlenecks
from insights.process_funnel import UNKNOWN, compare_win_rate

BASE = pd.Timestamp("2017-01-01")
PRICE = 2000.0
WON_VALUE = 1000.0


def _deals(agent: str, won: int, lost: int, days: int, product: str = "GTX Pro") -> list[dict]:
    """Closed deals engaged on BASE and closed ``days`` later."""
    return [
        {
            "sales_agent": agent,
            "product": product,
            "account": "Acme",
            "deal_stage": "Won" if i < won else "Lost",
            "engage_date": BASE,
            "close_date": BASE + pd.Timedelta(days=days),
            "close_value": WON_VALUE if i < won else 0.0,
        }
        for i in range(won + lost)
    ]


def _pipeline() -> pd.DataFrame:
    """A: 72/100 won, B and D: 70/100, C: 30/100 (all in 10 days, D in 60 days).

    D also has 20 deals open for 100 days (longer than any closed deal); A has 20 prospects.
    Half the products are spelt "GTXPro" as in the source data.
    """
    rows = _deals("A", 72, 28, 10) + _deals("B", 70, 30, 10) + _deals("C", 30, 70, 10)
    rows += _deals("D", 70, 30, 60, product="GTXPro")
    rows += [
        {
            "sales_agent": "D",
            "product": "GTXPro",
            "account": "",
            "deal_stage": "Engaging",
            "engage_date": BASE - pd.Timedelta(days=40),
        }
        for _ in range(20)
    ]
    rows += [{"sales_agent": "A", "product": "GTX Pro", "deal_stage": "Prospecting"}] * 20
    frame = pd.DataFrame(rows)
    frame.insert(0, "opportunity_id", [f"OPP{i:04d}" for i in range(len(frame))])
    return frame


TEAMS = pd.DataFrame(
    {
        "sales_agent": ["A", "B", "C", "D"],
        "manager": ["M1", "M2", "M1", "M2"],
        "regional_office": ["East"] * 4,
    }
)
PRODUCTS = pd.DataFrame({"product": ["GTX Pro"], "series": ["GTX"], "sales_price": [PRICE]})
ACCOUNTS = pd.DataFrame({"account": ["Acme"], "sector": ["technolgy"]})


@pytest.fixture(scope="module")
def report():
    return analyse_process(_pipeline(), TEAMS, PRODUCTS, ACCOUNTS)


def _wilson(won: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = won / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_funnel_counts_conversion_and_time_in_stage(report) -> None:
    funnel = report.funnel
    assert funnel["stages"] == {"Prospecting": 20, "Engaging": 20, "Won": 242, "Lost": 158}
    assert funnel["prospecting_to_engaging"] == pytest.approx(420 / 440)
    assert funnel["engaging_to_closed"] == pytest.approx(400 / 420)
    assert funnel["win_rate"] == pytest.approx(242 / 400)
    assert funnel["win_rate_ci"] == pytest.approx(list(_wilson(242, 400)), abs=1e-6)
    assert funnel["won_revenue"] == 242 * WON_VALUE
    assert funnel["snapshot_date"] == "2017-03-02"
    cycle = funnel["cycle"]
    # 300 deals close on day 10, 100 on day 60, 20 censored at day 100: S(10) = 120/420.
    assert (cycle["median_closed"], cycle["median_km"], cycle["p75_km"]) == (10, 10, 60)
    assert cycle["longest_closed"] == 60
    assert funnel["stalled_engaging"] == 20
    assert funnel["open_list_value"] == 20 * PRICE  # "GTXPro" priced as "GTX Pro"


def test_poor_converter_is_the_top_bottleneck_with_its_impact(report) -> None:
    top = report.bottlenecks[0]
    assert (top.kind, top.dimension, top.segment) == ("win_rate", "sales_agent", "C")
    assert top.value == pytest.approx(0.30)
    assert top.gap == pytest.approx(0.605 - 0.30)
    assert top.impact == pytest.approx(0.305 * 100 * WON_VALUE)
    assert top.details["win_rate_ci"] == pytest.approx(list(_wilson(30, 100)), abs=1e-6)
    assert top.p_value < 1e-6
    assert top.peer == "A"  # best on C's weakest product
    assert top.details["weakest_product"]["product"] == "GTX Pro"
    for needle in ("30.0 %", "60.5 %", "−30.5 pts", "A (72.0 % on GTX Pro)", "$30.5k"):
        assert needle in top.suggestion
    assert top.formula.endswith("= (0.6050 − 0.3000) × 100 × $1,000.00 = $30,500.00")


def test_manager_of_the_poor_converter_is_flagged_after_it(report) -> None:
    second = report.bottlenecks[1]
    assert (second.kind, second.dimension, second.segment) == ("win_rate", "manager", "M1")
    assert second.impact == pytest.approx((0.605 - 0.51) * 200 * WON_VALUE)
    assert "team of M2" in second.suggestion


def test_slow_agent_is_a_cycle_bottleneck_with_cost_of_delay(report) -> None:
    slow = [b for b in report.bottlenecks if b.kind == "cycle" and b.segment == "D"]
    assert len(slow) == 1
    (b,) = slow
    assert (b.value, b.benchmark, b.gap) == (60, 10, 50)
    expected_open = 20 * PRICE * 0.70
    assert b.impact == pytest.approx(50 * expected_open * 0.10 / 365)
    assert b.details["stalled"] == 20
    assert "20 of its 20 open deals" in b.suggestion
    assert b.peer in {"A", "B", "C"} and b.peer_value == 10
    assert [b.impact for b in report.bottlenecks] == sorted(
        (b.impact for b in report.bottlenecks), reverse=True
    )
    assert not any(b.segment in {"A", "B"} for b in report.bottlenecks)


def test_row_order_does_not_change_the_report() -> None:
    pipeline = _pipeline()
    shuffled = pipeline.sample(frac=1.0, random_state=7)
    first = analyse_process(pipeline, TEAMS, PRODUCTS, ACCOUNTS).to_dict()
    second = analyse_process(shuffled, TEAMS.iloc[::-1], PRODUCTS, ACCOUNTS).to_dict()
    assert first == second


def test_min_deals_is_respected() -> None:
    pipeline = pd.concat([_pipeline(), pd.DataFrame(_deals("E", 0, 20, 10))], ignore_index=True)
    teams = pd.concat([TEAMS, pd.DataFrame([["E", "M1", "East"]], columns=TEAMS.columns)])
    report = analyse_process(pipeline, teams, PRODUCTS, ACCOUNTS, min_deals=30)
    agents = report.tables["sales_agent"].set_index("segment")
    assert not agents.loc["E", "tested"] and agents.loc["E", "win_rate"] == 0
    assert "E" not in {b.segment for b in report.bottlenecks}
    assert "E" not in {b.peer for b in report.bottlenecks}
    strict = analyse_process(_pipeline(), TEAMS, PRODUCTS, ACCOUNTS, min_deals=201)
    assert strict.bottlenecks == []
    assert not strict.tables["sales_agent"]["tested"].any()
    assert len(analyse_process(_pipeline(), TEAMS, PRODUCTS, ACCOUNTS, top=1).bottlenecks) == 1


def test_unknown_segments_are_listed_but_never_bottlenecks() -> None:
    pipeline = _pipeline()
    pipeline.loc[pipeline["sales_agent"] == "C", "sales_agent"] = "Z"  # not in the teams
    report = analyse_process(pipeline, TEAMS, PRODUCTS, ACCOUNTS)
    managers = report.tables["manager"].set_index("segment")
    assert managers.loc[UNKNOWN, "deals"] == 100 and not managers.loc[UNKNOWN, "tested"]
    sectors = report.tables["sector"].set_index("segment")
    assert sectors.loc[UNKNOWN, "engaging"] == 20  # blank accounts of the open deals
    assert {b.segment for b in report.bottlenecks}.isdisjoint({UNKNOWN})
    assert report.bottlenecks[0].segment == "Z"  # the agent itself is still judged


def test_aliases_are_normalised(report) -> None:
    assert report.tables["product"]["segment"].tolist() == ["GTX Pro"]
    assert "technology" in report.tables["sector"]["segment"].tolist()
    assert "sector" not in analyse_process(_pipeline(), TEAMS, PRODUCTS).tables


def test_empty_pipeline_gives_an_empty_report() -> None:
    empty = _pipeline().iloc[0:0]
    report = analyse_process(empty, TEAMS, PRODUCTS, ACCOUNTS)
    data = report.to_dict()
    assert data["funnel"]["deals"] == 0 and data["funnel"]["win_rate"] is None
    assert data["bottlenecks"] == [] and all(v == [] for v in data["dimensions"].values())
    json.dumps(data, allow_nan=False)
    assert "No significant bottleneck" in plot_bottlenecks(report)


def test_report_is_json_ready_and_charted(report) -> None:
    data = report.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert data["bottlenecks"][0]["rank"] == 1
    assert set(data["formulas"]) == {"win_rate", "cycle"}
    assert "Kaplan-Meier" in text
    svg = plot_bottlenecks(report)
    assert svg.startswith("<svg") and 'data-chart="process_bottlenecks"' in svg
    assert "agent: C" in svg


def test_small_counts_use_fisher() -> None:
    p_value, test = compare_win_rate(1, 4, 30, 40)
    assert test == "fisher" and 0 < p_value < 1
    assert compare_win_rate(0, 0, 3, 5) == (None, None)
