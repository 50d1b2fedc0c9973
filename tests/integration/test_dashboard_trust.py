"""The dashboard's trust sections in headless Chromium: intervals, what-if, gaming, the ledger.

The standalone dashboard app runs over a SQLite database seeded with what the trust layer
stores: churn and deal predictions carrying their conformal sets and intervals, a warm lead
scored through the audit trail (its model inputs recorded) with a toy champion for the "What
would make this hot?" panel, score-gaming results and a resolved forecast ledger; each model's
``calibration.json`` sits in the reports folder. The page must show what was stored: every
calibration row's ECE and coverage, a reliability chart, every deal's interval and every churn
account's prediction set, counterfactuals that reach hot, the gaming counts per kind and the
ledger's verdicts. Screenshots land in ``tests/artifacts/dashboard/``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import insights.what_if_panel as panel
import training.counterfactual_config as counterfactual_config
from haste.db import Prediction, dispose_engine, session_scope, upgrade_database
from serving.dashboard.standalone import create_app
from tests.support.asgi_server import serve_in_thread
from tests.support.browser import save_screenshot
from tests.support.ledger_seed import seed_ledger
from tests.unit.test_calibration import _calibrated_synthetic, _write_report
from tests.unit.test_counterfactuals import CONFIG
from tests.unit.test_what_if_panel import _seed_warm_lead, toy_scorer  # noqa: F401 (fixture)
from training.scoring import LeadScorer

CALIBRATED_MODELS = ("lead_scoring", "churn")
FLAGS = (("burst", 14, 81, 55), ("bot_timing", 9, 73, 60), ("burst", 6, 66, 58))


@dataclass
class Site:
    base_url: str
    database_url: str
    ledger: dict[str, Any]
    warm_contact: str
    reports: Path


def _seed_predictions(url: str) -> None:
    """Churn predictions with conformal sets, deals with intervals, and gaming results."""
    now = dt.datetime.now(dt.UTC)
    rows = [
        Prediction(
            entity_type="account",
            entity_id=uuid.uuid4(),
            prediction_type="churn",
            prediction_value={
                "account_id": f"A-{i}",
                "score": score,
                "probability": score / 100,
                "risk_band": band,
                "prediction_set": labels,
                "coverage": 0.9,
            },
            confidence_score=0.5,
            model_version="2",
            created_at=now - dt.timedelta(hours=i),
        )
        for i, (score, band, labels) in enumerate(
            [(82, "high", [1]), (45, "medium", [0, 1]), (8, "low", [0])]
        )
    ]
    rows += [
        Prediction(
            entity_type="deal",
            entity_id=uuid.uuid4(),
            prediction_type="deal_velocity",
            prediction_value={
                "deal_id": f"D-{i}",
                "win_probability": 0.4,
                "days_to_close": 30.0 + i,
                "days_to_close_interval": [5.0 + i, 90.0 + i],
                "coverage": 0.9,
            },
            confidence_score=0.6,
            model_version="1",
            created_at=now - dt.timedelta(hours=i),
        )
        for i in range(3)
    ]
    for i, (kind, events, with_, without) in enumerate(FLAGS):
        contact = uuid.uuid4()
        rows.append(
            Prediction(
                entity_type="contact",
                entity_id=contact,
                prediction_type="score_gaming",
                prediction_value={
                    "contact_id": str(contact),
                    "flagged": True,
                    "flag_kinds": [kind],
                    "flags": [{"kind": kind, "message": f"{events} {kind} events"}],
                    "suspicious_events": events,
                    "score_with": with_,
                    "score_without": without,
                },
                model_version="lead_scoring_crm@v1",
                created_at=now - dt.timedelta(hours=i),
            )
        )
    rows.append(  # checked and clean: counted as checked, not flagged
        Prediction(
            entity_type="contact",
            entity_id=uuid.uuid4(),
            prediction_type="score_gaming",
            prediction_value={"flagged": False, "flag_kinds": [], "suspicious_events": 0},
            model_version="lead_scoring_crm@v1",
            created_at=now,
        )
    )
    with session_scope(url) as session:
        session.add_all(rows)


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
    toy_scorer: LeadScorer,  # noqa: F811
) -> Iterator[Site]:
    """The standalone dashboard over a database holding what the trust layer stores."""
    root = tmp_path_factory.mktemp("dashboard-trust")
    url = f"sqlite:///{root / 'haste.db'}"
    upgrade_database(url)
    ledger = seed_ledger(url)
    _seed_predictions(url)
    warm = _seed_warm_lead(url, toy_scorer)
    reports = root / "reports"
    calibrated = _calibrated_synthetic()
    for name in CALIBRATED_MODELS:
        _write_report(reports, name, calibrated)
    config_path = root / "counterfactuals.yaml"
    config_path.write_text(CONFIG, encoding="utf-8")
    config = counterfactual_config.load_counterfactual_config(config_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(counterfactual_config, "load_counterfactual_config", lambda: config)
        patch.setattr(panel, "_scorer", lambda name: (toy_scorer, "1"))
        panel.clear_caches()
        try:
            with serve_in_thread(
                create_app(url, reports), "dashboard app", start_timeout_s=15.0
            ) as port:
                yield Site(f"http://127.0.0.1:{port}", url, ledger, warm, reports)
        finally:
            panel.clear_caches()
            dispose_engine(url)


@pytest.fixture()
def page(site: Site, driver: Any) -> Any:
    """The dashboard loaded in Chromium."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.set_window_size(1400, 1000)
    driver.get(f"{site.base_url}/dashboard")
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.ID, "ledger"))
    return driver


def test_calibration_card_shows_ece_and_coverage(site: Site, page: Any) -> None:
    from selenium.webdriver.common.by import By

    section = page.find_element(By.ID, "calibration")
    assert section.is_displayed()
    report = _calibrated_synthetic().report_.to_dict()
    rows = page.find_elements(By.CSS_SELECTOR, "#calibration-table tr.calibration-model")
    assert sorted(r.text.split()[0] for r in rows) == sorted(CALIBRATED_MODELS)
    for row in rows:
        cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        assert cells[1] == report["method"]
        assert cells[5] == "90%" or cells[5].startswith("90")
    svg = page.find_element(By.CSS_SELECTOR, "#chart-calibration svg")
    assert svg.size["width"] > 200
    save_screenshot("dashboard-calibration.png", section.screenshot_as_png)


def test_predictions_show_conformal_sets_and_intervals(page: Any) -> None:
    from selenium.webdriver.common.by import By

    sets = [c.text for c in page.find_elements(By.CSS_SELECTOR, "#churn-table td.prediction-set")]
    assert [s.split(" at ")[0].strip() for s in sets] == ["churns", "can't tell", "stays"]
    intervals = [c.text for c in page.find_elements(By.CSS_SELECTOR, "#deal-table .deal-interval")]
    assert [i.split()[0] for i in intervals] == ["5–90", "6–91", "7–92"]
    assert all("90" in i for i in intervals)


def test_what_if_panel_proposes_changes_that_reach_hot(site: Site, page: Any) -> None:
    from selenium.webdriver.common.by import By

    section = page.find_element(By.ID, "what-if")
    assert section.is_displayed()
    (lead,) = page.find_elements(By.CSS_SELECTOR, "#what-if .what-if-lead")
    assert lead.get_attribute("data-contact-id") == site.warm_contact
    options = lead.find_elements(By.CSS_SELECTOR, ".what-if-option")
    assert options, lead.text
    immutable = ("country", "city", "gender", "lead source")
    for option in options:
        score = int(option.find_element(By.CSS_SELECTOR, ".badge").text)
        assert score >= 70, option.text
        assert "->" in option.text or "→" in option.text
        assert not any(word in option.text.lower() for word in immutable), option.text
    save_screenshot("dashboard-what-if.png", section.screenshot_as_png)


def test_gaming_card_counts_flags_per_kind(page: Any) -> None:
    from selenium.webdriver.common.by import By

    section = page.find_element(By.ID, "gaming")
    assert "4 contacts" in section.text and "3 flagged" in section.text
    kinds = {
        k.find_element(By.CLASS_NAME, "label").text: int(
            k.find_element(By.CLASS_NAME, "value").text
        )
        for k in page.find_elements(By.CSS_SELECTOR, "#gaming-kinds .kpi")
    }
    assert sum(kinds.values()) == len(FLAGS)
    assert max(kinds.values()) == 2  # two burst contacts
    rows = page.find_elements(By.CSS_SELECTOR, "#gaming-table tr.gaming-contact")
    assert len(rows) == len(FLAGS)
    save_screenshot("dashboard-gaming.png", section.screenshot_as_png)


def test_ledger_section_shows_the_report(site: Site, page: Any) -> None:
    from selenium.webdriver.common.by import By

    report = site.ledger
    section = page.find_element(By.ID, "ledger")
    assert section.is_displayed()
    cards = page.find_elements(By.CSS_SELECTOR, "#ledger-kinds .ledger-kind")
    assert {c.get_attribute("data-kind") for c in cards} == set(report["kinds"])
    for card in cards:
        summary = report["kinds"][card.get_attribute("data-kind")]
        key = "brier" if summary["brier"] is not None else "mape"
        verdict = "beats naive" if summary[key] < summary[f"naive_{key}"] else "loses to naive"
        assert verdict in card.text
    rows = page.find_elements(By.CSS_SELECTOR, "#ledger-table tr.ledger-month")
    assert len(rows) == sum(1 for m in report["months"] if m["resolved"])
    svg = page.find_element(By.CSS_SELECTOR, "#chart-ledger-accuracy svg")
    assert svg.size["width"] > 300 and svg.size["height"] > 80
    save_screenshot("dashboard-ledger.png", section.screenshot_as_png)
