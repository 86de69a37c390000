"""The framework, not a demo: a second, different pipeline — retail demand, a regression with a lower-is-better
gate — runs the whole loop on a real scheduler from its spec file alone (the same DAG factory, no DAG code).

Labelled batches land → features → train v1 (champion) → a concept-drifted batch (same inputs, a changed demand
curve) → the champion's live RMSE rises → decay event → retrain → gate on RMSE (lower wins) → a batch to score.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airloop.data.datagen import generate
from airloop.data.ingest import batch_id_for
from airloop.dev.demo import drift_check_of
from airloop.dev.processes import poll_until
from airloop.model.registry import Registry
from airloop.model.scoring import predictions_uri
from airloop.store import storage

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NAME = "retail_demand"
ROWS = 6000
STAGE_TIMEOUT = 300


@pytest.fixture(scope="module")
def retail(e2e_stack):
    settings, api, runs = e2e_stack.settings, e2e_stack.api, e2e_stack.runs
    pipeline = e2e_stack.pipeline(NAME, ("features", "train", "score", "monitor", "retrain"))
    spec, dag, land = pipeline.spec, pipeline.dag, pipeline.land
    facts: dict = {"settings": settings, "spec": spec, "api": api, "dag": dag}

    before = {k: runs.snapshot(d) for k, d in dag.items()}
    land(generate("retail", rows=ROWS, seed=51, labels=True), "r1.parquet")
    train_run = poll_until(runs.finished_after(dag["train"], before["train"]), STAGE_TIMEOUT)
    facts["train_tis"] = api.task_instances(dag["train"], train_run["dag_run_id"])
    facts["v1"] = Registry(settings.tracking_uri).describe_models([NAME])[0]

    before = {k: runs.snapshot(d) for k, d in dag.items()}
    concept = land(generate("retail", rows=ROWS, seed=52, labels=True, drift="concept"), "r2-concept.parquet")
    facts["check"] = poll_until(drift_check_of(settings, spec, concept), STAGE_TIMEOUT)
    facts["retrain_run"] = poll_until(runs.finished_after(dag["retrain"], before["retrain"]), STAGE_TIMEOUT)
    facts["retrain_tis"] = api.task_instances(dag["retrain"], facts["retrain_run"]["dag_run_id"])
    facts["after"] = Registry(settings.tracking_uri).describe_models([NAME])[0]

    to_score = land(generate("retail", rows=1500, seed=53, labels=False), "r3-score.parquet")
    pred = predictions_uri(settings, spec, batch_id_for(to_score, storage.sha256(to_score)))
    poll_until(lambda: pred if storage.exists(pred) else None, STAGE_TIMEOUT)
    facts["predictions"] = storage.read_parquet(pred)
    return facts


def test_first_regression_model_becomes_champion_with_regression_metrics(retail):
    v1 = retail["v1"]
    assert v1["champion"] == "1"
    assert {"rmse", "mae"} <= set(v1["versions"][0]["metrics"])
    tags = Registry(retail["settings"].tracking_uri).client.get_model_version(NAME, "1").tags
    assert tags["spec_hash"] == retail["spec"].spec_hash
    assert float(tags["metric.rmse"]) > 0


def test_concept_drift_decays_the_champion_and_retrains_on_rmse(retail):
    check = retail["check"]
    assert check["decayed"] is True, check["performance"]
    perf = check["performance"]
    assert perf["metric"] == "rmse" and perf["live"] > perf["baseline"], "lower is better: decay is a rise"
    after = retail["after"]
    newest = after["versions"][-1]
    assert newest["version"] == "2" and newest["trigger"] in ("decay", "drift")
    tags = Registry(retail["settings"].tracking_uri).client.get_model_version(NAME, "2").tags
    assert tags["gate.metric"] == "rmse"
    challenger, champion = float(tags["gate.challenger_score"]), float(tags["gate.champion_score"])
    assert (newest["gate"] == "promoted") == (challenger < champion), "the gate promotes the lower RMSE only"
    assert sum("champion" in v["aliases"] for v in after["versions"]) == 1


@pytest.mark.parametrize("kind", ["train", "retrain"])
def test_model_search_ran_as_mapped_tasks_and_child_runs(retail, kind):
    """The spec's random search: one mapped `fit_trial` task instance per trial on the scheduler, each an
    MLflow child run under the registered version's run; the registered version is the best by validation."""
    tis = retail[f"{kind}_tis"]
    fits = sorted(ti["map_index"] for ti in tis if ti["task_id"] == "fit_trial" and ti["state"] == "success")
    trials = retail["spec"].model.search.trials
    assert fits == list(range(trials)), tis
    assert {ti["task_id"] for ti in tis if ti["state"] == "success"} >= {"prepare", "select", "gate"}
    version = "1" if kind == "train" else "2"
    c = Registry(retail["settings"].tracking_uri).client
    mv = c.get_model_version(NAME, version)
    assert mv.tags["search.trials"] == str(trials)
    parent = c.get_run(mv.run_id)
    children = c.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{mv.run_id}'")
    assert len(children) == trials and all(r.info.status == "FINISHED" for r in children)
    best = min(children, key=lambda r: r.data.metrics["valid_rmse"])
    assert mv.tags["search.best_run_id"] == best.info.run_id


def test_scoring_writes_regression_predictions(retail):
    preds = retail["predictions"]
    assert len(preds) == 1500
    assert {"prediction", "model_version"} <= set(preds.columns)
    assert (preds["prediction"] > 0).all(), "a Tweedie model predicts positive demand"
    assert preds["prediction"].notna().all()


def test_no_dag_code_for_the_second_pipeline():
    """Its DAGs come from the same factory file as every other pipeline's: the spec is all it took."""
    dag_files = sorted(p.name for p in (ROOT / "dags").glob("*.py"))
    assert dag_files == ["airloop_pipelines.py"]
    assert "retail" not in (ROOT / "dags" / "airloop_pipelines.py").read_text()
