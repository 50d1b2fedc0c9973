"""Simulated A/B tests: the error rates of peeking, for the tests and ``haste ab simulate``.

Each replicate streams ``total`` exposures, each to the challenger with probability ``share``,
converting with the variant's rate. The always-valid p-value (mSPRT) is looked at after every
exposure; the naive fixed-sample z-test at ``looks`` evenly spaced looks; the naive Bayesian
rule ("promote when P(challenger better) >= 0.95") at the same looks. A replicate rejects when
the test ever crossed (the Bayesian rule: ever promoted the challenger): under equal rates
that is a type-I error, under a true lift it is power.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from training.ab_stats import StopRule, always_valid_p_values, naive_z_p_values


@dataclass(frozen=True)
class PeekingResult:
    """Share of replicates in which each procedure declared a difference (ever, or at the end)."""

    rate_champion: float
    rate_challenger: float
    total: int
    share: float
    replicates: int
    looks: int
    sequential: float
    naive_z_any_look: float
    naive_z_final_look: float
    naive_bayes_any_look: float
    #: Median exposures at which the sequential test first rejected (of those that did).
    sequential_median_stop: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        """Return the result as a plain dict."""
        return asdict(self)


def simulate_peeking(
    rate_champion: float,
    rate_challenger: float,
    total: int = 4000,
    share: float = 0.5,
    replicates: int = 1000,
    looks: int = 20,
    rule: StopRule | None = None,
    seed: int = 0,
) -> PeekingResult:
    """Simulate ``replicates`` tests and return how often each procedure rejects.

    Args:
        rate_champion: True champion conversion rate.
        rate_challenger: True challenger conversion rate (equal: an A/A test).
        total: Exposures per replicate.
        share: Challenger share of the exposures.
        replicates: Number of simulated tests.
        looks: Looks of the naive procedures (evenly spaced, the last at ``total``).
        rule: Level, mixture and burn-in of the sequential test (defaults when omitted).
        seed: Random seed.
    """
    from scipy.stats import norm

    rule = rule or StopRule()
    rng = np.random.default_rng(seed)
    arms = rng.random((replicates, total)) < share
    draws = rng.random((replicates, total))
    converted = np.where(arms, draws < rate_challenger, draws < rate_champion)
    trials_b = np.cumsum(arms, axis=1)
    trials_a = np.arange(1, total + 1) - trials_b
    conv_b = np.cumsum(converted & arms, axis=1)
    conv_a = np.cumsum(converted & ~arms, axis=1)
    p = always_valid_p_values(conv_a, trials_a, conv_b, trials_b, rule.tau, rule.burn_in)
    crossed = p <= rule.alpha
    first = np.where(crossed.any(axis=1), crossed.argmax(axis=1) + 1, 0)
    at = np.linspace(total / looks, total, looks).astype(int) - 1
    ca, na, cb, nb = conv_a[:, at], trials_a[:, at], conv_b[:, at], trials_b[:, at]
    z_p = naive_z_p_values(ca, na, cb, nb)
    # Beta(1, 1) posteriors, normal approximation of P(B > A) (accurate at these sizes).
    mean_a, mean_b = (ca + 1) / (na + 2), (cb + 1) / (nb + 2)
    var = mean_a * (1 - mean_a) / (na + 3) + mean_b * (1 - mean_b) / (nb + 3)
    prob_b = norm.cdf((mean_b - mean_a) / np.sqrt(var))
    bayes = (prob_b >= rule.prob_threshold).any(axis=1)  # would promote the challenger
    stops = first[first > 0]
    return PeekingResult(
        rate_champion=rate_champion,
        rate_challenger=rate_challenger,
        total=total,
        share=share,
        replicates=replicates,
        looks=looks,
        sequential=float(crossed[:, -1].mean()),
        naive_z_any_look=float((z_p <= rule.alpha).any(axis=1).mean()),
        naive_z_final_look=float((z_p[:, -1] <= rule.alpha).mean()),
        naive_bayes_any_look=float(bayes.mean()),
        sequential_median_stop=float(np.median(stops)) if stops.size else None,
    )
