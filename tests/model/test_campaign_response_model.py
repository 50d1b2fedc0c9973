"""A new tabular dataset needs only a config: campaign response on UCI Bank Marketing."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.datasets import load_bank_marketing
from training.config import load_training_config
from training.train import TrainingOutcome, train_and_evaluate


@pytest.fixture(scope="module")
def campaign(datasets_dir: Path) -> TrainingOutcome:
    return train_and_evaluate(
        load_bank_marketing(datasets_dir), load_training_config("campaign_response")
    )


def test_generic_flow_trains_a_useful_model(campaign: TrainingOutcome) -> None:
    # Moro et al. 2014 report AUC 0.80 (different protocol); the base rate is 11.3 %.
    assert campaign.metrics["roc_auc"] > 0.79
    assert campaign.metrics["pr_auc"] > 0.113 * 3


def test_post_call_duration_is_not_an_input(campaign: TrainingOutcome) -> None:
    inputs = set(campaign.model[0].columns)
    assert "duration" not in inputs
    assert not inputs & {"y", "call_id", "marital"}


def test_fairness_gate_over_marital_status(campaign: TrainingOutcome) -> None:
    assert set(campaign.fairness.reports) == {"marital"}
    assert campaign.fairness.passed, campaign.fairness.violations
