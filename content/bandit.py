"""Contextual Thompson sampling over the content's performance posteriors.

Each arm (content item) has an item-level posterior ``Beta(alpha0 + s, beta0 + f)`` (prior
fitted by empirical Bayes over the arms) and, for each segment dimension (``industry``,
``seniority``, ``stage``), cell posteriors ``Beta(k * theta + s_c, k * (1 - theta) + f_c)``
centred on the item's rate ``theta``: a thin segment stays at its item's rate (backing off),
a well-sent one moves to its own. A draw combines the dimensions additively on the logit scale,
``logit theta + sum_d (logit theta_d - logit theta)``; Thompson sampling sends the arm with
the highest draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from content.bayes import BetaPrior, fit_beta_prior, fit_strength

_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass
class ContextualThompson:
    """Thompson sampling over item and item x segment Beta posteriors.

    Attributes:
        n_arms: Number of arms.
        dims: Segment dimensions used as context (``()``: plain item-level Thompson).
        strength: Pseudo-sends of a cell's prior around its item's rate (refitted by
            :meth:`refit`).
        prior: Item-level prior (refitted by :meth:`refit`).
        min_segment_sends: Below this many sends a cell is reported as backed off.
    """

    n_arms: int
    dims: Sequence[str] = ()
    strength: float = 50.0
    prior: BetaPrior = field(default_factory=lambda: BetaPrior(1.0, 1.0))
    min_segment_sends: int = 30
    successes: np.ndarray = field(init=False)
    trials: np.ndarray = field(init=False)
    cells: dict[str, dict[str, np.ndarray]] = field(init=False)

    def __post_init__(self) -> None:
        self.successes = np.zeros(self.n_arms)
        self.trials = np.zeros(self.n_arms)
        self.cells = {dim: {} for dim in self.dims}

    def _cell(self, dim: str, value: str) -> np.ndarray:
        """Return the ``(2, n_arms)`` successes / trials of one segment value."""
        table = self.cells[dim]
        if value not in table:
            table[value] = np.zeros((2, self.n_arms))
        return table[value]

    def update(
        self, context: Mapping[str, str], arm: int, reward: float, weight: float = 1.0
    ) -> None:
        """Record one send of ``arm`` in ``context`` and its 0/1 reward.

        ``weight`` counts the send as that many sends (importance weights of logged data whose
        logging policy was not uniform).
        """
        self.successes[arm] += weight * reward
        self.trials[arm] += weight
        for dim in self.dims:
            cell = self._cell(dim, str(context.get(dim)))
            cell[0, arm] += weight * reward
            cell[1, arm] += weight

    def update_many(
        self,
        contexts: Sequence[Mapping[str, str]],
        arms: np.ndarray,
        rewards: np.ndarray,
        weights: np.ndarray | None = None,
    ) -> None:
        """Record many sends (see :meth:`update`)."""
        weights = np.ones(len(arms)) if weights is None else weights
        for context, arm, reward, weight in zip(contexts, arms, rewards, weights, strict=True):
            self.update(context, int(arm), float(reward), float(weight))

    def refit(self) -> None:
        """Refit the item prior and the cell strength by empirical Bayes on the counts."""
        self.prior = fit_beta_prior(self.successes, self.trials)
        if not self.dims:
            return
        item_mean = self.item_posterior()[0]
        s, n, m = [], [], []
        for table in self.cells.values():
            for cell in table.values():
                s.append(cell[0])
                n.append(cell[1])
                m.append(item_mean)
        if s:
            self.strength = fit_strength(
                np.concatenate(s), np.concatenate(n), np.concatenate(m), self.strength
            )

    def item_posterior(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the item-level posterior mean, alpha and beta of every arm."""
        a = self.prior.alpha + self.successes
        b = self.prior.beta + self.trials - self.successes
        return a / (a + b), a, b

    def draw(self, context: Mapping[str, str], rng: np.random.Generator, size: int = 1):
        """Return ``size`` joint posterior draws of every arm's rate in ``context``.

        Returns:
            Array ``(size, n_arms)``.
        """
        _, a, b = self.item_posterior()
        theta = rng.beta(a, b, size=(size, self.n_arms))
        if not self.dims:
            return theta
        base = _logit(theta)
        total = base.copy()
        k = self.strength
        for dim in self.dims:
            table = self.cells[dim]
            cell = table.get(str(context.get(dim)))
            if cell is None or not cell[1].any():
                continue
            s, n = cell
            draw = rng.beta(k * theta + s, k * (1 - theta) + n - s)
            total += _logit(draw) - base
        return 1 / (1 + np.exp(-total))

    def choose(self, context: Mapping[str, str], rng: np.random.Generator) -> int:
        """Thompson sampling: the arm with the highest posterior draw."""
        return int(self.draw(context, rng)[0].argmax())

    def evidence(self, context: Mapping[str, str], arm: int) -> dict[str, dict[str, object]]:
        """Return, per dimension, the segment value, its sends of ``arm`` and if it backed off."""
        out: dict[str, dict[str, object]] = {}
        for dim in self.dims:
            value = str(context.get(dim))
            cell = self.cells[dim].get(value)
            sends = int(cell[1, arm]) if cell is not None else 0
            out[dim] = {
                "value": value,
                "sends": sends,
                "backed_off": sends < self.min_segment_sends,
            }
        return out
