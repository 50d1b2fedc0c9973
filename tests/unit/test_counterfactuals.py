"""Counterfactual what-if advice on a small seeded model: feasibility, validity, refusals.

The toy lead model's score rises with time on site and visits and depends on an immutable
``region``; its rules (``toy`` in a temporary config) make time, visits, a guide download and
page views (either direction) actionable and the region immutable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from training.counterfactual_config import (
    VaryError,
    check_vary,
    load_counterfactual_config,
)
from training.counterfactuals import explain_what_if, summarise
from training.estimators import build_xgboost_pipeline
from training.scoring import LeadScorer

CONFIG = """
search: {method: random, sample_size: 120, seed: 7, max_k: 5}
models:
  toy:
    actionable:
      time_on_site: {kind: numeric, direction: increase, max: 1500, unit: s, label: time on site}
      visits: {kind: numeric, direction: increase, max: 12, label: visits,
               moves_with: [visits_30d], on_change: {days_since_visit: 0.0}}
      pages_per_visit: {kind: numeric, direction: any, max: 8, decimals: 1, label: pages}
      guide: {kind: flag, direction: increase, label: downloaded the guide}
    derived:
      time_per_visit: time_on_site / visits
    immutable:
      region: geography, an audited attribute
"""
COLUMNS = [
    "time_on_site",
    "visits",
    "visits_30d",
    "days_since_visit",
    "pages_per_visit",
    "guide",
    "time_per_visit",
    "region",
]


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    time_on_site = rng.uniform(0, 1500, n).round()
    visits = rng.integers(1, 12, n).astype(float)
    region = rng.choice(["north", "south"], n)
    guide = rng.choice(["No", "Yes"], n)
    frame = pd.DataFrame(
        {
            "time_on_site": time_on_site,
            "visits": visits,
            "visits_30d": visits,
            "days_since_visit": rng.uniform(0, 9, n),
            "pages_per_visit": rng.uniform(0, 8, n).round(1),
            "guide": guide,
            "time_per_visit": time_on_site / visits,
            "region": region,
        }
    )
    logit = time_on_site / 250 + visits / 3 + (guide == "Yes") - 2.0 * (region == "south") - 4.5
    labels = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, labels


@pytest.fixture(scope="module")
def model() -> Pipeline:
    frame, labels = _frame(3000, 0)
    pipeline = build_xgboost_pipeline(
        COLUMNS, {"n_estimators": 60, "max_depth": 3, "learning_rate": 0.2, "random_state": 0}
    )
    return pipeline.fit(frame, labels)


@pytest.fixture(scope="module")
def scorer(model: Pipeline) -> LeadScorer:
    return LeadScorer(model)


@pytest.fixture()
def config(tmp_path: Path):
    path = tmp_path / "counterfactuals.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_counterfactual_config(path)


@pytest.fixture(scope="module")
def cold_rows(scorer: LeadScorer) -> list[dict]:
    frame, _ = _frame(400, 1)
    scores = [s.score for s in scorer.score(frame, [str(i) for i in range(len(frame))])]
    picked = frame[np.array(scores) < 40].head(4)
    assert len(picked) >= 4, "the toy model should score some leads cold"
    return picked.to_dict("records")


def test_counterfactuals_reach_the_target_by_the_real_model(scorer, config, cold_rows) -> None:
    results = [
        explain_what_if(scorer, row, f"c{i}", "toy", config, "hot", 3)
        for i, row in enumerate(cold_rows)
    ]
    figures = summarise(results)
    assert figures["coverage"] >= 0.6, figures
    for row, result in zip(cold_rows, results, strict=True):
        assert result.band == "cold" and not result.already_in_target
        assert result.dropped == 0
        for cf in result.counterfactuals:
            changed = dict(row)
            for change in cf.changes:
                changed[change.feature] = change.after
            # re-score independently through the pipeline, with the consistency rules applied
            if "visits" in {c.feature for c in cf.changes}:
                delta = changed["visits"] - row["visits"]
                changed["visits_30d"] = row["visits_30d"] + delta
                changed["days_since_visit"] = 0.0
            changed["time_per_visit"] = changed["time_on_site"] / changed["visits"]
            probability = scorer.pipeline.predict_proba(pd.DataFrame([changed])[COLUMNS])[0, 1]
            assert round(probability * 100) == cf.score
            assert cf.score >= 70 and cf.band == "hot"


def test_immutables_never_change_and_ranges_hold(scorer, config, cold_rows) -> None:
    for i, row in enumerate(cold_rows):
        result = explain_what_if(scorer, row, f"c{i}", "toy", config, "hot", 5)
        for cf in result.counterfactuals:
            assert 1 <= cf.sparsity <= 4
            for change in cf.changes:
                assert change.feature in {"time_on_site", "visits", "pages_per_visit", "guide"}
                if change.feature == "time_on_site":
                    assert row["time_on_site"] < change.after <= 1500
                if change.feature == "visits":
                    assert row["visits"] < change.after <= 12
                if change.feature == "pages_per_visit":
                    assert 0 <= change.after <= 8
                if change.feature == "guide":
                    assert (change.before, change.after) == ("No", "Yes")


def test_answers_are_diverse_and_deterministic(scorer, config, cold_rows) -> None:
    first = explain_what_if(scorer, cold_rows[0], "c0", "toy", config, "hot", 3)
    again = explain_what_if(scorer, cold_rows[0], "c0", "toy", config, "hot", 3)
    assert first.to_dict() == again.to_dict()
    combos = [tuple(c.feature for c in cf.changes) for cf in first.counterfactuals]
    singles = [combo for combo in combos if len(combo) == 1]
    assert len(singles) == len(set(singles)), combos


def test_vary_limits_the_features_that_move(scorer, config, cold_rows) -> None:
    result = explain_what_if(scorer, cold_rows[0], "c0", "toy", config, "hot", 3, ["visits"])
    assert result.varied in (["visits"], [])
    for cf in result.counterfactuals:
        assert {c.feature for c in cf.changes} == {"visits"}


def test_a_lead_already_in_the_target_band_gets_no_advice(scorer, config) -> None:
    row = {
        "time_on_site": 1500.0,
        "visits": 12.0,
        "visits_30d": 12.0,
        "days_since_visit": 0.0,
        "pages_per_visit": 4.0,
        "guide": "Yes",
        "time_per_visit": 125.0,
        "region": "north",
    }
    result = explain_what_if(scorer, row, "hot", "toy", config, "warm", 3)
    assert result.already_in_target and result.counterfactuals == []
    assert result.to_dict()["already_in_target"] is True


def test_maxed_out_engagement_cannot_move(scorer, config, cold_rows) -> None:
    row = {**cold_rows[0], "time_on_site": 1500.0, "visits": 12.0, "guide": "Yes"}
    result = explain_what_if(scorer, row, "c", "toy", config, "hot", 3, ["time_on_site", "guide"])
    assert result.varied == [] and result.counterfactuals == []


@pytest.mark.parametrize(
    ("vary", "message"),
    [
        (["region"], "immutable: geography"),
        (["visits_30d"], "not an actionable feature of toy"),
        (["nope"], "not an actionable feature of toy"),
    ],
)
def test_vary_naming_a_frozen_feature_is_refused(scorer, config, cold_rows, vary, message) -> None:
    with pytest.raises(VaryError, match=message):
        explain_what_if(scorer, cold_rows[0], "c0", "toy", config, "hot", 3, vary)


def test_bad_band_and_k_are_refused(scorer, config, cold_rows) -> None:
    with pytest.raises(ValueError, match="target_band"):
        explain_what_if(scorer, cold_rows[0], "c0", "toy", config, "cold", 3)
    with pytest.raises(ValueError, match="k must be"):
        explain_what_if(scorer, cold_rows[0], "c0", "toy", config, "hot", 6)


def test_shipped_config_never_lets_audited_columns_move() -> None:
    config = load_counterfactual_config()
    leads = config.rules("lead_scoring")
    for column in ("City", "Country", "Lead Source", "Do Not Email", "Specialization"):
        assert column in leads.immutable and column not in leads.actionable
    crm = config.rules("lead_scoring_crm")
    for column in ("gender", "company_log_employees", "company_country", "lead_source"):
        assert column in crm.immutable and column not in crm.actionable
    with pytest.raises(VaryError, match="immutable"):
        check_vary(leads, "lead_scoring", None, ["Country"])
    assert check_vary(crm, "lead_scoring_crm", None, None) == list(crm.actionable)


def test_config_refuses_a_feature_both_actionable_and_immutable(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "models:\n  m:\n    actionable: {a: {kind: numeric, max: 3}}\n    immutable: {a: no}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="both actionable and immutable"):
        load_counterfactual_config(path)
