"""Unit tests of the framework-free tabular encoder shared by training and online scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from features.tabular import (
    MissingFeaturesError,
    TabularEncoder,
    is_yes_no,
    select_feature_columns,
)

COLUMNS = ["origin", "do_not_email", "visits", "time_spent"]


@pytest.fixture()
def train_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "origin": ["API", "Landing Page", "API", None, "Lead Add Form"],
            "do_not_email": ["No", "Yes", "no", "YES ", None],
            "visits": [0, 5, 2, 3, 1],
            "time_spent": [0.0, 674.0, 1532.0, np.nan, 305.0],
            "city": ["Mumbai", "Thane", "Mumbai", "Other", "Mumbai"],
        }
    )


@pytest.fixture()
def encoder(train_frame: pd.DataFrame) -> TabularEncoder:
    return TabularEncoder(columns=COLUMNS).fit(train_frame)


def test_fit_sorts_columns_into_flags_categories_and_numbers(encoder: TabularEncoder) -> None:
    assert encoder.flag_columns_ == ["do_not_email"]
    assert encoder.numeric_columns_ == ["visits", "time_spent"]
    assert encoder.categories_ == {"origin": ["API", "Landing Page", "Lead Add Form"]}


def test_yes_no_flags_become_one_and_zero(
    encoder: TabularEncoder, train_frame: pd.DataFrame
) -> None:
    encoded = encoder.transform(train_frame)
    flags = encoded["do_not_email"]
    assert flags.dtype == float
    assert flags.iloc[:4].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert np.isnan(flags.iloc[4])


def test_unexpected_flag_value_becomes_missing(encoder: TabularEncoder) -> None:
    frame = pd.DataFrame(
        {"origin": ["API"] * 3, "do_not_email": ["maybe", "True", "false"], "visits": [1] * 3}
    ).assign(time_spent=1.0)
    flags = encoder.transform(frame)["do_not_email"]
    assert np.isnan(flags.iloc[0])
    assert flags.iloc[1:].tolist() == [1.0, 0.0]


def test_boolean_columns_are_flags() -> None:
    frame = pd.DataFrame({"opt_in": [True, False, True]})
    encoder = TabularEncoder(columns=["opt_in"]).fit(frame)
    assert encoder.flag_columns_ == ["opt_in"]
    assert encoder.transform(frame)["opt_in"].tolist() == [1.0, 0.0, 1.0]


def test_is_yes_no() -> None:
    assert is_yes_no(pd.Series(["Yes", "no", None]))
    assert not is_yes_no(pd.Series(["Yes", "Maybe"]))
    assert not is_yes_no(pd.Series([None, None], dtype=object))


def test_categories_are_frozen_at_fit(encoder: TabularEncoder, train_frame: pd.DataFrame) -> None:
    fitted_codes = encoder.transform(train_frame)["origin"]
    incoming = pd.DataFrame(
        {
            "origin": ["Quick Add Form", "Lead Add Form", "API"],
            "do_not_email": ["No"] * 3,
            "visits": [1, 1, 1],
            "time_spent": [1.0, 1.0, 1.0],
        }
    )
    encoded = encoder.transform(incoming)["origin"]
    assert isinstance(encoded.dtype, pd.CategoricalDtype)
    # The layout does not move: same categories in the same order as at fit time.
    assert list(encoded.cat.categories) == ["API", "Landing Page", "Lead Add Form"]
    assert list(encoded.cat.categories) == list(fitted_codes.cat.categories)
    # An unseen value becomes missing; known values keep their fit-time codes.
    assert pd.isna(encoded.iloc[0])
    assert encoded.cat.codes.tolist() == [-1, 2, 0]
    assert fitted_codes.cat.codes.tolist() == [0, 1, 0, -1, 2]


def test_category_layout_ignores_incoming_frequency(encoder: TabularEncoder) -> None:
    only_one_level = pd.DataFrame(
        {"origin": ["Lead Add Form"] * 2, "do_not_email": ["No"] * 2, "visits": [1, 2]}
    ).assign(time_spent=2.0)
    codes = encoder.transform(only_one_level)["origin"].cat.codes.tolist()
    assert codes == [2, 2]


def test_numbers_are_coerced_to_float(encoder: TabularEncoder) -> None:
    frame = pd.DataFrame(
        {
            "origin": ["API"] * 3,
            "do_not_email": ["No"] * 3,
            "visits": ["7", "not a number", None],
            "time_spent": [10, 20, 30],
        }
    )
    encoded = encoder.transform(frame)
    assert encoded["visits"].dtype == float
    assert encoded["visits"].iloc[0] == 7.0
    assert encoded["visits"].iloc[1:].isna().all()
    assert encoded["time_spent"].dtype == float
    assert encoded["time_spent"].tolist() == [10.0, 20.0, 30.0]


def test_missing_column_raises_naming_it(
    encoder: TabularEncoder, train_frame: pd.DataFrame
) -> None:
    with pytest.raises(MissingFeaturesError, match="time_spent"):
        encoder.transform(train_frame.drop(columns=["time_spent"]))
    with pytest.raises(MissingFeaturesError, match="visits"):
        TabularEncoder(columns=COLUMNS).fit(train_frame.drop(columns=["visits"]))
    assert issubclass(MissingFeaturesError, ValueError)


def test_column_order_is_preserved_and_extras_ignored(train_frame: pd.DataFrame) -> None:
    order = ["time_spent", "origin", "visits", "do_not_email"]
    encoder = TabularEncoder(columns=order).fit(train_frame)
    shuffled = train_frame[["city", "visits", "do_not_email", "origin", "time_spent"]]
    encoded = encoder.transform(shuffled)
    assert list(encoded.columns) == order
    assert list(encoder.get_feature_names_out()) == order
    assert "city" not in encoded.columns
    pd.testing.assert_index_equal(encoded.index, train_frame.index)


def test_transform_keeps_the_record_index(encoder: TabularEncoder, train_frame: pd.DataFrame):
    reindexed = train_frame.set_index(pd.Index([10, 11, 12, 13, 14]))
    encoded = encoder.transform(reindexed)
    assert encoded.index.tolist() == [10, 11, 12, 13, 14]
    assert encoded["visits"].tolist() == [0.0, 5.0, 2.0, 3.0, 1.0]


def test_works_inside_sklearn_clone(encoder: TabularEncoder, train_frame: pd.DataFrame) -> None:
    copy = clone(encoder)
    assert copy.get_params() == {"columns": COLUMNS}
    with pytest.raises(NotFittedError):
        check_is_fitted(copy)
    refitted = copy.fit(train_frame)
    check_is_fitted(refitted)
    pd.testing.assert_frame_equal(refitted.transform(train_frame), encoder.transform(train_frame))


def test_clone_of_pipeline_refits_independently(train_frame: pd.DataFrame) -> None:
    pipeline = Pipeline([("encode", TabularEncoder(columns=["origin"]))])
    pipeline.fit(train_frame)
    other = clone(pipeline).fit(train_frame.assign(origin=["Z", "Y", "Z", "Z", "Y"]))
    assert pipeline[0].categories_["origin"] == ["API", "Landing Page", "Lead Add Form"]
    assert other[0].categories_["origin"] == ["Y", "Z"]


def test_select_feature_columns_keeps_file_order() -> None:
    frame = pd.DataFrame(columns=["Prospect ID", "Lead Origin", "Converted", "Tags", "TotalVisits"])
    selected = select_feature_columns(frame, ["Converted", "Prospect ID", "Tags", "not there"])
    assert selected == ["Lead Origin", "TotalVisits"]
    assert select_feature_columns(frame, []) == list(frame.columns)


# --- serving fast path -------------------------------------------------------------------------


def _codes_of(encoder: TabularEncoder, frame: pd.DataFrame) -> np.ndarray:
    """What transform() gives, with each categorical replaced by its code (NaN when missing)."""
    encoded = encoder.transform(frame)
    columns = []
    for column in encoded.columns:
        series = encoded[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            columns.append(series.cat.codes.replace(-1, np.nan).astype(float).to_numpy())
        else:
            columns.append(series.astype(float).to_numpy())
    return np.column_stack(columns)


def test_encode_values_equals_transform(encoder: TabularEncoder) -> None:
    frame = pd.DataFrame(
        {
            "origin": ["API", "Unseen origin", None, "Lead Add Form", float("nan")],
            "do_not_email": ["yes", " NO", "maybe", None, True],
            "visits": [3, "7", "not a number", None, 2.5],
            "time_spent": [12.5, np.nan, 0.0, 1e6, "15"],
        }
    )
    fast = encoder.encode_values(frame[COLUMNS].to_numpy(dtype=object))
    np.testing.assert_array_equal(fast, _codes_of(encoder, frame))


def test_encode_values_of_training_rows_equals_transform(
    encoder: TabularEncoder, train_frame: pd.DataFrame
) -> None:
    fast = encoder.encode_values(train_frame[COLUMNS].to_numpy(dtype=object))
    np.testing.assert_array_equal(fast, _codes_of(encoder, train_frame))


def test_encode_values_needs_one_value_per_column(encoder: TabularEncoder) -> None:
    with pytest.raises(ValueError):
        encoder.encode_values([["API", "No", 1]])


def test_encoder_pickles_without_its_cache(encoder: TabularEncoder) -> None:
    import pickle

    encoder.encode_values([["API", "No", 1, 2.0]])
    restored = pickle.loads(pickle.dumps(encoder))
    assert "_cell_encoders_cache" not in restored.__dict__
    np.testing.assert_array_equal(
        restored.encode_values([["API", "No", 1, 2.0]]),
        encoder.encode_values([["API", "No", 1, 2.0]]),
    )


def test_encode_values_of_many_rows_equals_the_per_cell_path() -> None:
    """The column-at-a-time path (stream batches) gives exactly the per-cell path's matrix."""
    import numpy as np
    import pandas as pd

    from features.tabular import SMALL_BATCH, TabularEncoder

    rng = np.random.default_rng(3)
    n = SMALL_BATCH * 3
    frame = pd.DataFrame(
        {
            "count": rng.integers(0, 9, n).astype(object),
            "rate": np.where(rng.random(n) < 0.2, np.nan, rng.random(n)),
            "city": rng.choice(["Mumbai", "Pune", None], n),
            "flag": rng.choice(["Yes", "No", None], n),
        }
    )
    frame.loc[3, "count"] = None
    frame.loc[5, "count"] = "7"
    frame.loc[6, "rate"] = "n/a"  # non-numeric: coerced to NaN like pd.to_numeric
    encoder = TabularEncoder(list(frame.columns)).fit(frame)
    rows = frame.to_numpy(dtype=object).tolist()
    many = encoder.encode_values(rows)
    one_by_one = np.vstack([encoder.encode_values([row]) for row in rows])
    np.testing.assert_array_equal(many, one_by_one)
