"""Content performance math: Beta-Binomial posteriors, empirical-Bayes shrinkage, tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from content.bayes import BetaPrior, credible_interval, fit_beta_prior, fit_strength, prob_best
from content.performance import _compare_to_leader, item_table, segment_table


def test_credible_interval_matches_scipy_beta() -> None:
    a, b = np.array([3.0, 40.0]), np.array([17.0, 160.0])
    low, high = credible_interval(a, b, 0.9)
    assert np.allclose(low, stats.beta.ppf(0.05, a, b))
    assert np.allclose(high, stats.beta.ppf(0.95, a, b))


def test_prior_fit_recovers_the_simulated_beta() -> None:
    rng = np.random.default_rng(0)
    rates = rng.beta(8.0, 32.0, 400)  # mean 0.2, strength 40
    trials = rng.integers(50, 300, 400)
    prior = fit_beta_prior(rng.binomial(trials, rates), trials)
    assert prior.mean == pytest.approx(rates.mean(), abs=0.01)
    assert 25 < prior.strength < 65


def test_prior_fit_falls_back_to_a_weak_pooled_prior() -> None:
    prior = fit_beta_prior(np.array([3]), np.array([10]))
    assert prior.strength == pytest.approx(2.0)
    assert prior.mean == pytest.approx(3.5 / 11)


def test_shrinkage_pulls_thin_items_toward_the_prior_more_than_thick_ones() -> None:
    others = [f"x{i}" for i in range(8) for _ in range(500)]
    sends = pd.DataFrame(
        {
            "content_name": ["thin"] * 10 + ["thick"] * 2000 + others,
            "kind": "email_template",
            "reply": np.r_[np.ones(6), np.zeros(4), np.ones(1200), np.zeros(800),
                           np.tile(np.r_[np.ones(50), np.zeros(450)], 8)],
        }
    )  # fmt: skip
    table, prior = item_table(sends, "reply")
    row = table.set_index("content_name")
    # both have a raw rate of 0.6; the thin item's posterior moves most of the way to the prior
    assert row.loc["thin", "rate"] == row.loc["thick", "rate"] == pytest.approx(0.6)
    thin_pull = row.loc["thin", "rate"] - row.loc["thin", "posterior_mean"]
    thick_pull = row.loc["thick", "rate"] - row.loc["thick", "posterior_mean"]
    assert thin_pull > 0.1 > 0.02 > thick_pull >= 0
    assert row.loc["thin", "ci_high"] - row.loc["thin", "ci_low"] > 3 * (
        row.loc["thick", "ci_high"] - row.loc["thick", "ci_low"]
    )
    assert row.loc["thick", "prob_best"] > 0.8 > 0.15 > row.loc["thin", "prob_best"]
    # the posterior is the conjugate update of the fitted prior
    a = prior["alpha"] + 6
    assert row.loc["thin", "alpha"] == pytest.approx(a, rel=1e-3)


def test_segment_cells_shrink_toward_their_items_rate() -> None:
    rng = np.random.default_rng(0)
    frames = []
    for name, rate in (("a", 0.1), ("b", 0.3)):
        for segment in range(10):
            replies = rng.random(300) < rate
            frames.append(pd.DataFrame({"content_name": name, "seniority": f"s{segment}",
                                        "reply": replies.astype(int)}))  # fmt: skip
    frames.append(pd.DataFrame({"content_name": "a", "seniority": "thin", "reply": [1] * 5}))
    sends = pd.concat(frames, ignore_index=True).assign(kind="email_template")
    items, _ = item_table(sends, "reply")
    table = segment_table(sends, items, "reply", "seniority")
    cells = table["cells"].set_index(["content_name", "segment"])
    assert table["strength"] > 100  # the segments agree with their items: strong pooling
    # a's 5 sends in the thin segment all replied (raw 100%): the cell stays near a's rate
    assert cells.loc[("a", "thin"), "rate"] == 1.0
    assert cells.loc[("a", "thin"), "posterior_mean"] < 0.2


def test_fit_strength_is_large_when_cells_agree_with_their_item() -> None:
    rng = np.random.default_rng(1)
    trials = np.full(60, 400)
    means = np.repeat([0.1, 0.3], 30)
    same = fit_strength(rng.binomial(trials, means), trials, means)
    spread = fit_strength(rng.binomial(trials, rng.beta(means * 5, (1 - means) * 5)), trials, means)
    assert same > 20 * spread


def test_prob_best_sums_to_one_and_ranks() -> None:
    p = prob_best(np.array([50.0, 10.0, 12.0]), np.array([50.0, 90.0, 88.0]))
    assert p.sum() == pytest.approx(1.0)
    assert p[0] > 0.99


def test_leader_comparison_is_holm_corrected() -> None:
    from statsmodels.stats.proportion import proportions_ztest

    s, n = np.array([120.0, 60.0, 115.0, 3.0]), np.array([1000.0, 1000.0, 1000.0, 40.0])
    tests = _compare_to_leader(s, n)
    assert tests[0] == {"leader": True}
    assert tests[1]["worse_than_leader"] and tests[1]["test"] == "z"
    assert not tests[2]["worse_than_leader"]
    assert tests[3]["test"] == "fisher"
    raw = proportions_ztest(s[[0, 1]], n[[0, 1]])[1]
    assert tests[1]["p_value"] == pytest.approx(raw, abs=1e-5)
    assert tests[1]["p_holm"] >= tests[1]["p_value"]


def test_beta_prior_properties() -> None:
    prior = BetaPrior(2.0, 8.0)
    assert prior.mean == pytest.approx(0.2)
    assert prior.to_dict()["strength"] == 10.0
