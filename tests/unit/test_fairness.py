"""Unit tests of the fairlearn audit and the registration gate on hand-made predictions."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from training.config import FairnessConfig
from training.fairness import audit_all_columns, audit_fairness


def _config(**overrides: object) -> FairnessConfig:
    params: dict[str, object] = {"sensitive_column": "City", "min_group_size": 10}
    params.update(overrides)
    return FairnessConfig(**params)


def _balanced_group(name: str, size: int = 20) -> tuple[np.ndarray, pd.Series]:
    labels = np.array([0, 1] * (size // 2))
    return labels, pd.Series([name] * size)


def _data(*groups: tuple[np.ndarray, pd.Series]) -> tuple[pd.Series, pd.Series]:
    labels = np.concatenate([g[0] for g in groups])
    names = pd.concat([g[1] for g in groups], ignore_index=True)
    return pd.Series(labels), names


def test_perfectly_fair_predictions_pass() -> None:
    y, groups = _data(_balanced_group("Mumbai"), _balanced_group("Thane"))
    probabilities = np.where(y == 1, 0.9, 0.1)
    report = audit_fairness(y, probabilities, groups, _config())
    assert report.passed
    assert report.violations == []
    assert report.excluded_groups == []
    assert report.disparities["equalized_odds_difference"] == pytest.approx(0.0)
    assert report.disparities["true_positive_rate_difference"] == pytest.approx(0.0)
    assert report.disparities["demographic_parity_difference"] == pytest.approx(0.0)
    assert report.disparities["min_group_roc_auc"] == pytest.approx(1.0)
    assert set(report.by_group.index) == {"Mumbai", "Thane"}
    assert report.by_group.loc["Mumbai", "base_rate"] == pytest.approx(0.5)
    assert report.by_group.loc["Thane", "count"] == 20


def test_denying_one_group_its_positives_fails() -> None:
    y, groups = _data(_balanced_group("Mumbai"), _balanced_group("Thane"))
    probabilities = np.where(y == 1, 0.9, 0.1)
    probabilities[(groups == "Thane").to_numpy()] = 0.1
    report = audit_fairness(y, probabilities, groups, _config())
    assert not report.passed
    assert any("true positive rate" in violation for violation in report.violations)
    assert any("equalized odds" in violation for violation in report.violations)
    assert report.disparities["true_positive_rate_difference"] == pytest.approx(1.0)
    assert report.by_group.loc["Thane", "true_positive_rate"] == 0.0
    assert report.by_group.loc["Mumbai", "true_positive_rate"] == 1.0


def test_gap_within_the_bound_passes_and_beyond_fails() -> None:
    y, groups = _data(_balanced_group("Mumbai"), _balanced_group("Thane"))
    probabilities = np.where(y == 1, 0.9, 0.1)
    thane_positives = np.flatnonzero((groups == "Thane").to_numpy() & (y == 1).to_numpy())
    probabilities[thane_positives[:1]] = 0.1  # Thane TPR 0.9 vs Mumbai 1.0
    assert audit_fairness(y, probabilities, groups, _config()).passed
    strict = _config(max_true_positive_rate_difference=0.05, max_equalized_odds_difference=1.0)
    report = audit_fairness(y, probabilities, groups, strict)
    assert not report.passed
    assert len(report.violations) == 1
    assert "true positive rate" in report.violations[0]


def test_min_group_roc_auc_gate() -> None:
    y, groups = _data(_balanced_group("Mumbai"), _balanced_group("Thane"))
    probabilities = np.where(y == 1, 0.9, 0.1)
    thane = (groups == "Thane").to_numpy()
    # Only the worst-group AUC bound is active.
    config = _config(
        min_group_roc_auc=0.75,
        max_equalized_odds_difference=1.0,
        max_true_positive_rate_difference=1.0,
    )
    assert audit_fairness(y, probabilities, groups, config).passed
    probabilities[thane] = 0.45  # Thane's ranking carries no information.
    report = audit_fairness(y, probabilities, groups, config)
    assert report.disparities["min_group_roc_auc"] == pytest.approx(0.5)
    assert len(report.violations) == 1
    assert "ROC AUC" in report.violations[0]


def test_small_groups_are_excluded_and_listed() -> None:
    y, groups = _data(
        _balanced_group("Mumbai"),
        _balanced_group("Thane"),
        _balanced_group("Tier II Cities", size=4),
    )
    probabilities = np.where(y == 1, 0.9, 0.1)
    # The tiny group is maximally unfair, but too small to be audited.
    probabilities[(groups == "Tier II Cities").to_numpy()] = 0.0
    report = audit_fairness(y, probabilities, groups, _config(min_group_size=10))
    assert report.excluded_groups == ["Tier II Cities"]
    assert "Tier II Cities" not in report.by_group.index
    assert report.passed
    assert "Groups too small to audit: Tier II Cities" in report.to_markdown()


def test_group_at_exactly_min_size_is_kept() -> None:
    y, groups = _data(_balanced_group("Mumbai"), _balanced_group("Thane", size=10))
    report = audit_fairness(y, y.astype(float), groups, _config(min_group_size=10))
    assert report.excluded_groups == []
    assert "Thane" in report.by_group.index


def test_single_class_group_gives_nan_auc_without_crashing() -> None:
    y, groups = _data(
        _balanced_group("Mumbai"),
        (np.ones(12, dtype=int), pd.Series(["Pune"] * 12)),
    )
    probabilities = np.where(y == 1, 0.8, 0.2)
    report = audit_fairness(y, probabilities, groups, _config())
    assert math.isnan(report.by_group.loc["Pune", "roc_auc"])
    assert report.by_group.loc["Mumbai", "roc_auc"] == pytest.approx(1.0)
    # NaN is ignored by the worst-group AUC, which stays a real number.
    assert report.disparities["min_group_roc_auc"] == pytest.approx(1.0)
    assert report.passed


def test_group_without_positives_does_not_fail_a_perfect_classifier() -> None:
    y, groups = _data(
        _balanced_group("Mumbai"),
        (np.zeros(12, dtype=int), pd.Series(["Pune"] * 12)),
    )
    report = audit_fairness(y, y.astype(float), groups, _config())
    assert report.passed, report.violations


def test_all_groups_too_small_fails_closed_with_a_reason() -> None:
    y, groups = _data(_balanced_group("Mumbai"))
    config = _config(min_group_size=10_000)
    report = audit_fairness(y, y.astype(float), groups, config)
    assert not report.passed
    assert "cannot be assessed" in report.violations[0]
    assert report.excluded_groups == ["Mumbai"]


def test_undefined_worst_group_auc_does_not_pass_silently() -> None:
    y, groups = _data(
        (np.ones(12, dtype=int), pd.Series(["Pune"] * 12)),
        (np.zeros(12, dtype=int), pd.Series(["Thane"] * 12)),
    )
    config = _config(min_group_roc_auc=0.7)
    report = audit_fairness(y, y.astype(float), groups, config)
    assert any("undefined" in violation for violation in report.violations)


def test_threshold_changes_the_decisions() -> None:
    y, groups = _data(_balanced_group("Mumbai"), _balanced_group("Thane"))
    probabilities = np.where(y == 1, 0.7, 0.1)
    probabilities[(groups == "Thane").to_numpy() & (y == 1).to_numpy()] = 0.4
    assert audit_fairness(y, probabilities, groups, _config(), threshold=0.3).passed
    assert not audit_fairness(y, probabilities, groups, _config(), threshold=0.5).passed


def test_series_with_non_default_index() -> None:
    y, groups = _data(_balanced_group("Mumbai"), _balanced_group("Thane"))
    index = pd.RangeIndex(1000, 1040)
    report = audit_fairness(
        pd.Series(y.to_numpy(), index=index),
        np.where(y == 1, 0.9, 0.1),
        pd.Series(groups.to_numpy(), index=index),
        _config(),
    )
    assert report.passed
    assert report.by_group.loc["Thane", "accuracy"] == pytest.approx(1.0)


def test_report_serialisations_name_the_column() -> None:
    y, groups = _data(_balanced_group("Mumbai"), _balanced_group("Thane"))
    probabilities = np.where(y == 1, 0.9, 0.1)
    probabilities[(groups == "Thane").to_numpy()] = 0.1
    report = audit_fairness(y, probabilities, groups, _config(sensitive_column="City"))
    payload = report.to_dict()
    assert payload["sensitive_column"] == "City"
    assert payload["passed"] is False
    assert payload["violations"] == report.violations
    assert len(payload["by_group"]) == 2
    json.dumps(payload)
    markdown = report.to_markdown()
    assert "`City`" in markdown
    assert "FAILED" in markdown
    assert "true positive rate" in markdown
    passing = audit_fairness(y, np.where(y == 1, 0.9, 0.1), groups, _config())
    assert "PASSED" in passing.to_markdown()


def test_audit_over_several_columns_reports_each_and_the_worst() -> None:
    y, city = _data(_balanced_group("Mumbai"), _balanced_group("Thane"))
    probabilities = np.where(y == 1, 0.9, 0.1)
    # Gender: women's positives are all missed -> that column fails, City passes.
    gender = pd.Series(["female", "female", "male", "male"] * 10)
    probabilities[(gender == "female").to_numpy() & (y == 1).to_numpy()] = 0.1
    groups = pd.DataFrame({"City": city, "gender": gender})
    audit = audit_all_columns(
        y, probabilities, groups, _config(sensitive_columns=["City", "gender"])
    )
    assert set(audit.reports) == {"City", "gender"}
    assert not audit.passed
    assert all(v.startswith("gender:") for v in audit.violations)
    assert audit.disparities["true_positive_rate_difference"] == pytest.approx(
        audit.reports["gender"].disparities["true_positive_rate_difference"]
    )
    assert "`gender`" in audit.to_markdown()
