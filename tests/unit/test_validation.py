"""Batch validation: row-level failures quarantine exactly their rows, schema-level failures the whole batch."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from airloop.data.datagen import generate
from airloop.data.validation import read_table, validate_frame
from airloop.errors import DataError

pytestmark = pytest.mark.unit

ROWS = 200


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return generate("fraud", rows=ROWS, seed=21)


@pytest.fixture
def batch(clean) -> pd.DataFrame:
    return clean.copy()


def _as_object(df: pd.DataFrame, column: str) -> None:
    df[column] = df[column].astype(object)


def _bad_string_in_numeric(df):
    _as_object(df, "amount")
    df.loc[3, "amount"] = "12,50 EUR"


def _negative_amount(df):
    df.loc[5, "amount"] = -1.0


def _unknown_category(df):
    df.loc[7, "merchant_category"] = "casino"


def _null_in_non_nullable(df):
    df["customer_age"] = df["customer_age"].astype("Int64")
    df.loc[9, "customer_age"] = pd.NA


def _nan_amount(df):
    df.loc[9, "amount"] = np.nan


def _duplicate_id(df):
    df.loc[11, "transaction_id"] = df.loc[10, "transaction_id"]


def _fractional_int(df):
    df["hour"] = df["hour"].astype(float)
    df.loc[13, "hour"] = 3.5


def _bad_bool(df):
    df["card_present"] = df["card_present"].map({True: "true", False: "false"}).astype(object)
    df.loc[15, "card_present"] = "maybe"


def _bad_datetime(df):
    df["event_time"] = df["event_time"].astype(str).astype(object)
    df.loc[17, "event_time"] = "yesterday-ish"


def _hour_out_of_range(df):
    df.loc[19, "hour"] = 24


ROW_FAILURES = [
    ("bad-string-in-numeric", _bad_string_in_numeric, 3, "amount", "coerce_dtype('float')", ["12,50 EUR"]),
    ("negative-amount", _negative_amount, 5, "amount", "in_range(0.0, 50000.0)", [-1.0]),
    ("unknown-category", _unknown_category, 7, "merchant_category", "isin(", ["casino"]),
    ("null-in-non-nullable", _null_in_non_nullable, 9, "customer_age", "not_nullable", None),
    ("nan-in-non-nullable", _nan_amount, 9, "amount", "not_nullable", [None]),
    ("duplicate-id", _duplicate_id, 11, "transaction_id", "field_uniqueness", None),
    ("fractional-int", _fractional_int, 13, "hour", "coerce_dtype('int')", [3.5]),
    ("bad-bool", _bad_bool, 15, "card_present", "coerce_dtype('bool')", ["maybe"]),
    ("bad-datetime", _bad_datetime, 17, "event_time", "coerce_dtype('datetime')", ["yesterday-ish"]),
    ("hour-out-of-range", _hour_out_of_range, 19, "hour", "in_range(0.0, 23.0)", [24]),
]


def test_generated_batch_is_valid(clean, spec):
    result = validate_frame(clean, spec)
    assert result.report.to_dict() == {"valid": True, "n_rows": ROWS, "n_invalid_rows": 0, "failures": []}
    assert result.report.invalid_share == 0.0
    assert len(result.valid_rows) == ROWS
    assert not result.invalid_mask.any()


@pytest.mark.parametrize(
    ("mutate", "row", "column", "check", "examples"), [f[1:] for f in ROW_FAILURES], ids=[f[0] for f in ROW_FAILURES]
)
def test_row_failure_quarantines_exactly_that_row(batch, spec, mutate, row, column, check, examples):
    mutate(batch)
    result = validate_frame(batch, spec)
    report = result.report
    assert not report.valid
    assert report.batch_error is None
    assert report.n_rows == ROWS
    assert report.n_invalid_rows == 1
    assert np.flatnonzero(result.invalid_mask).tolist() == [row]
    assert len(report.failures) == 1
    failure = report.failures[0]
    assert failure.column == column
    assert failure.check.startswith(check)
    assert failure.count == 1
    if examples is not None:
        assert failure.examples == examples
    assert len(result.valid_rows) == ROWS - 1
    assert row not in result.valid_rows.index


@pytest.mark.parametrize("column", ["customer_age", "transaction_id", "event_time"])
def test_null_examples_are_null(batch, spec, column):
    if column == "customer_age":
        batch[column] = batch[column].astype("Int64")
    batch.loc[9, column] = None
    (failure,) = validate_frame(batch, spec).report.failures
    assert (failure.column, failure.check) == (column, "not_nullable")
    assert failure.examples == [None]


def test_duplicate_id_keeps_the_first_occurrence(batch, spec):
    _duplicate_id(batch)
    result = validate_frame(batch, spec)
    dup = batch.loc[10, "transaction_id"]
    kept = result.valid_rows[result.valid_rows["transaction_id"] == dup]
    assert kept.index.tolist() == [10]
    assert result.report.failures[0].examples == [dup]


def test_several_failures_are_all_reported(batch, spec):
    applied = [f for f in ROW_FAILURES if f[1] is not _nan_amount]  # row 9 already holds the null customer_age
    for _, mutate, *_ in applied:
        mutate(batch)
    result = validate_frame(batch, spec)
    expected_rows = sorted(f[2] for f in applied)
    assert np.flatnonzero(result.invalid_mask).tolist() == expected_rows
    assert result.report.n_invalid_rows == len(expected_rows)
    got = {(f.column, f.check.split("(")[0]) for f in result.report.failures}
    assert got == {(f[3], f[4].split("(")[0]) for f in applied}
    assert result.report.invalid_share == pytest.approx(len(expected_rows) / ROWS)
    json.dumps(result.report.to_dict())  # the report goes to JSON as is


def test_examples_are_capped_and_counts_are_full(batch, spec):
    batch.loc[20:39, "amount"] = -np.arange(1, 21, dtype=float)
    failure = validate_frame(batch, spec).report.failures[0]
    assert failure.count == 20
    assert failure.examples == [-1.0, -2.0, -3.0, -4.0, -5.0]


def test_valid_rows_are_coerced_to_spec_dtypes(batch, spec):
    _bad_string_in_numeric(batch)
    _bad_datetime(batch)
    _bad_bool(batch)
    valid = validate_frame(batch, spec).valid_rows
    assert valid["amount"].dtype == np.float64
    assert str(valid["event_time"].dtype) == "datetime64[us, UTC]"
    assert str(valid["card_present"].dtype) == "boolean"
    assert valid["card_present"].isin([True, False]).all()


@pytest.mark.parametrize("mutate", [None, _bad_string_in_numeric, _bad_datetime, _bad_bool, _duplicate_id])
def test_input_frame_is_never_modified(batch, spec, mutate):
    if mutate is not None:
        mutate(batch)
    before = batch.copy(deep=True)
    dtypes = batch.dtypes.copy()
    validate_frame(batch, spec)
    pd.testing.assert_frame_equal(batch, before)
    pd.testing.assert_series_equal(batch.dtypes, dtypes)


@pytest.mark.parametrize("column", ["amount", "transaction_id", "event_time"])
def test_missing_required_column_fails_the_batch(batch, spec, column):
    result = validate_frame(batch.drop(columns=[column]), spec)
    report = result.report
    assert not report.valid
    assert report.batch_error is not None and column in report.batch_error
    assert report.n_invalid_rows == ROWS
    assert result.valid_rows is None
    assert result.invalid_mask.all()
    assert any(f.column == column and f.check == "column_in_dataframe" for f in report.failures)


def test_absent_label_is_fine_by_default(batch, spec):
    result = validate_frame(batch.drop(columns=["is_fraud"]), spec)
    assert result.report.valid
    assert "is_fraud" not in result.valid_rows.columns


def test_absent_label_fails_when_required(batch, spec):
    report = validate_frame(batch.drop(columns=["is_fraud"]), spec, require_label=True).report
    assert not report.valid
    assert "is_fraud" in report.batch_error


def test_extra_columns_are_allowed(batch, spec):
    batch["note"] = "x"
    assert validate_frame(batch, spec).report.valid


def test_empty_frame_is_a_batch_error(clean, spec):
    result = validate_frame(clean.iloc[:0], spec)
    assert result.report.batch_error == "the batch has no rows"
    assert not result.report.valid
    assert result.valid_rows is None
    assert result.report.invalid_share == 1.0


def test_report_to_dict_includes_batch_error_only_when_set(batch, spec):
    assert "batch_error" not in validate_frame(batch, spec).report.to_dict()
    assert "batch_error" in validate_frame(batch.drop(columns=["amount"]), spec).report.to_dict()


def test_all_rows_invalid_leaves_no_valid_rows(batch, spec):
    batch["amount"] = -1.0
    result = validate_frame(batch, spec)
    assert result.valid_rows is None
    assert result.report.n_invalid_rows == ROWS
    assert result.report.batch_error is None


# ------------------------------------------------------------------------------------------------------ read_table


def test_read_table_parquet_round_trip(tmp_path, clean):
    path = tmp_path / "batch.parquet"
    clean.to_parquet(path, index=False)
    pd.testing.assert_frame_equal(read_table(path.as_uri()), clean)
    pd.testing.assert_frame_equal(read_table(str(path)), clean)


def test_read_table_csv_is_readable_and_valid(tmp_path, clean, spec):
    path = tmp_path / "batch.csv"
    clean.to_csv(path, index=False)
    df = read_table(str(path))
    assert len(df) == ROWS
    assert validate_frame(df, spec).report.valid


def _random_bytes(path):
    path.write_bytes(np.random.default_rng(0).bytes(2048))


def _empty_file(path):
    path.write_bytes(b"")


def _directory(path):
    path.mkdir()


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("missing.parquet", None, "no such file"),
        ("random.parquet", _random_bytes, "cannot read as Parquet"),
        ("empty.parquet", _empty_file, "cannot read as Parquet"),
        ("random.csv", _random_bytes, "cannot read as CSV"),
        ("batch.parquet", _directory, "is a directory"),
    ],
    ids=["missing", "random-bytes", "empty-file", "random-csv", "directory"],
)
def test_read_table_errors_are_data_errors(tmp_path, name, make, message):
    path = tmp_path / name
    if make is not None:
        make(path)
    with pytest.raises(DataError, match=message) as info:
        read_table(str(path))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("mutate", [_negative_amount, _bad_string_in_numeric], ids=["range", "coerce"])
def test_non_unique_index_quarantines_only_the_bad_row(clean, spec, mutate):
    batch = clean.copy()
    mutate(batch)
    batch.index = list(range(ROWS // 2)) * 2  # what pd.concat of two batches without ignore_index gives
    result = validate_frame(batch, spec)
    bad_row = 5 if mutate is _negative_amount else 3
    assert np.flatnonzero(result.invalid_mask).tolist() == [bad_row]
    assert result.report.n_invalid_rows == 1
