"""Synthetic batches: deterministic per seed, valid against the spec, with the documented drift behaviour."""

from __future__ import annotations

import pandas as pd
import pytest

from airloop.data.datagen import DRIFT_KINDS, generate
from airloop.data.validation import validate_frame
from airloop.errors import SpecError

pytestmark = pytest.mark.unit

NEW_RISK = ["travel", "fuel", "restaurants"]  # who commits fraud after concept drift


@pytest.fixture(scope="module")
def big() -> dict[str, pd.DataFrame]:
    """50k rows per drift kind, same seed."""
    return {drift: generate("fraud", rows=50_000, seed=7, drift=drift) for drift in DRIFT_KINDS}


def test_deterministic_per_seed():
    pd.testing.assert_frame_equal(generate("fraud", rows=500, seed=3), generate("fraud", rows=500, seed=3))


@pytest.mark.parametrize("drift", DRIFT_KINDS)
def test_deterministic_per_seed_with_drift(drift):
    a = generate("fraud", rows=300, seed=4, drift=drift)
    pd.testing.assert_frame_equal(a, generate("fraud", rows=300, seed=4, drift=drift))


def test_different_seeds_differ():
    a, b = generate("fraud", rows=500, seed=1), generate("fraud", rows=500, seed=2)
    assert not a["amount"].equals(b["amount"])
    assert set(a["transaction_id"]).isdisjoint(b["transaction_id"])
    assert a["event_time"].min() != b["event_time"].min()


@pytest.mark.parametrize("drift", DRIFT_KINDS)
def test_generated_batch_matches_the_spec(spec, drift):
    df = generate("fraud", rows=1000, seed=5, drift=drift)
    assert set(df.columns) == set(spec.schema.columns)
    report = validate_frame(df, spec, require_label=True).report
    assert report.valid, report.to_dict()


def test_ids_unique_and_times_ordered():
    df = generate("fraud", rows=2000, seed=9)
    assert df["transaction_id"].is_unique
    assert df["event_time"].is_monotonic_increasing
    assert str(df["event_time"].dt.tz) == "UTC"


def test_start_sets_the_first_timestamp():
    df = generate("fraud", rows=200, seed=9, start="2030-05-01")
    assert df["event_time"].min() >= pd.Timestamp("2030-05-01", tz="UTC")
    assert df["event_time"].max() < pd.Timestamp("2030-05-02", tz="UTC")


def test_hour_column_is_the_hour_of_event_time():
    df = generate("fraud", rows=1000, seed=9)
    assert (df["hour"] == df["event_time"].dt.hour).all()


def test_hour_column_matches_event_time_with_a_non_midnight_start():
    df = generate("fraud", rows=1000, seed=9, start="2026-03-01T06:00:00")
    assert (df["hour"] == df["event_time"].dt.hour).all()


def test_positive_rate_without_drift(big):
    assert 0.01 <= big["none"]["is_fraud"].mean() <= 0.035


def test_covariate_drift_shifts_amounts_up(big):
    assert big["covariate"]["amount"].mean() > 1.3 * big["none"]["amount"].mean()
    assert big["covariate"]["txn_count_24h"].mean() > big["none"]["txn_count_24h"].mean() + 1.0


def test_concept_drift_changes_who_commits_fraud(big):
    before, after = big["none"], big["concept"]
    rate_before = before.loc[before["merchant_category"].isin(NEW_RISK), "is_fraud"].mean()
    rate_after = after.loc[after["merchant_category"].isin(NEW_RISK), "is_fraud"].mean()
    assert rate_after > 10 * rate_before
    old_risk = ["electronics", "online_retail", "jewelry", "gaming"]
    assert (
        after.loc[after["merchant_category"].isin(old_risk), "is_fraud"].mean()
        < before.loc[before["merchant_category"].isin(old_risk), "is_fraud"].mean() / 5
    )


def test_concept_drift_keeps_the_inputs(big):
    # Same seed: concept drift changes labels only, so the input columns are identical.
    inputs = [c for c in big["none"].columns if c != "is_fraud"]
    pd.testing.assert_frame_equal(big["none"][inputs], big["concept"][inputs])


def test_labels_false_drops_only_the_label():
    labelled = generate("fraud", rows=400, seed=12, labels=True)
    unlabelled = generate("fraud", rows=400, seed=12, labels=False)
    assert "is_fraud" not in unlabelled.columns
    pd.testing.assert_frame_equal(unlabelled, labelled.drop(columns=["is_fraud"]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(kind="churn"), r"unknown generator 'churn' \(known: fraud, retail\)"),
        (dict(drift="sudden"), r"unknown drift kind 'sudden' \(known: none, covariate, concept\)"),
        (dict(rows=0), r"rows must be at least 1, got 0"),
    ],
    ids=["kind", "drift", "rows"],
)
def test_bad_arguments_raise_spec_error(kwargs, message):
    args = {"kind": "fraud", "rows": 10, "seed": 0, **kwargs}
    kind = args.pop("kind")
    with pytest.raises(SpecError, match=message):
        generate(kind, **args)
