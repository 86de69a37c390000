"""`airloop drift`: the table by default, the JSON contract (`--format json`), exit codes (0, 3 with
--fail-on-drift, 2 for bad calls), and bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from airloop.data.datagen import generate

pytestmark = pytest.mark.unit

KEYS = {"drift_detected", "share_drifted", "drift_share", "n_reference", "n_current", "features"}
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


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("drift-cli")
    out = {
        "ref": generate("fraud", rows=4000, seed=1, labels=True),
        "clean": generate("fraud", rows=4000, seed=2),
        "shifted": generate("fraud", rows=4000, seed=3, drift="covariate"),
    }
    paths = {}
    for name, df in out.items():
        paths[name] = root / f"{name}.parquet"
        df.to_parquet(paths[name])
    paths["csv"] = root / "shifted.csv"
    out["shifted"].to_csv(paths["csv"], index=False)
    paths["other"] = root / "other.parquet"
    pd.DataFrame({"unrelated": [1, 2, 3]}).to_parquet(paths["other"])
    paths["garbage"] = root / "garbage.parquet"
    paths["garbage"].write_bytes(b"not parquet at all")
    return paths


JSON = ("--format", "json")  # the table is the default; the JSON contract is asked for


@pytest.fixture
def run(cli_main, tmp_path):
    return lambda *args: cli_main(tmp_path, "drift", *args)


def test_json_contract_and_no_drift_on_clean_data(run, files):
    result = run(
        "--reference", str(files["ref"]), "--current", str(files["clean"]), "--pipeline", "fraud_detection", *JSON
    )
    assert result.rc == 0, result
    body = json.loads(result.stdout)
    assert set(body) == KEYS
    assert body["drift_detected"] is False
    assert body["n_reference"] == 4000 and body["n_current"] == 4000
    assert "transaction_id" not in body["features"] and "is_fraud" not in body["features"]
    for feature in body["features"].values():
        assert set(feature) == FEATURE_KEYS
        assert feature["kind"] in ("numeric", "categorical")


def test_covariate_drift_detected_and_fail_on_drift_exits_3(run, files):
    args = ("--reference", str(files["ref"]), "--current", str(files["shifted"]), "--pipeline", "fraud_detection")
    assert json.loads(run(*args, *JSON).stdout)["drift_detected"] is True
    assert run(*args, "--fail-on-drift").rc == 3


def test_csv_without_pipeline_infers_kinds(run, files):
    result = run("--reference", str(files["ref"]), "--current", str(files["csv"]), "--columns", "amount,country", *JSON)
    body = json.loads(result.stdout)
    assert result.rc == 0
    assert set(body["features"]) == {"amount", "country"}
    assert body["features"]["amount"]["kind"] == "numeric"
    assert body["features"]["country"]["kind"] == "categorical"


@pytest.mark.parametrize("method", ["ks", "wasserstein", "psi", "jensenshannon"])
def test_forced_method_applies_to_numeric_columns(run, files, method):
    result = run("--reference", str(files["ref"]), "--current", str(files["shifted"]), "--method", method, *JSON)
    body = json.loads(result.stdout)
    assert body["features"]["amount"]["method"] == method


def test_table_is_the_default_format(run, files):
    result = run("--reference", str(files["ref"]), "--current", str(files["shifted"]))
    assert result.rc == 0
    assert (
        result.stdout
        == run("--reference", str(files["ref"]), "--current", str(files["shifted"]), "--format", "table").stdout
    )
    assert "drift detected: yes" in result.stdout and "amount" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (("--current", "{clean}", "--reference", "{missing}"), "no such file"),
        (("--current", "{clean}", "--reference", "{garbage}"), "cannot read"),
        (("--current", "{clean}", "--reference", "{other}"), "share no column"),
        (("--current", "{clean}", "--reference", "{ref}", "--method", "bogus"), "bogus"),
        (("--current", "{clean}", "--reference", "{ref}", "--drift-share", "2"), "drift-share"),
        (("--current", "{clean}", "--reference", "{ref}", "--pipeline", "nope"), "unknown pipeline"),
    ],
    ids=["missing-file", "garbage", "no-shared-columns", "bad-method", "bad-share", "unknown-pipeline"],
)
def test_bad_calls_exit_2_with_one_message(run, files, tmp_path, args, message):
    paths = {**{k: str(v) for k, v in files.items()}, "missing": str(tmp_path / "nope.parquet")}
    result = run(*(a.format(**paths) for a in args))
    assert result.rc == 2, result
    assert "Traceback" not in result.stderr
    assert message in result.stderr


def test_without_a_pipeline_id_like_columns_are_skipped_and_named(run, files):
    result = run("--reference", str(files["ref"]), "--current", str(files["shifted"]), *JSON)
    assert result.rc == 0, result
    body = json.loads(result.stdout)
    assert set(body) == {*KEYS, "skipped_id_like"}
    assert body["skipped_id_like"] == ["transaction_id"]  # unique per row on both sides
    assert "transaction_id" not in body["features"] and "amount" in body["features"]
    table = run("--reference", str(files["ref"]), "--current", str(files["shifted"]), "--format", "table")
    assert table.stdout.rstrip().splitlines()[-1] == "skipped id-like columns (unique per row): transaction_id"
    asked = run(
        "--reference", str(files["ref"]), "--current", str(files["shifted"]), "--columns", "transaction_id", *JSON
    )
    assert json.loads(asked.stdout)["skipped_id_like"] == []  # named in --columns: compared as asked
    assert "transaction_id" in json.loads(asked.stdout)["features"]


def test_id_like_columns_are_unique_int_or_text_on_both_sides():
    from airloop.monitor.drift import id_like_columns

    ref = pd.DataFrame({"row": [1, 2, 3], "code": ["a", "b", "c"], "x": [0.1, 0.2, 0.3], "cat": ["a", "a", "b"]})
    cur = pd.DataFrame({"row": [4, 5, 6], "code": ["a", "a", "c"], "x": [0.4, 0.5, 0.6], "cat": ["b", "c", "d"]})
    assert id_like_columns(ref, cur) == ["row"]  # code repeats in cur, x is a float, cat repeats in ref
