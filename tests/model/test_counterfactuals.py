"""Counterfactual what-if advice on the real Leads.csv: validity, sparsity, feasibility.

The lead model is trained on the standard split; the first 50 held-out leads scored below hot
get up to 3 counterfactuals each. Figures (printed with ``-s``, quoted in the README):
validity (share of the requested answers that reach hot by the served score), coverage (leads
with at least one), mean sparsity (features changed) and never an immutable change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from pipelines.datasets import load_leads
from training.config import load_training_config
from training.counterfactual_config import load_counterfactual_config
from training.counterfactuals import WhatIfResult, explain_what_if, summarise
from training.dataset import prepare_labelled_data, split_labelled_data
from training.estimators import build_xgboost_pipeline
from training.scoring import LeadScorer

LEADS = 50


@dataclass(frozen=True)
class Advised:
    scorer: LeadScorer
    rows: list[dict]
    results: list[WhatIfResult]


@pytest.fixture(scope="module")
def advised(datasets_dir: Path) -> Advised:
    config = load_training_config("lead_scoring")
    data = prepare_labelled_data(load_leads(datasets_dir), config)
    train, test = split_labelled_data(data, config.split.test_size, config.split.random_state)
    model = build_xgboost_pipeline(train.features.columns, config.train.xgboost)
    model.fit(train.features, train.labels)
    scorer = LeadScorer(model)
    scores = scorer.score(test.features, list(test.ids))
    below = [i for i, s in enumerate(scores) if s.score < 70][:LEADS]
    rows = test.features.iloc[below].to_dict("records")
    rules = load_counterfactual_config()
    results = [
        explain_what_if(scorer, row, str(test.ids.iloc[i]), "lead_scoring", rules, "hot", 3)
        for i, row in zip(below, rows, strict=True)
    ]
    return Advised(scorer, rows, results)


def test_validity_and_sparsity_on_held_out_leads(advised: Advised) -> None:
    figures = summarise(advised.results)
    print(f"\nwhat-if on {LEADS} held-out Leads.csv leads below hot: {figures}")
    assert figures["contacts"] == LEADS
    assert figures["coverage"] >= 0.6, figures
    assert figures["validity"] >= 0.4, figures
    assert 1.0 <= figures["mean_sparsity"] <= 2.5, figures


def test_no_immutable_or_out_of_range_change(advised: Advised) -> None:
    rules = load_counterfactual_config().rules("lead_scoring")
    for row, result in zip(advised.rows, advised.results, strict=True):
        assert result.dropped == 0
        for cf in result.counterfactuals:
            for change in cf.changes:
                assert change.feature in rules.actionable, change
                assert change.feature not in rules.immutable
                spec = rules.actionable[change.feature]
                if spec.kind == "numeric":
                    before = row[change.feature]
                    floor = spec.low if pd.isna(before) else float(before)
                    assert floor <= change.after <= spec.high, change
                else:
                    assert (change.before, change.after) == ("No", "Yes"), change


def test_every_answer_reaches_hot_by_the_real_model(advised: Advised) -> None:
    answers = 0
    for row, result in zip(advised.rows, advised.results, strict=True):
        for cf in result.counterfactuals:
            changed = {**row, **{c.feature: c.after for c in cf.changes}}
            frame = pd.DataFrame([changed])[advised.scorer.feature_columns]
            probability = advised.scorer.pipeline.predict_proba(frame)[0, 1]
            assert round(probability * 100) == cf.score >= 70
            answers += 1
    assert answers >= LEADS // 2
