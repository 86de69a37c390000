"""Faults on the production topology (natively: Celery on PostgreSQL + Redis, MLflow on PostgreSQL + S3, moto S3).

One module-scoped stack; S3 is reached through a TCP proxy, so the tests can take S3 away for 30 s without moto
losing its in-memory objects. First the bad-input corpus lands together with a good batch (the feature DAG must
sort them out and train v1 on good data only); then each fault hits a manually triggered training run while its
`train` task is running:

- the Celery worker is killed with SIGKILL (a crash: no clean-up) and started again;
- the MLflow server is down for 30 s;
- S3 is unreachable for 30 s;
- the scheduler is restarted.

Every run must still succeed, and leave exactly one new model version.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from airloop import uris
from airloop.catalog import find_spec
from airloop.data.datagen import generate
from airloop.dev.airflow_api import AirflowAPI
from airloop.dev.nativestack import NativeStack
from airloop.dev.processes import free_port, poll_until
from airloop.model.registry import Registry
from airloop.settings import Settings
from airloop.store import storage

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NAME = "fraud_detection"
TRAIN = f"{NAME}__train"
OUTAGE = 30  # seconds a service stays away
POSTGRES = os.environ.get("AIRLOOP_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432"


class TcpProxy:
    """Forwards a local port to a target port; `down()` refuses and drops every connection until `up()`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.target: int | None = None
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener:
            listener.close()
        with self._lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client_sock, _ = listener.accept()
            except OSError:
                return  # closed by down()
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                client_sock.close()
                continue
            with self._lock:
                self._conns.update((client_sock, upstream))
            for a, b in ((client_sock, upstream), (upstream, client_sock)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _trigger(api: AirflowAPI, dag_id: str) -> str:
    req = urllib.request.Request(
        f"{api.base}/api/v2/dags/{dag_id}/dagRuns",
        data=json.dumps({"logical_date": None, "note": "fault test"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {api.token()}"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())["dag_run_id"]


def _task(api: AirflowAPI, dag_id: str, run_id: str, task_id: str) -> dict:
    return next((t for t in api.task_instances(dag_id, run_id) if t["task_id"] == task_id), {})


def _run_state(api: AirflowAPI, dag_id: str, run_id: str) -> str:
    return next(r["state"] for r in api.dag_runs(dag_id) if r["dag_run_id"] == run_id)


def _finished(api: AirflowAPI, dag_id: str, run_id: str, timeout: float = 420) -> str:
    return poll_until(
        lambda: state if (state := _run_state(api, dag_id, run_id)) in ("success", "failed") else None, timeout, 2
    )


def _versions_of_run(settings: Settings, run_id: str) -> list[str]:
    c = Registry(settings.tracking_uri).client
    return [
        str(mv.version)
        for mv in c.search_model_versions(f"name='{NAME}'")
        if (mv.tags or {}).get("airflow_run_id") == run_id
    ]


@pytest.fixture(scope="module")
def topo(tmp_path_factory, redis_url):
    from airloop.data.datagen.bad import corpus

    proxy = TcpProxy()
    stack = NativeStack(
        ROOT,
        tmp_path_factory.mktemp("faults"),
        postgres_url=POSTGRES,
        redis_url=redis_url,
        prefix=f"airloop_ft{os.getpid()}",
        ephemeral=True,
        preferred_ports=(0, 0),
        s3_front_port=proxy.port,
        # A killed worker's task is declared dead after 30 s instead of the default 5 min.
        extra_env={"AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30"},
    )
    proxy.target = stack._ports()["s3"]
    proxy.up()
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    try:
        info = stack.up(timeout=300)
        env = stack.client_env()
        os.environ.update({k: env[k] for k in saved})
        settings = Settings.from_mapping(env, base=ROOT)
        spec = find_spec(NAME, settings.specs_dir)
        api = AirflowAPI(info["airflow_url"], info["username"], info["password"])
        poll_until(lambda: all(api.get(f"/dags/{NAME}__{k}").get("dag_id") for k in ("features", "train")) or None, 300)
        landing = settings.location(spec.storage.landing)

        # The bad-input corpus and one good labelled batch land together.
        bad = corpus()
        shas = {}
        for b in bad:
            uri = storage.write_bytes(uris.join_uri(landing, b.filename), b.data)
            shas[uri] = storage.sha256(uri)
        good = storage.write_parquet(
            generate("fraud", rows=8000, seed=31, labels=True), uris.join_uri(landing, "good.parquet")
        )
        uri = settings.tracking_uri
        champion = poll_until(lambda: Registry(uri).describe_models([NAME])[0]["champion"], 420, 2)
        yield {
            "stack": stack,
            "proxy": proxy,
            "api": api,
            "settings": settings,
            "spec": spec,
            "corpus": bad,
            "landing": landing,
            "raw_shas": shas,
            "good": good,
            "champion": champion,
        }
    finally:
        proxy.down()
        stack.down()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


ARTIFACTS = Path(os.environ.get("AIRLOOP_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "reliability"


def _fault_run(topo, inject, fault: str) -> tuple[str, str, dict]:
    """Trigger a training run, inject the fault while `train` runs, and wait for the run to finish.

    What happened is appended to test-artifacts/reliability/faults.jsonl (the numbers in docs/reliability.md).
    """
    api = topo["api"]
    started = time.monotonic()
    run_id = _trigger(api, TRAIN)
    poll_until(lambda: _task(api, TRAIN, run_id, "train").get("state") == "running" or None, 300, 0.5)
    inject()
    state = _finished(api, TRAIN, run_id)
    train = _task(api, TRAIN, run_id, "train")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / "faults.jsonl", "a") as fh:
        row = {
            "fault": fault,
            "run_state": state,
            "train_tries": train.get("try_number"),
            "versions_for_run": len(_versions_of_run(topo["settings"], run_id)),
            "seconds": round(time.monotonic() - started, 1),
        }
        fh.write(json.dumps(row) + "\n")
    return run_id, state, train


def test_corpus_is_sorted_out_and_v1_trains_on_good_data_only(topo):
    from airloop.data.ingest import load_records

    settings = topo["settings"]
    for uri, sha in topo["raw_shas"].items():
        assert storage.exists(uri) and storage.sha256(uri) == sha, f"raw batch changed or lost: {uri}"
    records = {r.raw_uri.rsplit("/", 1)[-1]: r for r in load_records(settings, NAME)}
    rejected = {b.filename for b in topo["corpus"] if b.expect == "rejected"}
    for name in rejected:
        assert records[name].status == "rejected", (name, records.get(name))
    tags = Registry(settings.tracking_uri).client.get_model_version(NAME, topo["champion"]).tags
    trained_on = set(tags["training_batches"].split(","))
    assert not trained_on & {records[n].batch_id for n in rejected}, "no model trains on rejected data"
    assert records["good.parquet"].batch_id in trained_on
    # The corpus re-delivers one batch's bytes under another name: one record for those bytes, not two.
    (dup,) = [b for b in topo["corpus"] if b.expect == "duplicate"]
    sha = storage.sha256(uris.join_uri(topo["landing"], dup.filename))
    assert [r.status for r in load_records(settings, NAME) if r.sha256 == sha] == ["curated"]


def test_worker_killed_mid_training_retry_leaves_one_version(topo):
    stack = topo["stack"]

    def crash_and_replace_worker():
        stack.stop_service("celery-worker", signal.SIGKILL)
        stack.start_service("celery-worker")

    run_id, state, train = _fault_run(topo, crash_and_replace_worker, "Celery worker SIGKILL mid-training")
    assert state == "success"
    assert train["try_number"] >= 2, "the killed try failed and a retry completed the task"
    assert len(_versions_of_run(topo["settings"], run_id)) == 1


def test_mlflow_down_for_30s_during_a_run(topo):
    stack = topo["stack"]

    def outage():
        stack.stop_service("mlflow", signal.SIGKILL)
        time.sleep(OUTAGE)  # the fault's duration, not a wait for readiness
        stack.start_service("mlflow")

    run_id, state, _ = _fault_run(topo, outage, "MLflow server down 30 s")
    assert state == "success"
    assert len(_versions_of_run(topo["settings"], run_id)) == 1


def test_s3_unreachable_for_30s_during_a_run(topo):
    proxy = topo["proxy"]

    def outage():
        proxy.down()
        time.sleep(OUTAGE)
        proxy.up()

    run_id, state, _ = _fault_run(topo, outage, "S3 unreachable 30 s")
    assert state == "success"
    assert len(_versions_of_run(topo["settings"], run_id)) == 1


def test_scheduler_restarted_mid_run(topo):
    stack = topo["stack"]

    def restart():
        stack.stop_service("scheduler", signal.SIGTERM)
        stack.start_service("scheduler")

    run_id, state, _ = _fault_run(topo, restart, "scheduler restarted")
    assert state == "success"
    assert len(_versions_of_run(topo["settings"], run_id)) == 1


def test_exactly_one_champion_after_all_faults(topo):
    model = Registry(topo["settings"].tracking_uri).describe_models([NAME])[0]
    assert sum("champion" in v["aliases"] for v in model["versions"]) == 1
    runs = {v["airflow_run_id"] for v in model["versions"]}
    assert len(runs) == len(model["versions"]), "no Airflow run registered two versions"
