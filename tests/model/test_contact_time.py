"""Behavioural tests of the contact-time analysis on the real UCI Bank Marketing calls."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from haste.settings import Settings
from pipelines.datasets import load_bank_marketing
from training.contact_time import analyze_contact_time
from training.contact_time_data import prepare_calls
from training.contact_time_report import ContactTimeReport
from training.contact_time_tracking import log_contact_time

#: Success rates by month from PROVENANCE.md.
PROVENANCE_MONTH_RATES = {
    "mar": 0.505,
    "dec": 0.489,
    "sep": 0.449,
    "oct": 0.439,
    "apr": 0.205,
    "may": 0.064,
}


@pytest.fixture(scope="module")
def frame(datasets_dir: Path) -> pd.DataFrame:
    return load_bank_marketing(datasets_dir)


@pytest.fixture(scope="module")
def report(frame: pd.DataFrame) -> ContactTimeReport:
    return analyze_contact_time(frame)


def test_duration_is_never_an_input(frame: pd.DataFrame, report: ContactTimeReport) -> None:
    assert "duration" in frame.columns  # the loader keeps it; the analysis must drop it
    assert "duration" not in prepare_calls(frame).columns
    view = report.model_view
    assert view is not None
    assert "duration" not in view.features
    assert "duration" not in set(view.pipeline.feature_names_in_)
    assert {"day_of_week", "month", "contact"} <= set(view.features)


def test_time_ordered_roc_auc_beats_0_7(report: ContactTimeReport) -> None:
    view = report.model_view
    assert view is not None
    print(f"time-ordered ROC AUC {view.roc_auc:.4f}, shuffled {view.roc_auc_shuffled:.4f}")
    assert view.train_rows + view.test_rows == report.n_calls
    assert view.test_rows == pytest.approx(0.2 * report.n_calls, abs=1)
    assert view.roc_auc > 0.7


def test_global_month_ranking_puts_mar_dec_sep_oct_above_may(report: ContactTimeReport) -> None:
    ranked = report.best_slots((), "month")
    rank = {s.slot: s.rank for s in ranked}
    assert set(rank) == {"mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
    for month in ("mar", "dec", "sep", "oct"):
        assert rank[month] < rank["may"]
    means = {s.slot: s.posterior_mean for s in ranked}
    for month, rate in PROVENANCE_MONTH_RATES.items():
        assert means[month] == pytest.approx(rate, abs=0.03)


def test_global_weekday_rates_match_provenance(report: ContactTimeReport) -> None:
    means = {s.slot: s.posterior_mean for s in report.best_slots((), "day_of_week")}
    assert means["thu"] > means["mon"]
    assert means["thu"] == pytest.approx(0.121, abs=0.005)
    assert means["mon"] == pytest.approx(0.099, abs=0.005)


def test_every_segment_with_200_calls_gets_a_finite_recommendation(
    report: ContactTimeReport,
) -> None:
    columns = report.config.segment_columns
    large = [key for key, s in report.segments.items() if s.n_calls >= 200]
    assert len(large) >= 20
    for key in large:
        answer = report.recommend(dict(zip(columns, key, strict=True)))
        assert answer["level"] == "segment", key
        assert answer["fallback"] is False
        assert answer["best_day"] is not None and answer["best_month"] is not None
        assert answer["channel"] in {"cellular", "telephone"}
        for entry in answer["slots"].values():
            assert math.isfinite(entry["ci_low"]) and math.isfinite(entry["ci_high"])
            assert entry["ci_low"] <= entry["posterior_mean"] <= entry["ci_high"]
            assert entry["confident"] == (entry["ci_low"] > answer["base_rate"])


def test_partial_dependence_covers_every_slot(report: ContactTimeReport) -> None:
    table = report.model_view.partial_dependence
    assert len(table) == 5 + 10 + 2
    assert table["mean_predicted"].between(0, 1).all()
    assert report.rank_agreement()["month"] > 0.5


def test_log_contact_time_records_metrics_and_artifacts(
    report: ContactTimeReport, mlflow_store: Settings
) -> None:
    isolated_settings = mlflow_store
    run_id = log_contact_time(report, isolated_settings)
    client = MlflowClient(isolated_settings.mlflow_tracking_uri)
    run = client.get_run(run_id)
    assert run.data.metrics["roc_auc"] == pytest.approx(report.model_view.roc_auc)
    assert run.data.params["slot_columns"] == "day_of_week,month,contact"
    assert run.data.tags["causal"] == "false"
    top = {a.path for a in client.list_artifacts(run_id)}
    assert {"contact_time.csv", "contact_time.md", "partial_dependence.csv"} <= top
    plots = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert "plots/heatmap_day_of_week_mean.png" in plots
