"""Dashboard data, charts and HTML on SQLite: trends, exact costs, empty database, escaping."""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from haste.db import Contact, LeadScore, dispose_engine, session_scope
from insights.charts import build_charts
from insights.common import REPORTS_URL_PREFIX, trend_of
from insights.data import build_dashboard, jsonable
from insights.lead_scores import lead_score_overview
from insights.monitoring import monitoring_status, resolve_report_file
from insights.usage import usage_by_feature, usage_by_team
from serving.dashboard.render import render_dashboard, render_dashboard_html
from tests.support.dashboard_seed import seed_dashboard_data, write_sample_reports

SECTION_IDS = ("lead-scores", "predictions", "next-actions", "models", "monitoring", "usage")
XSS = "<script>alert(1)</script>"


@pytest.fixture()
def seeded(db_url: str) -> tuple[str, dict]:
    """The seeded dashboard data set and what the seed wrote."""
    return db_url, seed_dashboard_data(db_url, seed=0)


def _expected_trend(scores: list[int]) -> str:
    if len(scores) < 2:
        return "new"
    delta = scores[-1] - scores[-2]
    return "up" if delta > 3 else "down" if delta < -3 else "stable"


@pytest.mark.parametrize(
    ("latest", "previous", "expected"),
    [
        (54, 50, "up"),
        (53, 50, "stable"),
        (50, 50, "stable"),
        (47, 50, "stable"),
        (46, 50, "down"),
        (0, 100, "down"),
        (42, None, "new"),
    ],
)
def test_trend_uses_three_point_band(latest: int, previous: int | None, expected: str) -> None:
    assert trend_of(latest, previous, threshold=3) == expected


def test_overview_latest_previous_and_trend_match_the_seeded_history(seeded) -> None:
    url, summary = seeded
    rows = lead_score_overview(url, limit=100)
    assert len(rows) == len(summary["contacts"]) == 30
    for row in rows:
        history = summary["contacts"][row["contact_id"]]["scores"]
        assert row["name"] == summary["contacts"][row["contact_id"]]["name"]
        assert row["score"] == history[-1]
        assert row["previous_score"] == history[-2]
        assert row["delta"] == history[-1] - history[-2]
        assert row["trend"] == _expected_trend(history)
        impacts = [c["abs_impact"] for c in row["contributions"]]
        assert 1 <= len(impacts) <= 6 and impacts == sorted(impacts, reverse=True)
        assert row["explanation"].startswith(f"Score {row['score']}/100")
        assert row["company"]
    assert {row["trend"] for row in rows} == {"up", "down", "stable"}
    scores = [row["score"] for row in rows]
    assert scores == sorted(scores, reverse=True)
    assert len(lead_score_overview(url, limit=5)) == 5


def test_usage_per_team_and_feature_equal_the_seeded_costs_exactly(seeded) -> None:
    url, summary = seeded
    by_team = usage_by_team(url, days=30)
    costs = {(row["team"] if row["team_id"] else None): row["cost_usd"] for row in by_team}
    calls = {(row["team"] if row["team_id"] else None): row["calls"] for row in by_team}
    assert costs == summary["cost_by_team"]
    assert calls == summary["calls_by_team"]
    assert all(isinstance(cost, Decimal) for cost in costs.values())
    assert {"Enterprise Sales", "SMB Growth", None} == set(costs)
    by_feature = usage_by_feature(url, days=30)
    assert {row["feature"]: row["cost_usd"] for row in by_feature} == summary["cost_by_feature"]
    assert {row["feature"] for row in by_feature if row["cost_usd"] == 0} >= {"lead_score"}

    data = build_dashboard(url, Path("/nonexistent/reports"))
    total = sum(summary["cost_by_team"].values(), Decimal(0))
    assert data["kpis"]["ai_cost_30d"] == total
    assert data["kpis"]["ai_calls_30d"] == sum(summary["calls_by_team"].values())
    assert data["kpis"]["predictions_30d"] == summary["predictions_30d"]
    assert data["kpis"]["contacts_scored"] == 30
    assert data["errors"] == {}
    payload = json.loads(json.dumps(jsonable(data)))
    assert payload["kpis"]["ai_cost_30d"] == str(total)
    assert Decimal(payload["usage"]["by_team"][0]["cost_usd"]) == by_team[0]["cost_usd"]


def test_models_pair_champion_and_challenger(seeded) -> None:
    url, _ = seeded
    models = {m["name"]: m for m in build_dashboard(url, "/nonexistent")["models"]}
    assert set(models) == {"lead_scoring", "churn", "deal_velocity"}
    lead = models["lead_scoring"]
    assert lead["champion"]["version"] == "3"
    assert [c["version"] for c in lead["challengers"]] == ["4"]
    roc = next(row for row in lead["comparison"] if row["metric"] == "roc_auc")
    assert roc == {
        "metric": "roc_auc",
        "champion": 0.884,
        "challenger": 0.891,
        "delta": 0.007,
        "better": True,
    }
    assert lead["champion"]["fairness"]["equalized_odds_difference"] == 0.071
    assert models["deal_velocity"]["challengers"] == []


def test_empty_database_renders_every_section(db_url: str, tmp_path: Path) -> None:
    data = build_dashboard(db_url, tmp_path / "reports")
    assert data["errors"] == {}
    assert data["kpis"] == {
        "contacts_scored": 0,
        "mean_score": None,
        "predictions_30d": 0,
        "ai_calls_30d": 0,
        "ai_cost_30d": Decimal("0.000000"),
    }
    assert data["lead_scores"] == [] and data["next_actions"] == [] and data["models"] == []
    charts = build_charts(data)
    assert all("No data yet" in svg and svg.startswith("<svg") for svg in charts.values())
    html = render_dashboard(db_url, tmp_path / "reports")
    for section in SECTION_IDS:
        assert f'id="{section}"' in html
    assert "No lead scores yet." in html
    assert "No drift report yet" in html and "No fairness audit yet" in html


def test_unmigrated_database_still_renders_with_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'blank.db'}"
    try:
        data = build_dashboard(url, tmp_path)
        assert {"lead_scores", "usage_by_team", "models"} <= set(data["errors"])
        html = render_dashboard_html(data, build_charts(data), generated_at=data["generated_at"])
        assert 'id="section-errors"' in html and 'id="usage"' in html
    finally:
        dispose_engine(url)


def test_html_escapes_database_text(seeded) -> None:
    url, _ = seeded
    with session_scope(url) as session:
        contact = Contact(id=uuid.uuid4(), first_name=XSS, last_name='"&', email="x@example.com")
        session.add(contact)
        session.add(
            LeadScore(
                contact_id=contact.id,
                score=100,
                explanation=f"explained {XSS}",
                score_components={
                    "contributions": [
                        {"feature": XSS, "value": "<img src=x onerror=alert(2)>", "impact": 1.0}
                    ]
                },
            )
        )
    html = render_dashboard(url, "/nonexistent")
    assert XSS not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    # the only script element is the page's own toggle script
    assert len(re.findall(r"<script\b", html)) == 1


def test_monitoring_reads_the_latest_reports(tmp_path: Path) -> None:
    empty = monitoring_status(tmp_path / "missing")
    assert empty["drift"] == [] and empty["fairness"] == []
    reports = tmp_path / "reports"
    write_sample_reports(reports)
    status = monitoring_status(reports)
    drift = {item["model_name"]: item for item in status["drift"]}
    assert status["drift"][0]["model_name"] == "lead_scoring"  # alerts first
    lead = drift["lead_scoring"]
    assert lead["status"] == "drift" and lead["should_retrain"] and lead["prediction_drift"]
    assert lead["generated_at"].startswith("2026-03-01T06:00")  # newest of two reports
    assert lead["share_drifted"] == 0.375
    assert {c["column"] for c in lead["top_columns"] if c["drifted"]} == {
        "TotalVisits",
        "Lead Source",
        "Last Activity",
    }
    assert drift["churn"]["status"] == "ok"
    assert status["drift_alerts"] == 1 and status["fairness_failures"] == 1
    fairness = {item["model_name"]: item for item in status["fairness"]}
    assert not fairness["churn"]["passed"] and fairness["lead_scoring"]["passed"]
    gender = next(c for c in fairness["churn"]["columns"] if c["column"] == "gender")
    assert not gender["passed"] and gender["groups"][0]["group"] == "female"
    url = lead["html_url"]
    assert url.startswith(f"{REPORTS_URL_PREFIX}/monitoring/lead_scoring/20260301T060000Z/")
    relative = url.removeprefix(REPORTS_URL_PREFIX + "/")
    assert resolve_report_file(reports, relative) == (reports / relative).resolve()
    assert resolve_report_file(reports, "../reports/bias_audit/churn/bias_audit.json") is not None
    assert resolve_report_file(reports, "../../etc/passwd") is None
    assert resolve_report_file(reports, "bias_audit/churn/missing.html") is None


def test_charts_are_inline_svg_without_fixed_size(seeded) -> None:
    url, _ = seeded
    charts = build_charts(build_dashboard(url, "/nonexistent"))
    assert set(charts) == {
        "score_histogram",
        "score_trend",
        "cost_per_team",
        "calls_per_feature",
        "model_comparison",
    }
    for name, svg in charts.items():
        root = re.match(r"<svg\b[^>]*>", svg)
        assert root, name
        assert 'class="chart"' in root.group(0) and "viewBox" in root.group(0)
        assert " width=" not in root.group(0) and "<?xml" not in svg
        assert "No data yet" not in svg
    assert "Enterprise Sales" in charts["cost_per_team"]
