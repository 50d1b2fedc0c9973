"""Bias audit and mitigation comparison on hand-made data with a known (un)fair classifier."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.bias import (
    EXPONENTIATED_GRADIENT,
    THRESHOLD_OPTIMIZER,
    UNMITIGATED,
    audit_champion,
    compare_mitigations,
    render_bias_report,
)
from training.config import TrainingConfig


def _config() -> TrainingConfig:
    return TrainingConfig.model_validate(
        {
            "model_name": "toy",
            "dataset": "toy",
            "id_column": "id",
            "target": "y",
            "features": {"sensitive_columns": ["group"]},
            "fairness": {
                "sensitive_columns": ["group"],
                "min_group_size": 50,
                "max_equalized_odds_difference": 0.2,
                "max_true_positive_rate_difference": 0.2,
                "min_group_roc_auc": 0.6,
            },
        }
    )


def _frame(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Two groups with the same label mechanism; ``proxy`` reveals the group (zip-code-like)."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b"], size=n)
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-2.5 * x))).astype(int)
    return pd.DataFrame(
        {
            "id": [f"c{i}" for i in range(n)],
            "x": x,
            "proxy": (group == "b").astype(float) + rng.normal(0, 0.05, n),
            "group": group,
            "y": y,
        }
    )


class _Scorer:
    """A fixed logistic scorer over ``x`` with an optional boost for the proxy's group."""

    def __init__(self, group_boost: float) -> None:
        self.group_boost = group_boost

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        logit = 2.5 * frame["x"].to_numpy() + self.group_boost * frame["proxy"].to_numpy() - 1.0
        p = 1 / (1 + np.exp(-logit))
        return np.column_stack([1 - p, p]).astype(np.float32)


def test_biased_classifier_raises_alerts() -> None:
    result = audit_champion(_Scorer(group_boost=2.0), _frame(), _config(), model_version="3")
    audit = result.columns["group"]
    assert not result.passed
    assert any("equalized odds difference" in a for a in result.alerts)
    assert all(a.startswith("toy / group: ") for a in result.alerts)
    assert audit.disparities["equalized_odds_difference"] > 0.3
    assert audit.disparities["demographic_parity_difference"] > 0.2
    assert 0 < audit.disparities["demographic_parity_ratio"] < 0.7
    assert set(audit.by_group.index) == {"a", "b"}
    for column in ("selection_rate", "true_positive_rate", "false_positive_rate", "roc_auc"):
        assert column in audit.by_group.columns
    assert result.metrics()["group.equalized_odds_difference"] > 0.3


def test_fair_classifier_raises_no_alert() -> None:
    result = audit_champion(_Scorer(group_boost=0.0), _frame(), _config())
    assert result.passed, result.alerts
    assert result.alerts == []
    assert result.columns["group"].disparities["equalized_odds_difference"] < 0.1


def test_small_groups_are_listed_not_audited() -> None:
    frame = _frame()
    frame.loc[frame.index[:20], "group"] = "tiny"
    result = audit_champion(_Scorer(group_boost=0.0), frame, _config())
    assert result.columns["group"].excluded_groups == ["tiny"]
    assert "tiny" not in result.columns["group"].by_group.index


@pytest.fixture(scope="module")
def biased_comparison() -> tuple:
    frame, config = _frame(4000, seed=1), _config()
    comparison = compare_mitigations(_Scorer(group_boost=2.0), frame, config, "group")
    return frame, config, comparison


def test_threshold_optimizer_reduces_equalized_odds_difference(biased_comparison: tuple) -> None:
    _, _, comparison = biased_comparison
    table = comparison.table
    before = table.loc[UNMITIGATED, "equalized_odds_difference"]
    after = table.loc[THRESHOLD_OPTIMIZER, "equalized_odds_difference"]
    assert before > 0.3
    assert after < before / 2
    assert table.loc[THRESHOLD_OPTIMIZER, "eod_reduction"] == pytest.approx(before - after)
    # ExponentiatedGradient over a logistic regression is fairer than the biased scorer too.
    assert table.loc[EXPONENTIATED_GRADIENT, "equalized_odds_difference"] < before / 2
    for column in ("accuracy", "roc_auc", "accuracy_cost", "roc_auc_cost"):
        assert table[column].notna().all()
    assert comparison.n_eval == 4000
    assert comparison.n_fit == 2000


def test_report_markdown_and_html(biased_comparison: tuple, tmp_path: Path) -> None:
    frame, config, comparison = biased_comparison
    result = audit_champion(_Scorer(group_boost=2.0), frame, config, model_version="3")
    html_path = tmp_path / "report.html"
    markdown = render_bias_report(result, [comparison], html_path=html_path)
    assert markdown.startswith("# Bias audit: toy v3")
    assert "equalized odds difference" in markdown
    assert THRESHOLD_OPTIMIZER in markdown
    page = html_path.read_text(encoding="utf-8")
    png = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert png is not None
    assert base64.b64decode(png.group(1)).startswith(b"\x89PNG")
