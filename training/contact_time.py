"""Optimal contact time from UCI Bank Marketing: response rate per customer segment and slot.

The analysis answers "when (and how) should we call this kind of customer?" with honest
uncertainty. It is framework-free (pandas, numpy, scipy, scikit-learn, matplotlib); the Prefect
flow :mod:`flows.contact_time` orchestrates it and
:func:`training.contact_time_tracking.log_contact_time` records it in MLflow. This module runs
the analysis; the result is a :class:`~training.contact_time_report.ContactTimeReport`.

Segments
    Customers are grouped by pre-call attributes only, the columns of
    :attr:`ContactTimeConfig.segment_columns` (default ``("job", "age_band")``: the 12 job
    categories x 5 age bands ``<30``, ``30-39``, ``40-49``, ``50-59``, ``60+``).
    :func:`prepare_calls` derives ``age_band`` from ``age`` and a coarser ``job_group``
    (white-collar, blue-collar, not-working, unknown) that a config may use instead of ``job``.

Slots
    ``day_of_week`` (mon-fri), ``month`` (mar-dec: the data has no jan/feb calls) and,
    optionally, the contact channel ``contact`` (cellular/telephone). Each slot dimension is
    analysed on its own (marginal rates), never as a sparse day x month x channel grid.

Bayesian view (the recommendation)
    Two-level empirical Bayes with Beta-Binomial conjugacy. A segment's rate gets a
    ``Beta(kappa_seg * p, kappa_seg * (1 - p))`` prior centred on the global rate ``p``; its
    posterior mean is the segment's *base rate* ``b``. Each segment x slot cell with ``k``
    successes in ``n`` calls gets the prior ``Beta(a, b') = Beta(kappa_d * b, kappa_d * (1 - b))``
    centred on its segment's base rate, so its posterior mean is ``(a + k) / (a + b' + n)``:
    sparse cells shrink toward the segment mean, well-filled cells follow their own data. The
    prior strengths ``kappa`` are fitted by the method of moments (the between-cell spread in
    excess of binomial noise, pooled over all segments, one ``kappa`` per slot dimension) and
    clipped to ``[min_prior_strength, max_prior_strength]``. Each cell reports the posterior
    mean, an equal-tailed credible interval (90 % by default), the number of calls and
    ``P(cell rate > segment rate)`` by seeded Monte Carlo from the two Beta posteriors. A slot is
    *confident* only when the lower credible bound exceeds the segment's base rate.

Model view (the cross-check)
    A logistic regression on the pre-call features plus the slot features (``duration`` is
    never an input: it is only known after the call and leaks the target), trained on the
    earliest calls and scored on the latest ones (rows are in date order), with ROC AUC and the
    per-slot partial dependence: the average predicted response of the held-out calls when every
    one of them is moved to that slot. Moro et al. (2014) report AUC 0.80 on different data
    (2008-2013, 22 selected features, rolling window), so it is a reference, not a target.

Caveat: these are associations, not causal effects. Calls were not randomised over slots, and
the month effects are confounded with the 2008-2010 macro-economic context (euribor, employment,
the campaigns the bank ran that month): "March" means "March 2009/2010 under those conditions".
Use the recommendations as a prior for an A/B test of call timing, not as a proven lift.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.contact_time_bayes import (
    MOMENT_EPS,
    BetaPosterior,
    beta_prior,
    estimate_prior_strength,
)
from training.contact_time_data import (
    TARGET,
    ContactTimeConfig,
    prepare_calls,
    slot_levels,
)
from training.contact_time_estimates import SegmentSummary, SlotEstimate
from training.contact_time_model import fit_model_view
from training.contact_time_report import ContactTimeReport


def _slot_estimates(
    key: tuple[str, ...],
    counts: pd.DataFrame,
    dimension: str,
    base: BetaPosterior,
    strength: float,
    config: ContactTimeConfig,
    rng: np.random.Generator,
) -> list[SlotEstimate]:
    """Posterior of each slot of one segment and dimension, ``counts`` indexed by slot."""
    prior = beta_prior(base.mean, strength)
    base_draws = base.sample(rng, config.n_draws)
    out = []
    for slot, row in counts.iterrows():
        n, k = int(row["n"]), int(row["k"])
        post = prior.update(k, n)
        low, high = post.interval(config.credible_level)
        draws = post.sample(rng, config.n_draws)
        out.append(
            SlotEstimate(
                segment=key,
                dimension=dimension,
                slot=str(slot),
                n_calls=n,
                successes=k,
                observed_rate=k / n,
                prior_alpha=prior.alpha,
                prior_beta=prior.beta,
                posterior_mean=post.mean,
                ci_low=low,
                ci_high=high,
                base_rate=base.mean,
                p_beats_base=float(np.mean(draws > base_draws)),
                confident=bool(low > base.mean),
            )
        )
    return out


def _cell_counts(calls: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    grouped = calls.groupby(by, observed=True, sort=True)[TARGET].agg(n="size", k="sum")
    return grouped.astype(int)


def analyze_contact_time(
    frame: pd.DataFrame, config: ContactTimeConfig | None = None
) -> ContactTimeReport:
    """Compute posterior response rates per segment x slot (and the model cross-check).

    Args:
        frame: Bank Marketing calls (``duration`` is dropped here if present).
        config: Segments, slots, interval level, Monte Carlo and model settings.

    Returns:
        The report; see the module docstring for the method and its caveats.

    """
    config = config or ContactTimeConfig()
    calls = prepare_calls(frame, config)
    if calls.empty:
        raise ValueError("no calls to analyse")
    segment_columns = list(config.segment_columns)
    rng = np.random.default_rng(config.seed)

    total, hits = len(calls), int(calls[TARGET].sum())
    global_posterior = BetaPosterior(1.0, 1.0).update(hits, total)
    global_rate = float(np.clip(global_posterior.mean, MOMENT_EPS, 1 - MOMENT_EPS))
    global_low, global_high = global_posterior.interval(config.credible_level)
    global_summary = SegmentSummary(
        (), total, hits, global_posterior.mean, global_low, global_high, global_posterior
    )

    segment_counts = _cell_counts(calls, segment_columns)
    segment_strength = estimate_prior_strength(
        segment_counts["k"],
        segment_counts["n"],
        global_rate,
        config.min_prior_strength,
        config.max_prior_strength,
    )
    segment_prior = beta_prior(global_rate, segment_strength)
    segments: dict[tuple[str, ...], SegmentSummary] = {}
    for index, row in segment_counts.iterrows():
        key = index if isinstance(index, tuple) else (index,)
        key = tuple(str(v) for v in key)
        post = segment_prior.update(int(row["k"]), int(row["n"]))
        low, high = post.interval(config.credible_level)
        segments[key] = SegmentSummary(
            key, int(row["n"]), int(row["k"]), post.mean, low, high, post
        )

    strengths: dict[str, float] = {"segment": segment_strength}
    cells: dict[str, pd.DataFrame] = {}
    for dimension in config.slot_columns:
        counts = _cell_counts(calls, [*segment_columns, dimension]).reset_index()
        keys = list(counts[segment_columns].astype(str).itertuples(index=False, name=None))
        means = [segments[tuple(key)].base_rate for key in keys]
        strengths[dimension] = estimate_prior_strength(
            counts["k"], counts["n"], means, config.min_prior_strength, config.max_prior_strength
        )
        cells[dimension] = counts

    slots: dict[tuple[str, ...], list[SlotEstimate]] = {(): []}
    for dimension in config.slot_columns:
        levels = slot_levels(calls, dimension)
        counts = _cell_counts(calls, [dimension]).reindex(levels)
        slots[()] += _slot_estimates(
            (), counts, dimension, global_posterior, strengths[dimension], config, rng
        )
    for key in sorted(segments):
        estimates: list[SlotEstimate] = []
        for dimension in config.slot_columns:
            counts = cells[dimension]
            mask = np.ones(len(counts), dtype=bool)
            for column, value in zip(segment_columns, key, strict=True):
                mask &= counts[column].astype(str).to_numpy() == value
            part = counts.loc[mask].set_index(dimension)[["n", "k"]]
            order = [level for level in slot_levels(calls, dimension) if level in part.index]
            estimates += _slot_estimates(
                key,
                part.reindex(order),
                dimension,
                segments[key].posterior,
                strengths[dimension],
                config,
                rng,
            )
        slots[key] = estimates

    report = ContactTimeReport(
        config=config,
        n_calls=total,
        global_summary=global_summary,
        segments=segments,
        slots=slots,
        prior_strengths=strengths,
    )
    if config.fit_model:
        report.model_view = fit_model_view(frame, config, report)
    return report
