"""Beta-Binomial posteriors with an empirical-Bayes prior (shrinkage), intervals and P(best).

The prior ``Beta(alpha, beta)`` of the items' rates is fitted by maximum marginal likelihood
of the Beta-Binomial (:func:`fit_beta_prior`, scipy); an item's posterior is then
``Beta(alpha + successes, beta + failures)``: items with few sends are pulled toward the
prior mean, items with many keep their own rate. A segment's rate is shrunk toward its item's
rate with a strength fitted the same way (:func:`fit_strength`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Bounds of a prior's strength ``alpha + beta`` (pseudo-sends).
MIN_STRENGTH, MAX_STRENGTH = 2.0, 1e5


@dataclass(frozen=True)
class BetaPrior:
    """A Beta prior of a rate.

    Attributes:
        alpha: Pseudo-successes.
        beta: Pseudo-failures.
    """

    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        """Prior mean rate."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def strength(self) -> float:
        """Pseudo-sends ``alpha + beta`` (how hard thin items are pulled to the mean)."""
        return self.alpha + self.beta

    def to_dict(self) -> dict[str, float]:
        """Return the prior as JSON-ready numbers."""
        return {
            "alpha": round(float(self.alpha), 4),
            "beta": round(float(self.beta), 4),
            "mean": round(float(self.mean), 5),
            "strength": round(float(self.strength), 2),
        }


def _pooled_prior(successes: np.ndarray, trials: np.ndarray) -> BetaPrior:
    """Return a weak prior (strength 2) centred on the pooled rate."""
    rate = (successes.sum() + 0.5) / (trials.sum() + 1.0)
    return BetaPrior(MIN_STRENGTH * rate, MIN_STRENGTH * (1 - rate))


def fit_beta_prior(successes: np.ndarray, trials: np.ndarray) -> BetaPrior:
    """Fit the Beta prior of the groups' rates by Beta-Binomial maximum marginal likelihood.

    Args:
        successes: Successes per group (weighted counts are rounded).
        trials: Trials per group (groups without trials are ignored).

    Returns:
        The fitted prior; a weak prior on the pooled rate when fewer than two groups have data.
    """
    from scipy.optimize import minimize
    from scipy.stats import betabinom

    s, n = np.round(np.asarray(successes, float)), np.round(np.asarray(trials, float))
    keep = n > 0
    s, n = s[keep], n[keep]
    if len(n) < 2 or s.sum() == 0 or s.sum() == n.sum():
        return _pooled_prior(s, n)
    mean = float(np.clip(s.sum() / n.sum(), 1e-4, 1 - 1e-4))

    def loss(params: np.ndarray) -> float:
        m = 1 / (1 + np.exp(-params[0]))
        k = np.exp(params[1])
        return -float(betabinom.logpmf(s, n, m * k, (1 - m) * k).sum())

    start = np.array([np.log(mean / (1 - mean)), np.log(50.0)])
    bounds = [(-12.0, 12.0), (np.log(MIN_STRENGTH), np.log(MAX_STRENGTH))]
    fit = minimize(loss, start, method="L-BFGS-B", bounds=bounds)
    m, k = 1 / (1 + np.exp(-fit.x[0])), float(np.exp(fit.x[1]))
    return BetaPrior(m * k, (1 - m) * k)


def fit_strength(
    successes: np.ndarray, trials: np.ndarray, means: np.ndarray, default: float = 50.0
) -> float:
    """Fit the strength ``k`` of cell priors ``Beta(k * mean, k * (1 - mean))``.

    Used for segment cells shrunk toward their item's rate: each cell has its own prior mean
    (its item's) and all share ``k``, fitted by Beta-Binomial maximum marginal likelihood.

    Args:
        successes: Successes per cell.
        trials: Trials per cell.
        means: Prior mean per cell (in (0, 1)).
        default: Strength returned when there are fewer than two cells with data.
    """
    from scipy.optimize import minimize_scalar
    from scipy.stats import betabinom

    s, n = np.round(np.asarray(successes, float)), np.round(np.asarray(trials, float))
    m = np.clip(np.asarray(means, float), 1e-4, 1 - 1e-4)
    keep = n > 0
    s, n, m = s[keep], n[keep], m[keep]
    if len(n) < 2:
        return default

    def loss(log_k: float) -> float:
        k = np.exp(log_k)
        return -float(betabinom.logpmf(s, n, m * k, (1 - m) * k).sum())

    fit = minimize_scalar(
        loss, bounds=(np.log(MIN_STRENGTH), np.log(MAX_STRENGTH)), method="bounded"
    )
    return float(np.exp(fit.x))


def credible_interval(
    alpha: np.ndarray, beta: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Return the equal-tailed credible interval of ``Beta(alpha, beta)`` at ``level``."""
    from scipy.stats import beta as beta_dist

    tail = (1 - level) / 2
    return beta_dist.ppf(tail, alpha, beta), beta_dist.ppf(1 - tail, alpha, beta)


def prob_best(alpha: np.ndarray, beta: np.ndarray, draws: int = 4000, seed: int = 0) -> np.ndarray:
    """Return, per group, the posterior probability that its rate beats every other group's.

    Monte Carlo over ``draws`` joint posterior draws (independent Beta posteriors).
    """
    a, b = np.asarray(alpha, float), np.asarray(beta, float)
    if len(a) == 0:
        return np.zeros(0)
    samples = np.random.default_rng(seed).beta(a, b, size=(draws, len(a)))
    return np.bincount(samples.argmax(axis=1), minlength=len(a)) / draws
