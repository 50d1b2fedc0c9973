"""The dashboard end to end in headless Chromium (Debian chromium + chromedriver, Selenium 4).

The standalone dashboard app runs under uvicorn in a background thread over a seeded SQLite
database (with score changes and streaming alerts) and sample drift/bias reports; the live
feed test writes a score change while the page is open and waits for it to appear.
Screenshots land in ``tests/artifacts/dashboard/`` (and are copied to
``$PYTEST_ARTIFACTS_DIR`` when it is set).

Needs ``apt-get install -y chromium chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``); without them the test skips, or fails when ``CI`` is set.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from haste.db import AIInteraction, LeadScore, Prediction, dispose_engine, session_scope
from serving.dashboard.standalone import create_app
from tests.support.asgi_server import serve_in_thread
from tests.support.browser import SECTION_IDS, full_page_png, save_screenshot
from tests.support.dashboard_seed import (
    add_score_change,
    seed_dashboard_data,
    seed_stream_data,
    write_sample_reports,
)
from textai.llm.usage import to_usd

CHART_IDS = (
    "chart-score-histogram",
    "chart-score-trend",
    "chart-cost-per-team",
    "chart-calls-per-feature",
    "chart-model-comparison",
)


@dataclass
class Site:
    base_url: str
    database_url: str
    seeded: dict[str, Any]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The standalone dashboard app over a seeded SQLite database, served by uvicorn."""

    root = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{root / 'haste.db'}"
    seeded = seed_dashboard_data(url, seed=0)
    seeded["stream"] = seed_stream_data(url)
    reports = root / "reports"
    write_sample_reports(reports)
    try:
        with serve_in_thread(
            create_app(url, reports), "dashboard app", start_timeout_s=15.0
        ) as port:
            yield Site(f"http://127.0.0.1:{port}", url, seeded)
    finally:
        dispose_engine(url)


def _db_kpis(url: str) -> dict[str, Any]:
    """KPI values computed straight from the database, independently of the dashboard code."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    latest = (
        select(LeadScore.contact_id, func.max(LeadScore.calculated_at).label("at"))
        .group_by(LeadScore.contact_id)
        .subquery()
    )
    with session_scope(url) as session:
        scores = session.scalars(
            select(LeadScore.score).join(
                latest,
                (LeadScore.contact_id == latest.c.contact_id)
                & (LeadScore.calculated_at == latest.c.at),
            )
        ).all()
        predictions = session.scalar(
            select(func.count()).select_from(Prediction).where(Prediction.created_at >= since)
        )
        costs = session.scalars(
            select(AIInteraction.cost_usd).where(AIInteraction.created_at >= since)
        ).all()
    return {
        "contacts_scored": len(scores),
        "mean_score": round(sum(scores) / len(scores), 1),
        "predictions_30d": predictions,
        "ai_cost_30d": sum((to_usd(c) for c in costs), Decimal(0)),
    }


def test_dashboard_in_headless_chromium(site: Site, driver: Any) -> None:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{site.base_url}/dashboard")
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "usage"))
    assert driver.title == "hasteCRM AI dashboard"
    for section in SECTION_IDS:
        assert driver.find_element(By.ID, section).is_displayed(), section

    # KPI tiles show exactly the database's numbers
    expected = _db_kpis(site.database_url)
    tiles = {
        "contacts_scored": driver.find_element(By.ID, "kpi-contacts-scored"),
        "mean_score": driver.find_element(By.ID, "kpi-mean-score"),
        "predictions_30d": driver.find_element(By.ID, "kpi-predictions"),
        "ai_cost_30d": driver.find_element(By.ID, "kpi-ai-cost"),
    }
    shown = {key: tile.get_attribute("data-value") for key, tile in tiles.items()}
    assert int(shown["contacts_scored"]) == expected["contacts_scored"] == 30
    assert float(shown["mean_score"]) == expected["mean_score"]
    assert int(shown["predictions_30d"]) == expected["predictions_30d"]
    assert Decimal(shown["ai_cost_30d"]) == expected["ai_cost_30d"]
    assert expected["ai_cost_30d"] == sum(site.seeded["cost_by_team"].values(), Decimal(0))
    value_text = tiles["contacts_scored"].find_element(By.CLASS_NAME, "value").text
    assert value_text == str(expected["contacts_scored"])
    assert tiles["mean_score"].find_element(By.CLASS_NAME, "value").text == shown["mean_score"]

    # charts are real, visible inline SVG elements
    for chart_id in CHART_IDS:
        svg = driver.find_element(By.CSS_SELECTOR, f"#{chart_id} svg")
        assert svg.tag_name == "svg", chart_id
        assert svg.size["width"] > 100 and svg.size["height"] > 50, (chart_id, svg.size)
        assert "chart-empty" not in (svg.get_attribute("class") or ""), chart_id

    # monitoring shows a red drift badge and a red fairness badge next to green ones
    monitoring = driver.find_element(By.ID, "monitoring")
    assert monitoring.find_elements(By.CSS_SELECTOR, ".drift-report .status-badge.fail")
    assert monitoring.find_elements(By.CSS_SELECTOR, ".drift-report .status-badge.ok")
    assert monitoring.find_elements(By.CSS_SELECTOR, ".fairness-report .status-badge.fail")
    assert monitoring.find_elements(By.CSS_SELECTOR, ".fairness-report .status-badge.ok")
    team_rows = driver.find_elements(By.CSS_SELECTOR, "#usage-team-table tbody tr")
    costs = {row.get_attribute("data-team"): row.get_attribute("data-cost") for row in team_rows}
    assert costs["Enterprise Sales"] == str(site.seeded["cost_by_team"]["Enterprise Sales"])

    full_page = save_screenshot("dashboard-full-page.png", full_page_png(driver))
    assert full_page.stat().st_size > 50_000

    # "Why?" reveals the explanation row with its contribution bars
    button = driver.find_elements(By.CSS_SELECTOR, "button.why-btn")[0]
    row = driver.find_element(By.ID, button.get_attribute("aria-controls"))
    assert not row.is_displayed()
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()
    WebDriverWait(driver, 5).until(lambda d: row.is_displayed())
    assert button.get_attribute("aria-expanded") == "true"
    bars = row.find_elements(By.CSS_SELECTOR, ".contribution-bar")
    assert len(bars) >= 1
    assert all(bar.size["width"] > 0 for bar in bars)
    assert row.find_element(By.CLASS_NAME, "explanation-text").text.startswith("Score ")
    save_screenshot("dashboard-why-expanded.png", driver.get_screenshot_as_png())

    # no JavaScript errors in the console (when the driver exposes the browser log)
    try:
        logs = driver.get_log("browser")
    except (AttributeError, WebDriverException):
        logs = None
    if logs is not None:
        severe = [entry for entry in logs if entry.get("level") == "SEVERE"]
        assert severe == [], severe

    # the linked drift report is served
    link = driver.find_element(By.CSS_SELECTOR, ".drift-report a").get_attribute("href")
    with urllib.request.urlopen(link, timeout=10) as response:
        assert response.status == 200 and b"Evidently" in response.read()


def test_dashboard_json_api(site: Site) -> None:
    with urllib.request.urlopen(f"{site.base_url}/api/ai/dashboard", timeout=30) as response:
        assert response.status == 200
        payload = json.loads(response.read())
    assert set(payload) >= {"kpis", "lead_scores", "predictions", "models", "monitoring", "usage"}
    assert isinstance(payload["kpis"]["ai_cost_30d"], str)
    teams = {row["team"]: row["cost_usd"] for row in payload["usage"]["by_team"]}
    assert teams["SMB Growth"] == str(site.seeded["cost_by_team"]["SMB Growth"])
    assert payload["kpis"]["contacts_scored"] == 30


def test_live_feed_shows_a_new_score_change(site: Site, driver: Any) -> None:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{site.base_url}/dashboard")
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "live-feed-list"))
    items = "#live-feed-list li.live-item"
    seeded = site.seeded["stream"]["changes"]
    # the latest changes arrive first, newest on top
    WebDriverWait(driver, 10).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, items)) >= 3)
    WebDriverWait(driver, 10).until(
        lambda d: d.find_element(By.ID, "live-feed-status").text == "live"
    )
    listed = driver.find_elements(By.CSS_SELECTOR, items)
    shown = [element.get_attribute("data-change-id") for element in listed]
    assert shown[:3] == [str(change.id) for change in reversed(seeded)]

    # the streaming alerts are listed, rendered by the server
    alert_rows = driver.find_elements(By.CSS_SELECTOR, "#stream-alert-table tr.stream-alert")
    assert [row.get_attribute("data-kind") for row in alert_rows] == ["score_drift", "group_gap"]

    reason = "+12: replied to email (Email Replies 30d 0 -> 1)"
    change = add_score_change(site.database_url, previous_score=41, score=73, reasons=[reason])
    selector = f'#live-feed-list li[data-change-id="{change.id}"]'
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, selector))
    item = driver.find_element(By.CSS_SELECTOR, selector)
    assert driver.find_elements(By.CSS_SELECTOR, items)[0] == item  # newest first
    assert "band-crossed" in item.get_attribute("class").split()
    assert item.find_element(By.CLASS_NAME, "live-contact").text == str(change.contact_id)[:8]
    assert item.find_element(By.CLASS_NAME, "live-score-move").text == "41 → 73"
    assert item.find_element(By.CSS_SELECTOR, ".badge.hot").text == "hot"
    assert item.find_element(By.CLASS_NAME, "live-crossing").text == "crossed warm → hot"
    assert [r.text for r in item.find_elements(By.CLASS_NAME, "live-reason")] == [reason]
    assert len(driver.find_elements(By.CSS_SELECTOR, selector)) == 1  # sent once

    panels = driver.find_element(By.ID, "live-feed").find_element(By.XPATH, "..")
    driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", panels
    )
    shot = save_screenshot("dashboard-live-feed.png", panels.screenshot_as_png)
    assert shot.stat().st_size > 10_000
    try:
        logs = driver.get_log("browser")
    except (AttributeError, WebDriverException):
        logs = None
    if logs is not None:
        severe = [entry for entry in logs if entry.get("level") == "SEVERE"]
        assert severe == [], severe
