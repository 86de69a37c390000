"""The loop on a real Airflow scheduler (standalone, SQLite) with a real MLflow server and a local DVC remote.

One module-scoped run drives the loop the way a user does — by dropping files in the landing zone — and the
tests below assert what it must have produced, on the stack this folder shares (conftest.py: a private temporary
folder on free ports, stopped afterwards whatever happens).
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from airloop import uris
from airloop.data.datagen import generate
from airloop.data.ingest import batch_id_for
from airloop.dev.demo import drift_check_of
from airloop.dev.processes import poll_until
from airloop.model.registry import Registry
from airloop.model.scoring import predictions_uri
from airloop.store import storage

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAME = "fraud_detection"
ROWS = 12_000
STAGE_TIMEOUT = 300


def _wait(poll, timeout=STAGE_TIMEOUT):
    return poll_until(poll, timeout)


@pytest.fixture(scope="module")
def loop(e2e_stack):
    settings, api, runs = e2e_stack.settings, e2e_stack.api, e2e_stack.runs
    pipeline = e2e_stack.pipeline(NAME, ("features", "train", "score", "monitor", "retrain"))
    spec, dag, land = pipeline.spec, pipeline.dag, pipeline.land
    landing = pipeline.landing
    facts: dict = {"settings": settings, "spec": spec, "api": api, "dag": dag, "runs": runs}

    # Round 1: a clean labelled batch and a broken one (a required column missing) land together.
    before = {k: runs.snapshot(d) for k, d in dag.items()}
    good = land(generate("fraud", rows=ROWS, seed=11, labels=True), "round1-good.parquet")
    broken_df = generate("fraud", rows=500, seed=12, labels=True).drop(columns=["amount"])
    bad = land(broken_df, "round1-missing-amount.parquet")
    facts["bad_uri"], facts["bad_sha_before"] = bad, storage.sha256(bad)
    facts["features_run_1"] = _wait(runs.finished_after(dag["features"], before["features"]))
    facts["train_run_1"] = _wait(runs.finished_after(dag["train"], before["train"]))
    facts["after_round_1"] = Registry(settings.tracking_uri).describe_models([NAME])[0]

    # Round 2: a clean labelled batch. The monitor finds no drift, so nothing retrains (the spec leaves
    # retraining to drift once a champion exists).
    before = {k: runs.snapshot(d) for k, d in dag.items()}
    clean = land(generate("fraud", rows=ROWS, seed=13, labels=True), "round2-clean.parquet")
    facts["clean_check"] = _wait(drift_check_of(settings, spec, clean))
    facts["train_run_2"] = _wait(runs.finished_after(dag["train"], before["train"]))

    # Round 3: the same bytes as round 1 re-delivered under a new name, and a batch to score.
    before = {k: runs.snapshot(d) for k, d in dag.items()}
    storage.copy(good, uris.join_uri(landing, "round3-redelivered-bytes.parquet"))
    to_score = land(generate("fraud", rows=3000, seed=14, labels=False), "round3-score.parquet")
    pred = predictions_uri(settings, spec, batch_id_for(to_score, storage.sha256(to_score)))
    _wait(lambda: pred if storage.exists(pred) else None)
    facts["predictions"] = pd.read_parquet(uris.local_path(pred))
    facts["features_run_3"] = _wait(runs.finished_after(dag["features"], before["features"]))
    facts["train_run_3"] = _wait(runs.finished_after(dag["train"], before["train"]))
    _wait(drift_check_of(settings, spec, to_score))
    facts["retrain_runs_before_drift"] = runs.snapshot(dag["retrain"])
    facts["after_round_3"] = Registry(settings.tracking_uri).describe_models([NAME])[0]

    # Round 4: a labelled batch with covariate drift → drift event → retrain → gate.
    before = {k: runs.snapshot(d) for k, d in dag.items()}
    drifted = land(generate("fraud", rows=ROWS, seed=15, labels=True, drift="covariate"), "round4-drift.parquet")
    facts["drift_batch"] = batch_id_for(drifted, storage.sha256(drifted))
    facts["drift_check"] = _wait(drift_check_of(settings, spec, drifted))
    facts["retrain_run"] = _wait(runs.finished_after(dag["retrain"], before["retrain"]))
    facts["after_round_4"] = Registry(settings.tracking_uri).describe_models([NAME])[0]

    # Round 5: concept drift — same inputs, a different fraud rule. The champion's live metric on these
    # labelled rows falls → decay event → retrain.
    before = {k: runs.snapshot(d) for k, d in dag.items()}
    concept = land(generate("fraud", rows=ROWS, seed=16, labels=True, drift="concept"), "round5-concept.parquet")
    facts["decay_batch"] = batch_id_for(concept, storage.sha256(concept))
    facts["decay_check"] = _wait(drift_check_of(settings, spec, concept))
    facts["decay_retrain_run"] = _wait(runs.finished_after(dag["retrain"], before["retrain"]))
    facts["final"] = Registry(settings.tracking_uri).describe_models([NAME])[0]
    return facts


def test_first_version_becomes_champion(loop):
    first = loop["after_round_1"]
    assert first["champion"] == "1"
    assert first["versions"][0]["gate"] == "promoted"
    assert first["versions"][0]["trigger"] == "new_data"


def test_lineage_tags_on_version_and_run(loop):
    c = Registry(loop["settings"].tracking_uri).client
    mv = c.get_model_version(NAME, "1")
    tags = mv.tags
    for key in ("data_md5", "git_sha", "spec_hash", "training_batches", "trigger", "device"):
        assert tags.get(key), f"missing lineage tag {key}"
    assert tags["spec_hash"] == loop["spec"].spec_hash
    assert tags["device"] in ("cpu", "cuda")
    assert len(tags["git_sha"]) == 40 or tags["git_sha"] == "unknown"
    run = c.get_run(mv.run_id)
    assert run.data.tags["data_md5"] == tags["data_md5"]
    assert {"pr_auc", "roc_auc", "log_loss"} <= set(run.data.metrics)
    artifacts = {a.path for a in c.list_artifacts(mv.run_id)}
    assert "feature_importance.png" in artifacts


def test_governance_runs_in_the_scheduled_loop(loop):
    """The shipped spec's governance on a real scheduler: the feature-importance test ran as its own task before
    the gate, the gate recorded the fairness slices, the staleness DAG exists, and v1 — trained by an Airflow
    worker — rebuilds bit for bit from what its run recorded."""
    import json

    from airloop.model.reproduce import reproduce

    api, dag = loop["api"], loop["dag"]
    tis = {ti["task_id"]: ti["state"] for ti in api.task_instances(dag["train"], loop["train_run_1"]["dag_run_id"])}
    assert tis == {"train": "success", "measure_feature_gain": "success", "gate": "success", "announce": "success"}
    tags = Registry(loop["settings"].tracking_uri).client.get_model_version(NAME, "1").tags
    assert tags["feature_gain.amount_per_txn.adds"] in ("true", "false")
    assert float(tags["feature_gain.amount_per_txn"]) == float(tags["feature_gain.amount_per_txn"])  # not NaN
    slices = json.loads(tags["gate.slices"])
    assert set(slices["challenger"]) == {"country", "age_band"} and slices["ok"] is True
    assert api.get(f"/dags/{NAME}__staleness").get("dag_id") == f"{NAME}__staleness"
    report = reproduce(NAME, "1", loop["settings"])
    assert report.identical, report.to_table()


def test_clean_batch_never_starts_a_retrain(loop):
    api, dag = loop["api"], loop["dag"]
    assert loop["clean_check"]["drift_detected"] is False
    assert loop["clean_check"]["champion_version"] == "1"
    states = {ti["task_id"]: ti["state"] for ti in api.task_instances(dag["train"], loop["train_run_2"]["dag_run_id"])}
    assert states["train"] == "skipped", "new data alone does not retrain once a champion exists"
    assert loop["retrain_runs_before_drift"] == set(), "no drift, no retrain"
    assert [v["version"] for v in loop["after_round_3"]["versions"]] == ["1"]


def test_drifted_batch_retrains_gates_and_records_why(loop):
    check = loop["drift_check"]
    assert check["drift_detected"] is True and check["share_drifted"] >= 0.5
    final = loop["after_round_4"]
    v2 = next(v for v in final["versions"] if v["version"] == "2")
    assert v2["trigger"] == "drift"
    assert v2["gate"] in ("promoted", "rejected")
    tags = Registry(loop["settings"].tracking_uri).client.get_model_version(NAME, "2").tags
    assert tags["drift.batch"] == loop["drift_batch"]
    assert float(tags["drift.share"]) == pytest.approx(check["share_drifted"], abs=1e-4)
    assert tags["drift.champion_version"] == "1"
    assert loop["drift_batch"] in tags["training_batches"], "the retrain learns from the drifted batch"
    # Gated against the champion on the challenger's holdout; exactly one champion either way.
    assert tags["gate.champion_version"] == "1"
    assert float(tags["gate.challenger_score"]) >= 0 and float(tags["gate.champion_score"]) >= 0
    assert final["champion"] == ("2" if v2["gate"] == "promoted" else "1")
    assert sum("champion" in v["aliases"] for v in final["versions"]) == 1


def test_performance_decay_retrains_with_decay_tags(loop):
    check = loop["decay_check"]
    assert check["decayed"] is True, check["performance"]
    versions = loop["final"]["versions"]
    assert len(versions) == len(loop["after_round_4"]["versions"]) + 1
    newest = versions[-1]
    tags = Registry(loop["settings"].tracking_uri).client.get_model_version(NAME, newest["version"]).tags
    assert loop["decay_batch"] in tags["training_batches"]
    if check["drift_detected"]:  # inputs can look drifted too, relative to a champion trained on drifted data
        assert newest["trigger"] in ("drift", "decay")
    else:
        assert newest["trigger"] == "decay"
        assert tags["decay.batch"] == loop["decay_batch"]
        assert float(tags["decay.drop"]) > 0.1


def test_broken_batch_is_quarantined_and_raw_kept(loop):
    settings = loop["settings"]
    bad = loop["bad_uri"]
    assert storage.sha256(bad) == loop["bad_sha_before"], "raw batch must never change"
    quarantine = uris.local_path(settings.area("quarantine", NAME))
    reports = list(quarantine.glob("round1-missing-amount-*/report.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    assert report["valid"] is False and "amount" in report["batch_error"]
    assert (reports[0].parent / "round1-missing-amount.parquet").exists(), "a copy of the raw batch is kept"
    # It never reached training: no version lists it.
    for v in loop["final"]["versions"]:
        tags = Registry(settings.tracking_uri).client.get_model_version(NAME, v["version"]).tags
        assert "missing-amount" not in tags["training_batches"]


def test_redelivered_batch_is_processed_once(loop):
    api, dag = loop["api"], loop["dag"]
    run = loop["features_run_3"]
    states = {ti["task_id"]: ti["state"] for ti in api.task_instances(dag["features"], run["dag_run_id"])}
    # The score batch may arrive in the same run; the re-deliveries must not be curated a second time.
    records = [
        json.loads(p.read_text()) for p in uris.local_path(loop["settings"].area("state", NAME)).glob("batches/*.json")
    ]
    good = [r for r in records if r["raw_uri"].endswith("round1-good.parquet")]
    assert len(good) == 1 and good[0]["status"] == "curated"
    assert not any("redelivered" in r["raw_uri"] for r in records), "duplicates must not get their own record"
    assert states.get("publish") in ("success", "skipped")


def test_unlabelled_batch_trains_nothing(loop):
    """A batch sent only for scoring wakes the train DAG, which skips: no version without new labelled data."""
    api, dag = loop["api"], loop["dag"]
    states = {ti["task_id"]: ti["state"] for ti in api.task_instances(dag["train"], loop["train_run_3"]["dag_run_id"])}
    assert states["train"] == "skipped"


def test_scoring_uses_the_champion(loop):
    preds = loop["predictions"]
    assert len(preds) == 3000
    assert set(preds["model_version"]) <= {v["version"] for v in loop["final"]["versions"]}
    assert preds["score"].between(0, 1).all()
    assert {"transaction_id", "event_time", "score", "model_version", "model_name"} <= set(preds.columns)


def test_champion_training_bytes_restore_by_md5(loop, tmp_path):
    from airloop.store.versioning import DataVersioner

    settings = loop["settings"]
    champ = loop["final"]["champion"]
    md5 = Registry(settings.tracking_uri).client.get_model_version(NAME, champ).tags["data_md5"]
    path = DataVersioner.from_settings(settings).restore(md5, tmp_path / "train.parquet")
    assert hashlib.md5(path.read_bytes()).hexdigest() == md5
