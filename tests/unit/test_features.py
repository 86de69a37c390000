"""Feature transforms: values of every registered transform, the spec-driven builder's columns and dtypes, and custom
feature functions (`module:function`): resolution, the contract and its errors."""

from __future__ import annotations

import copy
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from airloop.catalog import load_spec
from airloop.data.datagen import generate
from airloop.data.features import (
    TRANSFORMS,
    FeatureError,
    build_features,
    feature_columns,
    get_transform,
    is_known_transform,
    outputs,
    resolve_function,
)
from airloop.data.validation import validate_frame
from airloop.errors import SpecError
from airloop.spec import ColumnSpec, FeatureSpec

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
    slices = ["slice__country", "slice__customer_age"]  # raw columns for the spec's fairness slices, at the end
    assert list(built.columns) == ["transaction_id", "event_time", "is_fraud", *feature_columns(spec), *slices]
    assert not set(slices) & set(feature_columns(spec))


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
    slices = ["slice__country", "slice__customer_age"]
    assert list(built.columns) == ["transaction_id", "event_time", *feature_columns(spec), *slices]


# ------------------------------------------------------------------------------------------ custom feature functions

CUSTOM_MODULE = """
import numpy as np
import pandas as pd

from airloop.data.features import outputs

SEEN = {}


def scaled(df, factor=1.0):
    SEEN["scaled"] = list(df.columns)
    return df["amount"] * factor


def everything(df):
    SEEN["everything"] = list(df.columns)
    return pd.Series(np.arange(len(df)), index=df.index)


@outputs("hi", "lo")
def bounds(df, cut=100.0):
    return pd.DataFrame({"lo": df["amount"] < cut, "hi": df["amount"] >= cut})


@outputs(lambda bins, **_: [f"b{i}" for i in range(len(bins) + 1)])
def binned(df, bins):
    codes = np.digitize(df["amount"].to_numpy(), bins)
    return pd.DataFrame({f"b{i}": codes == i for i in range(len(bins) + 1)})


def shuffled(df):
    return df["amount"].sort_values()  # a reordering of df's index: aligned back by label


def wrong_type(df):
    return df["amount"].to_numpy()


def too_short(df):
    return df["amount"].iloc[1:]


def text(df):
    return df["amount"].astype(str)


def infinite(df):
    return df["amount"] / 0.0


def frame_undeclared(df):
    return df[["amount"]]


@outputs("a", "b")
def frame_wrong_columns(df):
    return pd.DataFrame({"a": df["amount"], "c": df["amount"]})


@outputs("a", "b")
def series_declared(df):
    return df["amount"]


def other_index(df):
    return pd.Series(df["amount"].to_numpy(), index=df.index + 1000)


def broken(df):
    raise KeyError("no_such_column")


NOT_A_FUNCTION = 3
"""


@pytest.fixture
def custom(tmp_path, spec_dict, request):
    """Write a feature module next to a copy of the shipped spec; return a loader for specs with custom features.

    Each test gets its own module name, so modules imported (and cached in sys.modules) by one never serve another.
    """
    module = f"features_t{abs(hash(request.node.nodeid)) % 10**10}"
    (tmp_path / f"{module}.py").write_text(CUSTOM_MODULE)

    def load(*features: dict, mutate=None):
        data = copy.deepcopy(spec_dict)
        data["features"] = [
            {**f, "transform": f["transform"].replace("MOD:", f"{module}:")} for f in [*data["features"], *features]
        ]
        if mutate:
            mutate(data)
        path = tmp_path / "fraud_detection.yaml"
        path.write_text(yaml.safe_dump(data))
        return load_spec(path)

    load.module = module
    return load


@pytest.fixture(scope="module")
def custom_batch(spec) -> pd.DataFrame:
    raw = generate("fraud", rows=40, seed=5)
    return validate_frame(raw, spec).valid_rows.iloc[5:]  # a non-0..n-1 index, as after quarantining rows


def test_custom_series_feature_gets_its_columns_and_params(custom, custom_batch):
    spec = custom({"name": "amt3", "transform": "MOD:scaled", "column": "amount", "params": {"factor": 3}})
    built = build_features(custom_batch, spec)
    assert feature_columns(spec)[-1] == "amt3"
    assert list(built.columns)[: 3 + len(feature_columns(spec))] == [
        "transaction_id",
        "event_time",
        "is_fraud",
        *feature_columns(spec),
    ]
    assert built["amt3"].dtype == np.float32
    np.testing.assert_allclose(built["amt3"], custom_batch["amount"].to_numpy() * 3, rtol=1e-6)
    assert sys.modules[custom.module].SEEN["scaled"] == ["amount"]


def test_custom_feature_without_columns_gets_every_column_but_the_label(custom, custom_batch, spec):
    spec = custom({"name": "row", "transform": "MOD:everything"})
    built = build_features(custom_batch, spec)
    seen = sys.modules[custom.module].SEEN["everything"]
    assert seen == [c for c in spec.schema.columns if c != "is_fraud"]
    assert_values(built["row"].to_numpy(), list(range(len(custom_batch))))


def test_custom_dataframe_feature_declares_its_columns(custom, custom_batch):
    spec = custom({"name": "big", "transform": "MOD:bounds", "column": "amount", "params": {"cut": 50.0}})
    assert feature_columns(spec)[-2:] == ["big__hi", "big__lo"]  # the declared order, not the returned one
    built = build_features(custom_batch, spec)
    hi = (custom_batch["amount"] >= 50.0).to_numpy()
    assert_values(built["big__hi"].to_numpy(), hi.astype(float).tolist())
    assert_values(built["big__lo"].to_numpy(), (~hi).astype(float).tolist())


def test_custom_outputs_may_depend_on_params(custom, custom_batch):
    spec = custom({"name": "bin", "transform": "MOD:binned", "column": "amount", "params": {"bins": [10, 100]}})
    assert feature_columns(spec)[-3:] == ["bin__b0", "bin__b1", "bin__b2"]
    built = build_features(custom_batch, spec)
    assert (built[["bin__b0", "bin__b1", "bin__b2"]].sum(axis=1) == 1).all()


def test_custom_result_reordered_by_index_is_aligned_back(custom, custom_batch):
    spec = custom({"name": "amt", "transform": "MOD:shuffled", "column": "amount"})
    built = build_features(custom_batch, spec)
    np.testing.assert_allclose(built["amt"], custom_batch["amount"].to_numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    ("function", "fragment"),
    [
        ("wrong_type", "must return a pandas Series or DataFrame, got ndarray"),
        ("too_short", "rows for a batch of"),
        ("text", "column 'f' is not numeric (dtype"),
        ("infinite", "infinite value(s)"),
        ("frame_undeclared", "returned a DataFrame without declaring its columns"),
        ("frame_wrong_columns", "returned columns ['a', 'c'], its @outputs declare ['a', 'b']"),
        ("series_declared", "declares @outputs ['f__a', 'f__b'] but returned a Series"),
        ("other_index", "the result's index does not match the input rows"),
        ("broken", "raised KeyError: 'no_such_column'"),
    ],
)
def test_custom_contract_violations_name_the_feature(custom, custom_batch, function, fragment):
    spec = custom({"name": "f", "transform": f"MOD:{function}", "column": "amount"})
    with pytest.raises(FeatureError) as info:
        build_features(custom_batch, spec)
    message = str(info.value)
    assert message.startswith(f"feature 'f' ({custom.module}:{function})"), message
    assert fragment in message


def test_spec_validation_accepts_custom_names_without_importing(custom):
    spec = custom({"name": "later", "transform": "not_written_yet:fn", "column": "amount"})
    assert spec.features[-1].transform == "not_written_yet:fn"
    assert "not_written_yet" not in sys.modules
    assert is_known_transform("pkg.mod:fn") and is_known_transform("identity")
    assert not is_known_transform("pkg.mod:") and not is_known_transform("nope")


@pytest.mark.parametrize("ref", ["mod:", ":fn", "a b:fn", "mod:fn:x", "mod.:fn", "1mod:fn"])
def test_malformed_custom_names_fail_at_load_naming_the_field(custom, ref):
    with pytest.raises(SpecError) as info:
        custom({"name": "bad", "transform": ref, "column": "amount"})
    message = str(info.value)
    assert "field 'features.10' (bad)" in message
    assert f"custom transform '{ref}' is not 'module.path:function'" in message


def test_unknown_module_lists_where_it_looked(custom, custom_batch, tmp_path):
    spec = custom({"name": "f", "transform": "features_nowhere:fn", "column": "amount"})
    with pytest.raises(FeatureError) as info:
        build_features(custom_batch, spec)
    message = str(info.value)
    assert message.startswith("feature 'f': custom transform 'features_nowhere:fn': no module 'features_nowhere'")
    assert f"tried: {tmp_path.resolve()} (the spec's directory)" in message
    assert "the installed packages" in message
    with pytest.raises(FeatureError, match="no module 'features_nowhere'"):
        feature_columns(spec)  # the model's column list needs the function too


def test_unknown_function_lists_the_module_functions(custom, custom_batch):
    spec = custom({"name": "f", "transform": "MOD:nope", "column": "amount"})
    with pytest.raises(FeatureError) as info:
        build_features(custom_batch, spec)
    message = str(info.value)
    assert f"'nope' does not exist in module '{custom.module}'" in message
    assert "functions there: binned, bounds, broken, everything, frame_undeclared" in message
    assert "outputs" not in message.split("functions there:")[1]  # imported, not the module's own
    spec = custom({"name": "f", "transform": "MOD:NOT_A_FUNCTION", "column": "amount"})
    with pytest.raises(FeatureError, match="'NOT_A_FUNCTION' is not a function"):
        build_features(custom_batch, spec)


def test_module_import_failures_are_feature_errors(custom, custom_batch, tmp_path):
    (tmp_path / "features_needs_dep.py").write_text("import no_such_dependency_xyz\n")
    (tmp_path / "features_raises.py").write_text("raise RuntimeError('bad config')\n")
    spec = custom({"name": "f", "transform": "features_needs_dep:fn", "column": "amount"})
    with pytest.raises(FeatureError, match="importing module 'features_needs_dep' failed: No module named 'no_such"):
        build_features(custom_batch, spec)
    spec = custom({"name": "f", "transform": "features_raises:fn", "column": "amount"})
    with pytest.raises(FeatureError, match="importing module 'features_raises' raised RuntimeError: bad config"):
        build_features(custom_batch, spec)


def test_the_spec_directory_is_on_sys_path_only_for_the_import(custom, tmp_path):
    spec = custom({"name": "amt", "transform": "MOD:scaled", "column": "amount"})
    before = list(sys.path)
    feature_columns(spec)
    assert sys.path == before
    assert str(tmp_path.resolve()) not in sys.path
    assert Path(sys.modules[custom.module].__file__).parent == tmp_path.resolve()


def test_resolve_function_on_its_own(tmp_path):
    (tmp_path / "features_resolve_alone.py").write_text("def f(df):\n    return df['x'] + 1\n")
    fn = resolve_function("features_resolve_alone:f", [tmp_path])
    assert fn(pd.DataFrame({"x": [1, 2]})).tolist() == [2, 3]
    assert resolve_function("features_resolve_alone:f", [tmp_path]) is fn  # resolved once


def test_custom_outputs_colliding_with_a_role_column_are_refused(custom, custom_batch):
    spec = custom({"name": "is_fraud", "transform": "MOD:scaled", "column": "amount"})
    with pytest.raises(
        FeatureError, match=r"collide with each other or with the id, time or label column: \['is_fraud'\]"
    ):
        feature_columns(spec)


def test_outputs_decorator_refuses_bad_declarations():
    with pytest.raises(TypeError, match="duplicate"):
        outputs("a", "a")
    with pytest.raises(TypeError, match="non-empty strings"):
        outputs()
    with pytest.raises(TypeError, match="non-empty strings"):
        outputs("a", "")


def test_unknown_builtin_transform_mentions_custom_functions():
    with pytest.raises(SpecError, match=r"a custom function is named 'module.path:function'"):
        get_transform("nope")
