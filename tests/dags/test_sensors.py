"""DriftSensor, tested like the provider sensors: construct it, call `poke()`.

The poke only asks whether there is drift work (batch records, drift records, one registry read); the check itself
is the monitor DAG's `check_drift` task, called here as the DAG runs it.
"""

from __future__ import annotations

import json
import os

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from airloop_airflow.sensors import DriftSensor

pytestmark = pytest.mark.dags

PIPELINE = "fraud_detection"


def _env(monkeypatch, root, tracking_uri=None):
    monkeypatch.setenv("AIRLOOP_DATA_ROOT", (root / "data").as_uri())
    monkeypatch.setenv("AIRLOOP_DVC_WORKSPACE", str(root / "dvc"))
    monkeypatch.setenv("AIRLOOP_DVC_REMOTE", str(root / "remote"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri or f"sqlite:///{root / 'mlflow.db'}")
    monkeypatch.chdir(root)


def _settings():
    from airloop.settings import Settings

    return Settings.from_mapping(os.environ)


def _state_file(folder: str, name: str, body: dict) -> None:
    """A batch or drift record as the library leaves it under `state/<pipeline>/<folder>/`."""
    from airloop import uris
    from airloop.store import storage

    uri = uris.join_uri(_settings().area("state", PIPELINE), folder, f"{name}.json")
    storage.write_bytes(uri, json.dumps(body).encode())


def _batch(batch_id: str = "b1-0123456789ab", status: str = "curated") -> str:
    from airloop.data.ingest import BatchRecord

    sha = f"{batch_id}-{status}".encode().hex()
    record = BatchRecord(batch_id, sha, f"file:///landing/{batch_id}.parquet", status, md5="m")
    _state_file("batches", record.sha256, record.to_dict())
    return batch_id


def test_defaults_and_template_fields():
    sensor = DriftSensor(task_id="drift", pipeline=PIPELINE)
    assert sensor.mode == "reschedule"
    assert sensor.template_fields == ("pipeline",)
    assert sensor.pipeline == PIPELINE
    # Each rescheduled poke is a task start: a minute apart, backing off while no champion exists.
    assert (sensor.poke_interval, sensor.exponential_backoff) == (60, True)
    assert sensor.max_wait is not None and sensor.max_wait.total_seconds() == 15 * 60


def test_the_dev_stack_pokes_every_few_seconds(monkeypatch):
    """`AIRLOOP_MONITOR_POKE_SECONDS` (the local stack sets 5): a fixed interval, as the demo and e2e runs rely on."""
    from airloop_airflow.config import monitor_poke

    monkeypatch.delenv("AIRLOOP_MONITOR_POKE_SECONDS", raising=False)
    assert monitor_poke() == {}
    monkeypatch.setenv("AIRLOOP_MONITOR_POKE_SECONDS", "5")
    sensor = DriftSensor(task_id="drift", pipeline=PIPELINE, **monitor_poke())
    assert (sensor.poke_interval, sensor.exponential_backoff) == (5, False)


def test_poke_waits_for_a_champion_while_a_batch_is_unchecked(tmp_path, monkeypatch):
    _env(monkeypatch, tmp_path)
    _batch()
    assert DriftSensor(task_id="drift", pipeline=PIPELINE).poke({}) is False


def test_poke_skips_when_every_batch_is_checked(tmp_path, monkeypatch):
    """Nothing unchecked: nothing to wait for (an earlier run checked these batches), and no registry read — the
    tracking URI here points at nothing that answers."""
    _env(monkeypatch, tmp_path, tracking_uri="http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(AirflowSkipException, match="checked already"):
        DriftSensor(task_id="drift", pipeline=PIPELINE).poke({})
    _batch("rejected-0123456789ab", status="rejected")  # never checked for drift: nothing to wait for either
    batch = _batch()
    _state_file("drift", batch, {"batch_id": batch, "checked_at": 0})
    with pytest.raises(AirflowSkipException, match="checked already"):
        DriftSensor(task_id="drift", pipeline=PIPELINE).poke({})


def test_an_unreachable_registry_is_not_read_as_no_champion(tmp_path, monkeypatch):
    """A down MLflow raises (the sensor task fails and retries) instead of waiting as if no champion existed."""
    _env(monkeypatch, tmp_path, tracking_uri="http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    _batch()
    with pytest.raises(Exception, match="127.0.0.1:9"):
        DriftSensor(task_id="drift", pipeline=PIPELINE).poke({})


@pytest.mark.slow
def test_poke_is_done_once_a_champion_exists_and_check_drift_does_the_work(tmp_path, monkeypatch):
    from airloop import steps
    from airloop.catalog import find_spec
    from airloop.contracts import Lineage, Trained
    from airloop.data.datagen import generate
    from airloop.monitor.checks import load_checks
    from airloop_airflow.factory import build_dags

    _env(monkeypatch, tmp_path)
    settings = _settings()
    spec = find_spec(PIPELINE, settings.specs_dir)
    steps.process(spec, settings, steps.land(spec, settings, generate("fraud", rows=3000, seed=1), "a.parquet"))
    trained = steps.train(spec, settings, Lineage(trigger="manual"))
    assert isinstance(trained, Trained)
    steps.gate(spec, settings, version=trained.version, data_md5=trained.data_md5)
    drifted = generate("fraud", rows=3000, seed=2, drift="covariate", labels=False)
    batch = steps.process(spec, settings, steps.land(spec, settings, drifted, "b.parquet")).batch_id

    sensor = DriftSensor(task_id="drift", pipeline=PIPELINE)
    assert sensor.poke({}) is True
    assert load_checks(settings, PIPELINE) == [], "a poke only asks; it checks nothing"

    check = build_dags(spec)[f"{PIPELINE}__monitor"].get_task("check_drift")
    by_batch = {r["batch_id"]: r for r in check.python_callable()}
    assert by_batch[batch]["drift_detected"] is True
    assert by_batch[batch]["champion_version"] == trained.version
    with pytest.raises(AirflowSkipException):  # checked: the next monitor run has nothing to wait for
        sensor.poke({})
