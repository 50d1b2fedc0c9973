"""The contact-time report: look-ups, recommendations and exports of the posterior rates.

:func:`training.contact_time.analyze_contact_time` builds it; see that module for the method.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from scipy import stats

from training.contact_time_data import (
    CAVEAT,
    GLOBAL_LABEL,
    JOB_GROUPS,
    ContactTimeConfig,
    UnknownSlotDimensionError,
    age_band,
)
from training.contact_time_estimates import (
    SegmentSummary,
    SlotEstimate,
    ranked_slots,
    segment_label,
)
from training.contact_time_heatmap import plot_slot_heatmap
from training.contact_time_model import ModelView

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
            raise KeyError(f"unknown segment {segment_label(key)!r}")
        if dimension is not None and dimension not in self.config.slot_columns:
            raise UnknownSlotDimensionError(dimension)
        chosen = [s for s in self.slots[key] if dimension is None or s.dimension == dimension]
        return ranked_slots(chosen)

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
                reason = f"unknown segment {segment_label(key)!r}"
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
            "segment_label": segment_label(key),
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
            best = ranked_slots(self.slots[key])[0]
            rows.append(
                {
                    "segment": segment_label(key),
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
            label = segment_label(key)
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
    ) -> Figure:
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
        return plot_slot_heatmap(
            self.slots, keys, dimension, value, self.config.credible_level, path
        )

    def _segment_summaries(self) -> list[tuple[tuple[str, ...], SegmentSummary]]:
        return sorted(self.segments.items())

    def _segment_items(self) -> list[tuple[tuple[str, ...], list[SlotEstimate]]]:
        return [(key, self.slots[key]) for key, _ in self._segment_summaries()]
