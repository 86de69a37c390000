"""Drift monitoring against the champion's training data, on a real local MLflow store and DVC remote."""

from __future__ import annotations

import json

import pytest

from airloop import steps
from airloop.contracts import Lineage, Skipped, Trained
from airloop.data.datagen import generate
from airloop.model.registry import Registry
from airloop.monitor import checks

pytestmark = [pytest.mark.unit, pytest.mark.slow]
NAME = "fraud_detection"


@pytest.fixture(scope="module")
def world(monitored_world):
    """The shared monitored world (conftest.py), as the checks below read it."""
    w = monitored_world
    return {
        "settings": w.settings,
        "before": w.before_champion,
        "first": {r["batch_id"]: r for r in w.first},
        "second": w.second,
        "ids": w.batch_ids,
        "trained": w.v1,
    }


def test_nothing_to_compare_before_a_champion(world):
    assert world["before"] is None


def test_every_curated_batch_is_checked_once(world):
    # The champion's own training batch is compared too (no drift), then nothing is checked twice.
    assert set(world["ids"].values()) <= set(world["first"])
    assert world["second"] == []


def test_clean_batch_no_drift_covariate_batch_drift(world):
    clean = world["first"][world["ids"]["clean"]]
    drifted = world["first"][world["ids"]["covariate"]]
    assert clean["drift_detected"] is False
    assert drifted["drift_detected"] is True
    assert drifted["share_drifted"] >= 0.5
    assert drifted["top_drifted"], "the most drifted features are named"
    assert drifted["reference_md5"] == world["trained"].data_md5, "reference found through the champion's lineage"


def test_concept_drift_shows_as_performance_decay_not_input_drift(world):
    concept = world["first"][world["ids"]["concept"]]
    clean = world["first"][world["ids"]["clean_labelled"]]
    assert concept["drift_detected"] is False, "concept drift leaves the inputs alone"
    assert concept["decayed"] is True
    perf = concept["performance"]
    assert perf["metric"] == "pr_auc" and perf["baseline"] is not None
    assert perf["drop"] == pytest.approx(perf["baseline"] - perf["live"])
    assert perf["drop"] > clean["performance"]["drop"] + 0.1
    assert world["first"][world["ids"]["clean"]]["performance"] is None, "no labels, no live metric"


def test_records_reports_and_mlflow_run(world):
    settings = world["settings"]
    records = checks.load_checks(settings, NAME)
    assert {c["batch_id"] for c in records} == set(world["first"])
    check = world["first"][world["ids"]["covariate"]]
    assert json.loads(json.dumps(check))["report"]["drift_detected"] is True
    from airloop.store import storage

    assert b"Drift detected" in storage.read_bytes(check["html_uri"])
    assert storage.read_bytes(check["png_uri"])[:4] == b"\x89PNG"
    run = Registry.from_settings(settings).client.get_run(check["mlflow_run_id"])
    assert run.data.tags["batch_id"] == check["batch_id"]
    assert run.data.metrics["share_drifted"] == pytest.approx(check["share_drifted"])
    assert any(k.startswith("drift.") for k in run.data.metrics)


def test_new_data_does_not_retrain_once_a_champion_exists_unless_the_spec_says_so(tmp_path, settings_for, spec_dict):
    """With retrain_on_new_data false (the shipped default) new labelled data after v1 trains nothing: drift does."""
    from airloop.catalog import parse_spec

    spec_dict["model"].update(device="cpu", num_boost_round=20, early_stopping_rounds=5, nthread=1)
    spec_dict["training"].update(min_rows=100, retrain_on_new_data=False)
    spec = parse_spec(spec_dict, "drift_driven")
    settings = settings_for(tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        for seed in (301, 302):
            steps.process(
                spec, settings, steps.land(spec, settings, generate("fraud", rows=2000, seed=seed), f"{seed}.pq")
            )
            result = steps.train(spec, settings, Lineage(trigger="new_data"))
            if isinstance(result, Trained):
                steps.gate(spec, settings, version=result.version, data_md5=result.data_md5)
        assert isinstance(result, Skipped) and "retraining is drift-driven" in result.reason
        drift = steps.train(spec, settings, Lineage(trigger="drift"))
        assert isinstance(drift, Trained) and drift.version == "2", "drift retrains on the window with the new batch"
        again = steps.train(spec, settings, Lineage(trigger="drift"))
        assert isinstance(again, Skipped), "the same window never trains twice"
        assert "nothing new to learn" in again.reason


def test_check_pending_builds_one_registry_loads_the_booster_once_and_lists_drift_records_once(
    tmp_path, settings_for, fast_spec, monkeypatch
):
    """Three labelled batches, one unlabelled, one already checked: one Registry, one booster download, one listing
    of `drift/` (no `exists` per batch: the sensor asks this at every poke)."""
    import pandas as pd

    from airloop.data import ingest
    from airloop.store import storage

    settings = settings_for(tmp_path)
    storage.write_bytes(checks._record_uri(settings, fast_spec.name, "done"), b"{}")
    records = [
        ingest.BatchRecord(b, b, f"file:///{b}", "curated", has_labels=labels)
        for b, labels in [("done", True), ("a", True), ("b", False), ("c", True), ("d", True)]
    ]
    calls: dict[str, int] = {"registries": 0, "boosters": 0, "list_files": 0}

    class FakeRegistry:
        def version_tags(self, name, alias):
            return {"version": "3", "data_md5": "md5"}

        def load_booster(self, name, version):
            calls["boosters"] += 1
            return f"booster v{version}"

    def from_settings(_settings):
        calls["registries"] += 1
        return FakeRegistry()

    class FakeVersioner:
        def restore(self, md5, dst):
            pd.DataFrame({"x": [1.0]}).to_parquet(dst)
            return dst

    real_list = storage.list_files

    def counting_list(uri, *a, **kw):
        calls["list_files"] += uri.rstrip("/").endswith("/drift")
        return real_list(uri, *a, **kw)

    monkeypatch.setattr(checks.registry.Registry, "from_settings", staticmethod(from_settings))
    monkeypatch.setattr(ingest, "load_records", lambda s, p: records)
    monkeypatch.setattr(ingest, "read_curated", lambda rec, v: pd.DataFrame({"x": [2.0]}))
    monkeypatch.setattr(storage, "exists", lambda *a, **kw: pytest.fail("one listing, not a check per batch"))
    monkeypatch.setattr(storage, "list_files", counting_list)
    monkeypatch.setattr(checks, "compare_features", lambda spec, ref, cur: "report")
    monkeypatch.setattr(checks, "live_performance", lambda spec, champion, batch, booster: {"booster": booster})
    monkeypatch.setattr(
        checks, "_record", lambda spec, settings, models, batch_id, *rest: {"batch_id": batch_id, "perf": rest[-1]}
    )

    results = checks.check_pending(fast_spec, settings, FakeVersioner())
    assert [r["batch_id"] for r in results] == ["a", "b", "c", "d"]
    labelled = {"booster": "booster v3"}
    assert [r["perf"] for r in results] == [labelled, None, labelled, labelled]
    assert calls == {"registries": 1, "boosters": 1, "list_files": 1}
