"""Statistics of outcome A/B tests: posteriors, expected loss, stop rule, sequential test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import beta as beta_dist

from training.ab_simulation import simulate_peeking
from training.ab_stats import (
    StopRule,
    always_valid_p_values,
    beta_posterior,
    compare_posteriors,
    decide,
    exposures_to_stop,
    naive_z_p_values,
    sequential_p_value,
)

# ------------------------------------------------------------------ Bayesian posteriors


def test_posterior_and_interval_match_scipy() -> None:
    posterior = beta_posterior(30, 250, prior=(1.0, 1.0))
    assert (posterior.alpha, posterior.beta) == (31.0, 221.0)
    assert posterior.mean == pytest.approx(beta_dist.mean(31, 221))
    low, high = posterior.interval(0.95)
    assert low == pytest.approx(beta_dist.ppf(0.025, 31, 221))
    assert high == pytest.approx(beta_dist.ppf(0.975, 31, 221))


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="conversions"):
        beta_posterior(11, 10)
    with pytest.raises(ValueError, match="conversions"):
        beta_posterior(-1, 10)


@pytest.mark.parametrize(
    ("champion", "challenger"),
    [((40, 400), (55, 400)), ((3, 60), (0, 12)), ((1200, 10000), (1180, 10000)), ((0, 0), (5, 9))],
)
def test_probability_and_losses_match_independent_integration(
    champion: tuple[int, int], challenger: tuple[int, int]
) -> None:
    a, b = beta_posterior(*champion), beta_posterior(*challenger)
    comparison = compare_posteriors(a, b)
    lo, hi = 0.0, 1.0

    def prob_integrand(x: float) -> float:
        return beta_dist.pdf(x, b.alpha, b.beta) * beta_dist.cdf(x, a.alpha, a.beta)

    points = [a.mean, b.mean]
    prob = integrate.quad(prob_integrand, lo, hi, points=points, limit=400)[0]
    assert comparison.prob_challenger_better == pytest.approx(prob, abs=2e-4)
    # Monte Carlo check of both losses (independent of the closed form used).
    rng = np.random.default_rng(7)
    draws_a = rng.beta(a.alpha, a.beta, 400_000)
    draws_b = rng.beta(b.alpha, b.beta, 400_000)
    loss_keep = np.maximum(draws_b - draws_a, 0).mean()
    loss_promote = np.maximum(draws_a - draws_b, 0).mean()
    scale = np.sqrt(a.alpha * a.beta / (a.alpha + a.beta) ** 3)  # ~posterior sd
    assert comparison.loss_keep_champion == pytest.approx(loss_keep, abs=0.01 * scale + 2e-5)
    assert comparison.loss_promote_challenger == pytest.approx(
        loss_promote, abs=0.01 * scale + 2e-5
    )
    # loss_keep - loss_promote = E[B - A]
    assert comparison.loss_keep_champion - comparison.loss_promote_challenger == pytest.approx(
        b.mean - a.mean, abs=1e-6
    )


# ------------------------------------------------------------------ stop rule

RULE = StopRule(min_exposures=200, loss_threshold=0.001, alpha=0.05, tau=0.02)


def _decide(counts: tuple[int, int, int, int], p_value: float, rule: StopRule = RULE):
    conv_a, n_a, conv_b, n_b = counts
    comparison = compare_posteriors(beta_posterior(conv_a, n_a), beta_posterior(conv_b, n_b))
    return decide(comparison, counts, p_value, rule)


def test_clear_winner_is_promoted_only_with_the_sequential_test() -> None:
    counts = (300, 3000, 420, 3000)  # 10 % vs 14 %
    assert _decide(counts, 0.001).action == "promote challenger"
    held = _decide(counts, 0.2)  # the Bayesian rule alone is not enough by default
    assert held.action == "keep collecting" and held.more_exposures and held.more_exposures > 0
    relaxed = StopRule(require_sequential=False)
    assert _decide(counts, 0.2, relaxed).action == "promote challenger"


def test_minimum_sample_comes_first_and_counts_the_gap() -> None:
    decision = _decide((10, 150, 30, 150), 0.0001)
    assert decision.action == "keep collecting"
    assert "fewer than 200" in decision.reason
    # Each arm is 50 short at a 50/50 split: at least 100 more exposures in all.
    assert decision.more_exposures >= 100
    assert decision.label.startswith("keep collecting: ~")


def test_equal_variants_with_enough_data_keep_the_champion() -> None:
    decision = _decide((3000, 30000, 2990, 30000), 1.0)
    assert decision.action == "keep champion"
    assert "expected loss" in decision.reason


def test_a_significantly_worse_challenger_keeps_the_champion() -> None:
    decision = _decide((400, 3000, 280, 3000), 0.001)
    assert decision.action == "keep champion"


def test_no_challenger_exposure_keeps_collecting_without_an_estimate() -> None:
    decision = _decide((40, 400, 0, 0), 1.0)
    assert decision.action == "keep collecting" and decision.more_exposures is None


def test_projected_exposures_shrink_with_a_larger_lift() -> None:
    small = exposures_to_stop(0.10, 0.12, 0.5, RULE)
    large = exposures_to_stop(0.10, 0.15, 0.5, RULE)
    skewed = exposures_to_stop(0.10, 0.15, 0.1, RULE)  # a 10 % challenger split
    assert small is not None and large is not None and skewed is not None
    assert large < small and skewed > large


# ------------------------------------------------------------------ sequential test


def test_always_valid_p_value_is_monotone_and_waits_for_the_burn_in() -> None:
    rng = np.random.default_rng(3)
    arms = rng.random(3000) < 0.5
    outcomes = rng.random(3000) < np.where(arms, 0.2, 0.1)
    trials_b = np.cumsum(arms)
    trials_a = np.arange(1, 3001) - trials_b
    p = always_valid_p_values(
        np.cumsum(outcomes & ~arms), trials_a, np.cumsum(outcomes & arms), trials_b, 0.02, 100
    )
    assert np.all(np.diff(p) <= 0)
    assert np.all(p[(trials_a < 100) | (trials_b < 100)] == 1.0)
    assert p[-1] < 0.01  # a 10-point lift over 3,000 exposures is found
    assert sequential_p_value(arms.astype(int), outcomes.astype(int), 0.02, 100) == p[-1]


def test_naive_z_matches_the_textbook_two_proportion_test() -> None:
    from statsmodels.stats.proportion import proportions_ztest

    p = naive_z_p_values(np.array(50), np.array(500), np.array(70), np.array(500))
    expected = proportions_ztest([70, 50], [500, 500])[1]
    assert float(p) == pytest.approx(expected, rel=1e-9)


def test_peeking_inflates_the_naive_test_but_not_the_sequential_one() -> None:
    """A/A tests looked at 20 times: the naive z-test's type-I error is several times alpha;
    the always-valid p-value, looked at after every exposure, stays under alpha."""
    result = simulate_peeking(0.10, 0.10, total=4000, share=0.5, replicates=800, seed=11)
    assert result.sequential <= 0.05
    assert result.naive_z_any_look >= 0.15  # ~0.25 expected: alpha inflated about 5x
    assert result.naive_z_final_look <= 0.09  # one look is fine (0.05 +- noise)
    assert result.naive_bayes_any_look >= 0.15
    skewed = simulate_peeking(0.05, 0.05, total=4000, share=0.1, replicates=800, seed=12)
    assert skewed.sequential <= 0.05 and skewed.naive_z_any_look >= 0.12


def test_the_sequential_test_has_power_against_a_true_lift() -> None:
    result = simulate_peeking(0.10, 0.13, total=6000, share=0.5, replicates=500, seed=13)
    assert result.sequential >= 0.7  # ~0.81 measured
    assert result.sequential_median_stop is not None and result.sequential_median_stop < 6000
