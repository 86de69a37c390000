"""The loop on the production topology, natively: CeleryExecutor on PostgreSQL + Redis, the Airflow components as
separate processes, MLflow on PostgreSQL with S3 artifacts, data and the DVC remote in S3 (moto's server).

One module-scoped run lands batches in the S3 landing bucket and lets the real services do the rest; the tests
then look behind each service — the metadata database, the Celery result backend and broker, the MLflow database,
the buckets — to check the work really went where the topology says. Everything lives in a private run folder,
private databases and a private Redis database, all removed afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from airloop import uris
from airloop.catalog import find_spec
from airloop.data.datagen import generate
from airloop.data.ingest import batch_id_for
from airloop.dev.airflow_api import AirflowAPI
from airloop.dev.demo import RunWatcher, drift_check_of
from airloop.dev.nativestack import BUCKETS, NativeStack, database_url
from airloop.dev.processes import poll_until
from airloop.model.registry import Registry
from airloop.model.scoring import predictions_uri
from airloop.settings import Settings
from airloop.store import storage

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NAME = "fraud_detection"
SEARCH = "retail_demand"  # its spec searches 4 trials
ROWS = 12_000
STAGE_TIMEOUT = 300
POSTGRES = os.environ.get("AIRLOOP_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432"


def _wait(poll, timeout=STAGE_TIMEOUT):
    return poll_until(poll, timeout)


def _sql(stack: NativeStack, db: str, query: str, *args):
    import psycopg

    with psycopg.connect(database_url(stack.postgres_url, stack.databases[db], "postgresql")) as conn:
        return conn.execute(query, args).fetchall()


def _s3(env: dict[str, str]):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )


def _keys(s3, bucket: str, prefix: str = "") -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


@pytest.fixture(scope="module")
def topology(tmp_path_factory, redis_url):
    run_dir = tmp_path_factory.mktemp("native")
    stack = NativeStack(
        ROOT,
        run_dir,
        postgres_url=POSTGRES,
        redis_url=redis_url,
        prefix=f"airloop_it{os.getpid()}",
        ephemeral=True,
        preferred_ports=(0, 0),
    )
    # Tasks also find the S3 credentials in the Airflow connection airloop_s3 (and log it, masked).
    keys, ports = stack._secrets(), stack._ports()
    stack.extra_env["AIRFLOW_CONN_AIRLOOP_S3"] = json.dumps(
        {
            "conn_type": "aws",
            "login": keys["aws_access_key_id"],
            "password": keys["aws_secret_access_key"],
            "extra": {"endpoint_url": f"http://127.0.0.1:{ports['s3']}"},
        }
    )
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    try:
        info = stack.up(timeout=300)
        env = stack.client_env()
        os.environ.update({k: env[k] for k in saved} | {"AWS_DEFAULT_REGION": env["AWS_DEFAULT_REGION"]})
        settings = Settings.from_mapping(env, base=ROOT)
        spec = find_spec(NAME, settings.specs_dir)
        api = AirflowAPI(info["airflow_url"], info["username"], info["password"])
        runs = RunWatcher(api)
        dag = {k: f"{NAME}__{k}" for k in ("features", "train", "score", "monitor", "retrain")}
        _wait(lambda: all(api.get(f"/dags/{d}").get("dag_id") == d for d in dag.values()) or None)
        landing = settings.location(spec.storage.landing)
        facts = {"stack": stack, "info": info, "env": env, "settings": settings, "spec": spec, "api": api}
        facts["dag"] = dag
        facts["landing"] = landing

        def land(df, name):
            return storage.write_parquet(df, uris.join_uri(landing, name))

        # Round 1: a clean labelled batch and a broken one land in the S3 landing bucket → v1 becomes champion.
        before = {k: runs.snapshot(d) for k, d in dag.items()}
        good = land(generate("fraud", rows=ROWS, seed=21, labels=True), "r1-good.parquet")
        bad = land(generate("fraud", rows=500, seed=22, labels=True).drop(columns=["amount"]), "r1-no-amount.parquet")
        facts["good_sha"], facts["bad_uri"], facts["bad_sha"] = storage.sha256(good), bad, storage.sha256(bad)
        _wait(runs.finished_after(dag["features"], before["features"]))
        _wait(runs.finished_after(dag["train"], before["train"]))
        facts["after_round_1"] = Registry(settings.tracking_uri).describe_models([NAME])[0]

        # Round 2: covariate drift → drift event → retrain on the Celery worker → gate.
        before = {k: runs.snapshot(d) for k, d in dag.items()}
        drifted = land(generate("fraud", rows=ROWS, seed=23, labels=True, drift="covariate"), "r2-drift.parquet")
        facts["drift_batch"] = batch_id_for(drifted, storage.sha256(drifted))
        facts["drift_check"] = _wait(drift_check_of(settings, spec, drifted))
        _wait(runs.finished_after(dag["retrain"], before["retrain"]))
        facts["after_round_2"] = Registry(settings.tracking_uri).describe_models([NAME])[0]

        # Round 3: an unlabelled batch to score with the champion; predictions land in S3.
        to_score = land(generate("fraud", rows=2000, seed=24, labels=False), "r3-score.parquet")
        pred = predictions_uri(settings, spec, batch_id_for(to_score, storage.sha256(to_score)))
        _wait(lambda: pred if storage.exists(pred) else None)
        facts["pred_uri"] = pred
        facts["final"] = Registry(settings.tracking_uri).describe_models([NAME])[0]

        # Round 4: the second pipeline's model search — its trials are mapped tasks for the Celery workers.
        retail = find_spec(SEARCH, settings.specs_dir)
        search_train = f"{SEARCH}__train"
        _wait(lambda: api.get(f"/dags/{search_train}").get("dag_id") or None)
        before_search = runs.snapshot(search_train)
        storage.write_parquet(
            generate("retail", rows=3000, seed=25, labels=True),
            uris.join_uri(settings.location(retail.storage.landing), "s1.parquet"),
        )
        facts["search_run"] = _wait(runs.finished_after(search_train, before_search))
        facts["search_spec"] = retail
        yield facts
    finally:
        stack.down()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_airflow_metadata_is_in_postgres(topology):
    stack = topology["stack"]
    runs = _sql(stack, "airflow", "SELECT dag_id, state FROM dag_run WHERE dag_id LIKE %s", f"{NAME}__%")
    assert {(d, s) for d, s in runs} >= {(f"{NAME}__{k}", "success") for k in ("features", "train", "retrain")}
    assert not list(Path(stack.run / "airflow").glob("*.db")), "no SQLite metadata database on this topology"


def test_tasks_run_on_the_celery_worker_through_redis(topology):
    import redis

    stack, info = topology["stack"], topology["info"]
    assert info["celery_workers"], "a Celery worker answered the broker's ping"
    worker_host = info["celery_workers"][0].split("@", 1)[1]
    tis = _sql(stack, "airflow", "SELECT queue, hostname, state FROM task_instance WHERE state = 'success'")
    assert tis and {q for q, _, _ in tis} == {"default"}
    assert {h for _, h, _ in tis} == {worker_host}
    # The Celery result backend (in the metadata database) holds one result per task the worker ran.
    done = _sql(stack, "airflow", "SELECT count(*) FROM celery_taskmeta WHERE status = 'SUCCESS'")[0][0]
    assert done >= len(tis)
    # The broker is this stack's Redis database: kombu declared the default queue there.
    assert redis.Redis.from_url(stack.redis_url).exists("_kombu.binding.default")


def test_mlflow_server_keeps_runs_in_postgres_and_artifacts_in_s3(topology):
    stack, env = topology["stack"], topology["env"]
    versions = topology["final"]["versions"]
    rows = _sql(stack, "mlflow", "SELECT version FROM model_versions WHERE name = %s", NAME)
    assert sorted(str(v) for (v,) in rows) == sorted(v["version"] for v in versions)
    c = Registry(topology["settings"].tracking_uri).client
    mv = c.get_model_version(NAME, topology["final"]["champion"])
    keys = _keys(_s3(env), BUCKETS["mlflow"])
    assert any(k.endswith("MLmodel") for k in keys), "the registered model's files are in the artifact bucket"
    assert any(mv.run_id in k and k.endswith("feature_importance.png") for k in keys)


def test_dvc_remote_is_s3_and_restores_in_a_fresh_workspace(topology, tmp_path):
    from airloop.store.versioning import DataVersioner

    settings, env = topology["settings"], topology["env"]
    champion = topology["final"]["champion"]
    md5 = Registry(settings.tracking_uri).client.get_model_version(NAME, champion).tags["data_md5"]
    assert f"dvc/files/md5/{md5[:2]}/{md5[2:]}" in _keys(_s3(env), BUCKETS["dvc"], "dvc/")
    fresh = DataVersioner(tmp_path / "ws", settings.dvc_remote, {"endpointurl": settings.s3_endpoint_url})
    path = fresh.restore(md5, tmp_path / "train.parquet")
    assert hashlib.md5(path.read_bytes()).hexdigest() == md5


def test_the_loop_closes_on_this_topology(topology):
    first = topology["after_round_1"]
    assert first["champion"] == "1" and first["versions"][0]["trigger"] == "new_data"
    check = topology["drift_check"]
    assert check["drift_detected"] is True
    after = topology["after_round_2"]
    v2 = next(v for v in after["versions"] if v["version"] == "2")
    assert v2["trigger"] == "drift" and v2["gate"] in ("promoted", "rejected")
    assert after["champion"] == ("2" if v2["gate"] == "promoted" else "1")
    tags = Registry(topology["settings"].tracking_uri).client.get_model_version(NAME, "2").tags
    assert tags["drift.batch"] == topology["drift_batch"]
    preds = storage.read_parquet(topology["pred_uri"])
    assert topology["pred_uri"].startswith(f"s3://{BUCKETS['data']}/")
    assert len(preds) == 2000 and preds["score"].between(0, 1).all()
    assert set(preds["model_version"]) == {topology["final"]["champion"]}


def test_broken_batch_is_quarantined_in_s3_and_raw_kept(topology):
    settings = topology["settings"]
    assert storage.sha256(topology["bad_uri"]) == topology["bad_sha"], "raw batch must never change"
    assert storage.exists(topology["bad_uri"])
    quarantine = settings.area("quarantine", NAME)
    assert quarantine.startswith(f"s3://{BUCKETS['data']}/")
    s3 = _s3(topology["env"])
    keys = _keys(s3, BUCKETS["data"], quarantine.split("/", 3)[3] + "/")
    assert any(k.endswith("/report.json") and "r1-no-amount" in k for k in keys)
    assert any(k.endswith("/r1-no-amount.parquet") for k in keys), "a copy of the raw batch is kept"


def test_connection_password_is_masked_in_task_logs(topology):
    api, dag = topology["api"], topology["dag"]
    secret = topology["env"]["AWS_SECRET_ACCESS_KEY"]
    logs = []
    for kind in ("features", "train"):
        for run in api.dag_runs(dag[kind]):
            for ti in api.task_instances(dag[kind], run["dag_run_id"]):
                if ti["state"] in ("success", "failed", "skipped") and ti["try_number"]:
                    logs.append(
                        api.task_log(dag[kind], run["dag_run_id"], ti["task_id"], ti["try_number"], ti["map_index"])
                    )
    assert logs and not any(secret in text for text in logs), "a secret reached a task log"
    login = topology["env"]["AWS_ACCESS_KEY_ID"]
    used = f"S3 credentials from Airflow connection airloop_s3: login={login}, password=***"
    assert any(used in text for text in logs), "tasks took the credentials from the connection, password masked"


def test_model_search_trials_run_as_mapped_tasks_on_the_celery_worker(topology):
    """retail_demand's 4 trials: one mapped task instance each, run by the Celery worker, never more at once
    than the spec's `parallel`; each an MLflow child run in the PostgreSQL store with its booster in S3."""
    stack, info = topology["stack"], topology["info"]
    search = topology["search_spec"].model.search
    worker_host = info["celery_workers"][0].split("@", 1)[1]
    rows = _sql(
        stack,
        "airflow",
        "SELECT map_index, hostname, queue, state, start_date, end_date FROM task_instance "
        "WHERE dag_id = %s AND run_id = %s AND task_id = 'fit_trial' ORDER BY map_index",
        f"{SEARCH}__train",
        topology["search_run"]["dag_run_id"],
    )
    assert [r[0] for r in rows] == list(range(search.trials))
    assert {(r[1], r[2], r[3]) for r in rows} == {(worker_host, "default", "success")}
    spans = [(r[4], r[5]) for r in rows]
    at_once = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    assert 1 <= at_once <= search.parallel, f"{at_once} trials trained at once; parallel is {search.parallel}"
    c = Registry(topology["settings"].tracking_uri).client
    mv = c.get_model_version(SEARCH, "1")
    children = _sql(
        stack,
        "mlflow",
        "SELECT run_uuid FROM tags WHERE key = 'mlflow.parentRunId' AND value = %s",
        mv.run_id,
    )
    assert len(children) == search.trials
    keys = _keys(_s3(topology["env"]), BUCKETS["mlflow"])
    for (run_id,) in children:
        assert any(run_id in k and k.endswith("trial/model.json") for k in keys), run_id
    assert mv.tags["search.best_run_id"] in {r for (r,) in children}
