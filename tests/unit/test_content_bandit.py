"""Contextual Thompson sampling and the replay evaluation on known simulators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from content.bandit import ContextualThompson
from content.library import SLOT_TYPES, library_items
from content.replay import MostPopular, RandomPolicy, ThompsonPolicy, replay
from content.sends import TrueRates, simulate_sends

#: True reply rates: arm 1 is best for executives, arm 2 for everyone else.
_RATES = {"executive": np.array([0.05, 0.30, 0.10]), "individual": np.array([0.05, 0.04, 0.20])}


def _pull(context: dict[str, str], arm: int, rng: np.random.Generator) -> float:
    return float(rng.random() < _RATES[context["seniority"]][arm])


def test_contextual_thompson_finds_the_best_arm_per_segment() -> None:
    rng = np.random.default_rng(0)
    model = ContextualThompson(3, ("seniority",))
    picks: dict[str, list[int]] = {"executive": [], "individual": []}
    for t in range(4000):
        context = {"seniority": "executive" if t % 2 else "individual"}
        arm = model.choose(context, rng)
        model.update(context, arm, _pull(context, arm, rng))
        picks[context["seniority"]].append(arm)
        if t % 250 == 249:
            model.refit()
    last = {s: np.bincount(p[-500:], minlength=3) / 500 for s, p in picks.items()}
    assert last["executive"][1] > 0.8
    assert last["individual"][2] > 0.8


def test_thin_segments_back_off_to_the_item_rate() -> None:
    model = ContextualThompson(2, ("industry",), strength=50.0)
    for _ in range(500):
        model.update({"industry": "software"}, 0, 1.0)
        model.update({"industry": "software"}, 1, 0.0)
    model.update({"industry": "media"}, 0, 0.0)  # one failure in a new segment
    draws = model.draw({"industry": "media"}, np.random.default_rng(0), 2000)
    assert draws[:, 0].mean() > 0.9  # still close to the item's rate
    evidence = model.evidence({"industry": "media"}, 0)
    assert evidence["industry"] == {"value": "media", "sends": 1, "backed_off": True}


def _known_log(
    n: int, seed: int
) -> tuple[list[dict[str, str]], np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    seniority = np.where(rng.random(n) < 0.5, "executive", "individual")
    arms = rng.integers(0, 3, n)
    truth = np.vstack([_RATES[s] for s in seniority])
    rewards = (rng.random(n) < truth[np.arange(n), arms]).astype(float)
    return [{"seniority": s} for s in seniority], arms, rewards, truth


class _FixedPolicy:
    """Arm 1 for executives, arm 0 otherwise (a stationary policy with a known value)."""

    def choose(self, event: int, context: dict[str, str], rng: np.random.Generator) -> int:
        return 1 if context["seniority"] == "executive" else 0

    def update(self, context: dict[str, str], arm: int, reward: float) -> None:
        return None


def test_replay_is_unbiased_for_a_fixed_policy() -> None:
    estimates = []
    for seed in range(20):
        contexts, arms, rewards, _ = _known_log(6000, seed)
        result = replay(_FixedPolicy(), contexts, arms, rewards, np.random.default_rng(seed))
        assert 1700 < result.matched < 2300  # one event in three is counted
        estimates.append(result.value)
    true_value = 0.5 * 0.30 + 0.5 * 0.05
    standard_error = np.std(estimates, ddof=1) / np.sqrt(len(estimates))
    assert abs(np.mean(estimates) - true_value) < 4 * standard_error + 1e-3


def test_replay_ranks_thompson_above_most_popular_above_random() -> None:
    contexts, arms, rewards, _ = _known_log(30000, 1)
    value = {
        name: replay(policy, contexts, arms, rewards, np.random.default_rng(2)).value
        for name, policy in {
            "contextual": ThompsonPolicy(3, ("seniority",)),
            "popular": MostPopular(3),
            "random": RandomPolicy(3),
        }.items()
    }
    # best fixed arm: 0.5 * 0.10 + 0.5 * 0.20 = 0.15; per-segment best: 0.25; random: ~0.123
    assert value["contextual"] > 0.22
    assert 0.13 < value["popular"] < 0.17
    assert value["random"] < 0.14


def test_library_items_are_typed_and_unique() -> None:
    items = library_items()
    assert 20 <= len(items) <= 30
    assert len({i["name"] for i in items}) == len(items)
    assert {i["kind"] for i in items} == {
        "email_template", "sequence_step", "document", "case_study", "subject_line"
    }  # fmt: skip
    for item in items:
        text = f"{item['subject'] or ''} {item['body'] or ''}"
        used = {name for name in SLOT_TYPES if "{" + name + "}" in text}
        assert used == set(item["slots"]), item["name"]


def test_simulated_sends_follow_the_funnel_and_uniform_logging() -> None:
    items = tuple(i for i in library_items() if i["kind"] == "email_template")
    contexts = pd.DataFrame(
        {
            "contact_id": range(300),
            "deal_id": None,
            "industry": np.resize(["software", "healthcare", "retail"], 300),
            "seniority": np.resize(["individual", "manager", "director", "executive"], 300),
            "stage": np.resize(["no_deal", "proposal", "closed_won"], 300),
        }
    )
    sends, rates = simulate_sends(contexts, TrueRates(items), 40000, seed=3)
    assert (sends["click"] <= sends["open"]).all() and (sends["reply"] <= sends["open"]).all()
    share = np.bincount(sends["arm"], minlength=len(items)) / len(sends)
    assert np.allclose(share, 1 / len(items), atol=0.01)
    rows = np.arange(len(sends))
    for metric in ("open", "reply", "win"):
        expected = rates[metric][rows, sends["arm"]].mean()
        assert sends[metric].mean() == pytest.approx(expected, abs=0.01)
    assert (rates["click"] <= rates["open"]).all()
