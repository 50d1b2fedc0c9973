"""PSI of streamed scores against a reference, and the mean score gap between groups."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.stream_checks import (
    SHARE_EPSILON,
    bin_shares,
    group_gap,
    group_stats,
    quantile_edges,
    score_psi,
)


def _scores(size: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """0-100 integer scores shaped like the lead model's (most leads cold, a few hot)."""
    rng = np.random.default_rng(seed)
    return np.clip(np.round(rng.beta(2.0, 5.0, size) * 100 + shift), 0, 100)


# --- PSI ---------------------------------------------------------------------------------------


def test_psi_of_identical_distributions_is_about_zero() -> None:
    reference = _scores(2000, seed=1)
    psi, details = score_psi(reference, reference, bins=10)
    assert psi == pytest.approx(0.0, abs=1e-12)
    assert details["reference_shares"] == details["current_shares"]


def test_psi_of_a_fresh_sample_of_the_same_distribution_is_small() -> None:
    psi, _ = score_psi(_scores(2000, seed=1), _scores(500, seed=2), bins=10)
    assert psi < 0.1


def test_psi_of_a_shifted_distribution_passes_the_threshold() -> None:
    psi, details = score_psi(_scores(2000, seed=1), _scores(500, seed=2, shift=20), bins=10)
    assert psi > 0.2
    # The shift empties the low bins and fills the high ones.
    assert details["current_shares"][0] < details["reference_shares"][0]
    assert details["current_shares"][-1] > details["reference_shares"][-1]


def test_psi_details_describe_the_bins() -> None:
    psi, details = score_psi(_scores(1000, seed=3), _scores(300, seed=4), bins=10)
    bins = len(details["edges"]) + 1
    assert len(details["reference_shares"]) == len(details["current_shares"]) == bins <= 10
    assert sum(details["reference_shares"]) == pytest.approx(1.0, abs=1e-4)
    assert sum(details["current_shares"]) == pytest.approx(1.0, abs=1e-4)
    assert (details["reference_size"], details["current_size"]) == (1000, 300)
    assert psi >= 0


def test_ties_merge_bins_and_empty_bins_stay_finite() -> None:
    reference = np.array([10] * 90 + [50] * 10)  # deciles are mostly the same value
    edges = quantile_edges(reference, 10)
    assert list(edges) == [50.0]
    psi, details = score_psi(reference, np.full(100, 90.0), bins=10)
    assert details["current_shares"] == [0.0, 1.0]
    assert np.isfinite(psi) and psi > 1.0


def test_constant_reference_gives_one_bin() -> None:
    psi, details = score_psi(np.full(50, 30.0), np.full(20, 30.0), bins=10)
    assert details["edges"] == []
    assert psi == pytest.approx(0.0)


def test_scores_outside_the_reference_range_fall_in_the_outer_bins() -> None:
    edges = quantile_edges(np.arange(10, 21), 2)
    shares = bin_shares(np.array([0.0, 100.0]), edges)
    assert shares.tolist() == [0.5, 0.5]


def test_psi_rejects_empty_inputs_and_bad_bins() -> None:
    with pytest.raises(ValueError, match="reference"):
        score_psi([], [1, 2, 3])
    with pytest.raises(ValueError, match="current"):
        score_psi([1, 2, 3], [np.nan])
    with pytest.raises(ValueError, match="bins"):
        score_psi([1, 2, 3], [1, 2, 3], bins=0)


@settings(max_examples=60, deadline=None)
@given(
    reference=st.lists(st.integers(0, 100), min_size=1, max_size=200),
    current=st.lists(st.integers(0, 100), min_size=1, max_size=200),
    bins=st.integers(1, 20),
)
def test_psi_is_finite_non_negative_and_zero_on_itself(
    reference: list[int], current: list[int], bins: int
) -> None:
    psi, details = score_psi(reference, current, bins)
    assert np.isfinite(psi) and psi >= 0
    assert len(details["edges"]) <= bins - 1
    assert score_psi(reference, reference, bins)[0] == pytest.approx(0.0, abs=1e-12)
    # An emptied bin costs at most ln(1 / epsilon) per unit of share moved.
    assert psi <= 2 * np.log(1 / SHARE_EPSILON)


# --- group gap ---------------------------------------------------------------------------------


def test_group_gap_is_the_largest_difference_of_means() -> None:
    scores = [40] * 50 + [30] * 50 + [35] * 40
    groups = ["female"] * 50 + ["male"] * 50 + ["Unknown"] * 40
    gap, means = group_gap(scores, groups, min_group_size=30)
    assert gap == pytest.approx(10.0)
    assert means == {"female": 40.0, "male": 30.0, "Unknown": 35.0}


def test_small_groups_are_not_audited() -> None:
    scores = [30] * 50 + [31] * 50 + [95] * 5
    groups = ["female"] * 50 + ["male"] * 50 + ["nonbinary"] * 5
    gap, means = group_gap(scores, groups, min_group_size=30)
    assert gap == pytest.approx(1.0)
    assert set(means) == {"female", "male"}


def test_fewer_than_two_audited_groups_give_no_gap() -> None:
    gap, means = group_gap([10] * 40 + [90] * 3, ["female"] * 40 + ["male"] * 3, 30)
    assert gap == 0.0
    assert means == {"female": 10.0}
    assert group_gap([], [], 1) == (0.0, {})


def test_group_stats_count_every_group() -> None:
    stats = group_stats(np.array([10, 20, 30]), ["a", "b", "b"])
    assert stats == {"a": {"mean": 10.0, "count": 1}, "b": {"mean": 25.0, "count": 2}}
    with pytest.raises(ValueError, match="groups"):
        group_stats([1, 2], ["a"])
