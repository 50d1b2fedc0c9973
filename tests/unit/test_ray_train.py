"""The Ray Train backend's pure helpers: the Dataset round trip, parameters, booster wrapping.

No Ray here: the helpers are what each Ray worker runs around ``xgboost.train``, so a single
in-process ``xgboost.train`` on their output must give exactly the local pipeline's model.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.pipeline import Pipeline

from distributed.ray_train import (
    LABEL_COLUMN,
    RayTrainSettings,
    booster_params,
    candidate_fitter_of,
    classifier_from_booster,
    fit_xgboost_on_ray,
    ray_dataset_frame,
    restore_categoricals,
)
from training.booster import BoosterScorer
from training.estimators import build_xgboost_pipeline

PARAMS = {"n_estimators": 30, "max_depth": 3, "learning_rate": 0.2, "random_state": 0}


@pytest.fixture(scope="module")
def records() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(7)
    n = 600
    plan = rng.choice(["basic", "plus", "pro"], n).astype(object)
    plan[rng.random(n) < 0.05] = None  # missing categories stay missing
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(0, 72, n).astype(float),
            "charges": rng.normal(70, 20, n),
            "plan": plan,
            "paperless": rng.choice(["Yes", "No"], n),
        }
    )
    logit = 1.5 * (frame["plan"] == "basic") - 0.04 * frame["tenure"] + 0.02 * frame["charges"]
    labels = pd.Series((logit + rng.normal(0, 1, n) > 0.5).astype(int), name="churn")
    return frame, labels


def test_dataset_frame_round_trip_gives_the_encoders_frame(records) -> None:
    frame, labels = records
    encoder = build_xgboost_pipeline(frame.columns, PARAMS)[0].fit(frame)
    encoded = encoder.transform(frame)
    carried = ray_dataset_frame(encoded, labels)
    assert carried.dtypes.map(lambda dtype: dtype == np.float64).all()
    assert list(carried.columns) == [*frame.columns, LABEL_COLUMN]
    assert carried["plan"].isna().sum() == frame["plan"].isna().sum() > 0
    restored = restore_categoricals(carried, list(encoder.columns), encoder.categories_)
    pd.testing.assert_frame_equal(restored, encoded.reset_index(drop=True))
    np.testing.assert_array_equal(carried[LABEL_COLUMN], labels)


def test_a_shard_keeps_every_frozen_level(records) -> None:
    frame, labels = records
    encoder = build_xgboost_pipeline(frame.columns, PARAMS)[0].fit(frame)
    carried = ray_dataset_frame(encoder.transform(frame), labels)
    shard = carried[carried["plan"] == 0.0]  # only one level present in this shard
    restored = restore_categoricals(shard, list(encoder.columns), encoder.categories_)
    assert list(restored["plan"].cat.categories) == encoder.categories_["plan"]


def test_dataset_frame_refuses_a_column_named_like_the_label(records) -> None:
    frame, labels = records
    with pytest.raises(ValueError, match=LABEL_COLUMN):
        ray_dataset_frame(frame[["tenure"]].rename(columns={"tenure": LABEL_COLUMN}), labels)


def test_worker_inputs_train_the_local_model_exactly(records) -> None:
    frame, labels = records
    local = build_xgboost_pipeline(frame.columns, PARAMS).fit(frame, labels)
    template = build_xgboost_pipeline(frame.columns, PARAMS)
    encoder = template[0].fit(frame)
    carried = ray_dataset_frame(encoder.transform(frame), labels)
    params, rounds = booster_params(template[-1], nthread=1)
    assert rounds == PARAMS["n_estimators"]
    assert params["nthread"] == 1 and "n_jobs" not in params
    assert None not in params.values()
    matrix = xgb.DMatrix(
        restore_categoricals(carried, list(encoder.columns), encoder.categories_),
        label=carried[LABEL_COLUMN],
        enable_categorical=True,
    )
    booster = xgb.train(params, matrix, num_boost_round=rounds)
    wrapped = Pipeline(
        [("encode", encoder), ("model", classifier_from_booster(template[-1], booster))]
    )
    np.testing.assert_allclose(wrapped.predict_proba(frame), local.predict_proba(frame), atol=1e-6)


def test_wrapped_booster_serves_through_the_fast_path(records) -> None:
    frame, labels = records
    template = build_xgboost_pipeline(frame.columns, PARAMS)
    encoder = template[0].fit(frame)
    params, rounds = booster_params(template[-1], nthread=1)
    booster = xgb.train(
        params, xgb.DMatrix(encoder.transform(frame), labels, enable_categorical=True), rounds
    )
    model = classifier_from_booster(template[-1], booster)
    pipeline = Pipeline([("encode", encoder), ("model", model)])
    assert model.n_classes_ == 2 and list(model.classes_) == [0, 1]
    local = build_xgboost_pipeline(frame.columns, PARAMS).fit(frame, labels)[-1]
    assert model.get_params() == local.get_params()  # clone() refits it like the local model
    scorer = BoosterScorer(pipeline)
    assert scorer.iteration_range == (0, 0)
    rows = frame[list(encoder.columns)].head(40).to_numpy().tolist()
    probabilities, contributions = scorer.predict_explain(rows)
    np.testing.assert_allclose(
        probabilities, pipeline.predict_proba(frame.head(40))[:, 1], atol=1e-6
    )
    assert contributions.shape == (40, len(encoder.columns))


def test_a_multiclass_booster_is_refused(records) -> None:
    frame, _ = records
    template = build_xgboost_pipeline(["tenure"], PARAMS)
    classes = np.arange(len(frame)) % 3
    booster = xgb.train(
        {"objective": "multi:softprob", "num_class": 3},
        xgb.DMatrix(frame[["tenure"]], classes),
        num_boost_round=2,
    )
    with pytest.raises(ValueError, match="binary"):
        classifier_from_booster(template[-1], booster)


def test_fit_refuses_bad_inputs_before_reaching_ray(records) -> None:
    frame, labels = records
    pipeline = build_xgboost_pipeline(frame.columns, PARAMS)
    with pytest.raises(ValueError, match="0/1"):
        fit_xgboost_on_ray(pipeline, frame, labels + 1)
    with pytest.raises(ValueError, match="workers"):
        fit_xgboost_on_ray(pipeline, frame.head(3), labels.head(3), num_workers=4)
    with pytest.raises(TypeError, match="XGBClassifier"):
        fit_xgboost_on_ray(Pipeline([("model", pipeline[-1])]), frame, labels)


def test_settings_from_a_config_section() -> None:
    settings = RayTrainSettings.from_section(
        {"num_workers": 3, "resources_per_worker": {"worker": 1}, "address": "ray://head:10001"}
    )
    assert settings.num_workers == 3 and settings.address == "ray://head:10001"
    assert settings.worker_resources() == {"CPU": 1.0, "worker": 1}
    assert RayTrainSettings.from_section(None) == RayTrainSettings()
    with pytest.raises(ValueError, match="num_workers"):
        RayTrainSettings(num_workers=0)
    with pytest.raises(ValueError, match="cpus_per_worker"):
        RayTrainSettings(cpus_per_worker=0)


def test_backend_choice_follows_the_config() -> None:
    local = SimpleNamespace(train=SimpleNamespace(xgboost={}, baseline={}))
    assert candidate_fitter_of(local) is None  # no backend field: the local fit
    assert candidate_fitter_of(SimpleNamespace(train=SimpleNamespace(backend="local"))) is None
    ray = SimpleNamespace(
        train=SimpleNamespace(
            backend="ray", ray={"num_workers": 4, "resources_per_worker": {"w": 1}}
        )
    )
    fitter = candidate_fitter_of(ray)
    assert fitter is not None
    assert fitter.keywords["num_workers"] == 4
    assert fitter.keywords["resources_per_worker"] == {"w": 1}
    with pytest.raises(ValueError, match="spark"):
        candidate_fitter_of(SimpleNamespace(train=SimpleNamespace(backend="spark")))
