"""The executive summary on the served platform: figures from named queries, cited prose, errors."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import httpx

from insights.executive import build_report
from insights.executive_writer import check_summary
from tests.support.platform import interactions, new_key

PATH = "/api/ai/insights/executive-summary"


def test_summary_of_a_past_week_matches_its_named_queries(api, platform) -> None:
    settings, *_ = platform
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=7)
    request_id = uuid.uuid4().hex
    response = api.get(
        PATH, params={"week_ending": day.isoformat()}, headers={"X-Request-ID": request_id}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["week_end"] == day.isoformat()
    assert body["week_start"] == (day - dt.timedelta(days=6)).isoformat()
    assert body["path"] == "offline_template"  # no hosted provider is configured
    assert "no hosted LLM provider" in body["fallback_reason"]
    direct = {f["name"]: f["value"] for f in build_report(settings.database_url, day)["figures"]}
    served = {f["name"]: f["value"] for f in body["figures"]}
    assert served == direct  # a past week: every figure is fixed
    assert all(f["query"] and f["description"] for f in body["figures"])
    dates = (body["week_start"], body["week_end"])
    assert check_summary(body["summary"], body["figures"], dates) == []
    cited = set(re.findall(r"\[([a-z_.]+)\]", body["summary"]))
    assert cited and cited <= set(served)
    assert [s["title"] for s in body["sections"]] == [
        "Pipeline",
        "Forecast vs actual",
        "Churn risk",
        "Anomalies and alerts",
        "AI usage and adoption",
    ]
    assert all(len(t["history"]) == 8 for t in body["trends"])
    assert {t["direction"] for t in body["trends"]} <= {"up", "down", "flat", "n/a"}
    (row,) = interactions(settings, request_id=request_id)
    assert row.feature == "executive_summary"
    assert row.output_data["path"] == "offline_template"


def test_bad_weeks_and_reps_are_refused(api, platform) -> None:
    settings, *_ = platform
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    future = api.get(PATH, params={"week_ending": tomorrow.isoformat()})
    assert future.status_code == 422 and "in the future" in future.json()["detail"]
    assert api.get(PATH, params={"week_ending": "0001-01-01"}).status_code == 422
    assert api.get(PATH, params={"week_ending": "last week"}).status_code == 422
    rep = httpx.get(
        f"{api.base_url}{PATH}", headers={"X-API-Key": new_key(settings, "rep")}, timeout=60
    )
    assert rep.status_code == 403
