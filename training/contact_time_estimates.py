"""Contact-time results: a slot's posterior response rate and a segment's base rate."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from training.contact_time_bayes import BetaPosterior
from training.contact_time_data import GLOBAL_LABEL


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


def segment_label(key: tuple[str, ...]) -> str:
    """Return a segment's display label (``" / "``-joined values, or the global label)."""
    return " / ".join(key) if key else GLOBAL_LABEL


def ranked_slots(estimates: list[SlotEstimate]) -> list[SlotEstimate]:
    """Return the estimates best first (posterior mean, then calls), numbered from rank 1."""
    order = sorted(estimates, key=lambda s: (-s.posterior_mean, -s.n_calls))
    return [replace(s, rank=i + 1) for i, s in enumerate(order)]
