"""Offline replay evaluation of content policies (Li, Chu, Langford and Wang, WSDM 2011).

On sends logged by a *uniformly random* policy, a policy is replayed event by event: when it
picks the logged item, the event counts (its reward is the policy's reward, and the policy
learns from it); otherwise the event is skipped. The mean reward over the counted events is
an unbiased estimate of the policy's per-send reward. Compared here: contextual Thompson
sampling (:class:`content.bandit.ContextualThompson`), item-level Thompson, ``most_popular``
(the item with the best observed rate so far, for everyone), ``random`` and the ``oracle``
that knows the simulator's true rates (the ceiling).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from content.bandit import ContextualThompson
from content.segments import SEGMENTS

#: Rewards the policies are replayed on.
REWARDS: tuple[str, ...] = ("click", "reply", "win")

#: Policies compared by :func:`compare_policies`.
POLICIES: tuple[str, ...] = ("contextual_thompson", "thompson", "most_popular", "random", "oracle")


class Policy(Protocol):
    """What replay needs of a policy."""

    def choose(self, event: int, context: Mapping[str, str], rng: np.random.Generator) -> int:
        """Return the arm sent at ``event``."""
        ...

    def update(self, context: Mapping[str, str], arm: int, reward: float) -> None:
        """Learn from one counted event."""
        ...


class RandomPolicy:
    """Sends a uniformly random arm."""

    def __init__(self, n_arms: int) -> None:
        self.n_arms = n_arms

    def choose(self, event: int, context: Mapping[str, str], rng: np.random.Generator) -> int:
        """Return the arm sent at ``event``."""
        return int(rng.integers(self.n_arms))

    def update(self, context: Mapping[str, str], arm: int, reward: float) -> None:
        """Nothing to learn."""
        return None


class MostPopular:
    """Sends the arm with the best observed rate so far to everyone (ties broken at random)."""

    def __init__(self, n_arms: int) -> None:
        self.successes = np.zeros(n_arms)
        self.trials = np.zeros(n_arms)

    def choose(self, event: int, context: Mapping[str, str], rng: np.random.Generator) -> int:
        """Return the arm with the best smoothed observed rate."""
        rate = (self.successes + 1) / (self.trials + 2)
        best = np.flatnonzero(rate == rate.max())
        return int(rng.choice(best))

    def update(self, context: Mapping[str, str], arm: int, reward: float) -> None:
        """Count one send of ``arm``."""
        self.successes[arm] += reward
        self.trials[arm] += 1


class OraclePolicy:
    """Sends the arm with the highest *true* rate of the event's context (the ceiling)."""

    def __init__(self, true_rates: np.ndarray) -> None:
        self.best = true_rates.argmax(axis=1)

    def choose(self, event: int, context: Mapping[str, str], rng: np.random.Generator) -> int:
        """Return the arm sent at ``event``."""
        return int(self.best[event])

    def update(self, context: Mapping[str, str], arm: int, reward: float) -> None:
        """Nothing to learn."""
        return None


class ThompsonPolicy:
    """:class:`ContextualThompson` with empirical-Bayes refits every ``refit_every`` updates."""

    def __init__(self, n_arms: int, dims: Sequence[str], refit_every: int = 250) -> None:
        self.model = ContextualThompson(n_arms, tuple(dims))
        self.refit_every = refit_every
        self.updates = 0

    def choose(self, event: int, context: Mapping[str, str], rng: np.random.Generator) -> int:
        """Return the arm sent at ``event``."""
        return self.model.choose(context, rng)

    def update(self, context: Mapping[str, str], arm: int, reward: float) -> None:
        """Update the posteriors (and refit the priors now and then)."""
        self.model.update(context, arm, reward)
        self.updates += 1
        if self.updates % self.refit_every == 0:
            self.model.refit()


@dataclass(frozen=True)
class ReplayResult:
    """Outcome of one replay: the estimated per-send reward and the events counted."""

    value: float
    matched: int


def replay(
    policy: Policy,
    contexts: Sequence[Mapping[str, str]],
    arms: np.ndarray,
    rewards: np.ndarray,
    rng: np.random.Generator,
) -> ReplayResult:
    """Replay ``policy`` on uniformly logged events (Li et al.'s estimator).

    Args:
        policy: Policy to evaluate (it learns from the counted events).
        contexts: Context of each logged event.
        arms: Logged arm of each event.
        rewards: Logged 0/1 reward of each event.
        rng: Randomness of the policy.
    """
    total, matched = 0.0, 0
    for i, context in enumerate(contexts):
        arm = policy.choose(i, context, rng)
        if arm == arms[i]:
            reward = float(rewards[i])
            total += reward
            matched += 1
            policy.update(context, arm, reward)
    return ReplayResult(total / matched if matched else float("nan"), matched)


def make_policy(name: str, n_arms: int, true_rates: np.ndarray) -> Policy:
    """Return a fresh policy by name (see :data:`POLICIES`)."""
    factories: dict[str, Callable[[], Policy]] = {
        "contextual_thompson": lambda: ThompsonPolicy(n_arms, SEGMENTS),
        "thompson": lambda: ThompsonPolicy(n_arms, ()),
        "most_popular": lambda: MostPopular(n_arms),
        "random": lambda: RandomPolicy(n_arms),
        "oracle": lambda: OraclePolicy(true_rates),
    }
    if name not in factories:
        raise ValueError(f"unknown policy {name!r}")
    return factories[name]()


def mean_interval(values: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """Return the mean and a Student-t interval over seeds."""
    from scipy.stats import t

    x = np.asarray(values, float)
    mean = float(x.mean())
    if len(x) < 2:
        return {"mean": round(mean, 5), "ci95": [round(mean, 5), round(mean, 5)]}
    half = float(t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return {"mean": round(mean, 5), "ci95": [round(mean - half, 5), round(mean + half, 5)]}


def compare_policies(
    contexts: pd.DataFrame,
    truth: Any,
    n_events: int,
    seeds: Sequence[int],
    rewards: Sequence[str] = REWARDS,
    policies: Sequence[str] = POLICIES,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Replay every policy on fresh uniformly logged sends for each seed and reward.

    Args:
        contexts: Contacts' segments (:func:`content.segments.contexts_from_frames`).
        truth: :class:`content.sends.TrueRates` of the arms.
        n_events: Logged sends per seed.
        seeds: Seeds of the logs and of the policies.
        rewards: Rewards replayed (each policy learns from the reward it is scored on).
        policies: Policies compared.
        progress: Called with a line after each seed.

    Returns:
        ``policies`` (per policy and reward: per-seed values, mean and CI, events counted),
        ``lift`` (contextual Thompson / baseline per reward, mean and CI over seeds),
        ``n_events``, ``n_arms``, ``seeds``.
    """
    from content.sends import simulate_sends

    values: dict[str, dict[str, list[float]]] = {p: {r: [] for r in rewards} for p in policies}
    matched: dict[str, dict[str, list[int]]] = {p: {r: [] for r in rewards} for p in policies}
    n_arms = len(truth.items)
    for seed in seeds:
        sends, rates = simulate_sends(contexts, truth, n_events, seed)
        records = sends[list(SEGMENTS)].astype(str).to_dict("records")
        for reward in rewards:
            for p, name in enumerate(policies):
                policy = make_policy(name, n_arms, rates[reward])
                rng = np.random.default_rng([seed, p, len(reward)])
                result = replay(
                    policy, records, sends["arm"].to_numpy(), sends[reward].to_numpy(), rng
                )
                values[name][reward].append(result.value)
                matched[name][reward].append(result.matched)
        if progress is not None:
            progress(f"seed {seed}: " + ", ".join(
                f"{p} {values[p][rewards[0]][-1]:.4f}" for p in policies
            ))  # fmt: skip
    lift: dict[str, dict[str, Any]] = {}
    for baseline in ("most_popular", "random"):
        if baseline not in policies or "contextual_thompson" not in policies:
            continue
        lift[f"vs_{baseline}"] = {
            r: mean_interval(
                np.asarray(values["contextual_thompson"][r]) / np.asarray(values[baseline][r])
            )
            for r in rewards
        }
    return {
        "policies": {
            p: {
                r: {
                    **mean_interval(values[p][r]),
                    "per_seed": [round(v, 5) for v in values[p][r]],
                    "matched_events": int(np.mean(matched[p][r])),
                }
                for r in rewards
            }
            for p in policies
        },
        "lift": lift,
        "n_events": n_events,
        "n_arms": n_arms,
        "seeds": list(seeds),
    }
