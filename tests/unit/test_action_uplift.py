"""Unit tests of the action-uplift T-learner on planted effects, its table and its guards."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.synthetic import generate_crm
from pipelines.synthetic_store import SyntheticCRM
from training.action_uplift import (
    ActionUpliftModel,
    default_model_path,
    evaluate_action_uplift,
    fit_uplift_table,
    normalized_area,
)
from training.action_uplift_data import (
    ACTION_PRECEDENCE,
    CATEGORICAL_COLUMNS,
    ENGAGEMENT_COLUMNS,
    FEATURE_COLUMNS,
    ActionUpliftConfig,
    build_action_table,
    build_contact_action_features,
    contact_features_from_db,
    rep_actions,
    split_action_table,
)

CALL_EFFECT = 0.2


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def planted_table(n: int = 3000, heterogeneous: bool = False, seed: int = 0) -> pd.DataFrame:
    """Rows whose reps call and meet high-intent contacts more; only calls change the outcome.

    Calls add +0.2 to the conversion probability of everyone (or +0.4 for referral leads and 0
    for the others when ``heterogeneous``); meetings add nothing.
    """
    rng = np.random.default_rng(seed)
    numeric = [c for c in FEATURE_COLUMNS if c not in CATEGORICAL_COLUMNS]
    table = pd.DataFrame({c: rng.poisson(1.0, n).astype(float) for c in numeric})
    table["company_industry"] = rng.choice(["software", "retail"], n)
    table["lead_source"] = rng.choice(["referral", "outbound"], n)
    intent = table["web_high_intent_views"].to_numpy() - 1.0
    acts = rng.random(n) < _sigmoid(-1.0 + intent)  # confounded: intent drives the actions
    treatment = np.where(acts, rng.choice(["call", "meeting"], n), "none")
    effect = np.where(table["lead_source"] == "referral", 0.4, 0.0) if heterogeneous else 0.2
    p = np.clip(_sigmoid(-1.0 + 0.9 * intent) + effect * (treatment == "call"), 0.0, 1.0)
    table.insert(0, "contact_id", [f"c{i}" for i in range(n)])
    table.insert(1, "treatment", treatment)
    table.insert(2, "outcome", (rng.random(n) < p).astype(np.int64))
    return table


CONFIG = ActionUpliftConfig(actions=("call", "meeting"), n_bootstrap=5)


@pytest.fixture(scope="module")
def planted() -> tuple[ActionUpliftModel, pd.DataFrame, dict]:
    train, test = split_action_table(planted_table(), 0.3, seed=0)
    model = fit_uplift_table(train, CONFIG)
    return model, test, evaluate_action_uplift(model, test, n_permutations=100)


@pytest.fixture(scope="module")
def tiny_crm() -> SyntheticCRM:
    return generate_crm(n_contacts=120, seed=3, start="2026-01-01", days=120)


def test_t_learner_recovers_the_planted_sign_and_ranking(planted) -> None:
    model, test, report = planted
    call, meeting = report["actions"]["call"], report["actions"]["meeting"]
    assert call["average_lift"] == pytest.approx(CALL_EFFECT, abs=0.08)
    assert call["average_lift_ci"][0] > 0.05  # the sign is clear
    assert abs(meeting["average_lift"]) < 0.08
    assert call["average_lift"] > meeting["average_lift"] + 0.1
    firsts = [row[0].action for row in model.recommend(test.head(300), top=2)]
    assert firsts.count("call") / len(firsts) > 0.6


def test_adjustment_removes_the_confounded_meeting_association(planted) -> None:
    meeting = planted[2]["actions"]["meeting"]
    assert meeting["naive_difference"] > 0.1  # meetings follow intent
    assert abs(meeting["average_lift"]) < meeting["naive_difference"] / 2


def test_qini_beats_random_targeting_on_a_planted_heterogeneous_effect() -> None:
    train, test = split_action_table(planted_table(heterogeneous=True), 0.3, seed=0)
    model = fit_uplift_table(train, ActionUpliftConfig(actions=("call",), n_bootstrap=2))
    call = evaluate_action_uplift(model, test, n_permutations=100)["actions"]["call"]
    assert call["qini_coefficient"] > call["qini_coefficient_random_p95"]
    assert call["auuc"] > call["auuc_random_p95"]
    assert abs(call["qini_coefficient_random_mean"]) < 0.05


def test_uplift_scores_match_scikit_uplift_reference_values() -> None:
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0], dtype=float)
    treated = np.array([1, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0], dtype=float)
    score = np.array([0.9, 0.8, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.3, 0.3, 0.2, 0.15, 0.1, 0.05])
    score = np.r_[score, 0.02, 0.01]
    # sklift 0.5.1: qini_auc_score / uplift_auc_score on the same arrays
    assert normalized_area("qini", y, score, treated) == pytest.approx(-0.08035030103995622)
    assert normalized_area("uplift", y, score, treated) == pytest.approx(-0.16005581719867434)
    oracle = y * treated - y * (1 - treated)
    assert normalized_area("qini", y, oracle, treated) == pytest.approx(1.0)


def test_unknown_actions_are_refused(planted) -> None:
    model, test, _ = planted
    with pytest.raises(ValueError, match="unknown actions"):
        ActionUpliftConfig(actions=("call", "fax"))
    with pytest.raises(ValueError, match="unknown actions"):
        model.recommend(test.head(2), actions=["fax"])
    with pytest.raises(ValueError, match="not fitted"):
        model.recommend(test.head(2), actions=["email"])
    bad = planted_table(200).assign(treatment="fax")
    with pytest.raises(ValueError, match="unknown actions"):
        fit_uplift_table(bad, CONFIG)


def test_features_with_missing_columns_are_refused(planted) -> None:
    model, test, _ = planted
    with pytest.raises(ValueError, match=r"lack the columns \['deal_open'\]"):
        model.recommend(test.drop(columns=["deal_open"]).head(3))
    with pytest.raises(ValueError, match="lacks the columns"):
        fit_uplift_table(test.drop(columns=["outcome"]), CONFIG)


def test_recommendations_are_sorted_with_intervals_and_missing_values_imputed(planted) -> None:
    model, test, _ = planted
    rows = test.head(20).copy()
    rows.loc[rows.index[0], list(ENGAGEMENT_COLUMNS)] = np.nan
    rows.loc[rows.index[1], "contact_age_days"] = -3.0  # scored before its creation
    for lifts in model.recommend(rows, top=2):
        assert [lift.lift for lift in lifts] == sorted((lift.lift for lift in lifts), reverse=True)
        for lift in lifts:
            assert lift.lift_ci_low <= lift.lift_ci_high
            assert 0.0 <= lift.baseline_probability <= 1.0
            assert math.isfinite(lift.lift) and lift.channel == lift.action


def test_next_actions_carry_source_priority_and_an_associational_reason(planted) -> None:
    model, test, _ = planted
    row = test[test["lead_source"] == "referral"].head(1)
    actions = model.to_next_actions(row, top=2, min_lift=-1.0)
    assert [a.source for a in actions] == ["uplift"] * len(actions) and actions
    assert [a.priority for a in actions] == sorted((a.priority for a in actions), reverse=True)
    assert all(0.05 <= a.priority <= 0.55 for a in actions)
    assert all("Associational" in a.reason and "pts" in a.reason for a in actions)
    assert {a.channel for a in actions} <= {"call", "meeting"}
    assert model.to_next_actions(row, min_lift=1.0) == []
    with pytest.raises(ValueError, match="one contact"):
        model.to_next_actions(test.head(2))


def test_model_round_trips_through_joblib(planted, isolated_settings, tmp_path: Path) -> None:
    model, test, _ = planted
    path = model.save()
    assert path == isolated_settings.data_dir / "models" / "action_uplift" / "model.joblib"
    assert path == default_model_path()
    loaded = ActionUpliftModel.load(path)
    before, after = model.lift_draws(test.head(5))[0], loaded.lift_draws(test.head(5))[0]
    np.testing.assert_allclose(before, after)
    other = tmp_path / "other.joblib"
    pd.to_pickle({"not": "a model"}, other)
    with pytest.raises(TypeError):
        ActionUpliftModel.load(other)


def test_action_table_is_point_in_time(tiny_crm: SyntheticCRM) -> None:
    config = ActionUpliftConfig()
    table = build_action_table(tiny_crm, config)
    contacts = tiny_crm.contacts.set_index(tiny_crm.contacts["id"].astype(str))
    labels = tiny_crm.labels.set_index(tiny_crm.labels["contact_id"].astype(str))
    offset = (table["decision_at"] - contacts.loc[table["contact_id"], "created_at"].to_numpy()).dt
    assert set(offset.days) <= {int(d) for d in config.decision_offsets_days}
    assert (table["treatment"] != "none").sum() >= 5 and table["outcome"].sum() >= 5
    converted = labels.loc[table["contact_id"], "converted_at"].to_numpy()
    assert not (converted < table["decision_at"].to_numpy()).any()  # only contacts at risk
    horizon = table["decision_at"] + pd.Timedelta(days=config.outcome_horizon_days)
    expected = (converted >= table["decision_at"].to_numpy()) & (converted < horizon.to_numpy())
    assert (table["outcome"].to_numpy() == expected).all()
    actions = rep_actions(tiny_crm.activities)
    for row in table.itertuples():  # brute force: the most intensive action before conversion
        end = min(row.decision_at + pd.Timedelta(days=7), labels.loc[row.contact_id, "label_time"])
        hit = actions[
            (actions["contact_id"] == row.contact_id)
            & (actions["at"] >= row.decision_at)
            & (actions["at"] < end)
        ]
        done = [a for a in ACTION_PRECEDENCE if a in set(hit["action"])]
        assert row.treatment == (done[0] if done else "none")


def test_features_ignore_events_at_or_after_the_decision_time(tiny_crm: SyntheticCRM) -> None:
    contact = tiny_crm.contacts.iloc[0]
    now = contact["created_at"] + pd.Timedelta(days=20)
    before = build_contact_action_features(tiny_crm, contact["id"], now)
    later = tiny_crm.activities.iloc[:1].assign(
        contact_id=contact["id"], type="call", occurred_at=now
    )
    crm = SyntheticCRM(
        **{**tiny_crm.tables(), "activities": pd.concat([tiny_crm.activities, later])}
    )
    pd.testing.assert_frame_equal(before, build_contact_action_features(crm, contact["id"], now))
    assert build_contact_action_features(tiny_crm, "no-such-contact", now) is None


def test_database_features_match_the_crm_features(tiny_crm: SyntheticCRM, db_url: str) -> None:
    from pipelines.crm_store import store_crm

    store_crm(tiny_crm, db_url)
    now = pd.Timestamp("2026-04-20 12:00:00")
    deals, activities = tiny_crm.deals, tiny_crm.activities
    touched = set(activities.loc[activities["occurred_at"] < now, "contact_id"])
    open_deal = deals["is_won"].isna() & (deals["created_at"] < now)
    contact_id = str(next(c for c in deals.loc[open_deal, "contact_id"] if c in touched))
    expected = build_contact_action_features(tiny_crm, contact_id, now)
    assert expected.iloc[0]["rep_touches"] > 0 and expected.iloc[0]["email_sent"] > 0
    engagement = expected.iloc[0][list(ENGAGEMENT_COLUMNS)].to_dict()
    got = contact_features_from_db(db_url, contact_id, now.tz_localize("UTC"), engagement)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert got.iloc[0]["deal_open"] == 1.0
    bare = contact_features_from_db(db_url, contact_id, now)
    assert bare[list(ENGAGEMENT_COLUMNS)].isna().all(axis=None)
    assert contact_features_from_db(db_url, "00000000-0000-0000-0000-000000000000", now) is None
    assert contact_features_from_db(db_url, "not-a-uuid", now) is None
