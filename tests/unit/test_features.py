"""Feature transforms: values of every registered transform, and the spec-driven builder's columns and dtypes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from airloop.datagen import generate
from airloop.errors import SpecError
from airloop.features import TRANSFORMS, build_features, feature_columns, get_transform
from airloop.spec import ColumnSpec, FeatureSpec
from airloop.validation import validate_frame

pytestmark = pytest.mark.unit

NAN = float("nan")
DOMAIN = ["a", "b", "c"]


def apply(transform: str, *series: pd.Series, dtype: str = "float", domain=None, **params) -> dict[str, np.ndarray]:
    """Run one transform the way `build_features` does: feature spec, column specs, input series."""
    names = [f"in{i}" for i in range(len(series))]
    feat = FeatureSpec(
        name="f",
        transform=transform,
        column=names[0] if len(names) == 1 else None,
        columns=names if len(names) > 1 else None,
        params=params,
    )
    cols = [ColumnSpec(dtype=dtype, domain=domain) for _ in series]
    return get_transform(transform).fn(feat, cols, *series)


def utc(*stamps: str | None) -> pd.Series:
    return pd.Series(pd.to_datetime(list(stamps), utc=True))


def assert_values(actual: np.ndarray, expected: list[float]) -> None:
    np.testing.assert_allclose(actual, np.array(expected, dtype=np.float64), rtol=1e-6, atol=1e-6, equal_nan=True)


# ------------------------------------------------------------------------------------------------- each transform


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        (pd.Series([1, 2, 300], dtype="int64"), [1, 2, 300]),
        (pd.Series([0.5, -2.25, NAN]), [0.5, -2.25, NAN]),
        (pd.Series([True, False, True]), [1, 0, 1]),
        (pd.Series([3, None, 5], dtype="Int64"), [3, NAN, 5]),
        (pd.Series([True, None, False], dtype="boolean"), [1, NAN, 0]),
    ],
    ids=["int", "float-with-nan", "bool", "nullable-int", "nullable-bool"],
)
def test_identity(series, expected):
    out = apply("identity", series)
    assert list(out) == ["f"]
    assert_values(out["f"], expected)


def test_log1p_values_clip_negatives_and_keep_nan():
    out = apply("log1p", pd.Series([0.0, math.e - 1, 99.0, -5.0, NAN]))["f"]
    assert_values(out, [0.0, 1.0, math.log(100), 0.0, NAN])


def test_log1p_nullable_float_missing_is_nan():
    out = apply("log1p", pd.Series([1.5, None], dtype="Float64"))["f"]
    assert_values(out, [math.log1p(1.5), NAN])


def test_cyclical_hours():
    out = apply("cyclical", pd.Series([0, 6, 12, 18, 23]), dtype="int", period=24)
    assert list(out) == ["f_sin", "f_cos"]
    assert_values(out["f_sin"], [0, 1, 0, -1, math.sin(2 * math.pi * 23 / 24)])
    assert_values(out["f_cos"], [1, 0, -1, 0, math.cos(2 * math.pi * 23 / 24)])


def test_cyclical_23h_is_a_neighbour_of_0h():
    out = apply("cyclical", pd.Series([0, 23, 12]), dtype="int", period=24)
    points = np.stack([out["f_sin"], out["f_cos"]], axis=1)
    near = np.linalg.norm(points[0] - points[1])
    far = np.linalg.norm(points[0] - points[2])
    assert near < 0.3
    assert far == pytest.approx(2.0, abs=1e-5)


def test_cyclical_uses_the_period_param():
    out = apply("cyclical", pd.Series([0, 7, 3.5]), period=7)
    assert_values(out["f_cos"], [1, 1, -1])


def test_one_hot_known_unknown_and_missing():
    s = pd.Series(["a", "c", "zzz", None, "b"], dtype="string")
    out = apply("one_hot", s, dtype="category", domain=DOMAIN)
    assert list(out) == ["f__a", "f__b", "f__c"]
    assert_values(out["f__a"], [1, 0, 0, 0, 0])
    assert_values(out["f__b"], [0, 0, 0, 0, 1])
    assert_values(out["f__c"], [0, 1, 0, 0, 0])
    matrix = np.stack(list(out.values()), axis=1)
    assert matrix[2].sum() == 0  # unknown value: all zeros
    assert matrix[3].sum() == 0  # missing value: all zeros


def test_category_code_unknown_is_nan():
    s = pd.Series(["b", "a", "c", "nope", None], dtype="string")
    out = apply("category_code", s, dtype="category", domain=DOMAIN)["f"]
    assert_values(out, [1, 0, 2, NAN, NAN])


def test_ratio_zero_or_missing_denominator_is_nan():
    a = pd.Series([10.0, 5.0, 3.0, NAN, 0.0])
    b = pd.Series([4, 0, None, 2, 7], dtype="Int64")
    out = apply("ratio", a, b)
    assert list(out) == ["f"]
    assert_values(out["f"], [2.5, NAN, NAN, NAN, 0.0])


def test_hour_of_day():
    s = utc("2026-01-05T00:10:00", "2026-01-05T13:45:00", "2026-01-05T23:59:59", None)
    assert_values(apply("hour_of_day", s, dtype="datetime")["f"], [0, 13, 23, NAN])


def test_day_of_week_monday_is_zero():
    # 2026-01-05 is a Monday, 2026-01-11 a Sunday.
    s = utc("2026-01-05T12:00:00", "2026-01-07T12:00:00", "2026-01-11T23:00:00", None)
    assert_values(apply("day_of_week", s, dtype="datetime")["f"], [0, 2, 6, NAN])


# One representative input per transform: every registered transform must appear here (checked below).
CASES = {
    "identity": (dict(dtype="int"), [pd.Series([1, 2])]),
    "log1p": (dict(dtype="float"), [pd.Series([1.0, 2.0])]),
    "cyclical": (dict(dtype="int"), [pd.Series([1, 2])]),
    "one_hot": (dict(dtype="category", domain=DOMAIN), [pd.Series(["a", "b"], dtype="string")]),
    "category_code": (dict(dtype="category", domain=DOMAIN), [pd.Series(["a", "b"], dtype="string")]),
    "ratio": (dict(dtype="float"), [pd.Series([1.0, 2.0]), pd.Series([2.0, 4.0])]),
    "hour_of_day": (dict(dtype="datetime"), [utc("2026-01-01T01:00:00", "2026-01-01T02:00:00")]),
    "day_of_week": (dict(dtype="datetime"), [utc("2026-01-01T01:00:00", "2026-01-02T02:00:00")]),
}


def test_every_transform_has_a_case():
    assert set(CASES) == set(TRANSFORMS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_transform_outputs_declared_float32_columns(name):
    kwargs, series = CASES[name]
    out = apply(name, *series, **kwargs)
    tr = get_transform(name)
    feat = FeatureSpec(name="f", transform=name, column="x")
    declared = tr.outputs(feat, [ColumnSpec(**kwargs)] * tr.n_inputs)
    assert list(out) == declared
    for values in out.values():
        assert values.dtype == np.float32
        assert values.shape == (2,)
    assert tr.doc, f"transform {name} has no docstring"
    assert len(series) == tr.n_inputs


def test_get_transform_unknown_lists_known():
    with pytest.raises(SpecError, match=r"unknown transform 'nope' \(known: category_code, cyclical, "):
        get_transform("nope")


# ---------------------------------------------------------------------------------------------------- the builder


@pytest.fixture(scope="module")
def batch(spec) -> pd.DataFrame:
    raw = generate("fraud", rows=300, seed=11)
    return validate_frame(raw, spec).valid_rows


@pytest.fixture(scope="module")
def built(batch, spec) -> pd.DataFrame:
    return build_features(batch, spec)


def test_feature_columns_of_the_shipped_spec(spec):
    cols = feature_columns(spec)
    assert len(cols) == 31  # 1 + 10 merchants + 12 countries + sin/cos + 6 single columns
    assert cols[:3] == ["log_amount", "merchant__grocery", "merchant__restaurants"]
    assert {"hour_sin", "hour_cos", "country__US", "amount_per_txn"} <= set(cols)
    assert len(set(cols)) == len(cols)


def test_build_features_columns_match_feature_columns(built, spec):
    assert list(built.columns) == ["transaction_id", "event_time", "is_fraud", *feature_columns(spec)]


def test_build_features_outputs_float32(built, spec):
    for col in feature_columns(spec):
        assert built[col].dtype == np.float32, col


def test_build_features_keeps_ids_times_and_labels(built, batch):
    assert len(built) == len(batch)
    np.testing.assert_array_equal(built["transaction_id"].to_numpy(), batch["transaction_id"].to_numpy())
    np.testing.assert_array_equal(built["is_fraud"].to_numpy(), batch["is_fraud"].to_numpy())
    assert (built["event_time"].to_numpy() == batch["event_time"].to_numpy()).all()


def test_build_features_values_follow_the_inputs(built, batch):
    np.testing.assert_allclose(built["log_amount"], np.log1p(batch["amount"].to_numpy()), rtol=1e-5)
    merchants = built.filter(like="merchant__")
    assert (merchants.sum(axis=1) == 1).all()  # the generator only emits declared categories
    assert (merchants["merchant__travel"] == (batch["merchant_category"] == "travel").to_numpy()).all()
    missing = batch["distance_from_home_km"].isna().to_numpy()
    assert np.isnan(built["log_distance"].to_numpy()[missing]).all()
    assert not np.isnan(built["log_distance"].to_numpy()[~missing]).any()


def test_build_features_without_label(batch, spec):
    built = build_features(batch.drop(columns=["is_fraud"]), spec)
    assert list(built.columns) == ["transaction_id", "event_time", *feature_columns(spec)]
