"""DriftSensor, tested like the provider sensors: construct it, call `poke()`."""

from __future__ import annotations

import pytest

from airloop_airflow.sensors import DriftSensor

pytestmark = pytest.mark.dags


def _env(monkeypatch, root):
    monkeypatch.setenv("AIRLOOP_DATA_ROOT", (root / "data").as_uri())
    monkeypatch.setenv("AIRLOOP_DVC_WORKSPACE", str(root / "dvc"))
    monkeypatch.setenv("AIRLOOP_DVC_REMOTE", str(root / "remote"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    monkeypatch.chdir(root)


def test_defaults_and_template_fields():
    sensor = DriftSensor(task_id="drift", pipeline="fraud_detection")
    assert sensor.mode == "reschedule"
    assert sensor.template_fields == ("pipeline",)
    assert sensor.pipeline == "fraud_detection"


def test_poke_waits_without_a_champion(tmp_path, monkeypatch):
    _env(monkeypatch, tmp_path)
    assert DriftSensor(task_id="drift", pipeline="fraud_detection").poke({}) is False


@pytest.mark.slow
def test_poke_checks_new_batches_once_a_champion_exists(tmp_path, monkeypatch):
    import os

    from airloop import steps
    from airloop.catalog import find_spec
    from airloop.data.datagen import generate
    from airloop.settings import Settings

    _env(monkeypatch, tmp_path)
    settings = Settings.from_mapping(os.environ)
    spec = find_spec("fraud_detection", settings.specs_dir)
    steps.process(spec, settings, steps.land(spec, settings, generate("fraud", rows=3000, seed=1), "a.parquet"))
    trained = steps.train(spec, settings, trigger="manual")
    steps.gate(spec, settings, version=trained["version"], data_md5=trained["data_md5"])
    drifted = generate("fraud", rows=3000, seed=2, drift="covariate", labels=False)
    batch = steps.process(spec, settings, steps.land(spec, settings, drifted, "b.parquet"))["batch_id"]

    result = DriftSensor(task_id="drift", pipeline="fraud_detection").poke({})
    assert result.is_done
    by_batch = {r["batch_id"]: r for r in result.xcom_value}
    assert by_batch[batch]["drift_detected"] is True
    assert by_batch[batch]["champion_version"] == trained["version"]
