"""Drift detection (Evidently 0.7), performance once labelled and the retraining thresholds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.drift import (
    DriftResult,
    MonitoringConfig,
    Thresholds,
    decide_retraining,
    detect_drift,
    drift_table,
    load_monitoring_config,
    performance_once_labelled,
    select_windows,
    write_reports,
)
from monitoring.drift_data import inject_drift

FEATURES = [
    "age",
    "income",
    "visits",
    "clicks",
    "replies",
    "score",
    "tenure",
    "ratio",
    "plan",
    "region",
]
SHIFTED = ["income", "visits", "score", "plan"]


def make_frame(n: int, seed: int) -> pd.DataFrame:
    """Rows of one fixed distribution (numeric, counts, sparse counts, categories, a target)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(10, 0.5, n),
            "visits": rng.poisson(3, n),
            "clicks": rng.poisson(1, n),
            "replies": rng.binomial(1, 0.1, n) * rng.poisson(2, n),
            "score": rng.uniform(0, 1, n),
            "tenure": rng.exponential(12, n),
            "ratio": np.where(rng.random(n) < 0.2, np.nan, rng.beta(2, 5, n)),
            "plan": rng.choice(["free", "pro", "team", "enterprise"], n, p=[0.5, 0.3, 0.15, 0.05]),
            "region": rng.choice(["eu", "us", "apac"], n),
        }
    )
    logit = (frame["score"] - 0.5) * 4 + (frame["visits"] - 3) * 0.3
    frame["prediction_probability"] = 1 / (1 + np.exp(-logit))
    frame["converted"] = (rng.random(n) < frame["prediction_probability"]).astype(int)
    return frame


@pytest.fixture(scope="module")
def config() -> MonitoringConfig:
    return load_monitoring_config("lead_scoring")


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return make_frame(1000, seed=1)


@pytest.fixture(scope="module")
def undrifted(reference: pd.DataFrame, config: MonitoringConfig) -> DriftResult:
    return detect_drift(reference, make_frame(800, seed=2), config, columns=FEATURES)


@pytest.fixture(scope="module")
def drifted(reference: pd.DataFrame, config: MonitoringConfig) -> DriftResult:
    current = inject_drift(make_frame(800, seed=3), [*SHIFTED, "prediction_probability"], 1.0, 0)
    return detect_drift(reference, current, config, columns=FEATURES)


# --- config ------------------------------------------------------------------------------------


def test_config_defaults_and_per_model_overrides() -> None:
    default = load_monitoring_config("lead_scoring")
    crm = load_monitoring_config("lead_scoring_crm")
    unknown = load_monitoring_config("no_such_model")
    assert default.thresholds.share_drifted_columns == pytest.approx(0.3)
    assert default.thresholds.roc_auc_drop == pytest.approx(0.05)
    assert default.drift.num_method == "psi"
    assert crm.reference_window == 1000
    assert crm.current_window == 1000
    assert crm.thresholds == default.thresholds
    assert unknown.model_name == "no_such_model"
    assert unknown.current_window == default.current_window


def test_select_windows_default_current_is_outside_the_reference() -> None:
    table = make_frame(300, seed=0).assign(row=range(300))
    config = MonitoringConfig(model_name="m", reference_window=200, current_window=50)
    reference, current = select_windows(table, None, config)
    assert len(reference) == 200
    assert len(current) == 50
    assert not set(reference["row"]) & set(current["row"])
    _, recent = select_windows(table, table, config)
    assert recent["row"].tolist() == list(range(250, 300))


# --- drift -------------------------------------------------------------------------------------


def test_no_drift_between_two_samples_of_the_same_data(undrifted: DriftResult) -> None:
    assert undrifted.should_retrain is False
    assert undrifted.reasons == []
    assert undrifted.share_drifted < 0.3
    assert undrifted.prediction_column == "prediction_probability"
    assert undrifted.prediction_drift is False
    assert set(undrifted.column_scores) == set(FEATURES)
    # One dataset test + one value-drift test per feature + one for the prediction.
    assert undrifted.tests_passed + undrifted.tests_failed == len(FEATURES) + 2
    assert undrifted.tests_failed == len(undrifted.drifted_columns)


def test_injected_shift_triggers_retraining_naming_the_columns(drifted: DriftResult) -> None:
    assert drifted.should_retrain is True
    assert set(SHIFTED) <= set(drifted.drifted_columns)
    assert drifted.share_drifted >= 0.3
    assert drifted.prediction_drift is True
    column_reason = next(r for r in drifted.reasons if "feature columns drifted" in r)
    for column in SHIFTED:
        assert column in column_reason
    assert any("prediction drift" in r for r in drifted.reasons)
    assert "Share of Drifted Columns: Less 0.300" in drifted.failed_tests
    rows = {row["column"]: row for row in drift_table(drifted)}
    assert rows["income"]["drifted"] is True
    assert rows["prediction_probability"]["drifted"] is True
    assert "| income |" in drifted.to_markdown()


def test_reports_are_written_as_html_and_json(drifted: DriftResult, tmp_path: Path) -> None:
    html_path, json_path = write_reports(drifted.snapshot, tmp_path / "reports")
    assert html_path.stat().st_size > 10_000
    assert "<html" in html_path.read_text(encoding="utf-8")[:2000].lower()
    payload = json.loads(json_path.read_text(encoding="utf-8"))
    assert {"metrics", "tests"} <= set(payload)
    assert any(test["status"] == "FAIL" for test in payload["tests"])
    json.dumps(drifted.to_dict())  # JSON-ready without the snapshot


def test_missing_columns_are_refused(reference: pd.DataFrame, config: MonitoringConfig) -> None:
    with pytest.raises(KeyError, match="absent"):
        detect_drift(reference, reference.drop(columns=["age"]), config, columns=FEATURES)
    with pytest.raises(KeyError, match="prediction column"):
        detect_drift(reference, reference, config, prediction_column="nope", columns=FEATURES)


def test_inject_drift_is_deterministic_and_leaves_the_input_alone() -> None:
    frame = make_frame(200, seed=5)
    before = frame.copy()
    first = inject_drift(frame, ["age", "ratio", "plan"], shift=2.0, seed=1)
    second = inject_drift(frame, ["age", "ratio", "plan"], shift=2.0, seed=1)
    pd.testing.assert_frame_equal(frame, before)
    pd.testing.assert_frame_equal(first, second)
    assert first["age"].mean() == pytest.approx(frame["age"].mean() + 2 * frame["age"].std(), 0.05)
    assert first["ratio"].isna().equals(frame["ratio"].isna())
    assert (first["plan"] == "enterprise").mean() > 0.9  # shift 2 -> every row, rarest level
    pd.testing.assert_series_equal(first["region"], frame["region"])
    with pytest.raises(KeyError):
        inject_drift(frame, ["nope"])


# --- performance -------------------------------------------------------------------------------


def test_performance_needs_labels() -> None:
    frame = make_frame(200, seed=6)
    probabilities = frame["prediction_probability"]
    assert performance_once_labelled(frame.drop(columns="converted"), probabilities) is None
    unlabelled = frame.assign(converted=np.nan)
    assert performance_once_labelled(unlabelled, probabilities) is None
    one_class = frame.assign(converted=1)
    assert performance_once_labelled(one_class, probabilities) is None
    assert performance_once_labelled(frame, probabilities, min_rows=500) is None


def test_performance_on_the_labelled_rows_only() -> None:
    labels = pd.Series([1, 0, 1, 0, np.nan, np.nan])
    probabilities = np.array([0.9, 0.2, 0.6, 0.4, 0.99, 0.01])
    frame = pd.DataFrame({"converted": labels})
    performance = performance_once_labelled(frame, probabilities)
    assert performance is not None
    assert performance["n_labelled"] == 4
    assert performance["roc_auc"] == pytest.approx(1.0)
    assert performance["accuracy"] == pytest.approx(1.0)
    expected_brier = np.mean([(0.9 - 1) ** 2, 0.2**2, (0.6 - 1) ** 2, 0.4**2])
    assert performance["brier"] == pytest.approx(expected_brier)
    assert performance["positive_rate"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        performance_once_labelled(frame, probabilities[:3])


# --- thresholds --------------------------------------------------------------------------------


def make_drift(n_drifted: int, n_columns: int = 10, prediction_drift: bool = False) -> DriftResult:
    columns = [f"c{i}" for i in range(n_columns)]
    return DriftResult(
        columns=columns,
        drifted_columns=columns[:n_drifted],
        share_drifted=n_drifted / n_columns,
        column_scores=dict.fromkeys(columns, 0.0),
        prediction_column="p",
        prediction_drift=prediction_drift,
        prediction_score=0.5 if prediction_drift else 0.01,
        prediction_method="psi",
        tests_passed=0,
        tests_failed=0,
        failed_tests=[],
        reference_rows=100,
        current_rows=100,
    )


def test_share_of_drifted_columns_threshold_is_inclusive() -> None:
    thresholds = Thresholds()
    assert decide_retraining(make_drift(3), None, None, thresholds).should_retrain
    assert not decide_retraining(make_drift(2), None, None, thresholds).should_retrain
    decision = decide_retraining(make_drift(3), None, None, thresholds)
    assert decision.reasons == ["3 of 10 feature columns drifted (share 0.30 >= 0.30): c0, c1, c2"]
    strict = Thresholds(share_drifted_columns=0.5)
    assert not decide_retraining(make_drift(4), None, None, strict).should_retrain


def test_prediction_drift_can_be_switched_off() -> None:
    drift = make_drift(0, prediction_drift=True)
    decision = decide_retraining(drift, None, None, Thresholds())
    assert decision.should_retrain
    assert decision.reasons == ["prediction drift on p (psi score 0.5000)"]
    switched_off = Thresholds(prediction_drift=False)
    assert not decide_retraining(drift, None, None, switched_off).should_retrain


def test_performance_drop_against_the_registered_metric() -> None:
    thresholds = Thresholds(roc_auc_drop=0.05)
    drift = make_drift(0)
    dropped = {"roc_auc": 0.74, "n_labelled": 300.0}
    kept = {"roc_auc": 0.76, "n_labelled": 300.0}
    decision = decide_retraining(drift, dropped, 0.80, thresholds)
    assert decision.should_retrain
    assert "ROC AUC 0.7400 on 300 labelled rows" in decision.reasons[0]
    assert not decide_retraining(drift, kept, 0.80, thresholds).should_retrain
    assert not decide_retraining(drift, dropped, None, thresholds).should_retrain
    assert not decide_retraining(drift, None, 0.80, thresholds).should_retrain
    both = decide_retraining(make_drift(5, prediction_drift=True), dropped, 0.80, thresholds)
    assert len(both.reasons) == 3
