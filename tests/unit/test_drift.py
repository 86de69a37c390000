"""Drift statistics: every statistic against scipy or an independent implementation, edge cases, the auto rule,
forced methods, the dataset decision, the report's shape, and the spec-driven check on generated fraud data."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon as scipy_js

from airloop.catalog import parse_spec
from airloop.data.datagen import generate
from airloop.errors import DataError, SpecError
from airloop.monitor.drift import STATISTICS, auto_method, compare, drift_for_spec, get_statistic
from airloop.monitor.drift.chi2 import _chi2
from airloop.monitor.drift.jensenshannon import _js_categorical, _js_numeric
from airloop.monitor.drift.ks import _ks
from airloop.monitor.drift.psi import _psi
from airloop.monitor.drift.wasserstein import _wasserstein

pytestmark = pytest.mark.unit

RTOL = 1e-9
FEATURE_KEYS = {
    "kind",
    "method",
    "statistic",
    "p_value",
    "threshold",
    "drifted",
    "missing_share_reference",
    "missing_share_current",
}
REPORT_KEYS = {"drift_detected", "share_drifted", "drift_share", "n_reference", "n_current", "features"}


def close(ours: float, theirs: float) -> bool:
    return ours == theirs or abs(ours - theirs) <= RTOL * max(abs(ours), abs(theirs))


def sample(dist: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dist == "normal":
        return rng.normal(0.0, 1.0, n)
    if dist == "shifted":
        return rng.normal(0.3, 1.2, n)
    if dist == "lognormal":
        return rng.lognormal(3.6, 1.1, n)
    if dist == "integers":  # heavy ties
        return rng.poisson(3.0, n).astype(np.float64)
    if dist == "integers_shifted":
        return rng.poisson(3.0, n).astype(np.float64) + 1.0
    raise AssertionError(dist)


# Pairs of (reference, current) distributions and sizes; unequal sizes too, and one across scipy's exact/asymptotic
# KS switch at 10 000.
DISTS = [
    ("normal", "normal"),
    ("normal", "shifted"),
    ("lognormal", "lognormal"),
    ("integers", "integers"),
    ("integers", "integers_shifted"),
]
SIZES = [(10, 10), (10, 17), (1000, 1000), (1000, 750), (5000, 12_000), (100_000, 100_000)]


@pytest.fixture(scope="module", params=[(d, s) for d in DISTS for s in SIZES], ids=lambda p: f"{p[0]}-{p[1]}")
def pair(request) -> tuple[np.ndarray, np.ndarray]:
    (d_ref, d_cur), (n_ref, n_cur) = request.param
    return sample(d_ref, n_ref, 1), sample(d_cur, n_cur, 2)


# --- every statistic vs scipy / an independent implementation ------------------------------------------------------


def test_ks_matches_scipy(pair):
    ref, cur = pair
    statistic, p_value = _ks(ref, cur)
    expected = stats.ks_2samp(ref, cur)
    assert close(statistic, float(expected.statistic))
    assert close(p_value, float(expected.pvalue))


def test_wasserstein_matches_scipy_normed(pair):
    ref, cur = pair
    statistic, p_value = _wasserstein(ref, cur)
    expected = stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)
    assert close(statistic, float(expected))
    assert p_value is None


def reference_bins(ref: np.ndarray, cur: np.ndarray, n_bins: int = 10) -> tuple[list[int], list[int]]:
    """Counts on the documented bins, written the slow obvious way: one boolean mask per bin."""
    cuts = sorted(set(np.quantile(ref, [i / n_bins for i in range(1, n_bins)]).tolist()))
    if cuts[-1] >= ref.max():
        cuts.append(float(np.nextafter(ref.max(), np.inf)))
    edges = [-math.inf, *cuts, math.inf]
    ref_counts = [int(((ref >= lo) & (ref < hi)).sum()) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    cur_counts = [int(((cur >= lo) & (cur < hi)).sum()) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    assert sum(ref_counts) == len(ref) and sum(cur_counts) == len(cur)
    return ref_counts, cur_counts


def psi_by_hand(ref: np.ndarray, cur: np.ndarray) -> float:
    ref_counts, cur_counts = reference_bins(ref, cur)
    total = 0.0
    for r, c in zip(ref_counts, cur_counts, strict=True):
        p = r / len(ref) or 1e-4
        q = c / len(cur) or 1e-4
        total += (q - p) * math.log(q / p)
    return total


def test_psi_matches_independent_implementation(pair):
    ref, cur = pair
    statistic, p_value = _psi(ref, cur)
    assert close(statistic, psi_by_hand(ref, cur))
    assert p_value is None


def test_jensenshannon_numeric_matches_scipy_on_same_bins(pair):
    ref, cur = pair
    statistic, _ = _js_numeric(ref, cur)
    assert close(statistic, float(scipy_js(*reference_bins(ref, cur), base=2)))


def categories(n: int, seed: int, p: list[float], names: str = "abcdefghij") -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(np.array(list(names[: len(p)]), dtype=object), size=n, p=np.array(p) / sum(p))


CAT_CASES = {
    "same": ([5, 3, 2, 1], [5, 3, 2, 1]),
    "shifted": ([5, 3, 2, 1], [2, 3, 5, 1]),
    "unseen_current": ([5, 3, 2], [5, 3, 2, 1, 1]),
    "many": ([1] * 10, list(range(1, 11))),
}


@pytest.mark.parametrize("n", [10, 1000, 100_000])
@pytest.mark.parametrize("case", list(CAT_CASES))
def test_chi2_and_jensenshannon_match_scipy_on_categories(case, n):
    p_ref, p_cur = CAT_CASES[case]
    ref, cur = categories(n, 1, p_ref), categories(n + 7, 2, p_cur)
    names = sorted(set(ref) | set(cur))
    table = np.array([[int((side == c).sum()) for c in names] for side in (ref, cur)])
    statistic, p_value = _chi2(ref, cur)
    expected = stats.chi2_contingency(table, correction=False)
    assert close(statistic, float(expected.statistic))
    assert close(p_value, float(expected.pvalue))
    js, js_p = _js_categorical(ref, cur)
    assert close(js, float(scipy_js(table[0], table[1], base=2)))
    assert js_p is None


# --- edge cases -------------------------------------------------------------------------------------------------------

KIND_CASES = [(name, kind) for name, stat in sorted(STATISTICS.items()) for kind in stat.kinds]


@pytest.mark.parametrize(("name", "kind"), KIND_CASES, ids=[f"{n}-{k}" for n, k in KIND_CASES])
@pytest.mark.parametrize("empty", ["reference", "current", "both"])
def test_empty_side_has_one_answer_for_every_statistic(name, kind, empty):
    """No values on a side: statistic 0.0, p-value 1.0 for tests and None for distances, never drifted."""
    stat = get_statistic(name)
    values = np.arange(50, dtype=np.float64) if kind == "numeric" else np.arange(50) % 3
    none = values[:0]
    ref = none if empty in ("reference", "both") else values
    cur = none if empty in ("current", "both") else values
    outcome = stat.compute(ref, cur, kind)
    assert outcome.statistic == 0.0
    assert outcome.p_value == (1.0 if stat.direction == "below" else None)
    assert outcome.drifted is False


@pytest.mark.parametrize("method", ["ks", "wasserstein", "psi", "jensenshannon"])
def test_all_missing_column_is_reported_not_drifted(method):
    ref = pd.DataFrame({"x": np.arange(2000, dtype=float)})
    cur = pd.DataFrame({"x": [np.nan] * 300})
    f = compare(ref, cur, method=method).features["x"]
    assert (f.method, f.statistic, f.drifted) == (method, 0.0, False)
    assert f.p_value == (1.0 if method == "ks" else None)
    assert (f.missing_share_reference, f.missing_share_current) == (0.0, 1.0)


def test_empty_frames_do_not_divide_by_zero():
    report = compare(pd.DataFrame({"x": pd.Series([], dtype=float)}), pd.DataFrame({"x": [1.0, 2.0]}))
    f = report.features["x"]
    assert (f.statistic, f.drifted, f.missing_share_reference, f.missing_share_current) == (0.0, False, 0.0, 0.0)
    assert report.n_reference == 0 and report.drift_detected is False


@pytest.mark.parametrize("name", ["ks", "wasserstein", "psi", "jensenshannon"])
def test_constant_columns(name):
    stat = get_statistic(name)
    same = stat.compute(np.full(500, 3.0), np.full(400, 3.0), "numeric")
    assert same.statistic == 0.0 and same.drifted is False
    for other in (2.0, 4.0):  # a constant reference must show a move in either direction
        moved = stat.compute(np.full(500, 3.0), np.full(400, other), "numeric")
        assert math.isfinite(moved.statistic) and moved.drifted is True


def test_wasserstein_constant_reference_uses_the_norm_floor():
    statistic, _ = _wasserstein(np.full(100, 5.0), np.full(100, 5.002))
    assert statistic == pytest.approx(2.0)


@pytest.mark.parametrize("name", ["chi2", "jensenshannon"])
def test_one_category_is_no_drift(name):
    outcome = get_statistic(name).compute(
        np.array(["a"] * 30, dtype=object), np.array(["a"] * 9, dtype=object), "categorical"
    )
    assert outcome.statistic == 0.0 and outcome.drifted is False
    if name == "chi2":
        assert outcome.p_value == 1.0


def test_unseen_categories_on_the_current_side_count():
    ref = np.array(["a", "b"] * 500, dtype=object)
    cur = np.array(["c", "d"] * 500, dtype=object)
    assert _js_categorical(ref, cur)[0] == pytest.approx(1.0)
    statistic, p_value = _chi2(ref, cur)
    assert statistic == pytest.approx(2000.0) and p_value < 1e-300
    partly = np.array(["a", "b", "z"] * 400, dtype=object)
    report = compare(pd.DataFrame({"c": ref}), pd.DataFrame({"c": partly}))
    assert report.features["c"].method == "chi2" and report.features["c"].drifted


def test_missing_shares():
    ref = pd.DataFrame(
        {
            "num": [1.0, np.nan, np.inf, 4.0, 5.0, 6.0, 7.0, 8.0],  # NaN and inf: 2 of 8 missing
            "nullable": pd.array([1, None, 3, 4, 5, 6, 7, 8], dtype="Int64"),
            "cat": pd.array(["a", None, "b", "a", None, "b", "a", "a"], dtype="string"),
            "obj": ["x", None, "y", np.nan, "x", "y", "x", "x"],
        }
    )
    cur = pd.DataFrame(
        {
            "num": [np.nan, np.nan, -np.inf, 1.0],
            "nullable": pd.array([None, None, None, None], dtype="Int64"),
            "cat": pd.Categorical(["a", "b", None, "c"]),
            "obj": ["x", "y", "x", "y"],
        }
    )
    report = compare(ref, cur)
    shares = {name: (f.missing_share_reference, f.missing_share_current) for name, f in report.features.items()}
    assert shares == {"num": (0.25, 0.75), "nullable": (0.125, 1.0), "cat": (0.25, 0.25), "obj": (0.25, 0.0)}
    assert {name: f.kind for name, f in report.features.items()} == {
        "num": "numeric",
        "nullable": "numeric",
        "cat": "categorical",
        "obj": "categorical",
    }


def test_kind_inference_skips_datetimes_and_treats_bools_as_categories():
    n = 200
    df = pd.DataFrame(
        {
            "when": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"),
            "flag": np.arange(n) % 2 == 0,
            "count": np.arange(n),
            "cat": pd.Categorical(["a", "b"] * (n // 2)),
        }
    )
    report = compare(df, df)
    assert {n: f.kind for n, f in report.features.items()} == {
        "flag": "categorical",
        "count": "numeric",
        "cat": "categorical",
    }
    with pytest.raises(SpecError, match="when"):
        compare(df, df, columns=["when"])


def test_columns_only_in_one_frame():
    ref = pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 2.0]})
    cur = pd.DataFrame({"a": [1.0, 2.0]})
    assert list(compare(ref, cur).features) == ["a"]
    with pytest.raises(DataError, match="'b' is not in the current data"):
        compare(ref, cur, columns=["a", "b"])


def test_numeric_kind_on_text_is_a_data_error():
    df = pd.DataFrame({"s": ["x", "y"]})
    with pytest.raises(DataError, match="'s'"):
        compare(df, df, kinds={"s": "numeric"})


def test_kinds_override_inference():
    ref = pd.DataFrame({"code": np.tile(np.arange(5), 400)})
    cur = pd.DataFrame({"code": np.tile(np.arange(5), 400)})
    f = compare(ref, cur, kinds={"code": "categorical"}).features["code"]
    assert (f.kind, f.method, f.statistic) == ("categorical", "jensenshannon", 0.0)


# --- method choice --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "n_ref", "n_cur", "expected"),
    [
        ("numeric", 1000, 1000, "ks"),
        ("numeric", 100_000, 1000, "ks"),
        ("numeric", 1001, 1001, "wasserstein"),
        ("numeric", 0, 5000, "ks"),
        ("categorical", 1000, 50_000, "chi2"),
        ("categorical", 1001, 2000, "jensenshannon"),
    ],
)
def test_auto_rule(kind, n_ref, n_cur, expected):
    assert auto_method(kind, n_ref, n_cur) == expected


def test_auto_counts_non_missing_values():
    ref = pd.DataFrame({"x": np.arange(1001, dtype=float)})
    cur_full = pd.DataFrame({"x": np.arange(1001, dtype=float)})
    cur_gappy = pd.DataFrame({"x": np.append(np.arange(1000, dtype=float), np.nan)})
    assert compare(ref, cur_full).features["x"].method == "wasserstein"
    assert compare(ref, cur_gappy).features["x"].method == "ks"


@pytest.fixture(scope="module")
def mixed() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    n = 5000
    ref = pd.DataFrame({"num": rng.normal(size=n), "cat": categories(n, 1, [3, 2, 1])})
    cur = pd.DataFrame({"num": rng.normal(0.5, size=n), "cat": categories(n, 2, [1, 2, 3])})
    return ref, cur


@pytest.mark.parametrize(
    ("method", "num", "cat"),
    [
        ("auto", "wasserstein", "jensenshannon"),
        ("ks", "ks", "jensenshannon"),
        ("wasserstein", "wasserstein", "jensenshannon"),
        ("psi", "psi", "jensenshannon"),
        ("chi2", "wasserstein", "chi2"),
        ("jensenshannon", "jensenshannon", "jensenshannon"),
    ],
)
def test_forced_method_applies_where_it_can(mixed, method, num, cat):
    report = compare(*mixed, method=method)
    assert (report.features["num"].method, report.features["cat"].method) == (num, cat)
    assert report.features["num"].drifted and report.features["cat"].drifted


def test_unknown_names_raise_spec_errors_listing_the_known_ones(mixed):
    with pytest.raises(SpecError, match=r"unknown drift method 'kl' \(known: auto, chi2, jensenshannon, ks, psi, wass"):
        compare(*mixed, method="kl")
    with pytest.raises(SpecError, match=r"known: chi2, jensenshannon, ks, psi, wasserstein"):
        get_statistic("kl")
    with pytest.raises(SpecError, match="known: chi2"):
        compare(*mixed, thresholds={"kl": 0.1})
    with pytest.raises(SpecError, match="unknown kind 'ordinal'"):
        compare(*mixed, kinds={"num": "ordinal"})


@pytest.mark.parametrize("bad", [{"ks": 1.5}, {"ks": 0}, {"wasserstein": -1}, {"psi": float("nan")}])
def test_bad_thresholds(mixed, bad):
    with pytest.raises(SpecError, match="thresholds"):
        compare(*mixed, thresholds=bad)


@pytest.mark.parametrize("share", [0, -0.1, 1.5])
def test_bad_drift_share(mixed, share):
    with pytest.raises(SpecError, match="drift_share"):
        compare(*mixed, drift_share=share)


def test_threshold_override_changes_the_decision(mixed):
    ref, cur = mixed
    default = compare(ref, cur, columns=["num"]).features["num"]
    loose = compare(ref, cur, columns=["num"], thresholds={"wasserstein": default.statistic + 0.01}).features["num"]
    assert default.drifted and not loose.drifted and loose.threshold == pytest.approx(default.statistic + 0.01)


# --- dataset decision and report ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def half_drifted() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four numeric columns, two of them shifted by a full standard deviation."""
    rng = np.random.default_rng(3)
    n = 4000
    ref = pd.DataFrame({c: rng.normal(size=n) for c in "abcd"})
    cur = pd.DataFrame({c: rng.normal(1.0 if c in "ab" else 0.0, size=n) for c in "abcd"})
    return ref, cur


@pytest.mark.parametrize(("drift_share", "detected"), [(0.25, True), (0.5, True), (0.51, False), (1.0, False)])
def test_dataset_decision(half_drifted, drift_share, detected):
    report = compare(*half_drifted, drift_share=drift_share)
    assert report.drifted_columns == ["a", "b"]
    assert report.share_drifted == 0.5
    assert report.drift_detected is detected


def test_no_columns_is_no_drift():
    report = compare(pd.DataFrame({"t": pd.date_range("2026", periods=3)}), pd.DataFrame({"t": []}))
    assert report.features == {} and report.share_drifted == 0.0 and report.drift_detected is False


def test_to_dict_shape_and_json(half_drifted):
    ref, cur = half_drifted
    ref = ref.assign(cat=categories(len(ref), 1, [1, 1]), gap=np.nan)
    cur = cur.assign(cat=categories(len(cur), 2, [1, 1]), gap=1.0)
    report = compare(ref.head(800), cur, drift_share=0.5)
    data = report.to_dict()
    assert set(data) == REPORT_KEYS
    assert set(data["features"]) == {"a", "b", "c", "d", "cat", "gap"}
    for feature in data["features"].values():
        assert set(feature) == FEATURE_KEYS
        assert feature["kind"] in ("numeric", "categorical")
        assert type(feature["drifted"]) is bool and type(feature["statistic"]) is float
        assert feature["p_value"] is None or type(feature["p_value"]) is float
    assert type(data["drift_detected"]) is bool and type(data["n_reference"]) is int
    assert data["n_reference"] == 800 and data["n_current"] == 4000 and data["drift_share"] == 0.5
    assert data["features"]["gap"] == {
        "kind": "numeric",
        "method": "ks",
        "statistic": 0.0,
        "p_value": 1.0,
        "threshold": 0.05,
        "drifted": False,
        "missing_share_reference": 1.0,
        "missing_share_current": 0.0,
    }
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_to_table_names_every_column(half_drifted):
    text = compare(*half_drifted).to_table()
    lines = text.splitlines()
    assert lines[0].startswith("drift detected: yes — 2 of 4 columns drifted")
    assert [line.split()[0] for line in lines[2:]] == ["a", "b", "c", "d"]
    assert text.count("DRIFT") == 2


# --- spec-driven, on generated fraud data ----------------------------------------------------------------------------

EXPECTED_FRAUD_COLUMNS = {
    "amount": "numeric",
    "merchant_category": "categorical",
    "country": "categorical",
    "hour": "numeric",
    "card_present": "categorical",
    "customer_age": "numeric",
    "distance_from_home_km": "numeric",
    "txn_count_24h": "numeric",
    "account_age_days": "numeric",
}


@pytest.fixture(scope="module")
def fraud() -> dict[str, pd.DataFrame]:
    return {
        "ref": generate("fraud", rows=20000, seed=1),
        "clean": generate("fraud", rows=20000, seed=2),
        "covariate": generate("fraud", rows=20000, seed=3, drift="covariate"),
    }


def test_drift_for_spec_clean_batch_has_no_drift(spec, fraud):
    report = drift_for_spec(spec, fraud["ref"], fraud["clean"])
    assert {n: f.kind for n, f in report.features.items()} == EXPECTED_FRAUD_COLUMNS
    assert report.drifted_columns == []
    assert report.drift_detected is False


def test_drift_for_spec_covariate_batch_drifts(spec, fraud):
    report = drift_for_spec(spec, fraud["ref"], fraud["covariate"])
    assert report.drift_detected is True
    # The generator shifts amounts, categories, countries, night hours, card presence, distance and velocity;
    # age and account age are untouched.
    assert set(report.drifted_columns) == set(EXPECTED_FRAUD_COLUMNS) - {"customer_age", "account_age_days"}
    assert report.features["distance_from_home_km"].missing_share_reference > 0


def test_drift_for_spec_scoring_batch_without_label(spec, fraud):
    report = drift_for_spec(spec, fraud["ref"], fraud["clean"].drop(columns=["is_fraud"]))
    assert set(report.features) == set(EXPECTED_FRAUD_COLUMNS)


def test_drift_for_spec_uses_the_drift_section(spec_dict, fraud):
    spec_dict["drift"] = {"method": "psi", "drift_share": 1.0, "columns": ["amount", "country", "is_fraud"]}
    spec = parse_spec(spec_dict)
    report = drift_for_spec(spec, fraud["ref"], fraud["covariate"])
    assert {n: (f.kind, f.method) for n, f in report.features.items()} == {
        "amount": ("numeric", "psi"),
        "country": ("categorical", "jensenshannon"),
        "is_fraud": ("numeric", "psi"),
    }
    assert report.drift_share == 1.0


@pytest.mark.parametrize(
    ("columns", "match"),
    [(["nope"], "'nope' is not a declared column"), (["event_time"], "'event_time' is a datetime")],
)
def test_drift_for_spec_bad_columns(spec_dict, fraud, columns, match):
    spec_dict["drift"] = {"columns": columns}
    with pytest.raises(SpecError, match=match):
        drift_for_spec(parse_spec(spec_dict), fraud["ref"], fraud["clean"])


def test_drift_for_spec_unknown_method(spec_dict, fraud):
    spec_dict["drift"] = {"method": "kl"}
    with pytest.raises(SpecError, match="known: auto"):
        drift_for_spec(parse_spec(spec_dict), fraud["ref"], fraud["clean"])


# --- speed ------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_speed_one_million_rows_twenty_columns():
    """Printed, not asserted: timings depend on the machine (`pytest -s` shows it)."""
    rng = np.random.default_rng(0)
    names = [f"c{i}" for i in range(20)]
    ref = pd.DataFrame(rng.normal(size=(1_000_000, 20)), columns=names)
    cur = pd.DataFrame(rng.normal(0.05, size=(1_000_000, 20)), columns=names)
    start = time.perf_counter()
    report = compare(ref, cur, method="wasserstein")
    elapsed = time.perf_counter() - start
    print(f"\ncompare(): 1M rows x 20 numeric columns, wasserstein: {elapsed:.2f} s")
    assert len(report.features) == 20 and not report.drift_detected


def test_parquet_columns_gives_the_same_report_as_frames(tmp_path):
    """Column-at-a-time reading (bounded memory) must not change a single number."""
    from airloop.data.datagen import generate
    from airloop.monitor.drift import ParquetColumns, compare

    ref, cur = (
        generate("fraud", rows=5000, seed=1, labels=True),
        generate("fraud", rows=4000, seed=3, drift="covariate"),
    )
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_parquet(tmp_path / "cur.parquet")
    lazy = compare(ParquetColumns(tmp_path / "ref.parquet"), ParquetColumns(tmp_path / "cur.parquet"))
    eager = compare(ref, cur)
    assert lazy.to_dict() == eager.to_dict()
    assert lazy.n_reference == 5000 and lazy.n_current == 4000


def test_parquet_columns_refuses_what_is_not_parquet(tmp_path):
    from airloop.errors import DataError
    from airloop.monitor.drift import ParquetColumns

    (tmp_path / "x.parquet").write_bytes(b"nope")
    with pytest.raises(DataError, match="cannot read as Parquet"):
        ParquetColumns(tmp_path / "x.parquet")
    with pytest.raises(DataError, match="no such file"):
        ParquetColumns(tmp_path / "missing.parquet")


def test_the_registry_holds_exactly_the_names_specs_are_checked_against():
    """Specs are checked against `drift_methods` at DAG parse (no numpy); the package registers those same names."""
    from airloop.monitor.drift_methods import BUILTIN_STATISTICS, unknown_method

    assert sorted(STATISTICS) == sorted(BUILTIN_STATISTICS)
    assert all(unknown_method(name) is None for name in ("auto", *STATISTICS))
    assert (
        unknown_method("kolmogorov")
        == f"unknown drift method 'kolmogorov' (known: auto, {', '.join(sorted(STATISTICS))})"
    )
