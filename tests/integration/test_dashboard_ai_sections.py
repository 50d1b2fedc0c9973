"""The dashboard's issue-17 sections in headless Chromium: executive summary, trends, content.

The standalone dashboard app runs over a SQLite database seeded with the dashboard's rows, one
week of executive figures (:mod:`tests.support.executive_seed`) and the content library with
its synthetic sends (:mod:`content.library`, :mod:`content.sends`). The page must show what the
database holds: every citation of the summary links to a figure row, every metric has a trend
row with its sparkline, and the content table's send counts equal a direct count. Screenshots
of each section land in ``tests/artifacts/dashboard/``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from content.library import seed_library
from content.sends import store_synthetic_sends
from haste.db import ContentItem, ContentSend, dispose_engine, session_scope
from serving.dashboard.standalone import create_app
from tests.support.asgi_server import serve_in_thread
from tests.support.browser import save_screenshot
from tests.support.dashboard_seed import seed_dashboard_data, write_sample_reports
from tests.support.executive_seed import seed_executive_data


@dataclass
class Site:
    base_url: str
    database_url: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The standalone dashboard over a database with executive figures and content sends."""
    root = tmp_path_factory.mktemp("dashboard-ai")
    url = f"sqlite:///{root / 'haste.db'}"
    seed_dashboard_data(url, seed=1)
    seed_executive_data(url)
    seed_library(url)
    store_synthetic_sends(url, n=3000, seed=5)
    reports = root / "reports"
    write_sample_reports(reports)
    try:
        with serve_in_thread(
            create_app(url, reports), "dashboard app", start_timeout_s=15.0
        ) as port:
            yield Site(f"http://127.0.0.1:{port}", url)
    finally:
        dispose_engine(url)


def _section_png(driver: Any, element: Any) -> bytes:
    """Return a screenshot of one section (DevTools capture clipped to its box)."""
    box = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return {x: r.left + window.scrollX, y: r.top + window.scrollY,"
        " width: r.width, height: r.height};",
        element,
    )
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": True, "clip": {**box, "scale": 1}},
    )
    return base64.b64decode(shot["data"])


def test_executive_summary_cites_figures_and_shows_trends(site: Site, driver: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.set_window_size(1400, 1000)
    driver.get(f"{site.base_url}/dashboard")
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "executive"))
    section = driver.find_element(By.ID, "executive")
    assert section.is_displayed()
    summary = driver.find_element(By.ID, "executive-summary")
    assert summary.get_attribute("data-path") == "offline_template"  # no LLM call on render
    assert len(summary.text) > 200

    figures = {
        row.get_attribute("data-figure")
        for row in driver.find_elements(By.CSS_SELECTOR, "#executive-figures tr.figure")
    }
    citations = driver.find_elements(By.CSS_SELECTOR, "#executive-summary a.cite")
    assert len(citations) >= 5
    for link in citations:  # every citation names a figure row of the table
        target = link.get_attribute("href").rsplit("#", 1)[1]
        row = driver.find_element(By.ID, target)
        assert row.get_attribute("data-figure") in figures

    trends = driver.find_elements(By.CSS_SELECTOR, "#executive-trends tr.trend-row")
    assert len(trends) >= 8
    directions = {row.get_attribute("data-direction") for row in trends}
    assert directions <= {"up", "down", "flat", "new"} and len(directions) >= 2
    for row in trends:
        spark = row.find_element(By.CSS_SELECTOR, "svg")
        assert spark.size["width"] > 20, row.get_attribute("data-metric")
    save_screenshot("dashboard-executive.png", _section_png(driver, section))


def test_content_section_matches_the_database(site: Site, driver: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.set_window_size(1400, 1000)
    driver.get(f"{site.base_url}/dashboard")
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "content"))
    section = driver.find_element(By.ID, "content")
    assert section.is_displayed()

    with session_scope(site.database_url) as session:
        sends = dict(
            session.execute(
                select(ContentItem.name, func.count(ContentSend.id))
                .join(ContentSend, ContentSend.content_id == ContentItem.id)
                .group_by(ContentItem.name)
            ).all()
        )
    rows = driver.find_elements(By.CSS_SELECTOR, "#content-table tr.content-item")
    assert rows
    for row in rows:
        cells = row.find_elements(By.TAG_NAME, "td")
        name = cells[0].text.rsplit(" ", 2)[0]
        matches = [item for item in sends if cells[0].text.startswith(item)]
        assert matches, name
        assert int(cells[1].text.replace(",", "")) == sends[max(matches, key=len)]

    for chart in ("chart-content-intervals", "chart-content-segments"):
        svg = driver.find_element(By.CSS_SELECTOR, f"#{chart} svg")
        assert svg.size["width"] > 100 and svg.size["height"] > 50, chart
    assert driver.find_elements(By.CSS_SELECTOR, "#content-segment-table tbody tr")
    save_screenshot("dashboard-content.png", _section_png(driver, section))
