"""Statistics of a champion/challenger test on a binary outcome (conversion within N days).

Two views of the same counts, both safe to look at after every new outcome:

* **Bayesian**: a Beta-Binomial posterior per variant, ``P(challenger > champion)`` and the
  expected loss of each choice (how many conversion-rate points are lost in expectation by
  choosing that variant if the other is in fact better), computed by one-dimensional numerical
  integration -- deterministic, no sampling.
* **Frequentist, sequential**: the mixture sequential probability ratio test (mSPRT) of
  Johari, Pekelis and Walsh ("Always valid inference", 2017) on the difference of the rates,
  with a normal mixing distribution of standard deviation ``tau``. Its p-value is
  *always valid*: the probability that it ever drops below ``alpha`` under no difference is at
  most ``alpha``, however often it is looked at -- unlike a fixed-sample z-test run at every
  look (:func:`naive_z_p_values`, kept for the comparison in the tests and the README).

:func:`decide` is the stop rule; :func:`exposures_to_stop` projects how many more closed
exposures a test needs if the observed rates hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

Action = Literal["promote challenger", "keep champion", "keep collecting"]


@dataclass(frozen=True)
class BetaPosterior:
    """``Beta(alpha, beta)``: the posterior of one variant's conversion rate."""

    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        """Posterior mean of the rate."""
        return self.alpha / (self.alpha + self.beta)

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """Return the equal-tailed credible interval at ``level``."""
        from scipy.stats import beta as beta_dist

        tail = (1.0 - level) / 2.0
        low, high = beta_dist.ppf([tail, 1.0 - tail], self.alpha, self.beta)
        return float(low), float(high)


@dataclass(frozen=True)
class Comparison:
    """The Bayesian comparison of challenger (B) against champion (A)."""

    prob_challenger_better: float
    #: ``E[max(rate_challenger - rate_champion, 0)]``: the loss of keeping the champion.
    loss_keep_champion: float
    #: ``E[max(rate_champion - rate_challenger, 0)]``: the loss of promoting the challenger.
    loss_promote_challenger: float


@dataclass(frozen=True)
class StopRule:
    """When a test may stop (see :func:`decide`).

    Attributes:
        min_exposures: Closed exposures each variant needs before any decision.
        prob_threshold: ``P(challenger > champion)`` needed to promote.
        loss_threshold: Expected loss (absolute rate, 0.001 = 0.1 percentage points) below
            which a choice is safe.
        alpha: Level of the sequential test.
        tau: Standard deviation of the mSPRT's normal mixture over the rate difference.
        burn_in: Closed exposures each variant needs before the sequential test is evaluated.
        require_sequential: Promote only when the sequential test also rejects "no difference".
    """

    min_exposures: int = 200
    prob_threshold: float = 0.95
    loss_threshold: float = 0.001
    alpha: float = 0.05
    tau: float = 0.02
    burn_in: int = 100
    require_sequential: bool = True


@dataclass(frozen=True)
class Decision:
    """What to do with the test now, and why."""

    action: Action
    reason: str
    #: Estimated further closed exposures (both variants, at the current split) until the
    #: test can stop if the observed rates hold; ``None`` once it has stopped.
    more_exposures: int | None = None

    @property
    def label(self) -> str:
        """The decision as shown to people (``keep collecting: ~1,200 more exposures``)."""
        if self.action == "keep collecting" and self.more_exposures is not None:
            return f"keep collecting: ~{self.more_exposures:,} more exposures"
        return self.action


def beta_posterior(
    conversions: int, trials: int, prior: tuple[float, float] = (1.0, 1.0)
) -> BetaPosterior:
    """Return the posterior ``Beta(prior_a + conversions, prior_b + trials - conversions)``.

    Raises:
        ValueError: When the counts are negative or conversions exceed trials.
    """
    if trials < 0 or not 0 <= conversions <= trials:
        raise ValueError(f"need 0 <= conversions <= trials, got {conversions}/{trials}")
    return BetaPosterior(prior[0] + conversions, prior[1] + trials - conversions)


def _support(posterior: BetaPosterior, points: int) -> np.ndarray:
    from scipy.stats import beta as beta_dist

    low, high = beta_dist.ppf([1e-12, 1.0 - 1e-12], posterior.alpha, posterior.beta)
    return np.linspace(low, high, points)


def compare_posteriors(
    champion: BetaPosterior, challenger: BetaPosterior, points: int = 6001
) -> Comparison:
    """Return ``P(challenger > champion)`` and the expected loss of each choice.

    With ``f``/``F`` the density and distribution function of a posterior and ``I`` the
    regularised incomplete beta function, by integration over the challenger's rate ``x``:
    ``P(B > A) = int f_B(x) F_A(x) dx`` and
    ``E[max(A - B, 0)] = int f_B(x) [mean_A (1 - I_x(a_A + 1, b_A)) - x (1 - I_x(a_A, b_A))] dx``
    (``a f_A(a) = mean_A f_{A+}(a)`` with ``A+ = Beta(a_A + 1, b_A)``); the other loss follows
    from ``loss_A - loss_B = mean_B - mean_A``. The grid is dense over both posteriors' mass.
    """
    from scipy.special import betainc
    from scipy.stats import beta as beta_dist

    a, b = champion, challenger
    x = np.unique(
        np.concatenate([_support(a, points), _support(b, points), np.linspace(0, 1, points)])
    )
    density_b = beta_dist.pdf(x, b.alpha, b.beta)
    density_b[~np.isfinite(density_b)] = 0.0  # Beta(1, k) or (k, 1) at an end point
    cdf_a = betainc(a.alpha, a.beta, x)
    prob = float(np.trapezoid(density_b * cdf_a, x))
    above_a = a.mean * (1.0 - betainc(a.alpha + 1.0, a.beta, x)) - x * (1.0 - cdf_a)
    loss_b = float(np.trapezoid(density_b * above_a, x))
    loss_b = max(loss_b, 0.0)
    loss_a = max(loss_b + b.mean - a.mean, 0.0)
    return Comparison(min(max(prob, 0.0), 1.0), loss_a, loss_b)


def _rate_variance(successes: np.ndarray, trials: np.ndarray) -> np.ndarray:
    """Return the variance of a rate estimate, smoothed so that 0/n and n/n are not 0."""
    rate = (successes + 0.5) / (trials + 1.0)
    return rate * (1.0 - rate) / np.maximum(trials, 1)


def mixture_log_lr(difference: np.ndarray, variance: np.ndarray, tau: float) -> np.ndarray:
    """Return the log of the mSPRT's normal-mixture likelihood ratio.

    ``Lambda = sqrt(V / (V + tau^2)) exp(tau^2 d^2 / (2 V (V + tau^2)))`` for an observed
    difference ``d`` with variance ``V``: the likelihood of ``d`` under ``N(theta, V)`` with
    ``theta ~ N(0, tau^2)``, over its likelihood under ``theta = 0``.
    """
    t2 = tau * tau
    return 0.5 * np.log(variance / (variance + t2)) + t2 * difference**2 / (
        2.0 * variance * (variance + t2)
    )


def always_valid_p_values(
    conversions_a: np.ndarray,
    trials_a: np.ndarray,
    conversions_b: np.ndarray,
    trials_b: np.ndarray,
    tau: float,
    burn_in: int = 100,
) -> np.ndarray:
    """Return the mSPRT's always-valid p-value after each look (cumulative counts, last axis).

    ``p_n = min(p_{n-1}, 1 / Lambda_n)``: non-increasing, 1 until both arms have ``burn_in``
    trials. Arrays of any shape (several experiments on the leading axes) are accepted.
    """
    ca, na = np.asarray(conversions_a, float), np.asarray(trials_a, float)
    cb, nb = np.asarray(conversions_b, float), np.asarray(trials_b, float)
    difference = cb / np.maximum(nb, 1) - ca / np.maximum(na, 1)
    variance = _rate_variance(ca, na) + _rate_variance(cb, nb)
    log_lr = mixture_log_lr(difference, variance, tau)
    p = np.minimum(1.0, np.exp(-log_lr))
    p = np.where((na >= burn_in) & (nb >= burn_in), p, 1.0)
    return np.minimum.accumulate(p, axis=-1)


def naive_z_p_values(
    conversions_a: np.ndarray,
    trials_a: np.ndarray,
    conversions_b: np.ndarray,
    trials_b: np.ndarray,
) -> np.ndarray:
    """Return the two-sided pooled two-proportion z-test p-value at each look.

    Not valid under repeated looks: shown only as the contrast to
    :func:`always_valid_p_values`.
    """
    from scipy.stats import norm

    ca, na = np.asarray(conversions_a, float), np.asarray(trials_a, float)
    cb, nb = np.asarray(conversions_b, float), np.asarray(trials_b, float)
    pooled = (ca + cb) / np.maximum(na + nb, 1)
    se = np.sqrt(pooled * (1 - pooled) * (1 / np.maximum(na, 1) + 1 / np.maximum(nb, 1)))
    difference = cb / np.maximum(nb, 1) - ca / np.maximum(na, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, difference / se, 0.0)
    return 2.0 * norm.sf(np.abs(z))


def sequential_p_value(arms: np.ndarray, outcomes: np.ndarray, tau: float, burn_in: int) -> float:
    """Return the always-valid p-value of a stream of closed exposures, in the order observed.

    Args:
        arms: 1 for a challenger exposure, 0 for a champion one.
        outcomes: 1 when the exposure converted.
        tau: Mixture standard deviation.
        burn_in: Trials each arm needs before the test is evaluated.
    """
    arms, outcomes = np.asarray(arms, int), np.asarray(outcomes, int)
    if arms.size == 0:
        return 1.0
    trials_b = np.cumsum(arms)
    trials_a = np.arange(1, arms.size + 1) - trials_b
    conversions_b = np.cumsum(outcomes * arms)
    conversions_a = np.cumsum(outcomes * (1 - arms))
    p = always_valid_p_values(conversions_a, trials_a, conversions_b, trials_b, tau, burn_in)
    return float(p[-1])


def _projected_stop(rate_a: float, rate_b: float, n_a: float, n_b: float, rule: StopRule) -> bool:
    """Return whether the stop rule would stop at these sizes if the rates held.

    The posteriors are approximated by normals around the held rates.
    """
    from scipy.stats import norm

    if min(n_a, n_b) < rule.min_exposures:
        return False
    delta = rate_b - rate_a
    variance = rate_a * (1 - rate_a) / n_a + rate_b * (1 - rate_b) / n_b
    sd = math.sqrt(max(variance, 1e-18))
    z = delta / sd
    loss_promote = sd * norm.pdf(z) - delta * norm.cdf(-z)
    loss_keep = sd * norm.pdf(z) + delta * norm.cdf(z)
    rejects = bool(
        mixture_log_lr(np.array(delta), np.array(variance), rule.tau) >= -math.log(rule.alpha)
    )
    promote = norm.cdf(z) >= rule.prob_threshold and loss_promote < rule.loss_threshold
    if rule.require_sequential:
        promote = promote and rejects
    keep = loss_keep < rule.loss_threshold or (rejects and delta < 0)
    return promote or keep


def exposures_to_stop(
    rate_a: float, rate_b: float, share_b: float, rule: StopRule, cap: int = 100_000_000
) -> int | None:
    """Return the total closed exposures at which :func:`decide` would stop if the rates held.

    Args:
        rate_a: Champion conversion rate (estimate).
        rate_b: Challenger conversion rate (estimate).
        share_b: Challenger share of the exposures (the traffic split).
        rule: The stop rule.
        cap: Largest total considered.

    Returns:
        The total, or ``None`` when no total up to ``cap`` would do.
    """
    share_b = min(max(share_b, 1e-6), 1 - 1e-6)
    rate_a, rate_b = (min(max(r, 1e-6), 1 - 1e-6) for r in (rate_a, rate_b))

    def stops(total: int) -> bool:
        return _projected_stop(rate_a, rate_b, total * (1 - share_b), total * share_b, rule)

    high = 16
    while not stops(high):
        if high >= cap:
            return None
        high = min(high * 2, cap)
    low = high // 2
    while high - low > max(1, high // 200):  # within 0.5 %
        middle = (low + high) // 2
        if stops(middle):
            high = middle
        else:
            low = middle
    return high


def decide(
    comparison: Comparison,
    counts: tuple[int, int, int, int],
    sequential_p: float,
    rule: StopRule,
) -> Decision:
    """Apply the stop rule to a test.

    * Fewer than ``min_exposures`` closed exposures in a variant: keep collecting.
    * **Promote the challenger** when ``P(challenger > champion) >= prob_threshold``, the
      expected loss of promoting it is below ``loss_threshold`` and (``require_sequential``)
      the sequential test rejects "no difference" at ``alpha``.
    * **Keep the champion** when the expected loss of keeping it is below ``loss_threshold``
      (the challenger cannot be worth more than that), or the sequential test rejects with the
      challenger behind.
    * Else keep collecting, with the exposures still needed if the observed rates hold.

    Args:
        comparison: The Bayesian comparison.
        counts: ``(champion conversions, champion closed, challenger conversions, challenger
            closed)``.
        sequential_p: The always-valid p-value.
        rule: The stop rule.
    """
    conv_a, n_a, conv_b, n_b = counts
    total = n_a + n_b
    rate_a = (conv_a + 1) / (n_a + 2)
    rate_b = (conv_b + 1) / (n_b + 2)
    rejects = sequential_p <= rule.alpha
    if min(n_a, n_b) >= rule.min_exposures:
        prob = comparison.prob_challenger_better
        if (
            prob >= rule.prob_threshold
            and comparison.loss_promote_challenger < rule.loss_threshold
            and (rejects or not rule.require_sequential)
        ):
            return Decision(
                "promote challenger",
                f"P(challenger better) = {prob:.3f}, expected loss "
                f"{comparison.loss_promote_challenger * 100:.3f} pts"
                + (f", sequential p = {sequential_p:.4f}" if rule.require_sequential else ""),
            )
        if comparison.loss_keep_champion < rule.loss_threshold:
            return Decision(
                "keep champion",
                f"expected loss of keeping the champion "
                f"{comparison.loss_keep_champion * 100:.3f} pts < "
                f"{rule.loss_threshold * 100:.3f} pts",
            )
        if rejects and rate_b < rate_a:
            return Decision(
                "keep champion",
                f"sequential test: challenger worse (p = {sequential_p:.4f} <= {rule.alpha})",
            )
        reason = "no stop criterion met yet"
    else:
        reason = f"fewer than {rule.min_exposures} closed exposures in a variant"
    if n_a == 0 or n_b == 0:
        return Decision("keep collecting", "no closed exposure of a variant yet")
    share_b = n_b / total
    needed = exposures_to_stop(rate_a, rate_b, share_b, rule)
    floor = math.ceil(
        max(
            max(rule.min_exposures - n_a, 0) / (1 - share_b),
            max(rule.min_exposures - n_b, 0) / share_b,
        )
    )
    more = None if needed is None else max(needed - total, floor, 1)
    return Decision("keep collecting", reason, more)
