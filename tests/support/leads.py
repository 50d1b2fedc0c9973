"""A tiny synthetic lead table (four Kaggle-like columns) for the scoring and serving tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.dataset import LabelledData

#: The model inputs of :func:`synthetic_leads`.
FEATURES = ["Total Time Spent on Website", "TotalVisits", "Lead Origin", "Do Not Email"]


def synthetic_leads(rows: int = 300, seed: int = 7) -> tuple[pd.DataFrame, pd.Series]:
    """Return leads whose conversion follows a known logit of the :data:`FEATURES`.

    Args:
        rows: Number of leads.
        seed: Random seed.

    Returns:
        The feature frame and the ``Converted`` labels.
    """
    rng = np.random.default_rng(seed)
    time_spent = rng.exponential(500.0, rows)
    visits = rng.poisson(3, rows).astype(float)
    origin = rng.choice(["API", "Landing Page Submission", "Lead Add Form"], rows)
    do_not_email = rng.choice(["Yes", "No"], rows, p=[0.2, 0.8])
    logit = (
        -1.5
        + time_spent / 400.0
        + 0.2 * visits
        + np.where(origin == "Lead Add Form", 2.0, 0.0)
        - np.where(do_not_email == "Yes", 1.0, 0.0)
    )
    labels = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "Total Time Spent on Website": time_spent,
            "TotalVisits": visits,
            "Lead Origin": origin,
            "Do Not Email": do_not_email,
        }
    )
    return frame, pd.Series(labels, name="Converted")


def labelled_leads(frame: pd.DataFrame, labels: pd.Series) -> LabelledData:
    """Wrap a lead frame and its labels as training data (ids ``c-<i>``, one fairness group)."""
    return LabelledData(
        features=frame,
        labels=labels,
        ids=pd.Series([f"c-{i}" for i in range(len(frame))], index=frame.index),
        groups=pd.DataFrame({"g": ["a"] * len(frame)}, index=frame.index),
    )
