"""Heatmap of a contact-time analysis: segment x slot posterior means or lifts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from training.contact_time_estimates import SlotEstimate, segment_label


def plot_slot_heatmap(
    slots: Mapping[tuple[str, ...], list[SlotEstimate]],
    keys: list[tuple[str, ...]],
    dimension: str,
    value: str,
    credible_level: float,
    path: Path | None = None,
) -> plt.Figure:
    """Plot the posterior mean (or lift) of each segment in each slot of one dimension.

    Args:
        slots: Slot estimates per segment key (``()`` is the global level).
        keys: The rows, top to bottom (segment keys of ``slots``).
        dimension: The slot dimension on the x axis.
        value: ``mean`` (posterior mean) or ``lift`` (posterior mean / segment base rate - 1).
        credible_level: Level of the credible intervals (for the title).
        path: Where to save a PNG (the figure is closed after saving); None keeps it open.

    Returns:
        The figure; ``*`` marks confident cells.

    """
    levels = [s.slot for s in slots[()] if s.dimension == dimension]
    values = np.full((len(keys), len(levels)), np.nan)
    marks = np.zeros_like(values, dtype=bool)
    for row, key in enumerate(keys):
        for estimate in slots[key]:
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
    ax.set_yticks(range(len(keys)), [segment_label(k) for k in keys], fontsize=7)
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
        f"(* = {round(credible_level * 100)}% CI above segment base rate; "
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
