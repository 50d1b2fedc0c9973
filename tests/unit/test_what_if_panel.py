"""The dashboard's "What would make this hot?" panel, over a seeded database and a toy model."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import insights.what_if_panel as panel
import training.counterfactual_config as counterfactual_config
from haste.db import Contact, LeadScore, session_scope
from haste.records import InteractionRecord, record_interactions
from serving.dashboard.render import render_dashboard
from tests.unit.test_counterfactuals import COLUMNS, CONFIG, _frame
from training.estimators import build_xgboost_pipeline
from training.scoring import LeadScorer


@pytest.fixture(scope="module")
def toy_scorer() -> LeadScorer:
    frame, labels = _frame(3000, 0)
    pipeline = build_xgboost_pipeline(
        COLUMNS, {"n_estimators": 60, "max_depth": 3, "learning_rate": 0.2, "random_state": 0}
    )
    return LeadScorer(pipeline.fit(frame, labels))


@pytest.fixture()
def toy_panel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, toy_scorer: LeadScorer) -> None:
    path = tmp_path / "counterfactuals.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    config = counterfactual_config.load_counterfactual_config(path)
    monkeypatch.setattr(counterfactual_config, "load_counterfactual_config", lambda: config)
    monkeypatch.setattr(panel, "_scorer", lambda name: (toy_scorer, "1"))
    panel.clear_caches()
    yield
    panel.clear_caches()


def _seed_warm_lead(url: str, scorer: LeadScorer) -> str:
    frame, _ = _frame(400, 1)
    scores = scorer.score(frame, [str(i) for i in range(len(frame))])
    index = next(i for i, s in enumerate(scores) if 40 <= s.score < 60)
    features = {k: (v.item() if hasattr(v, "item") else v) for k, v in frame.iloc[index].items()}
    contact = uuid.uuid4()
    with session_scope(url) as session:
        session.add(Contact(id=contact, first_name="Wanda", last_name="Warm", email="w@x.io"))
        session.add(LeadScore(contact_id=contact, score=scores[index].score, model_version="1"))
    record_interactions(
        url,
        [
            InteractionRecord(
                interaction_type="lead_score",
                feature="lead_score",
                input_data={"contact_id": str(contact), "features": features},
                output_data={"score": scores[index].score},
                model_used="toy@v1",
            )
        ],
    )
    return str(contact)


def test_no_warm_lead_hides_the_panel(db_url: str) -> None:
    assert panel.what_if_panel(db_url) is None


def test_warm_leads_get_counterfactuals_on_the_page(
    db_url: str, toy_panel: None, toy_scorer: LeadScorer
) -> None:
    contact = _seed_warm_lead(db_url, toy_scorer)
    data = panel.what_if_panel(db_url)
    assert data is not None and data["target_band"] == "hot"
    (lead,) = data["leads"]
    assert lead["contact_id"] == contact and lead["model"] == "toy@v1"
    assert lead["counterfactuals"], lead
    for cf in lead["counterfactuals"]:
        assert cf["score"] >= 70
        assert {c["feature"] for c in cf["changes"]} <= {
            "time_on_site",
            "visits",
            "pages_per_visit",
            "guide",
        }
    assert panel.what_if_panel(db_url) == data  # answered from the cache
    html = render_dashboard(db_url, "/nonexistent")
    assert 'id="what-if"' in html and "What would make this hot?" in html
    assert cf["changes"][0]["text"].split(":")[0] in html
