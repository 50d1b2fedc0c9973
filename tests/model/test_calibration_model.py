"""Calibration and conformal coverage of the served classifiers on their real held-out splits.

Lead scoring on Leads.csv and churn on the Telco table (the real datasets), plus the CRM lead
model on the seeded synthetic CRM: the calibrated probabilities are not less calibrated than the
raw ones on the test split, and the 90 % conformal prediction sets hold the true class on
87-93 % of the test rows. Churn goes through the whole ``train_and_evaluate`` path (model card,
``calibration.json``); the other two through ``fit_models`` + ``calibrate_candidate`` only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from features.extractors import build_lead_table
from pipelines.datasets import load_leads, load_telco
from pipelines.synthetic import generate_crm
from training.calibration import CalibratedPipeline, CalibrationReport
from training.config import load_training_config
from training.scoring import LeadScorer
from training.train import TrainingOutcome, calibrate_candidate, fit_models, train_and_evaluate

#: Allowed ECE increase on the test split (ECE of ~1,400-1,800 rows is itself noisy).
ECE_SLACK = 0.005
#: Allowed distance of the measured coverage from the target.
COVERAGE_SLACK = 0.03


@pytest.fixture(scope="module")
def leads(datasets_dir: Path) -> tuple[CalibratedPipeline, CalibrationReport, object]:
    fitted = fit_models(load_leads(datasets_dir), load_training_config("lead_scoring"))
    model, report = calibrate_candidate(fitted)
    assert report is not None
    return model, report, fitted


@pytest.fixture(scope="module")
def churn(datasets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainingOutcome:
    out_dir = tmp_path_factory.mktemp("churn-reports")
    return train_and_evaluate(load_telco(datasets_dir), load_training_config("churn"), out_dir)


def _check_report(report: CalibrationReport) -> None:
    assert report.method in {"isotonic", "platt"}
    assert report.ece_after <= report.ece_before + ECE_SLACK, (
        f"{report.model_name}: ECE {report.ece_before:.4f} -> {report.ece_after:.4f}"
    )
    assert report.brier_after <= report.brier_before + 0.002
    coverage = report.coverage
    assert abs(coverage.measured - coverage.target) <= COVERAGE_SLACK, (
        f"{report.model_name}: coverage {coverage.measured:.3f} vs target {coverage.target}"
    )
    assert 1.0 <= coverage.mean_set_size < 1.5  # sets are informative, not always {0, 1}


def test_lead_scoring_is_calibrated_with_valid_coverage(leads) -> None:
    _, report, fitted = leads
    _check_report(report)
    assert report.calibration_rows == len(fitted.train)  # the calibration split: training rows
    assert report.coverage.rows == len(fitted.test)
    assert report.ece_after < report.ece_before  # measured 0.038 -> 0.022


def test_served_sets_equal_mapie_and_match_the_report(leads) -> None:
    model, report, fitted = leads
    probabilities = model.predict_proba(fitted.test.features)[:, 1]
    conformal = model.calibration_.conformal
    sets = conformal.prediction_sets(probabilities)
    labels = fitted.test.labels.to_numpy()
    measured = float(sets[np.arange(len(labels)), labels].mean())
    assert measured == pytest.approx(report.coverage.measured, abs=1e-4)
    assert (sets.sum(axis=1) == 1).mean() == pytest.approx(
        report.coverage.singleton_share, abs=1e-4
    )


def test_confident_leads_are_right_more_often(leads) -> None:
    model, _, fitted = leads
    records = fitted.test.features
    ids = fitted.test.ids.tolist()
    scores = LeadScorer(model).score_rows(records.to_numpy(dtype=object), ids)
    confidence = np.array([s.confidence for s in scores])
    predicted = np.array([int(s.probability >= 0.5) for s in scores])
    correct = predicted == fitted.test.labels.to_numpy()
    quartiles = np.quantile(confidence, [0.25, 0.5, 0.75])
    band = np.searchsorted(quartiles, confidence, side="right")
    accuracy = [correct[band == b].mean() for b in range(4)]
    # measured about 0.60 / 0.80 / 0.91 / 0.96 from the least to the most confident quarter
    assert all(np.diff(accuracy) > 0), accuracy
    assert accuracy[3] > accuracy[0] + 0.2, accuracy
    singletons = np.array([len(s.prediction_set) == 1 for s in scores])
    assert (confidence >= 0.9).any()
    assert singletons[confidence >= 0.9].all()  # confidence >= coverage: a one-class set


def test_churn_is_calibrated_with_valid_coverage(churn: TrainingOutcome) -> None:
    assert churn.calibration is not None
    _check_report(churn.calibration)
    assert isinstance(churn.model, CalibratedPipeline)
    assert churn.metrics["roc_auc"] > 0.846  # calibration keeps the published anchor


def test_churn_reports_calibration_in_the_card_and_json(churn: TrainingOutcome) -> None:
    path = churn.artifacts["calibration_report"]
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    assert document["model_name"] == "churn"
    assert document["ece"]["after"] == pytest.approx(churn.calibration.ece_after, abs=1e-4)
    assert document["conformal"]["target"] == 0.9
    assert len(document["reliability"]["after"]) >= 5
    card = Path(churn.artifacts["model_card"]).read_text(encoding="utf-8")
    assert "## Calibration and uncertainty" in card
    assert f"{churn.calibration.ece_after:.4f}" in card
    summary = json.loads(Path(churn.artifacts["metrics"]).read_text(encoding="utf-8"))
    assert summary["calibration"]["method"] == churn.calibration.method


def test_crm_lead_model_coverage() -> None:
    table = build_lead_table(generate_crm(3000, seed=1))
    fitted = fit_models(table, load_training_config("lead_scoring_crm"))
    _, report = calibrate_candidate(fitted)
    assert report is not None
    coverage = report.coverage
    # 600 test rows: the coverage's standard error is about 0.012
    assert abs(coverage.measured - coverage.target) <= 0.04, coverage
    assert report.ece_after <= report.ece_before + 0.02
