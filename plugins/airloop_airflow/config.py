"""The one place Airflow-side code reads its environment: deployment settings and specs by name.

Shared by the DAG factory (at parse time and in task bodies) and the sensors, so every piece of glue resolves
settings the same way.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airloop.settings import Settings
    from airloop.spec import PipelineSpec

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def settings() -> Settings:
    """Deployment settings from this process's environment."""
    from airloop.settings import Settings

    return Settings.from_mapping(os.environ, base=PROJECT_ROOT)


S3_CONNECTION = "airloop_s3"
PII_CONNECTION = "airloop_pii"
SECRET_ENV = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "AIRLOOP_PII_KEY",
)


def task_settings() -> Settings:
    """Settings for a task body, with its credentials in place and masked in the task's log.

    S3 credentials may come from the Airflow connection `airloop_s3` (login = access key id, password = secret,
    extra `endpoint_url`); they are exported to this task process only, for boto3, s3fs and DVC. Every secret the
    task can see — the connection's password (the Task SDK masks it on fetch) and secret-bearing variables or URL
    passwords from the environment — is registered with Airflow's secrets masker, so a log line or traceback
    that contains one shows `***`.

    The key that hashes personal data (spec `pii: hash`) may come from the Airflow connection `airloop_pii`
    (password = key); it wins over `AIRLOOP_PII_KEY`, is masked the same way, and reaches this task's settings
    only (it is not exported to the environment).
    """
    import dataclasses
    from urllib.parse import urlsplit

    from airflow.sdk.log import mask_secret

    conn = _connection(S3_CONNECTION)
    if conn is not None:
        log.info(
            "S3 credentials from Airflow connection %s: login=%s, password=%s", S3_CONNECTION, conn.login, conn.password
        )
        os.environ["AWS_ACCESS_KEY_ID"] = conn.login or ""
        os.environ["AWS_SECRET_ACCESS_KEY"] = conn.password or ""
        endpoint = (conn.extra_dejson or {}).get("endpoint_url")
        if endpoint:
            os.environ["AWS_ENDPOINT_URL_S3"] = endpoint
    # No name passed to mask_secret: Airflow masks a named secret only when the name looks sensitive (password,
    # secret, token, ...), which AIRLOOP_PII_KEY, airloop_pii or MLFLOW_TRACKING_URI do not.
    for key in SECRET_ENV:
        if os.environ.get(key):
            mask_secret(os.environ[key])
    for key in ("MLFLOW_TRACKING_URI", "AIRLOOP_DVC_REMOTE", "AIRLOOP_DATA_ROOT"):
        password = urlsplit(os.environ.get(key, "")).password
        if password:
            mask_secret(password)
    resolved = settings()
    pii = _connection(PII_CONNECTION)
    if pii is not None and pii.password:
        mask_secret(pii.password)
        log.info("personal-data key from Airflow connection %s", PII_CONNECTION)
        resolved = dataclasses.replace(resolved, pii_key=pii.password)
    return resolved


def _connection(conn_id: str):
    """An Airflow connection of airloop's (`airloop_s3`, `airloop_pii`), or None when the deployment gives that
    setting through the environment instead.

    Looked up only when `AIRFLOW_CONN_<ID>` is set or `AIRLOOP_<S3|PII>_FROM_CONNECTION` says the connection
    lives elsewhere (the metadata database, a secrets backend).
    """
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    flag = f"AIRLOOP_{conn_id.removeprefix('airloop_').upper()}_FROM_CONNECTION"
    if not (os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}") or os.environ.get(flag)):
        return None  # no lookup (and no API round trip) when nothing says a connection exists
    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None


MONITOR_POKE_ENV = "AIRLOOP_MONITOR_POKE_SECONDS"


def monitor_poke() -> dict[str, Any]:
    """How often the monitor's champion sensor pokes: DriftSensor's defaults (a minute, backing off), or — when
    `AIRLOOP_MONITOR_POKE_SECONDS` is set, as the local dev stack (demo, e2e) does — a fixed, short interval, so
    the first batch's drift check follows its first champion within seconds. Read when the DAG file is parsed."""
    seconds = os.environ.get(MONITOR_POKE_ENV)
    if not seconds:
        return {}
    return {"poke_interval": float(seconds), "exponential_backoff": False}


def spec_named(name: str, where: Settings | None = None) -> PipelineSpec:
    """The spec of pipeline `name` from the specs directory of `where` (default: this process's settings)."""
    from airloop.catalog import find_spec

    return find_spec(name, (where or settings()).specs_dir)


def task_inputs(name: str) -> tuple[PipelineSpec, Settings]:
    """What a task body passes to `airloop.steps`: the pipeline's spec and the task's settings (`task_settings`:
    credentials in place and masked), the settings built once."""
    where = task_settings()
    return spec_named(name, where), where
