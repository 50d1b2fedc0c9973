"""Unit tests of the model deployments' framework-free core (:class:`AliasModels`)."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from serving.lookup import ServedModel
from serving.model_server import AliasModels, ModelUnavailableError
from tests.support.leads import FEATURES, synthetic_leads
from training.estimators import build_xgboost_pipeline
from training.scoring import LeadScorer


@pytest.fixture(scope="module")
def fitted() -> tuple[Pipeline, pd.DataFrame]:
    frame, labels = synthetic_leads()
    pipeline = build_xgboost_pipeline(
        FEATURES, {"n_estimators": 30, "max_depth": 3, "learning_rate": 0.2, "random_state": 0}
    )
    return pipeline.fit(frame, labels), frame


@pytest.fixture()
def models(fitted: tuple[Pipeline, pd.DataFrame]) -> AliasModels:
    pipeline, _ = fitted
    return AliasModels(
        alias="champion",
        leads={"lead_scoring": ServedModel("lead_scoring", "3", LeadScorer(pipeline))},
    )


def _rows(frame: pd.DataFrame, start: int, count: int) -> list[dict]:
    rows = frame.iloc[start : start + count].to_dict("records")
    for i, row in enumerate(rows):
        row["Prospect ID"] = f"p-{start + i}"  # stored columns the model ignores
    return rows


def test_merged_calls_equal_separate_calls(models: AliasModels, fitted) -> None:
    _, frame = fitted
    calls = [
        ("lead_scoring", _rows(frame, 0, 3), ["a", "b", "c"]),
        ("lead_scoring", _rows(frame, 3, 1), ["d"]),
        ("lead_scoring", _rows(frame, 4, 2), ["e", "f"]),
    ]
    merged = models.score_calls(calls)
    assert [len(result) for result in merged] == [3, 1, 2]
    for (name, rows, ids), result in zip(calls, merged, strict=True):
        alone = models.score_leads(name, rows, ids)
        assert [p["contact_id"] for p in result] == ids
        assert [p["probability"] for p in result] == [p["probability"] for p in alone]
        assert all(p["model_version"] == "3" and p["model_name"] == name for p in result)
        assert set(result[0]["features"]) == set(FEATURES)  # model inputs only, JSON-ready


def test_an_unserved_model_fails_only_its_calls(models: AliasModels, fitted) -> None:
    _, frame = fitted
    results = models.score_calls(
        [
            ("lead_scoring_crm", _rows(frame, 0, 1), ["x"]),
            ("lead_scoring", _rows(frame, 1, 1), ["y"]),
        ]
    )
    assert isinstance(results[0], ModelUnavailableError)
    assert "no champion version of lead_scoring_crm" in str(results[0])
    assert results[1][0]["contact_id"] == "y"
    with pytest.raises(ModelUnavailableError):
        models.predict_churn("7590-VHVEG")
    with pytest.raises(ModelUnavailableError):
        models.predict_deal("D1")
    assert models.versions() == {"lead_scoring": "3"}


def test_rows_missing_a_model_column_are_refused(models: AliasModels, fitted) -> None:
    from features.tabular import MissingFeaturesError

    _, frame = fitted
    rows = _rows(frame, 0, 1)
    del rows[0]["TotalVisits"]
    with pytest.raises(MissingFeaturesError, match="TotalVisits"):
        models.score_leads("lead_scoring", rows, ["x"])
