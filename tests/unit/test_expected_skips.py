"""Expected states are skips, not failures: a first batch below `training.min_rows` ends training with a reason.

The Airflow glue turns a step's `Skipped` into `AirflowSkipException` (the reason in the task log, the DAG run
green); failing there instead would retry twice and paint the run red for a situation that is not an error.
"""

from __future__ import annotations

import dataclasses

import pytest

from airloop import steps
from airloop.contracts import Lineage, Skipped
from airloop.data.datagen import generate
from airloop.errors import AirloopError

pytestmark = pytest.mark.unit


@pytest.fixture
def one_small_batch(spec, settings_for, tmp_path):
    """The shipped spec (min_rows 1000) with one curated, labelled batch of 50 rows."""
    settings = settings_for(tmp_path)
    raw = steps.land(spec, settings, generate("fraud", rows=50, seed=3), "first.parquet")
    record = steps.process(spec, settings, raw)
    assert (record.status, record.has_labels, record.n_valid) == ("curated", True, 50)
    return settings


@pytest.mark.parametrize("trigger", ["new_data", "drift", "manual"])
def test_too_few_labelled_rows_is_a_skip_with_the_reason(spec, one_small_batch, trigger):
    result = steps.train(spec, one_small_batch, Lineage(trigger=trigger))
    assert result == Skipped(reason="50 labelled rows, fewer than training.min_rows (1000)")


def test_a_model_search_skips_on_too_few_rows_too(spec, one_small_batch):
    assert steps.prepare_search(spec, one_small_batch, Lineage(trigger="new_data")) == Skipped(
        reason="50 labelled rows, fewer than training.min_rows (1000)"
    )


def test_no_labelled_batch_at_all_is_a_skip(spec, settings_for, tmp_path):
    settings = settings_for(tmp_path)
    raw = steps.land(spec, settings, generate("fraud", rows=50, seed=3, labels=False), "unlabelled.parquet")
    assert steps.process(spec, settings, raw).has_labels is False
    assert steps.train(spec, settings, Lineage(trigger="new_data")) == Skipped(
        reason="0 labelled rows, fewer than training.min_rows (1000)"
    )


def test_a_real_failure_still_fails(spec, one_small_batch, tmp_path, monkeypatch):
    """Records that claim enough rows while the curated data holds fewer: a real inconsistency, so assembling the
    training set still fails loudly (and Airflow retries) instead of skipping."""
    from airloop.data import ingest

    records = ingest.load_records(one_small_batch, spec.name)
    inflated = [dataclasses.replace(r, n_valid=5000) for r in records]
    monkeypatch.setattr(ingest, "load_records", lambda settings, name: inflated)
    monkeypatch.chdir(tmp_path)  # MLflow puts a sqlite store's artifacts under ./mlruns
    with pytest.raises(AirloopError) as info:
        steps.train(spec, one_small_batch, Lineage(trigger="manual"))
    assert str(info.value) == "fraud_detection: 50 labelled rows, fewer than training.min_rows (1000)"
