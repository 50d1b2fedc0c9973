"""Optimal contact time from UCI Bank Marketing: response rate per customer segment and slot.

The analysis answers "when (and how) should we call this kind of customer?" with honest
uncertainty. It is framework-free (pandas, numpy, scipy, scikit-learn, matplotlib); the Prefect
flow :mod:`flows.contact_time` orchestrates it and :func:`log_contact_time` records it in MLflow.

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

import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from training.contact_time_bayes import (
    MOMENT_EPS,
    BetaPosterior,
    beta_prior,
    estimate_prior_strength,
)
from training.contact_time_data import (
    CAVEAT,
    GLOBAL_LABEL,
    JOB_GROUPS,
    LEAKY_COLUMNS,
    TARGET,
    ContactTimeConfig,
    UnknownSlotDimensionError,
    age_band,
    prepare_calls,
    slot_levels,
)
from training.contact_time_model import ModelView, fit_model_view

if TYPE_CHECKING:
    from haste.settings import Settings

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- Beta-Binomial math


# --------------------------------------------------------------------------- data preparation


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class SlotEstimate:
    """Posterior response rate of one segment in one slot."""

    segment: tuple[str, ...]
    dimension: str
    slot: str
    n_calls: int
    successes: int
    observed_rate: float
    prior_alpha: float
    prior_beta: float
    posterior_mean: float
    ci_low: float
    ci_high: float
    base_rate: float
    p_beats_base: float
    confident: bool
    rank: int = 0

    @property
    def lift(self) -> float:
        """Return the posterior mean relative to the segment's base rate, minus one."""
        return self.posterior_mean / self.base_rate - 1.0 if self.base_rate > 0 else np.nan

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (segment as a list)."""
        out = asdict(self)
        out["segment"] = list(self.segment)
        out["lift"] = self.lift
        return out


@dataclass(frozen=True)
class SegmentSummary:
    """A segment's call count and posterior base rate (shrunk toward the global rate)."""

    key: tuple[str, ...]
    n_calls: int
    successes: int
    base_rate: float
    ci_low: float
    ci_high: float
    posterior: BetaPosterior


def _segment_label(key: tuple[str, ...]) -> str:
    return " / ".join(key) if key else GLOBAL_LABEL


@dataclass
class ContactTimeReport:
    """Posterior response rates per segment x slot, rankings and recommendations."""

    config: ContactTimeConfig
    n_calls: int
    global_summary: SegmentSummary
    segments: dict[tuple[str, ...], SegmentSummary]
    slots: dict[tuple[str, ...], list[SlotEstimate]]
    prior_strengths: dict[str, float]
    model_view: ModelView | None = None

    # ---------------------------------------------------------------- look-ups

    def segment_key(self, segment: Mapping[str, Any] | Sequence[str] | str) -> tuple[str, ...]:
        """Normalise a segment given as a dict, a tuple of values or a ``" / "`` label."""
        columns = self.config.segment_columns
        if isinstance(segment, Mapping):
            values = dict(segment)
            if "age_band" in columns and "age_band" not in values and "age" in values:
                values["age_band"] = str(age_band(pd.Series([float(values["age"])])).iloc[0])
            if "job_group" in columns and "job_group" not in values and "job" in values:
                values["job_group"] = JOB_GROUPS.get(str(values["job"]).strip(), "unknown")
            missing = [column for column in columns if values.get(column) is None]
            if missing:
                raise KeyError(f"segment lacks {missing}")
            return tuple(str(values[column]).strip() for column in columns)
        if isinstance(segment, str):
            if segment == GLOBAL_LABEL:
                return ()
            return tuple(part.strip() for part in segment.split(" / "))
        return tuple(str(value).strip() for value in segment)

    def best_slots(
        self,
        segment: Mapping[str, Any] | Sequence[str] | str,
        dimension: str | None = None,
    ) -> list[SlotEstimate]:
        """Return a segment's slots ranked by posterior mean (best first).

        Args:
            segment: The segment (dict of segment columns, tuple of values, label); ``()`` or
                ``"(all customers)"`` is the global level.
            dimension: Only this slot dimension; ``None`` ranks every slot of every dimension.

        Returns:
            Slot estimates, rank 1 first; each carries ``p_beats_base`` and ``confident``.

        Raises:
            KeyError: When the segment is unknown.

        """
        key = self.segment_key(segment)
        if key not in self.slots:
            raise KeyError(f"unknown segment {_segment_label(key)!r}")
        if dimension is not None and dimension not in self.config.slot_columns:
            raise UnknownSlotDimensionError(dimension)
        chosen = [s for s in self.slots[key] if dimension is None or s.dimension == dimension]
        return _ranked(chosen)

    # ---------------------------------------------------------------- recommendation

    def recommend(self, segment_values: Mapping[str, Any]) -> dict[str, Any]:
        """Recommend the best day, month and channel for a customer.

        Args:
            segment_values: The customer's segment attributes, e.g. ``{"job": "retired",
                "age_band": "60+"}`` (``age`` is accepted in place of ``age_band``).

        Returns:
            ``level`` (``segment`` or ``global``), ``fallback`` (True when the segment is
            unknown and the global level answers), ``fallback_reason``, ``n_calls``,
            ``base_rate``, ``best_day``, ``best_month``, ``channel`` and, per slot dimension in
            ``slots``, the best slot's posterior mean, credible interval, ``p_beats_base`` and
            ``confident``; top-level ``confident`` is True when any recommended slot is.

        """
        reason = None
        try:
            key = self.segment_key(segment_values)
        except (KeyError, TypeError, ValueError) as exc:
            key, reason = (), f"incomplete segment: {exc}"
        else:
            if key not in self.slots:
                reason = f"unknown segment {_segment_label(key)!r}"
                key = ()
        summary = self.global_summary if key == () else self.segments[key]
        slots: dict[str, dict[str, Any]] = {}
        for dimension in self.config.slot_columns:
            ranked = self.best_slots(key, dimension)
            if not ranked:
                continue
            best = ranked[0]
            slots[dimension] = {
                "slot": best.slot,
                "posterior_mean": best.posterior_mean,
                "ci_low": best.ci_low,
                "ci_high": best.ci_high,
                "p_beats_base": best.p_beats_base,
                "confident": best.confident,
                "n_calls": best.n_calls,
                "ranking": [s.slot for s in ranked],
            }
        confident_dimensions = [d for d, entry in slots.items() if entry["confident"]]
        return {
            "segment": {c: v for c, v in zip(self.config.segment_columns, key, strict=False)},
            "segment_label": _segment_label(key),
            "level": "global" if key == () else "segment",
            "fallback": reason is not None,
            "fallback_reason": reason,
            "n_calls": summary.n_calls,
            "base_rate": summary.base_rate,
            "best_day": slots.get("day_of_week", {}).get("slot"),
            "best_month": slots.get("month", {}).get("slot"),
            "channel": slots.get("contact", {}).get("slot"),
            "slots": slots,
            "confident": bool(confident_dimensions),
            "confident_dimensions": confident_dimensions,
            "credible_level": self.config.credible_level,
            "caveat": CAVEAT,
        }

    def top_recommendations(self, n: int = 10, min_calls: int | None = None) -> pd.DataFrame:
        """Return each segment's best slot, confident ones first, then by lift.

        Args:
            n: How many segments to keep.
            min_calls: Only segments with at least this many calls (default: heatmap minimum).

        Returns:
            One row per segment: its best slot over all dimensions and the evidence.

        """
        threshold = self.config.heatmap_min_calls if min_calls is None else min_calls
        rows = []
        for key, summary in self.segments.items():
            if summary.n_calls < threshold or not self.slots[key]:
                continue
            best = _ranked(self.slots[key])[0]
            rows.append(
                {
                    "segment": _segment_label(key),
                    "segment_calls": summary.n_calls,
                    "dimension": best.dimension,
                    "slot": best.slot,
                    "slot_calls": best.n_calls,
                    "posterior_mean": best.posterior_mean,
                    "ci_low": best.ci_low,
                    "ci_high": best.ci_high,
                    "base_rate": best.base_rate,
                    "lift": best.lift,
                    "p_beats_base": best.p_beats_base,
                    "confident": best.confident,
                }
            )
        table = pd.DataFrame(rows)
        if table.empty:
            return table
        table = table.sort_values(["confident", "lift"], ascending=[False, False])
        return table.head(n).reset_index(drop=True)

    # ---------------------------------------------------------------- exports

    def to_frame(self) -> pd.DataFrame:
        """Return one row per (segment or global level) x slot, with every estimate."""
        rows = []
        for key, estimates in [((), self.slots[()]), *self._segment_items()]:
            summary = self.global_summary if key == () else self.segments[key]
            label = _segment_label(key)
            values = key or ("(all)",) * len(self.config.segment_columns)
            for estimate in estimates:
                row = dict(zip(self.config.segment_columns, values, strict=True))
                row.update(
                    {
                        "level": "global" if key == () else "segment",
                        "segment": label,
                        "segment_calls": summary.n_calls,
                    }
                )
                row.update({k: v for k, v in estimate.to_dict().items() if k != "segment"})
                rows.append(row)
        return pd.DataFrame(rows)

    def to_markdown(self, top: int = 10) -> str:
        """Return a human-readable report: global rankings, top segment slots, model view."""
        level = round(self.config.credible_level * 100)
        strengths = ", ".join(f"{k} {v:.0f}" for k, v in self.prior_strengths.items())
        lines = [
            "# Optimal contact time (UCI Bank Marketing)",
            "",
            f"{self.n_calls:,} calls, {len(self.segments)} segments over "
            f"{' x '.join(self.config.segment_columns)}; global response rate "
            f"{self.global_summary.base_rate:.3f}. `duration` dropped (it leaks the target).",
            f"Empirical-Bayes prior strengths (pseudo-calls): {strengths}. "
            f"Intervals are {level}% equal-tailed credible intervals.",
            "",
            f"> {CAVEAT}",
            "",
        ]
        columns = ["slot", "n_calls", "posterior_mean", "ci_low", "ci_high", "p_beats_base"]
        for dimension in self.config.slot_columns:
            ranked = self.best_slots((), dimension)
            table = pd.DataFrame([s.to_dict() for s in ranked])[["rank", *columns, "confident"]]
            lines += [
                f"## Global ranking: {dimension}",
                "",
                table.round(4).to_markdown(index=False),
            ]
            lines.append("")
        recommendations = self.top_recommendations(top)
        if not recommendations.empty:
            lines += [
                f"## Top segment recommendations (segments with >= "
                f"{self.config.heatmap_min_calls} calls)",
                "",
                recommendations.round(4).to_markdown(index=False),
                "",
            ]
        if self.model_view is not None:
            view = self.model_view
            lines += [
                "## Model cross-check",
                "",
                f"{view.model_type} on {len(view.features)} pre-call + slot features "
                f"(no `duration`): time-ordered ROC AUC **{view.roc_auc:.3f}** "
                f"(train on the first {view.train_rows:,} calls, test on the last "
                f"{view.test_rows:,}); shuffled-split reference AUC {view.roc_auc_shuffled:.3f}. "
                "Moro et al. 2014 report 0.80 on different data.",
                "",
                "Partial dependence (mean predicted response of the held-out calls moved to "
                "each slot) next to the global posterior mean:",
                "",
                view.partial_dependence.round(4).to_markdown(index=False),
                "",
                "Rank agreement (Spearman, model vs Bayesian): "
                + ", ".join(f"{k} {v:.2f}" for k, v in self.rank_agreement().items()),
            ]
        return "\n".join(lines)

    def rank_agreement(self) -> dict[str, float]:
        """Return the Spearman correlation of model and Bayesian global slot rankings."""
        if self.model_view is None:
            return {}
        out = {}
        table = self.model_view.partial_dependence
        for dimension, part in table.groupby("dimension", sort=False):
            if len(part) < 2 or part["mean_predicted"].nunique() < 2:
                out[str(dimension)] = float("nan")
                continue
            rho = stats.spearmanr(part["mean_predicted"], part["posterior_mean"]).statistic
            out[str(dimension)] = float(rho)
        return out

    def heatmap(
        self, path: Path | None = None, dimension: str = "day_of_week", value: str = "mean"
    ) -> plt.Figure:
        """Plot segment x slot posterior means (``*`` marks confident cells).

        Segments with fewer than ``heatmap_min_calls`` calls are left out; the first row is the
        global level.

        Args:
            path: Where to save a PNG (the figure is closed after saving); None keeps it open.
            dimension: The slot dimension on the x axis.
            value: ``mean`` (posterior mean) or ``lift`` (posterior mean / segment base rate - 1,
                which shows the within-segment slot pattern that segment differences hide).

        Returns:
            The figure.

        """
        if dimension not in self.config.slot_columns:
            raise UnknownSlotDimensionError(dimension)
        if value not in ("mean", "lift"):
            raise ValueError(f"value must be 'mean' or 'lift', got {value!r}")
        keys = [
            key
            for key, summary in self._segment_summaries()
            if summary.n_calls >= self.config.heatmap_min_calls
        ]
        keys = [(), *keys]
        levels = [s.slot for s in self.slots[()] if s.dimension == dimension]
        values = np.full((len(keys), len(levels)), np.nan)
        marks = np.zeros_like(values, dtype=bool)
        for row, key in enumerate(keys):
            for estimate in self.slots[key]:
                if estimate.dimension == dimension and estimate.slot in levels:
                    column = levels.index(estimate.slot)
                    shown = estimate.posterior_mean if value == "mean" else estimate.lift
                    values[row, column] = shown
                    marks[row, column] = estimate.confident
        fig, ax = plt.subplots(figsize=(1.1 * len(levels) + 4, 0.32 * len(keys) + 1.6))
        if value == "mean":
            image = ax.imshow(values, aspect="auto", cmap="viridis")
        else:
            bound = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
            image = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-bound, vmax=bound)
        ax.set_xticks(range(len(levels)), levels)
        ax.set_yticks(range(len(keys)), [_segment_label(k) for k in keys], fontsize=7)
        for row in range(len(keys)):
            for column in range(len(levels)):
                if np.isfinite(values[row, column]):
                    text = f"{values[row, column]:.2f}{'*' if marks[row, column] else ''}"
                    color = "w" if value == "mean" else "k"
                    ax.text(column, row, text, ha="center", va="center", fontsize=6, color=color)
        ax.set_xlabel(dimension)
        title = "Posterior response rate" if value == "mean" else "Lift over segment base rate"
        ax.set_title(
            f"{title} by segment x {dimension}\n"
            f"(* = {round(self.config.credible_level * 100)}% CI above segment base rate; "
            "associations, not causal)",
            fontsize=9,
        )
        fig.colorbar(image, ax=ax, label="posterior mean" if value == "mean" else "lift")
        fig.tight_layout()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=110)
            plt.close(fig)
        return fig

    def _segment_summaries(self) -> list[tuple[tuple[str, ...], SegmentSummary]]:
        return sorted(self.segments.items())

    def _segment_items(self) -> list[tuple[tuple[str, ...], list[SlotEstimate]]]:
        return [(key, self.slots[key]) for key, _ in self._segment_summaries()]


def _ranked(estimates: list[SlotEstimate]) -> list[SlotEstimate]:
    order = sorted(estimates, key=lambda s: (-s.posterior_mean, -s.n_calls))
    return [replace(s, rank=i + 1) for i, s in enumerate(order)]


# --------------------------------------------------------------------------- the analysis


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


# --------------------------------------------------------------------------- model view


# --------------------------------------------------------------------------- MLflow


def log_contact_time(report: ContactTimeReport, settings: Settings) -> str:
    """Log the analysis as an MLflow run: params, AUC metrics, heatmap, CSV and Markdown.

    Args:
        report: The finished analysis.
        settings: Platform settings (tracking store and experiment).

    Returns:
        The MLflow run id.

    """
    import mlflow

    from training.registry import configure_mlflow, log_artifacts

    configure_mlflow(settings)
    config = report.config
    with mlflow.start_run(run_name="contact-time-analysis") as run:
        mlflow.set_tags(
            {"analysis": "contact_time", "dataset": "bank_marketing", "causal": "false"}
        )
        mlflow.log_params(
            {
                "segment_columns": ",".join(config.segment_columns),
                "slot_columns": ",".join(config.slot_columns),
                "credible_level": config.credible_level,
                "n_draws": config.n_draws,
                "seed": config.seed,
                "test_fraction": config.test_fraction,
                "n_calls": report.n_calls,
                "n_segments": len(report.segments),
                "dropped_columns": ",".join(LEAKY_COLUMNS),
                **{f"prior_strength.{k}": round(v, 3) for k, v in report.prior_strengths.items()},
            }
        )
        metrics = {
            "global_response_rate": report.global_summary.base_rate,
            "n_confident_slots": float(
                sum(s.confident for key, est in report.slots.items() if key for s in est)
            ),
        }
        if report.model_view is not None:
            metrics["roc_auc"] = report.model_view.roc_auc
            metrics["roc_auc_shuffled"] = report.model_view.roc_auc_shuffled
            mlflow.log_param("model_type", report.model_view.model_type)
            for dimension, rho in report.rank_agreement().items():
                if np.isfinite(rho):
                    metrics[f"rank_agreement_{dimension}"] = rho
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            paths = [folder / "contact_time.csv", folder / "contact_time.md"]
            report.to_frame().to_csv(paths[0], index=False)
            paths[1].write_text(report.to_markdown(), encoding="utf-8")
            if report.model_view is not None:
                paths.append(folder / "partial_dependence.csv")
                report.model_view.partial_dependence.to_csv(paths[-1], index=False)
            log_artifacts(paths)
            plots = []
            for dimension in ("day_of_week", "month"):
                if dimension not in config.slot_columns:
                    continue
                for value in ("mean", "lift"):
                    plots.append(folder / f"heatmap_{dimension}_{value}.png")
                    report.heatmap(plots[-1], dimension, value)
            log_artifacts(plots, artifact_path="plots")
        return run.info.run_id
