"""Behaviour of the trigger-prediction model (will a contact reply, meet or move stage soon?).

The table is built by :func:`features.trigger_table.build_trigger_table` on a seeded
:func:`pipelines.synthetic.generate_crm` (1,200 contacts), then trained with the generic
``train_and_evaluate`` and the ``trigger_prediction`` config, and compared with the
recency-frequency baseline on unseen contacts (:func:`training.trigger_baseline.
evaluate_trigger_models`): performance, fairness over ``gender``, invariance, direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.trigger_table import LABEL_COLUMNS, TRIGGER_LABELS, build_trigger_table
from pipelines.synthetic import generate_crm
from pipelines.synthetic_store import SyntheticCRM
from training.config import TrainingConfig, load_training_config
from training.train import TrainingOutcome, train_and_evaluate
from training.trigger_baseline import (
    RF_COLUMNS,
    build_recency_frequency_baseline,
    evaluate_trigger_models,
)
from training.trigger_predict import build_current_trigger_features, predict_triggers


@dataclass(frozen=True)
class Trained:
    crm: SyntheticCRM
    table: pd.DataFrame
    config: TrainingConfig
    outcome: TrainingOutcome
    comparison: dict[str, Any]

    @property
    def inputs(self) -> list[str]:
        return list(self.outcome.model[0].columns)

    def proba(self, records: pd.DataFrame) -> np.ndarray:
        return self.outcome.model.predict_proba(records)[:, 1]


@pytest.fixture(scope="module")
def trained() -> Trained:
    crm = generate_crm(1200, seed=5, start="2026-01-01", days=150)
    table = build_trigger_table(crm)
    config = load_training_config("trigger_prediction")
    outcome = train_and_evaluate(table, config)
    comparison = evaluate_trigger_models(table, config)
    return Trained(crm, table, config, outcome, comparison)


# --- performance -------------------------------------------------------------------------------


def test_beats_the_recency_frequency_baseline_on_unseen_contacts(trained: Trained) -> None:
    targets = trained.comparison["targets"]
    assert list(targets) == ["triggered", *TRIGGER_LABELS]
    overall = targets["triggered"]
    # Measured 0.794 vs 0.699 (seed 5, 1,200 contacts; 0.822 vs 0.733 on the 2,000-contact demo).
    assert overall["model_roc_auc"] >= 0.75
    assert overall["lift"] >= 0.04, overall
    for label in TRIGGER_LABELS:
        scores = targets[label]
        assert scores["model_roc_auc"] > scores["baseline_roc_auc"], (label, scores)


def test_contact_level_split_keeps_contacts_apart(trained: Trained) -> None:
    rows, contacts = trained.comparison["rows"], trained.comparison["contacts"]
    assert rows["train"] + rows["test"] == len(trained.table)
    assert contacts["train"] + contacts["test"] == trained.table["contact_id"].nunique()


def test_generic_flow_metrics(trained: Trained) -> None:
    metrics, baseline = trained.outcome.metrics, trained.outcome.baseline_metrics
    assert metrics["roc_auc"] >= 0.75
    assert metrics["roc_auc"] >= baseline["roc_auc"] - 0.02
    probabilities = trained.proba(trained.outcome.test.features)
    assert probabilities.mean() == pytest.approx(trained.outcome.test.labels.mean(), abs=0.04)


def test_inputs_exclude_labels_ids_snapshot_and_gender(trained: Trained) -> None:
    excluded = {"contact_id", "snapshot_at", "gender", *LABEL_COLUMNS}
    assert excluded <= set(trained.table.columns)
    assert not excluded & set(trained.inputs)
    assert set(RF_COLUMNS) <= set(trained.inputs)


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


def _replied_yesterday(records: pd.DataFrame) -> pd.DataFrame:
    """The same rows had the contact replied (after an open) one day before the snapshot."""
    replies = records["email_replies"] + 1
    return records.assign(
        email_opens=records["email_opens"] + 1,
        email_opens_7d=records["email_opens_7d"] + 1,
        email_opens_30d=records["email_opens_30d"] + 1,
        email_replies=replies,
        email_replies_7d=records["email_replies_7d"] + 1,
        email_replies_30d=records["email_replies_30d"] + 1,
        email_reply_rate=replies / records["email_sent"].clip(lower=1),
        email_days_since_last_reply=1.0,
        email_days_since_last_open=records["email_days_since_last_open"].clip(upper=1.0),
        email_sent_since_last_reply=0,
        engagement_days_since_last=records["engagement_days_since_last"].clip(upper=1.0),
        engagement_events_7d=records["engagement_events_7d"] + 2,
        engagement_events_30d=records["engagement_events_30d"] + 2,
    )


def test_a_recent_reply_raises_the_probability(trained: Trained) -> None:
    test = trained.outcome.test.features
    records = test[test["email_replies"] == 0]
    assert len(records) > 300
    before, after = trained.proba(records), trained.proba(_replied_yesterday(records))
    assert float(np.mean(after > before)) >= 0.8
    assert after.mean() > before.mean() + 0.03


def test_recent_engagement_beats_old_engagement(trained: Trained) -> None:
    test = trained.outcome.test.features
    records = test[test["engagement_days_since_last"] > 14]
    assert len(records) > 200
    # Cold contacts: a reply yesterday never lowers the score and raises it by a fifth on average
    # (measured +29%).
    before, after = trained.proba(records), trained.proba(_replied_yesterday(records))
    assert (after >= before).all()
    assert after.mean() > 1.2 * before.mean()
    # The baseline is monotone: fresher and more frequent engagement never lowers its score.
    baseline = build_recency_frequency_baseline().fit(test, trained.outcome.test.labels)
    fresher = test.assign(engagement_days_since_last=test["engagement_days_since_last"] / 4)
    more = test.assign(engagement_events_30d=test["engagement_events_30d"] + 3)
    reference = baseline.predict_proba(test)[:, 1]
    assert (baseline.predict_proba(fresher)[:, 1] >= reference).all()
    assert (baseline.predict_proba(more)[:, 1] >= reference).all()


# --- scoring the live contacts -----------------------------------------------------------------


def test_predict_triggers_scores_each_live_contact_once(trained: Trained) -> None:
    now = pd.Timestamp("2026-04-10 12:00")
    current = build_current_trigger_features(trained.crm, now)
    assert set(trained.table.columns) - set(current.columns) == set(LABEL_COLUMNS)
    assert current["contact_id"].is_unique and (current["snapshot_at"] == now).all()
    scores = predict_triggers(trained.outcome.model, current)
    assert len(scores) == len(current)
    assert scores["probability"].between(0.0, 1.0).all()
    assert scores["probability"].is_monotonic_decreasing
    # Several snapshots of a contact: only the latest is scored.
    latest = predict_triggers(trained.outcome.model, trained.table)
    assert latest["contact_id"].is_unique
    last_seen = trained.table.groupby("contact_id")["snapshot_at"].max()
    assert (
        latest.set_index("contact_id")["snapshot_at"]
        == last_seen.reindex(latest["contact_id"]).to_numpy()
    ).all()
