"""Unit tests of the contact-time analysis on hand-made call counts (no dataset, no model)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.contact_time import analyze_contact_time
from training.contact_time_bayes import beta_prior, estimate_prior_strength
from training.contact_time_data import ContactTimeConfig, UnknownSlotDimensionError, prepare_calls

DAYS_ONLY = ContactTimeConfig(slot_columns=("day_of_week",), fit_model=False, heatmap_min_calls=1)


def _calls(cells: list[tuple[str, str, str, int, int]], **extra: str) -> pd.DataFrame:
    """Expand (job, age_band, day_of_week, calls, successes) cells into one row per call."""
    rows = []
    for job, band, day, n, k in cells:
        for i in range(n):
            rows.append({"job": job, "age_band": band, "day_of_week": day, "y": int(i < k)})
    frame = pd.DataFrame(rows)
    for column, value in extra.items():
        frame[column] = value
    return frame


def _hot_thursday() -> pd.DataFrame:
    """admin. 30-39 answers far more on Thursdays; blue-collar 40-49 is flat across days."""
    days = ["mon", "tue", "wed", "thu", "fri"]
    cells = [("admin.", "30-39", d, 200, 60 if d == "thu" else 16) for d in days]
    cells += [("blue-collar", "40-49", d, 200, 14) for d in days]
    return _calls(cells)


# --- Beta-Binomial math ------------------------------------------------------------------------


def test_posterior_mean_is_a_plus_k_over_a_plus_b_plus_n() -> None:
    prior = beta_prior(0.2, 10)
    assert (prior.alpha, prior.beta) == pytest.approx((2.0, 8.0))
    post = prior.update(3, 10)
    assert (post.alpha, post.beta) == pytest.approx((5.0, 15.0))
    assert post.mean == pytest.approx((2 + 3) / (2 + 8 + 10))


def test_sparse_cells_shrink_toward_the_prior_mean() -> None:
    prior = beta_prior(0.1, 20)
    sparse, dense = prior.update(2, 4), prior.update(200, 400)
    assert prior.mean < sparse.mean < 0.5
    assert abs(sparse.mean - prior.mean) < abs(dense.mean - prior.mean)
    assert dense.mean == pytest.approx(0.5, abs=0.03)


def test_credible_interval_contains_the_mean_and_narrows_with_data() -> None:
    prior = beta_prior(0.1, 20)
    small, large = prior.update(3, 10), prior.update(300, 1000)
    for post in (small, large):
        low, high = post.interval(0.9)
        assert 0.0 <= low < post.mean < high <= 1.0
    assert np.diff(large.interval(0.9))[0] < np.diff(small.interval(0.9))[0]
    assert np.diff(small.interval(0.5))[0] < np.diff(small.interval(0.9))[0]


@pytest.mark.parametrize(("mean", "strength"), [(0.0, 10), (1.0, 10), (0.5, 0)])
def test_invalid_priors_are_rejected(mean: float, strength: float) -> None:
    with pytest.raises(ValueError):
        beta_prior(mean, strength)


def test_update_rejects_more_successes_than_calls() -> None:
    with pytest.raises(ValueError):
        beta_prior(0.5, 2).update(5, 3)


def test_prior_strength_is_maximal_for_homogeneous_cells_and_minimal_for_spread_ones() -> None:
    assert estimate_prior_strength([10, 10, 10], [100, 100, 100], 0.1, 2, 500) == 500
    assert estimate_prior_strength([0, 100, 0, 100], [100] * 4, 0.5, 2, 500) == 2


def test_prior_strength_recovers_a_simulated_beta_binomial() -> None:
    rng = np.random.default_rng(7)
    theta = rng.beta(0.2 * 50, 0.8 * 50, size=3000)
    trials = np.full(3000, 100)
    successes = rng.binomial(trials, theta)
    kappa = estimate_prior_strength(successes, trials, 0.2, 2, 10_000)
    assert 35 < kappa < 70


# --- report: ranking, confident flag, fallback, determinism -------------------------------------


def test_ranking_is_by_posterior_mean_and_matches_the_conjugate_formula() -> None:
    report = analyze_contact_time(_hot_thursday(), DAYS_ONLY)
    ranked = report.best_slots({"job": "admin.", "age_band": "30-39"})
    assert ranked[0].slot == "thu"
    assert [s.rank for s in ranked] == [1, 2, 3, 4, 5]
    means = [s.posterior_mean for s in ranked]
    assert means == sorted(means, reverse=True)
    base = report.segments[("admin.", "30-39")].base_rate
    for s in ranked:
        assert s.prior_alpha + s.prior_beta == pytest.approx(report.prior_strengths["day_of_week"])
        assert s.prior_alpha / (s.prior_alpha + s.prior_beta) == pytest.approx(base)
        expected = (s.prior_alpha + s.successes) / (s.prior_alpha + s.prior_beta + s.n_calls)
        assert s.posterior_mean == pytest.approx(expected)
        assert s.ci_low < s.posterior_mean < s.ci_high
    # Shrinkage: thursday's posterior lies between the segment base rate and its raw rate.
    assert base < ranked[0].posterior_mean < ranked[0].observed_rate


def test_confident_only_when_the_lower_bound_beats_the_segment_base_rate() -> None:
    report = analyze_contact_time(_hot_thursday(), DAYS_ONLY)
    hot = report.best_slots(("admin.", "30-39"), "day_of_week")
    assert hot[0].confident
    assert hot[0].p_beats_base > 0.95
    assert not any(s.confident for s in hot[1:])
    flat = report.best_slots("blue-collar / 40-49")
    assert not any(s.confident for s in flat)
    for estimates in report.slots.values():
        for s in estimates:
            assert s.confident == (s.ci_low > s.base_rate)
            assert 0.0 <= s.p_beats_base <= 1.0


def test_recommend_known_segment_accepts_age_instead_of_age_band() -> None:
    report = analyze_contact_time(_hot_thursday(), DAYS_ONLY)
    answer = report.recommend({"job": "admin.", "age": 34})
    assert answer["level"] == "segment"
    assert answer["fallback"] is False
    assert answer["best_day"] == "thu"
    assert answer["best_month"] is None
    assert answer["channel"] is None
    day = answer["slots"]["day_of_week"]
    assert day["ci_low"] < day["posterior_mean"] < day["ci_high"]
    assert answer["confident"] is True
    assert answer["confident_dimensions"] == ["day_of_week"]


@pytest.mark.parametrize(
    "segment",
    [{"job": "astronaut", "age_band": "30-39"}, {"job": "admin."}, {}],
)
def test_unknown_or_incomplete_segment_falls_back_to_the_global_level(
    segment: dict[str, str],
) -> None:
    report = analyze_contact_time(_hot_thursday(), DAYS_ONLY)
    answer = report.recommend(segment)
    assert answer["level"] == "global"
    assert answer["fallback"] is True
    assert answer["fallback_reason"]
    assert answer["n_calls"] == 2000
    assert answer["best_day"] == "thu"
    assert math.isfinite(answer["slots"]["day_of_week"]["ci_high"])


def test_best_slots_of_unknown_segment_or_dimension_raise() -> None:
    report = analyze_contact_time(_hot_thursday(), DAYS_ONLY)
    with pytest.raises(KeyError):
        report.best_slots({"job": "astronaut", "age_band": "30-39"})
    with pytest.raises(UnknownSlotDimensionError):
        report.best_slots(("admin.", "30-39"), "month")


def test_same_seed_gives_identical_reports_and_another_seed_other_draws() -> None:
    frame = _hot_thursday()
    first = analyze_contact_time(frame, DAYS_ONLY).to_frame()
    again = analyze_contact_time(frame, DAYS_ONLY).to_frame()
    pd.testing.assert_frame_equal(first, again)
    other_config = ContactTimeConfig(
        slot_columns=("day_of_week",), fit_model=False, heatmap_min_calls=1, seed=1
    )
    other = analyze_contact_time(frame, other_config).to_frame()
    pd.testing.assert_series_equal(first["posterior_mean"], other["posterior_mean"])
    assert not first["p_beats_base"].equals(other["p_beats_base"])


def test_channel_and_month_are_optional_slot_dimensions() -> None:
    frame = _hot_thursday()
    frame["month"] = np.where(np.arange(len(frame)) % 2 == 0, "may", "mar")
    frame["contact"] = np.where(np.arange(len(frame)) % 3 == 0, "telephone", "cellular")
    report = analyze_contact_time(frame, ContactTimeConfig(fit_model=False))
    answer = report.recommend({"job": "blue-collar", "age_band": "40-49"})
    assert answer["best_month"] in {"mar", "may"}
    assert answer["channel"] in {"cellular", "telephone"}
    assert [s.slot for s in report.best_slots((), "month")] != []
    assert set(report.prior_strengths) == {"segment", "day_of_week", "month", "contact"}


def test_duration_is_dropped_and_leaky_slots_are_refused() -> None:
    frame = _hot_thursday()
    frame["duration"] = 100
    assert "duration" not in prepare_calls(frame, DAYS_ONLY).columns
    with pytest.raises(ValueError, match="leaky"):
        ContactTimeConfig(slot_columns=("duration",))
    with pytest.raises(ValueError):
        ContactTimeConfig(segment_columns=("job",), slot_columns=("job",))
    with pytest.raises(KeyError):
        prepare_calls(frame.drop(columns=["day_of_week"]), DAYS_ONLY)


def test_exports_frame_markdown_and_heatmap(tmp_path: Path) -> None:
    report = analyze_contact_time(_hot_thursday(), DAYS_ONLY)
    table = report.to_frame()
    assert len(table) == 15  # (global + 2 segments) x 5 days
    assert {"segment", "posterior_mean", "ci_low", "ci_high", "confident"} <= set(table.columns)
    markdown = report.to_markdown()
    assert "not causal" in markdown
    assert "admin. / 30-39" in markdown
    for value in ("mean", "lift"):
        path = tmp_path / f"heatmap_{value}.png"
        report.heatmap(path, "day_of_week", value)
        assert path.stat().st_size > 0
