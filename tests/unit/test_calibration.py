"""Unit tests of probability calibration, conformal sets, conformal confidence and their API."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.base import clone

from insights.calibration_overview import calibration_overview
from serving.schemas import ChurnRiskResponse, LeadScoreResponse
from streaming.rescoring import VariantModel
from tests.support.leads import FEATURES, labelled_leads, synthetic_leads
from training.booster import BoosterScorer
from training.calibration import (
    CalibratedPipeline,
    CalibrationConfig,
    calibrate_model,
    calibration_config_of,
    choose_calibrator,
    expected_calibration_error,
    fit_calibrator,
    reliability_bins,
)
from training.conformal import fit_conformal, mapie_prediction_sets, measure_coverage
from training.estimators import build_xgboost_pipeline
from training.scoring import LeadScorer, confidence_of


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1.0 - p))


# --- expected calibration error ----------------------------------------------------------------


def test_ece_of_known_inputs() -> None:
    labels = np.array([0, 0, 1, 1])
    # two bins: predicted 0.1 observed 0, predicted 0.9 observed 1 -> |0.1| and |0.1|, half each
    assert expected_calibration_error(labels, np.array([0.1, 0.1, 0.9, 0.9])) == pytest.approx(0.1)
    # one bin (0.5 falls in [0.5, 0.6)): predicted 0.5, observed 0.5
    assert expected_calibration_error(labels, np.full(4, 0.5)) == pytest.approx(0.0)
    # always wrong and certain: the worst case
    assert expected_calibration_error(labels, np.array([1.0, 1.0, 0.0, 0.0])) == pytest.approx(1.0)


def test_ece_weights_bins_by_their_rows() -> None:
    labels = np.array([1, 0, 0, 0, 1, 1, 1, 1])
    probabilities = np.array([0.25, 0.25, 0.25, 0.25, 0.95, 0.95, 0.95, 0.95])
    # bin 2: predicted 0.25 observed 0.25 (0); bin 9: predicted 0.95 observed 1.0 (0.05 * 4/8)
    assert expected_calibration_error(labels, probabilities) == pytest.approx(0.025)


def test_equal_mass_bins_hold_equal_rows() -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.beta(0.5, 3.0, 1000)
    labels = (rng.random(1000) < probabilities).astype(int)
    uniform = reliability_bins(labels, probabilities, bins=10, binning="uniform")
    quantile = reliability_bins(labels, probabilities, bins=10, binning="quantile")
    assert sum(b["count"] for b in uniform) == sum(b["count"] for b in quantile) == 1000
    assert [b["count"] for b in quantile] == [100] * 10
    assert max(b["count"] for b in uniform) > 300  # skewed scores crowd the first bins
    assert expected_calibration_error(labels, probabilities, 10, "quantile") < 0.05


def test_ece_refuses_empty_input() -> None:
    with pytest.raises(ValueError, match="at least one row"):
        expected_calibration_error(np.array([]), np.array([]))


# --- isotonic vs Platt -------------------------------------------------------------------------


def _distorted(rows: int, true_probability, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    raw = rng.uniform(0.02, 0.98, rows)
    labels = (rng.random(rows) < true_probability(raw)).astype(int)
    return raw, labels


def test_platt_wins_on_a_sigmoid_distortion() -> None:
    # overconfident scores: the true log-odds are half the raw ones (exactly Platt's form)
    raw, labels = _distorted(3000, lambda p: _sigmoid(0.5 * _logit(p) + 0.3), seed=3)
    choice = choose_calibrator(raw, labels, CalibrationConfig())
    assert choice.calibrator.method == "platt"
    assert set(choice.scores) == {"isotonic", "platt"}
    assert choice.scores["platt"]["brier"] < choice.scores["isotonic"]["brier"]
    assert choice.cross_fitted.shape == raw.shape
    fitted = choice.calibrator.model
    assert fitted.coef_[0, 0] == pytest.approx(0.5, abs=0.15)


def test_isotonic_wins_on_a_step_distortion() -> None:
    # the true probability jumps at 0.5: no logistic curve follows a step
    raw, labels = _distorted(3000, lambda p: np.where(p < 0.5, 0.1, 0.9))
    choice = choose_calibrator(raw, labels, CalibrationConfig())
    assert choice.calibrator.method == "isotonic"
    calibrated = choice.calibrator.transform(np.array([0.2, 0.4, 0.6, 0.8]))
    np.testing.assert_allclose(calibrated, [0.1, 0.1, 0.9, 0.9], atol=0.05)


def test_calibration_lowers_the_ece_of_distorted_scores() -> None:
    raw, labels = _distorted(4000, lambda p: _sigmoid(0.5 * _logit(p)), seed=1)
    test_raw, test_labels = _distorted(4000, lambda p: _sigmoid(0.5 * _logit(p)), seed=2)
    calibrator = choose_calibrator(raw, labels, CalibrationConfig()).calibrator
    before = expected_calibration_error(test_labels, test_raw)
    after = expected_calibration_error(test_labels, calibrator.transform(test_raw))
    assert before > 0.08
    assert after < 0.03


def test_a_single_configured_method_is_used() -> None:
    raw, labels = _distorted(1000, lambda p: np.where(p < 0.5, 0.1, 0.9))
    config = CalibrationConfig(methods=["platt"])
    assert choose_calibrator(raw, labels, config).calibrator.method == "platt"


def test_calibrators_are_monotone_and_bounded() -> None:
    raw, labels = _distorted(1000, lambda p: p**2)
    grid = np.linspace(0.0, 1.0, 101)
    for method in ("isotonic", "platt"):
        values = fit_calibrator(method, raw, labels).transform(grid)
        assert np.all(np.diff(values) >= -1e-12), method
        assert values.min() >= 0.0
        assert values.max() <= 1.0
    with pytest.raises(ValueError, match="unknown calibration method"):
        fit_calibrator("beta", raw, labels)


def test_config_defaults_and_limits() -> None:
    config = calibration_config_of(object())  # a training config without the section
    assert (config.enabled, config.folds, config.coverage, config.binning) == (
        True,
        5,
        0.9,
        "uniform",
    )
    assert (
        calibration_config_of(type("C", (), {"calibration": {"coverage": 0.8}})()).coverage == 0.8
    )
    for bad in ({"coverage": 1.0}, {"folds": 1}, {"methods": []}, {"binning": "kde"}):
        with pytest.raises(ValidationError):
            CalibrationConfig(**bad)


# --- conformal sets ----------------------------------------------------------------------------


def _known_model(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose calibrated probability is the true one (a perfectly calibrated model)."""
    rng = np.random.default_rng(seed)
    probabilities = rng.beta(1.2, 1.2, rows)
    return probabilities, (rng.random(rows) < probabilities).astype(int)


@pytest.mark.parametrize("coverage", [0.8, 0.9, 0.95])
def test_conformal_coverage_on_fresh_rows(coverage: float) -> None:
    calibration, labels = _known_model(3000, seed=3)
    test, test_labels = _known_model(20000, seed=4)
    conformal, _ = fit_conformal(calibration, labels, coverage)
    report = measure_coverage(conformal.prediction_sets(test), test_labels, coverage)
    assert report.target == coverage
    assert report.measured == pytest.approx(coverage, abs=0.02)
    assert 0.0 <= report.empty_share <= 1.0
    assert 0.0 < report.singleton_share < 1.0
    assert 1.0 <= report.mean_set_size < 2.0 or report.empty_share > 0


def test_stored_sets_equal_mapie_sets_and_the_p_value_rule() -> None:
    calibration, labels = _known_model(2000, seed=5)
    test, _ = _known_model(5000, seed=6)
    conformal, mapie = fit_conformal(calibration, labels, 0.9)
    sets = conformal.prediction_sets(test)
    np.testing.assert_array_equal(sets, mapie_prediction_sets(mapie, test))
    np.testing.assert_array_equal(sets, conformal.p_values(test) > 0.1)
    assert conformal.size == 2000
    assert np.all(np.diff(conformal.scores) >= 0)


def test_conformal_refuses_bad_coverage_and_too_few_rows() -> None:
    with pytest.raises(ValueError, match="coverage"):
        fit_conformal(np.array([0.2, 0.8]), np.array([0, 1]), 1.0)
    with pytest.raises(ValueError, match="too few"):
        fit_conformal(np.array([0.2, 0.8, 0.6]), np.array([0, 1, 1]), 0.9)


# --- conformal confidence ----------------------------------------------------------------------


def test_confidence_is_zero_on_the_boundary_and_grows_with_the_margin() -> None:
    calibration, labels = _known_model(3000, seed=7)
    conformal, _ = fit_conformal(calibration, labels, 0.9)
    assert conformal.confidence(np.array([0.5]))[0] == pytest.approx(0.0)
    up = conformal.confidence(np.array([0.5, 0.6, 0.75, 0.9, 0.99]))
    down = conformal.confidence(np.array([0.5, 0.4, 0.25, 0.1, 0.01]))
    for values in (up, down):
        assert np.all(np.diff(values) > 0)
        assert np.all((values >= 0.0) & (values <= 1.0))
    assert up[-1] > 0.9


def test_confidence_is_the_share_of_coverage_levels_with_a_one_class_set() -> None:
    calibration, labels = _known_model(1500, seed=8)
    probabilities = np.array([0.03, 0.2, 0.45, 0.55, 0.7, 0.97])
    predicted = (probabilities >= 0.5).astype(int)
    levels = np.linspace(0.005, 0.995, 199)
    singled_out = np.zeros(len(probabilities))
    for level in levels:
        sets = fit_conformal(calibration, labels, float(level))[0].prediction_sets(probabilities)
        one = (sets.sum(axis=1) == 1) & sets[np.arange(len(probabilities)), predicted]
        singled_out += one
    conformal, _ = fit_conformal(calibration, labels, 0.9)
    np.testing.assert_allclose(
        singled_out / len(levels), conformal.confidence(probabilities), atol=0.02
    )


def test_confidence_of_uses_the_calibration_when_there_is_one(
    calibrated: CalibratedPipeline,
) -> None:
    calibration = calibrated.calibration_
    assert calibration is not None
    assert confidence_of(0.5, calibration) == pytest.approx(0.0)
    assert confidence_of(0.97, calibration) == pytest.approx(
        float(calibration.conformal.confidence(np.array([0.97]))[0])
    )
    assert confidence_of(0.97, calibration) > confidence_of(0.7, calibration)
    assert confidence_of(0.8) == pytest.approx(0.8)  # legacy: uncalibrated models


# --- the calibrated pipeline and the scorer ----------------------------------------------------


def _calibrated_synthetic(rows: int = 900):
    frame, labels = synthetic_leads(rows=rows, seed=11)
    train, test = (
        labelled_leads(frame.iloc[:600], labels.iloc[:600]),
        labelled_leads(frame.iloc[600:], labels.iloc[600:]),
    )
    pipeline = build_xgboost_pipeline(
        FEATURES, {"n_estimators": 30, "max_depth": 3, "learning_rate": 0.2, "random_state": 0}
    )
    pipeline.fit(train.features, train.labels)
    model = calibrate_model(pipeline, train, test, CalibrationConfig(folds=3), "synthetic")
    model.pipeline.report_ = model.report
    return model.pipeline


@pytest.fixture(scope="module")
def calibrated() -> CalibratedPipeline:
    return _calibrated_synthetic()


def test_calibrated_pipeline_maps_the_raw_probabilities(calibrated: CalibratedPipeline) -> None:
    frame, _ = synthetic_leads(rows=50, seed=12)
    raw = calibrated[-1].predict_proba(calibrated[:-1].transform(frame))[:, 1]
    expected = calibrated.calibration_.probabilities(raw)
    proba = calibrated.predict_proba(frame)
    np.testing.assert_allclose(proba[:, 1], expected)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(calibrated.predict(frame), (expected >= 0.5).astype(int))
    assert BoosterScorer.supports(calibrated)  # the fast path still sees encode -> XGBoost


def test_calibrated_pipeline_survives_pickling_and_clone_drops_it(
    calibrated: CalibratedPipeline,
) -> None:
    frame, _ = synthetic_leads(rows=20, seed=13)
    restored = pickle.loads(pickle.dumps(calibrated))
    np.testing.assert_allclose(restored.predict_proba(frame), calibrated.predict_proba(frame))
    assert restored.calibration_.method == calibrated.calibration_.method
    assert clone(calibrated).calibration_ is None


def test_report_of_a_calibrated_model(calibrated: CalibratedPipeline) -> None:
    report = calibrated.report_
    assert report.method in {"isotonic", "platt"}
    assert report.calibration_rows == 600
    assert report.coverage.rows == 300
    assert report.coverage.target == 0.9
    document = json.loads(json.dumps(report.to_dict()))
    assert set(document["reliability"]) == {"before", "after"}
    assert document["ece"]["before"] == pytest.approx(report.ece_before, abs=1e-4)
    assert "reliability" not in report.to_dict(include_reliability=False)
    metrics = report.metrics()
    assert metrics["conformal_coverage_target"] == 0.9
    assert all(isinstance(value, float) for value in metrics.values())
    assert "Conformal prediction sets" in report.to_markdown()


def test_scorer_serves_calibrated_probability_set_and_confidence(
    calibrated: CalibratedPipeline,
) -> None:
    frame, _ = synthetic_leads(rows=40, seed=14)
    ids = [f"c-{i}" for i in range(40)]
    fast = LeadScorer(calibrated, top_k=2)
    slow = LeadScorer(calibrated, top_k=2)
    slow.booster = None
    expected = calibrated.predict_proba(frame)[:, 1]
    conformal = calibrated.calibration_.conformal
    for lead, other, probability in zip(
        fast.score(frame, ids), slow.score(frame, ids), expected, strict=True
    ):
        assert lead.probability == pytest.approx(float(probability), abs=1e-6)
        assert other.probability == pytest.approx(lead.probability, abs=1e-6)
        assert lead.prediction_set == other.prediction_set
        sets = conformal.prediction_sets(np.array([lead.probability]))[0]
        assert lead.prediction_set == tuple(c for c in (0, 1) if sets[c])
        assert lead.confidence == pytest.approx(confidence_of(lead.probability, fast.calibration))
        assert 0.0 <= lead.confidence <= 1.0
        assert lead.coverage == 0.9
        payload = lead.to_dict(include_explanation=False)
        assert payload["prediction_set"] == list(lead.prediction_set)
        assert payload["coverage"] == 0.9
        # the explanation stays on the raw model: same SHAP values as the raw pipeline's
        assert len(lead.contributions) == 2


def test_scorer_probabilities_are_the_served_calibrated_ones(
    calibrated: CalibratedPipeline,
) -> None:
    """The what-if search and the stream re-scorer use these: same figure as the served score."""
    frame, _ = synthetic_leads(rows=30, seed=15)
    scorer = LeadScorer(calibrated)
    served = [lead.probability for lead in scorer.score(frame, [str(i) for i in range(30)])]
    np.testing.assert_allclose(scorer.probabilities(frame), served, atol=1e-9)
    raw = calibrated[-1].predict_proba(calibrated[:-1].transform(frame))[:, 1]
    assert not np.allclose(scorer.probabilities(frame), raw)
    scorer.booster = None
    np.testing.assert_allclose(scorer.probabilities(frame), served, atol=1e-6)


def test_stream_rescorer_serves_the_calibrated_probabilities(
    calibrated: CalibratedPipeline,
) -> None:
    frame, _ = synthetic_leads(rows=30, seed=16)
    columns = tuple(calibrated[0].columns)
    rows = frame[list(columns)].to_numpy(dtype=object).tolist()
    model = VariantModel(
        "champion", "1", BoosterScorer(calibrated), columns, None, calibrated.calibration_
    )
    expected = calibrated.predict_proba(frame)[:, 1]
    np.testing.assert_allclose(model.predict_rows(rows), expected, atol=1e-6)
    probabilities, shap = model.predict_explain_rows(rows)
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    assert shap.shape == (30, len(columns))


def test_uncalibrated_model_keeps_the_legacy_payload() -> None:
    frame, labels = synthetic_leads(rows=200, seed=15)
    pipeline = build_xgboost_pipeline(FEATURES, {"n_estimators": 10, "random_state": 0})
    pipeline.fit(frame, labels)
    lead = LeadScorer(pipeline).score(frame.head(1), ["c-1"])[0]
    assert lead.prediction_set is None
    assert lead.coverage is None
    assert lead.confidence == pytest.approx(max(lead.probability, 1 - lead.probability))
    assert lead.to_dict()["prediction_set"] is None


# --- API schema --------------------------------------------------------------------------------


def _lead_response(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "contact_id": "c",
        "score": 55,
        "probability": 0.55,
        "confidence": 0.04,
        "band": "warm",
        "recommended_actions": [],
        "model_name": "lead_scoring",
        "model_version": "1",
        "latency_ms": 1.0,
        "prediction_set": [0, 1],
        "coverage": 0.9,
    }
    body.update(overrides)
    return body


def test_lead_response_accepts_the_conformal_fields() -> None:
    response = LeadScoreResponse(**_lead_response())
    assert response.confidence == 0.04  # below 0.5: no longer the max class probability
    assert response.prediction_set == [0, 1]
    legacy = LeadScoreResponse(**_lead_response(prediction_set=None, coverage=None))
    assert legacy.prediction_set is None
    assert LeadScoreResponse(**_lead_response(prediction_set=[])).prediction_set == []


@pytest.mark.parametrize(
    "override",
    [{"confidence": 1.5}, {"confidence": -0.1}, {"probability": 1.2}, {"prediction_set": [2]}],
)
def test_lead_response_refuses_out_of_range_values(override: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        LeadScoreResponse(**_lead_response(**override))


def test_churn_response_carries_the_conformal_fields() -> None:
    body = _lead_response(prediction_set=[1])
    body.pop("contact_id")
    body.pop("band")
    response = ChurnRiskResponse(**body, account_id="a", risk_band="warm")
    assert (response.prediction_set, response.coverage, response.confidence) == ([1], 0.9, 0.04)
    schema = ChurnRiskResponse.model_json_schema()["properties"]
    assert "conformal" in schema["confidence"]["description"].lower()


# --- dashboard section -------------------------------------------------------------------------


def _write_report(folder: Path, name: str, calibrated: CalibratedPipeline) -> None:
    document = calibrated.report_.to_dict()
    document["model_name"] = name
    (folder / name).mkdir(parents=True)
    (folder / name / "calibration.json").write_text(json.dumps(document), encoding="utf-8")


def test_calibration_overview_reads_the_reports(
    tmp_path: Path, calibrated: CalibratedPipeline
) -> None:
    assert calibration_overview("sqlite://", tmp_path) is None
    _write_report(tmp_path, "lead_scoring", calibrated)
    _write_report(tmp_path, "churn", calibrated)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "calibration.json").write_text("{not json", encoding="utf-8")
    overview = calibration_overview("sqlite://", tmp_path)
    assert overview is not None
    assert [m["model_name"] for m in overview["models"]] == ["churn", "lead_scoring"]
    row = overview["models"][0]
    report = calibrated.report_
    assert row["ece_before"] == pytest.approx(report.ece_before, abs=1e-4)
    assert row["coverage_target"] == 0.9
    assert row["coverage_gap"] == pytest.approx(row["coverage_measured"] - 0.9, abs=1e-4)
    assert overview["chart"].startswith("<svg")
    assert 'data-chart="calibration_reliability"' in overview["chart"]


def test_calibration_template_renders_the_section(
    tmp_path: Path, calibrated: CalibratedPipeline
) -> None:
    from serving.dashboard.render import _environment

    _write_report(tmp_path, "lead_scoring", calibrated)
    template = _environment().get_template("calibration.html")
    page = template.render(data={"trust": {"calibration": calibration_overview("", tmp_path)}})
    assert 'id="calibration"' in page
    assert "lead_scoring" in page
    assert "<svg" in page
    assert 'id="calibration"' not in template.render(data={"trust": {"calibration": None}})
