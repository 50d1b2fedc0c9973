"""Unit tests of online lead scoring: score mapping, bands, actions and SHAP explanations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from tests.support.leads import FEATURES, synthetic_leads
from training.booster import BoosterScorer
from training.estimators import build_xgboost_pipeline
from training.explain import Contribution, TreeShapExplainer
from training.scoring import (
    FACTOR_ADVICE,
    SCORE_BANDS,
    LeadScore,
    LeadScorer,
    band_of,
    confidence_of,
    explain_in_words,
    probability_to_score,
    recommend_actions,
)

HOT_ACTION, WARM_ACTION, COLD_ACTION = (action for _, _, action in SCORE_BANDS)
ADVICE = dict(FACTOR_ADVICE)


@pytest.mark.parametrize(
    ("probability", "score"),
    [(0.0, 0), (1.0, 100), (0.555, 56), (0.5, 50), (0.123, 12), (0.994, 99), (0.996, 100)],
)
def test_probability_to_score(probability: float, score: int) -> None:
    result = probability_to_score(probability)
    assert isinstance(result, int)
    assert result == score


@pytest.mark.parametrize("probability", [-0.2, 1.7])
def test_probability_to_score_is_clipped(probability: float) -> None:
    assert 0 <= probability_to_score(probability) <= 100


@pytest.mark.parametrize("probability", np.linspace(0.0, 1.0, 21))
def test_confidence_is_symmetric_and_bounded(probability: float) -> None:
    confidence = confidence_of(probability)
    assert 0.5 <= confidence <= 1.0
    assert confidence == pytest.approx(confidence_of(1.0 - probability))


def test_confidence_extremes() -> None:
    assert confidence_of(0.5) == 0.5
    assert confidence_of(0.0) == 1.0
    assert confidence_of(1.0) == 1.0
    assert confidence_of(0.8) == pytest.approx(0.8)
    assert confidence_of(0.2) == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("score", "band"),
    [(100, "hot"), (70, "hot"), (69, "warm"), (40, "warm"), (39, "cold"), (0, "cold")],
)
def test_band_thresholds(score: int, band: str) -> None:
    name, action = band_of(score)
    assert name == band
    assert action == {"hot": HOT_ACTION, "warm": WARM_ACTION, "cold": COLD_ACTION}[band]


def _contribution(feature: str, impact: float, value: object = 1.0) -> Contribution:
    return Contribution(feature=feature, value=value, impact=impact)


def test_recommend_actions_starts_with_band_action() -> None:
    assert recommend_actions(85, []) == [HOT_ACTION]
    assert recommend_actions(50, [])[0] == WARM_ACTION
    assert recommend_actions(10, [])[0] == COLD_ACTION


def test_recommend_actions_advises_only_on_negative_factors() -> None:
    contributions = [
        _contribution("Total Time Spent on Website", -0.9),
        _contribution("Lead Origin", 0.7),
        _contribution("Do Not Email", -0.2),
    ]
    actions = recommend_actions(20, contributions)
    assert actions == [COLD_ACTION, ADVICE["Time Spent"], ADVICE["Do Not Email"]]
    assert ADVICE["Lead Origin"] not in actions


def test_recommend_actions_match_is_case_insensitive() -> None:
    contributions = [_contribution("What is your current occupation", -0.5)]
    assert recommend_actions(50, contributions) == [WARM_ACTION, ADVICE["occupation"]]


def test_recommend_actions_has_no_duplicates() -> None:
    contributions = [
        _contribution("Lead Source", -0.5),
        _contribution("Lead Source", -0.4),
        _contribution("Total Time Spent on Website", -0.3),
        _contribution("Total Time Spent on Website", -0.1),
    ]
    actions = recommend_actions(50, contributions, limit=10)
    assert len(actions) == len(set(actions))
    assert actions == [WARM_ACTION, ADVICE["Lead Source"], ADVICE["Time Spent"]]


def test_recommend_actions_ignores_unknown_features() -> None:
    assert recommend_actions(50, [_contribution("Asymmetrique Profile Score", -2.0)]) == [
        WARM_ACTION
    ]


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_recommend_actions_limit(limit: int) -> None:
    contributions = [
        _contribution(feature, -1.0)
        for feature in ("TotalVisits", "Page Views Per Visit", "Lead Origin", "Specialization")
    ]
    actions = recommend_actions(50, contributions, limit=limit)
    assert len(actions) == limit
    assert actions[0] == WARM_ACTION


def test_explain_in_words_names_strongest_factors_each_way() -> None:
    score = LeadScore(
        contact_id="c-1",
        score=72,
        probability=0.72,
        confidence=0.72,
        band="hot",
        contributions=[
            _contribution("A", 1.5),
            _contribution("B", -1.0),
            _contribution("C", 0.8),
            _contribution("D", 0.5),
            _contribution("E", -0.2),
            _contribution("F", -0.1),
        ],
    )
    text = explain_in_words(score)
    assert text == "Score 72/100 (hot). Raised by A, C. Lowered by B, E."


def test_explain_in_words_without_contributions() -> None:
    score = LeadScore("c-2", 5, 0.05, 0.95, "cold")
    assert explain_in_words(score) == "Score 5/100 (cold)."


# --- LeadScorer on a tiny synthetic dataset --------------------------------------------------


@pytest.fixture(scope="module")
def synthetic() -> tuple[Pipeline, pd.DataFrame]:
    frame, labels = synthetic_leads()
    pipeline = build_xgboost_pipeline(
        FEATURES, {"n_estimators": 40, "max_depth": 3, "learning_rate": 0.2, "random_state": 0}
    )
    pipeline.fit(frame, labels)
    return pipeline, frame


def test_lead_scorer_scores_are_within_0_and_100(synthetic: tuple[Pipeline, pd.DataFrame]):
    pipeline, frame = synthetic
    records = frame.head(40)
    scores = LeadScorer(pipeline).score(records, [f"c-{i}" for i in range(len(records))])
    assert [s.contact_id for s in scores] == [f"c-{i}" for i in range(40)]
    probabilities = pipeline.predict_proba(records)[:, 1]
    for lead, probability in zip(scores, probabilities, strict=True):
        assert 0 <= lead.score <= 100
        assert lead.probability == pytest.approx(float(probability))
        assert lead.score == probability_to_score(float(probability))
        assert lead.band == band_of(lead.score)[0]
        assert 0.5 <= lead.confidence <= 1.0
        assert lead.recommended_actions[0] == band_of(lead.score)[1]
    assert len({s.score for s in scores}) > 1


def test_lead_scorer_contributions_sorted_by_absolute_impact(
    synthetic: tuple[Pipeline, pd.DataFrame],
) -> None:
    pipeline, frame = synthetic
    scores = LeadScorer(pipeline, top_k=len(FEATURES)).score(frame.head(25), ["x"] * 25)
    for lead in scores:
        impacts = [abs(c.impact) for c in lead.contributions]
        assert impacts == sorted(impacts, reverse=True)
        assert sorted(c.feature for c in lead.contributions) == sorted(FEATURES)


def test_lead_scorer_contribution_values_are_raw_inputs(
    synthetic: tuple[Pipeline, pd.DataFrame],
) -> None:
    pipeline, frame = synthetic
    lead = LeadScorer(pipeline, top_k=len(FEATURES)).score(frame.head(1), ["x"])[0]
    values = {c.feature: c.value for c in lead.contributions}
    assert values["Do Not Email"] in {"Yes", "No"}
    assert values["Lead Origin"] == frame["Lead Origin"].iloc[0]


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_lead_scorer_honours_top_k(synthetic: tuple[Pipeline, pd.DataFrame], top_k: int) -> None:
    pipeline, frame = synthetic
    scores = LeadScorer(pipeline, top_k=top_k).score(frame.head(10), ["x"] * 10)
    assert all(len(lead.contributions) == top_k for lead in scores)


def test_lead_scorer_top_contributions_are_the_strongest(
    synthetic: tuple[Pipeline, pd.DataFrame],
) -> None:
    pipeline, frame = synthetic
    full = LeadScorer(pipeline, top_k=len(FEATURES)).score(frame.head(10), ["x"] * 10)
    top = LeadScorer(pipeline, top_k=2).score(frame.head(10), ["x"] * 10)
    for all_of_them, best in zip(full, top, strict=True):
        assert [c.feature for c in best.contributions] == [
            c.feature for c in all_of_them.contributions[:2]
        ]


def test_shap_values_add_up_to_the_model_margin(synthetic: tuple[Pipeline, pd.DataFrame]):
    pipeline, frame = synthetic
    explainer = TreeShapExplainer(pipeline)
    records = frame.sample(30, random_state=1)
    encoded, values = explainer.shap_values(records)
    assert values.shape == (30, len(FEATURES))
    expected_value = float(np.ravel(explainer.explainer.expected_value)[0])
    margin = pipeline[-1].predict(encoded, output_margin=True)
    np.testing.assert_allclose(values.sum(axis=1) + expected_value, margin, atol=1e-4)
    probabilities = pipeline.predict_proba(records)[:, 1]
    np.testing.assert_allclose(1.0 / (1.0 + np.exp(-margin)), probabilities, atol=1e-5)


def test_to_dict_omits_contributions_unless_requested(
    synthetic: tuple[Pipeline, pd.DataFrame],
) -> None:
    pipeline, frame = synthetic
    lead = LeadScorer(pipeline, top_k=3).score(frame.head(1), ["c-9"])[0]
    brief = lead.to_dict(include_explanation=False)
    assert "contributions" not in brief
    assert "explanation" not in brief
    assert brief["contact_id"] == "c-9"
    assert brief["score"] == lead.score
    assert brief["recommended_actions"] == lead.recommended_actions
    full = lead.to_dict()
    assert len(full["contributions"]) == 3
    assert {"feature", "value", "impact", "direction"} <= set(full["contributions"][0])
    assert full["explanation"].startswith(f"Score {lead.score}/100")


def test_contribution_direction_and_json_value() -> None:
    assert _contribution("A", 0.0).direction == "positive"
    assert _contribution("A", -0.01).direction == "negative"
    payload = _contribution("A", -0.123456, value=np.float64(np.nan)).to_dict()
    assert payload == {"feature": "A", "value": None, "impact": -0.1235, "direction": "negative"}
    assert isinstance(_contribution("A", 1.0, value=np.int64(3)).to_dict()["value"], int)


# --- booster fast path (the serving path) ------------------------------------------------------


def test_booster_fast_path_equals_pipeline_and_shap(synthetic: tuple[Pipeline, pd.DataFrame]):
    """pred_contribs is TreeSHAP: the same values as shap.TreeExplainer, the same probabilities."""
    pipeline, frame = synthetic
    records = frame.sample(50, random_state=3).copy()
    records.iloc[0, records.columns.get_loc("Lead Origin")] = "Never seen origin"
    records.iloc[1, records.columns.get_loc("TotalVisits")] = np.nan
    scorer = BoosterScorer(pipeline)
    probabilities, values = scorer.predict_explain(records[FEATURES].to_numpy(dtype=object))
    np.testing.assert_allclose(probabilities, pipeline.predict_proba(records)[:, 1], atol=1e-6)
    _, reference = TreeShapExplainer(pipeline).shap_values(records)
    np.testing.assert_allclose(values, reference, atol=1e-4)


def test_lead_scorer_fast_and_pandas_paths_agree(synthetic: tuple[Pipeline, pd.DataFrame]):
    pipeline, frame = synthetic
    records = frame.head(20)
    ids = [f"c-{i}" for i in range(20)]
    fast = LeadScorer(pipeline, top_k=3)
    slow = LeadScorer(pipeline, top_k=3)
    slow.booster = None  # force the pandas + shap.TreeExplainer path
    for a, b in zip(fast.score(records, ids), slow.score(records, ids), strict=True):
        assert (a.contact_id, a.score, a.band) == (b.contact_id, b.score, b.band)
        assert a.probability == pytest.approx(b.probability, abs=1e-6)
        assert [c.feature for c in a.contributions] == [c.feature for c in b.contributions]
        assert [c.impact for c in a.contributions] == pytest.approx(
            [c.impact for c in b.contributions], abs=1e-4
        )
        assert a.recommended_actions == b.recommended_actions


def test_booster_scorer_refuses_other_pipelines(synthetic: tuple[Pipeline, pd.DataFrame]):
    pipeline, _ = synthetic
    assert BoosterScorer.supports(pipeline)
    baseline = Pipeline([("model", pipeline[-1])])
    assert not BoosterScorer.supports(baseline)
    with pytest.raises(TypeError):
        BoosterScorer(baseline)
