"""Behaviour of the lead-scoring model trained on point-in-time features of the synthetic CRM.

The table is built by :func:`features.extractors.build_lead_table` on a seeded
:func:`pipelines.synthetic.generate_crm` (3,000 contacts), then trained with the generic
``train_and_evaluate`` and the ``lead_scoring_crm`` config: performance, leakage, fairness over
``gender``, invariance and a directional expectation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features.extractors import build_lead_table
from pipelines.synthetic import generate_crm
from pipelines.synthetic_store import SyntheticCRM
from training.config import TrainingConfig, load_training_config
from training.train import TrainingOutcome, train_and_evaluate

SNAPSHOT_COLUMNS = {"lifecycle_stage", "stage", "status", "is_won", "closed_at", "mrr", "plan"}


@dataclass(frozen=True)
class Trained:
    crm: SyntheticCRM
    table: pd.DataFrame
    config: TrainingConfig
    outcome: TrainingOutcome

    @property
    def inputs(self) -> list[str]:
        return list(self.outcome.model[0].columns)

    def proba(self, records: pd.DataFrame) -> np.ndarray:
        return self.outcome.model.predict_proba(records)[:, 1]


@pytest.fixture(scope="module")
def trained() -> Trained:
    crm = generate_crm(3000, seed=1)
    table = build_lead_table(crm)
    config = load_training_config("lead_scoring_crm")
    outcome = train_and_evaluate(table, config)
    return Trained(crm=crm, table=table, config=config, outcome=outcome)


# --- performance -------------------------------------------------------------------------------


def test_held_out_roc_auc(trained: Trained) -> None:
    # Measured 0.798 (baseline 0.793): intent is only partly observable 10 days in.
    assert trained.outcome.metrics["roc_auc"] >= 0.75


def test_not_worse_than_the_spec_baseline(trained: Trained) -> None:
    candidate = trained.outcome.metrics["roc_auc"]
    baseline = trained.outcome.baseline_metrics["roc_auc"]
    assert candidate >= baseline - 0.02, f"XGBoost {candidate:.4f} vs baseline {baseline:.4f}"


def test_mean_probability_tracks_the_base_rate(trained: Trained) -> None:
    probabilities = trained.proba(trained.outcome.test.features)
    assert probabilities.mean() == pytest.approx(trained.outcome.test.labels.mean(), abs=0.05)


def test_engagement_is_among_the_top_features(trained: Trained) -> None:
    top = list(trained.outcome.importance)[:3]
    assert any(feature.startswith(("web_", "email_", "social_")) for feature in top), top


# --- leakage -----------------------------------------------------------------------------------


def test_inputs_exclude_ids_label_gender_and_snapshot_columns(trained: Trained) -> None:
    inputs = trained.inputs
    assert inputs
    for column in ("contact_id", "converted", "gender"):
        assert column in trained.table.columns
        assert column not in inputs
    assert not SNAPSHOT_COLUMNS & set(trained.table.columns)
    assert {"web_pricing_views", "email_open_rate", "social_total", "lead_source"} <= set(inputs)


def test_no_single_feature_gives_the_label_away(trained: Trained) -> None:
    labels = trained.table["converted"]
    for column in trained.inputs:
        values = trained.table[column]
        if pd.api.types.is_numeric_dtype(values):
            auc = roc_auc_score(labels, values.fillna(-1.0))
            assert 0.2 < auc < 0.8, f"{column} alone has ROC AUC {auc:.3f}"


def test_label_time_snapshot_would_leak_through_its_timing(trained: Trained) -> None:
    # Why the default snapshot is label-independent: cut at label_time, converters are observed
    # at conversion and non-converters at the end of the window, so the mere number of campaign
    # emails received separates the classes although no post-conversion event is counted.
    at_label = build_lead_table(trained.crm, "label_time")
    auc = roc_auc_score(at_label["converted"], at_label["email_sent"])
    assert auc < 0.1
    default_auc = roc_auc_score(trained.table["converted"], trained.table["email_sent"])
    assert 0.4 < default_auc < 0.6


# --- fairness ----------------------------------------------------------------------------------


def test_fairness_gate_passes_over_gender(trained: Trained) -> None:
    fairness = trained.outcome.fairness
    assert list(fairness.reports) == ["gender"]
    assert fairness.passed, fairness.violations
    report = fairness.reports["gender"]
    assert {"female", "male"} <= set(report.by_group.index)
    gate = trained.config.fairness
    assert report.disparities["equalized_odds_difference"] <= gate.max_equalized_odds_difference
    assert report.disparities["min_group_roc_auc"] >= gate.min_group_roc_auc


# --- invariance --------------------------------------------------------------------------------


def test_predictions_ignore_gender(trained: Trained) -> None:
    test = trained.outcome.test
    records = test.features.assign(gender=trained.table.loc[test.features.index, "gender"])
    baseline = trained.proba(test.features)
    np.testing.assert_array_equal(trained.proba(records), baseline)
    for value in ("female", "male", "nonbinary", None):
        np.testing.assert_array_equal(trained.proba(records.assign(gender=value)), baseline)


# --- directional expectations ------------------------------------------------------------------


def test_more_pricing_page_views_raise_the_score(trained: Trained) -> None:
    records = trained.outcome.test.features
    extra = 2  # two more /pricing views, reflected in every count that includes them
    more = records.assign(
        web_pricing_views=records["web_pricing_views"] + extra,
        web_high_intent_views=records["web_high_intent_views"] + extra,
        web_page_views=records["web_page_views"] + extra,
    )
    before, after = trained.proba(records), trained.proba(more)
    share = float(np.mean(after > before))
    assert share >= 0.8, f"only {share:.1%} of contacts scored higher with more pricing views"
    assert float(np.mean(after >= before)) >= 0.95
    assert after.mean() > before.mean() + 0.05
