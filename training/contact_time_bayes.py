"""Beta posteriors of answer rates per contact slot, with an empirical-Bayes prior strength."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

MOMENT_EPS = 1e-9


@dataclass(frozen=True)
class BetaPosterior:
    """A Beta(alpha, beta) distribution over a response rate."""

    alpha: float
    beta: float

    def __post_init__(self) -> None:
        if not (self.alpha > 0 and self.beta > 0):
            raise ValueError(f"Beta parameters must be positive, got {self.alpha}, {self.beta}")

    @property
    def mean(self) -> float:
        """Return ``alpha / (alpha + beta)``."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def strength(self) -> float:
        """Return ``alpha + beta`` (prior pseudo-calls plus observed calls)."""
        return self.alpha + self.beta

    def interval(self, level: float = 0.90) -> tuple[float, float]:
        """Return the equal-tailed credible interval holding ``level`` of the mass."""
        tail = (1.0 - level) / 2.0
        low, high = stats.beta.ppf([tail, 1.0 - tail], self.alpha, self.beta)
        return float(low), float(high)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` rates."""
        return rng.beta(self.alpha, self.beta, size)

    def update(self, successes: float, trials: float) -> BetaPosterior:
        """Return the posterior after ``successes`` out of ``trials`` Bernoulli calls."""
        if trials < 0 or not 0 <= successes <= trials:
            raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")
        return BetaPosterior(self.alpha + successes, self.beta + trials - successes)


def beta_prior(mean: float, strength: float) -> BetaPosterior:
    """Return the Beta prior with the given mean and ``alpha + beta = strength``.

    Args:
        mean: Prior mean rate, in (0, 1).
        strength: Prior weight in pseudo-calls.

    Returns:
        ``Beta(mean * strength, (1 - mean) * strength)``.

    """
    if not 0.0 < mean < 1.0:
        raise ValueError(f"prior mean must lie in (0, 1), got {mean}")
    if strength <= 0:
        raise ValueError(f"prior strength must be positive, got {strength}")
    return BetaPosterior(mean * strength, (1.0 - mean) * strength)


def estimate_prior_strength(
    successes: Sequence[float] | np.ndarray,
    trials: Sequence[float] | np.ndarray,
    prior_means: Sequence[float] | np.ndarray | float,
    min_strength: float = 2.0,
    max_strength: float = 1_000.0,
) -> float:
    """Fit the Beta prior strength ``kappa`` of cells around known means (method of moments).

    If a cell's true rate is ``theta ~ Beta(kappa * p, kappa * (1 - p))`` and ``k ~ Bin(n,
    theta)``, the standardised squared deviation ``z = (k/n - p)^2 / (p (1 - p))`` has
    expectation ``rho + (1 - rho) / n`` with ``rho = 1 / (kappa + 1)``. Weighting cells by ``n``
    gives ``rho = (sum(n z) - m) / sum(n - 1)`` over the ``m`` cells.

    Args:
        successes: Successes per cell.
        trials: Calls per cell (cells with none are ignored).
        prior_means: The mean each cell shrinks toward (one per cell, or a scalar).
        min_strength: Lower clip (little pooling: cells differ a lot).
        max_strength: Upper clip (strong pooling: cells differ no more than binomial noise).

    Returns:
        The clipped prior strength.

    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    p = np.broadcast_to(np.asarray(prior_means, dtype=float), n.shape)
    keep = n > 0
    k, n, p = k[keep], n[keep], np.clip(p[keep], MOMENT_EPS, 1.0 - MOMENT_EPS)
    denominator = float(np.sum(n - 1.0))
    if len(n) < 2 or denominator <= 0:
        return float(max_strength)
    z = (k / n - p) ** 2 / (p * (1.0 - p))
    rho = (float(np.sum(n * z)) - len(n)) / denominator
    if rho <= 1.0 / (max_strength + 1.0):
        return float(max_strength)
    return float(np.clip(1.0 / rho - 1.0, min_strength, max_strength))
