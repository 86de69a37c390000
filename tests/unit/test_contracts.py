"""The records steps hand each other survive XCom: to JSON and back, equal, with nothing but JSON on the wire."""

from __future__ import annotations

import json
import re

import pytest

from airloop.contracts import (
    FeatureGains,
    GateDecision,
    Lineage,
    PreparedSearch,
    SearchRun,
    SearchSummary,
    Skipped,
    Staleness,
    Trained,
    Trial,
    TrialResult,
    from_xcom,
    to_xcom,
)
from airloop.data.ingest import BatchRecord
from airloop.errors import AirloopError

pytestmark = pytest.mark.unit

LINEAGE = Lineage(trigger="drift", git_sha="0" * 40, extra_tags={"airflow_dag_id": "shop__retrain"})
RUN = SearchRun(data_md5="abc", batches=("b1", "b2"), n_rows=10, parent_run_id="p", lineage=LINEAGE, metric="rmse")
SUMMARY = SearchSummary(
    trials=2, best_index=1, best_run_id="c1", metric="valid_rmse", best_score=0.5, params={"eta": 0.1}
)
RECORDS = [
    LINEAGE,
    Skipped(reason="nothing new to learn"),
    Trained(
        version="3",
        run_id="p",
        data_md5="abc",
        device="cpu",
        batches=("b1", "b2"),
        n_rows=10,
        metrics={"rmse": 0.5},
        search=SUMMARY,
    ),
    Trained(version="1", run_id="r", data_md5="abc", device=None, batches=(), n_rows=0, metrics={}, reused=True),
    PreparedSearch(run=RUN, trials=(Trial(index=0, params={}), Trial(index=1, params={"eta": 0.1}))),
    TrialResult(
        index=1,
        run_id="c1",
        params={"eta": 0.1, "eval_metric": "rmse"},
        valid={"rmse": 0.5},
        best_iteration=7,
        device="cpu",
        seconds=0.25,
        extra={"classes": '["a", "b"]'},
    ),
    FeatureGains(
        version="2", metric="rmse", features={"lucky": {"with": 1.0, "without": 1.0, "gain": 0.0, "adds": False}}
    ),
    GateDecision(
        version="2",
        decision="rejected",
        reason="rmse 1.0 vs champion v1 0.9",
        metric="rmse",
        challenger_score=1.0,
        champion_version="1",
        champion_score=0.9,
    ),
    Staleness(stale=True, reason="old", champion_version="1", age_seconds=90.0, max_age_seconds=60),
    BatchRecord(batch_id="b1", sha256="s", raw_uri="file:///x.parquet", status="curated", md5="m", has_labels=True),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_every_record_round_trips_through_json(record):
    wire = json.loads(json.dumps(to_xcom(record)))  # what XCom stores is plain JSON: no tuples, no objects
    assert wire == to_xcom(record)
    assert from_xcom(type(record), wire) == record


def test_records_are_frozen_and_keyword_only():
    with pytest.raises(AttributeError):
        LINEAGE.trigger = "manual"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Skipped("positional")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("cls", "data", "words"),
    [
        (Skipped, {"reason": "x", "skipped": "x"}, "Skipped has no field(s) skipped"),
        (GateDecision, {**to_xcom(RECORDS[7]), "decision": "maybe"}, "GateDecision.decision: 'maybe' is not one of"),
        (SearchRun, {**to_xcom(RUN), "lineage": {"trigger": "sometimes"}}, "SearchRun.lineage.trigger"),
        (PreparedSearch, {"run": to_xcom(RUN), "trials": [[0, {}]]}, "PreparedSearch.trials[0]: expected a mapping"),
    ],
)
def test_a_payload_that_does_not_fit_fails_where_it_is_read(cls, data, words):
    with pytest.raises(AirloopError, match=re.escape(words)):
        from_xcom(cls, data)


def test_staleness_event_names_the_champion_and_its_age():
    assert Staleness(
        stale=True, reason="old", champion_version="1", age_seconds=90.0, max_age_seconds=60
    ).event_extra() == {
        "champion_version": "1",
        "age_seconds": 90.0,
        "max_age_seconds": 60,
    }
