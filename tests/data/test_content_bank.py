"""Off-policy evaluation of the content policies on UCI Bank Marketing (real logged data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from haste.settings import Settings

DATASETS = Settings().datasets_dir
BANK = DATASETS / "bank_marketing" / "bank-additional-full.csv"
pytestmark = pytest.mark.skipif(not BANK.exists(), reason=f"{BANK} is absent (real datasets)")


@pytest.fixture(scope="module")
def result() -> dict:
    from content.offpolicy import evaluate_bank

    return evaluate_bank(DATASETS, bootstrap=100)


def test_the_bank_log_reads_as_a_bandit() -> None:
    from content.offpolicy import load_bank

    data = load_bank(Path(DATASETS))
    assert len(data) == 41188 and data["arm"].nunique() == 10
    assert data["y"].mean() == pytest.approx(0.1127, abs=1e-3)


def test_propensities_are_calibrated_per_arm() -> None:
    from content.offpolicy import estimate_propensities, load_bank

    data = load_bank(Path(DATASETS))
    arms = sorted(data["arm"].unique())
    p = estimate_propensities(data, arms)
    assert np.allclose(p.sum(axis=1), 1.0)
    share = data["arm"].value_counts(normalize=True).reindex(arms).to_numpy()
    assert np.allclose(p.mean(axis=0), share, atol=0.005)  # logistic MLE matches the margins


def test_estimators_agree_for_the_random_policy(result: dict) -> None:
    random = result["policies"]["random"]
    assert 0.05 < random["dr"]["mean"] < 0.2
    # the random policy's value is within the intervals of the other estimator
    low, high = random["dr"]["ci95"]
    assert low - 0.03 < random["snips"]["mean"] < high + 0.03


def test_report_has_every_policy_and_the_caveats(result: dict) -> None:
    assert set(result["policies"]) == {"contextual_thompson", "thompson", "most_popular", "random"}
    for policy in result["policies"].values():
        for estimator in ("ips", "snips", "dr"):
            low, high = policy[estimator]["ci95"]
            assert low <= policy[estimator]["mean"] <= high
        assert policy["effective_sample_size"] > 500
    assert result["n_train"] + result["n_test"] == 41188
    assert any("not random" in c for c in result["caveats"])
    assert result["propensity"]["clipped_share"] < 0.05
