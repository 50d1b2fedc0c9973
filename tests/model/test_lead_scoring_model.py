"""Behavioural tests of the lead-scoring model trained on the real Leads.csv.

Made-With-ML taxonomy: performance, leakage, calibration, fairness, invariance, directional
expectations and explanations. The model is trained once per module on the real dataset.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipelines.datasets import load_leads
from training.config import TrainingConfig, load_training_config
from training.scoring import LeadScorer
from training.train import TrainingOutcome, train_and_evaluate

TIME = "Total Time Spent on Website"
LEAKY_COLUMNS = ["Tags", "Lead Quality", "Last Activity", "Last Notable Activity", "Lead Profile"]
NEVER_INPUTS = [*LEAKY_COLUMNS, "City", "Country", "Prospect ID", "Lead Number", "Converted"]


@dataclass(frozen=True)
class Trained:
    frame: pd.DataFrame
    config: TrainingConfig
    outcome: TrainingOutcome

    @property
    def test_features(self) -> pd.DataFrame:
        return self.outcome.test.features

    def proba(self, records: pd.DataFrame) -> np.ndarray:
        return self.outcome.model.predict_proba(records)[:, 1]


@pytest.fixture(scope="module")
def trained(datasets_dir: Path) -> Trained:
    frame = load_leads(datasets_dir)
    config = load_training_config("lead_scoring")
    outcome = train_and_evaluate(frame, config)
    return Trained(frame=frame, config=config, outcome=outcome)


# --- performance -------------------------------------------------------------------------------


def test_held_out_split_is_disjoint_and_stratified(trained: Trained) -> None:
    train, test = trained.outcome.train, trained.outcome.test
    assert len(train) + len(test) == len(trained.frame)
    assert set(train.ids).isdisjoint(set(test.ids))
    assert len(test) == pytest.approx(trained.config.split.test_size * len(trained.frame), abs=1)
    assert test.labels.mean() == pytest.approx(train.labels.mean(), abs=0.01)


def test_held_out_roc_auc(trained: Trained) -> None:
    assert trained.outcome.metrics["roc_auc"] >= 0.86


def test_held_out_accuracy(trained: Trained) -> None:
    assert trained.outcome.metrics["accuracy"] >= 0.79


def test_metrics_match_the_held_out_predictions(trained: Trained) -> None:
    probabilities = trained.proba(trained.test_features)
    expected = roc_auc_score(trained.outcome.test.labels, probabilities)
    assert trained.outcome.metrics["roc_auc"] == pytest.approx(expected)


def test_not_worse_than_the_spec_baseline(trained: Trained) -> None:
    candidate = trained.outcome.metrics["roc_auc"]
    baseline = trained.outcome.baseline_metrics["roc_auc"]
    assert candidate >= baseline - 0.01, f"XGBoost {candidate:.4f} vs baseline {baseline:.4f}"


# --- leakage -----------------------------------------------------------------------------------


def test_no_leaky_sensitive_or_id_column_is_an_input(trained: Trained) -> None:
    inputs = list(trained.outcome.model[0].columns)
    assert inputs, "the model has no input columns"
    for column in NEVER_INPUTS:
        assert column in trained.frame.columns, f"{column} vanished from Leads.csv"
        assert column not in inputs, f"{column} is a model input"
    assert not set(inputs) & set(trained.config.excluded_columns)
    assert TIME in inputs


def test_model_does_not_need_the_leaky_columns(trained: Trained) -> None:
    records = trained.test_features.head(50)
    assert not set(LEAKY_COLUMNS) & set(records.columns)
    probabilities = trained.proba(records)
    assert np.isfinite(probabilities).all()


# --- calibration -------------------------------------------------------------------------------


def test_brier_score(trained: Trained) -> None:
    assert trained.outcome.metrics["brier"] < 0.16


def test_mean_probability_tracks_the_base_rate(trained: Trained) -> None:
    probabilities = trained.proba(trained.test_features)
    assert probabilities.mean() == pytest.approx(trained.outcome.test.labels.mean(), abs=0.05)


# --- fairness ----------------------------------------------------------------------------------


def test_fairness_gate_passes(trained: Trained) -> None:
    fairness = trained.outcome.fairness
    assert list(fairness.reports) == trained.config.fairness.sensitive_columns
    assert fairness.passed, fairness.violations
    assert (
        fairness.disparities["equalized_odds_difference"]
        <= trained.config.fairness.max_equalized_odds_difference
    )
    assert (
        fairness.disparities["true_positive_rate_difference"]
        <= trained.config.fairness.max_true_positive_rate_difference
    )
    assert len(fairness.reports["City"].by_group) >= 2


# --- invariance --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def records_with_extras(trained: Trained) -> pd.DataFrame:
    """Held-out inputs with the sensitive and id columns present, as the CRM would send them."""
    test = trained.outcome.test
    extras = trained.frame.loc[test.features.index, ["City", "Country", "Prospect ID"]]
    return pd.concat([test.features, extras], axis=1)


def test_predictions_ignore_city_and_country(
    trained: Trained, records_with_extras: pd.DataFrame
) -> None:
    baseline = trained.proba(records_with_extras)
    np.testing.assert_array_equal(baseline, trained.proba(trained.test_features))
    rng = np.random.default_rng(0)
    for city, country in [("Mumbai", "India"), ("Other Cities", "United States"), (None, None)]:
        altered = records_with_extras.assign(City=city, Country=country)
        np.testing.assert_array_equal(trained.proba(altered), baseline)
    shuffled = records_with_extras.assign(
        City=rng.permutation(records_with_extras["City"].to_numpy()),
        Country=rng.permutation(records_with_extras["Country"].to_numpy()),
    )
    np.testing.assert_array_equal(trained.proba(shuffled), baseline)


def test_predictions_ignore_prospect_id(
    trained: Trained, records_with_extras: pd.DataFrame
) -> None:
    baseline = trained.proba(records_with_extras)
    new_ids = [str(uuid.uuid4()) for _ in range(len(records_with_extras))]
    altered = records_with_extras.assign(**{"Prospect ID": new_ids})
    np.testing.assert_array_equal(trained.proba(altered), baseline)


# --- directional expectations ------------------------------------------------------------------


def test_more_time_on_website_raises_probability(trained: Trained) -> None:
    train_time = trained.outcome.train.features[TIME]
    low, high = train_time.quantile(0.10), train_time.quantile(0.90)
    assert high > low
    records = trained.test_features
    p_low = trained.proba(records.assign(**{TIME: low}))
    p_high = trained.proba(records.assign(**{TIME: high}))
    share = float(np.mean(p_high > p_low))
    assert share >= 0.90, f"only {share:.1%} of leads scored higher with more time on site"


def test_lead_add_form_origin_raises_mean_probability(trained: Trained) -> None:
    records = trained.test_features
    assert "Lead Add Form" in trained.outcome.model[0].categories_["Lead Origin"]
    before = trained.proba(records).mean()
    after = trained.proba(records.assign(**{"Lead Origin": "Lead Add Form"})).mean()
    assert after > before


def test_do_not_email_does_not_raise_mean_probability(trained: Trained) -> None:
    records = trained.test_features
    assert "Do Not Email" in trained.outcome.model[0].flag_columns_
    before = trained.proba(records).mean()
    after = trained.proba(records.assign(**{"Do Not Email": "Yes"})).mean()
    assert after <= before


# --- explanations ------------------------------------------------------------------------------


def _time_impacts(scorer: LeadScorer, records: pd.DataFrame) -> np.ndarray:
    scores = scorer.score(records, [f"lead-{i}" for i in range(len(records))])
    impacts = []
    for lead in scores:
        by_feature = {c.feature: c.impact for c in lead.contributions}
        impacts.append(by_feature[TIME])
    return np.asarray(impacts)


def test_shap_contributions_for_every_lead(trained: Trained) -> None:
    top_k = trained.config.scoring.top_k_contributions
    scorer = LeadScorer(trained.outcome.model, top_k=top_k)
    records = trained.test_features.head(20)
    ids = trained.outcome.test.ids.head(20).tolist()
    scores = scorer.score(records, ids)
    assert [s.contact_id for s in scores] == ids
    inputs = set(scorer.feature_columns)
    for lead in scores:
        assert len(lead.contributions) == top_k
        assert {c.feature for c in lead.contributions} <= inputs
        assert 0 <= lead.score <= 100
        assert lead.recommended_actions


def test_time_on_website_contribution_sign(trained: Trained) -> None:
    model = trained.outcome.model
    scorer = LeadScorer(model, top_k=len(model[0].columns))
    records = trained.test_features.head(20)
    high = trained.outcome.train.features[TIME].quantile(0.90)
    high_impacts = _time_impacts(scorer, records.assign(**{TIME: high}))
    zero_impacts = _time_impacts(scorer, records.assign(**{TIME: 0}))
    assert np.mean(high_impacts > 0) >= 0.8
    assert np.mean(zero_impacts < 0) >= 0.8
