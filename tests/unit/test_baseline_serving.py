"""The baseline pipeline (one-hot/scaler -> GradientBoosting) served when it wins the gate.

A registered baseline is loaded from a temporary MLflow store and scored by the API's
:class:`training.scoring.LeadScorer` and by the streaming re-scorer; its SHAP values, summed
back to the raw input columns, add up to the model's log-odds minus the expected value.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from haste.settings import Settings
from streaming.rescoring import StreamScorer
from tests.support.leads import FEATURES, synthetic_leads
from training.estimators import build_baseline_pipeline, build_xgboost_pipeline
from training.pipeline_shap import PipelineShap, input_columns, source_index
from training.registry import (
    configure_mlflow,
    load_alias_model,
    log_sklearn_model,
    promote_if_better,
    register_challenger,
)
from training.scoring import LeadScorer

MODEL = "unit_baseline_lead"
PARAMS = {"n_estimators": 30, "max_depth": 2, "learning_rate": 0.2, "random_state": 0}


@pytest.fixture(scope="module")
def baseline() -> tuple[Pipeline, pd.DataFrame]:
    frame, labels = synthetic_leads()
    pipeline = build_baseline_pipeline(frame, PARAMS)
    pipeline.fit(frame, labels)
    return pipeline, frame


@pytest.fixture()
def registered(mlflow_store: Settings, baseline: tuple[Pipeline, pd.DataFrame]) -> Pipeline:
    """Register the baseline as champion in a fresh store and load it back."""
    import mlflow

    pipeline, frame = baseline
    client = configure_mlflow(mlflow_store)
    with mlflow.start_run():
        mlflow.log_metric("roc_auc", 0.8)
        uri = log_sklearn_model(pipeline, frame.head(2), tags={"model_family": "baseline"})
    version = register_challenger(client, uri, MODEL, {"model_family": "baseline"})
    assert promote_if_better(client, MODEL, version.version, "roc_auc").promoted
    loaded, record = load_alias_model(MODEL)
    assert record.tags["model_family"] == "baseline"
    return loaded


def _log_odds(pipeline: Pipeline, records: pd.DataFrame) -> np.ndarray:
    return pipeline[-1].decision_function(np.asarray(pipeline[0].transform(records), dtype=float))


def test_transformed_columns_map_back_to_their_source_column(
    baseline: tuple[Pipeline, pd.DataFrame],
) -> None:
    pipeline, _ = baseline
    columns = input_columns(pipeline)
    assert columns == FEATURES
    names = list(pipeline[0].get_feature_names_out())
    mapped = [columns[i] for i in source_index(names, columns)]
    assert mapped.count("Lead Origin") == 3  # one-hot: three origins
    assert mapped.count("Do Not Email") == 2
    assert mapped.count("TotalVisits") == 1
    assert source_index(["num__Total Time Spent on Website"], columns).tolist() == [0]
    with pytest.raises(ValueError, match="matches no input column"):
        source_index(["cat__Unknown_x"], columns)


def test_a_registered_baseline_is_scored_and_explained_by_the_lead_scorer(
    registered: Pipeline,
) -> None:
    records = synthetic_leads(rows=25, seed=11)[0]
    scorer = LeadScorer(registered, top_k=len(FEATURES))
    assert scorer.booster is None and scorer.generic is not None
    scores = scorer.score(records, [f"c{i}" for i in range(len(records))])
    expected = registered.predict_proba(records)[:, 1]
    np.testing.assert_allclose([s.probability for s in scores], expected, atol=1e-9)
    margin = _log_odds(registered, records) - scorer.generic.expected_value
    for i, score in enumerate(scores):
        assert {c.feature for c in score.contributions} == set(FEATURES)  # summed per source
        assert sum(c.impact for c in score.contributions) == pytest.approx(margin[i], abs=1e-6)
        by_name = {c.feature: c.value for c in score.contributions}
        assert by_name["Lead Origin"] == records.iloc[i]["Lead Origin"]  # raw value, not one-hot
        assert {c.to_dict()["direction"] for c in score.contributions} <= {"positive", "negative"}
    rows = records[FEATURES].head(3).to_numpy(dtype=object)
    again = scorer.score_rows(rows, ["a", "b", "c"])
    assert [s.score for s in again] == [s.score for s in scores[:3]]


def test_the_streaming_rescorer_loads_and_scores_a_registered_baseline(
    registered: Pipeline, db_url: str
) -> None:
    stream = StreamScorer(db_url, MODEL)
    stream.load()
    champion = stream.models["champion"]
    assert champion.booster is None and champion.generic is not None
    assert champion.columns == tuple(FEATURES)
    records = synthetic_leads(rows=10, seed=3)[0]
    rows = records.to_dict("records")
    scored = stream.score("champion", rows)
    np.testing.assert_allclose(
        [s.probability for s in scored], registered.predict_proba(records)[:, 1], atol=1e-9
    )
    margin = _log_odds(registered, records) - champion.generic.expected_value
    np.testing.assert_allclose([s.shap.sum() for s in scored], margin, atol=1e-6)
    np.testing.assert_allclose(stream.predict("champion", rows), [s.probability for s in scored])
    np.testing.assert_allclose(stream.explain("champion", rows), [s.shap for s in scored])


def test_pipeline_shap_refuses_the_xgboost_pipeline() -> None:
    frame, labels = synthetic_leads(rows=80)
    xgboost = build_xgboost_pipeline(FEATURES, {"n_estimators": 5, "max_depth": 2})
    xgboost.fit(frame, labels)
    assert not PipelineShap.supports(xgboost)
    assert LeadScorer(xgboost).generic is None
    with pytest.raises(TypeError):
        PipelineShap(xgboost)


def test_stored_rows_are_coerced_and_the_summary_plot_is_drawn(
    baseline: tuple[Pipeline, pd.DataFrame], tmp_path: Path
) -> None:
    pipeline, frame = baseline
    explainer = PipelineShap(pipeline)
    rows = frame[FEATURES].head(4).to_numpy(dtype=object)
    rows[0][0], rows[1][1] = Decimal("812.5"), None  # as a database driver may return them
    probabilities = explainer.predict(explainer.frame(rows))
    same = frame[FEATURES].head(4).copy()
    same.iloc[0, 0], same.iloc[1, 1] = 812.5, np.nan  # the median imputer fills the gap
    np.testing.assert_allclose(probabilities, pipeline.predict_proba(same)[:, 1], atol=1e-12)
    plot = explainer.plot_summary(frame.head(60), tmp_path / "shap_summary.png")
    assert plot.stat().st_size > 1000
    importance = explainer.global_importance(frame.head(60))
    assert list(importance) != [] and set(importance) == set(FEATURES)
