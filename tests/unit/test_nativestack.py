"""The native topology's configuration, without starting it (tests/integration starts the real thing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airloop.dev.nativestack import BUCKETS, NativeStack, database_url, stack_for
from airloop.errors import AirloopError

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("server", "driver", "expected"),
    [
        (
            "postgresql://postgres@127.0.0.1:5432",
            "postgresql+psycopg",
            "postgresql+psycopg://postgres@127.0.0.1:5432/db",
        ),
        (
            "postgresql://u:p%40ss@h:6543/other?sslmode=require",
            "postgresql",
            "postgresql://u:p%40ss@h:6543/db?sslmode=require",
        ),
        ("postgres://u@h", "postgresql+psycopg_async", "postgresql+psycopg_async://u@h/db"),
    ],
)
def test_database_url(server, driver, expected):
    assert database_url(server, "db", driver) == expected


def test_database_url_refuses_other_databases_without_echoing_the_password():
    with pytest.raises(AirloopError) as info:
        database_url("mysql://root:hunter2@db:3306", "x")
    assert "hunter2" not in str(info.value) and "***" in str(info.value)


def test_environment_wires_every_service(tmp_path):
    stack = NativeStack(ROOT, tmp_path, prefix="airloop_u", redis_url="redis://127.0.0.1:6379/7")
    ports = stack._ports()
    client, airflow = stack.client_env(), stack.airflow_env(ports)
    assert client["AIRLOOP_DATA_ROOT"] == f"s3://{BUCKETS['data']}"
    assert client["AIRLOOP_LANDING_ROOT"] == f"s3://{BUCKETS['landing']}"
    assert client["AIRLOOP_DVC_REMOTE"].startswith(f"s3://{BUCKETS['dvc']}/")
    assert client["AWS_ENDPOINT_URL_S3"] == f"http://127.0.0.1:{ports['s3']}"
    assert airflow["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert airflow["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("/airloop_u_airflow")
    assert airflow["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"].startswith("postgresql+psycopg_async://")
    assert airflow["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6379/7"
    assert airflow["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + airflow["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert airflow["AIRLOOP_DVC_WORKSPACE"] != client["AIRLOOP_DVC_WORKSPACE"], "the worker restores through S3"
    assert len(set(ports.values())) == len(ports)
    mlflow = stack.mlflow_env()
    assert mlflow["MLFLOW_S3_ENDPOINT_URL"] == client["AWS_ENDPOINT_URL_S3"]


def test_secrets_are_generated_per_stack_and_kept_private(tmp_path):
    a, b = (NativeStack(ROOT, tmp_path / n)._secrets() for n in "ab")
    assert a["jwt_secret"] != b["jwt_secret"] and a["fernet_key"] != b["fernet_key"]
    from cryptography.fernet import Fernet

    Fernet(a["fernet_key"].encode())  # a valid Fernet key
    stack = NativeStack(ROOT, tmp_path / "c")
    stack._save({"secrets": stack._secrets(), "ports": stack._ports()})
    assert (tmp_path / "c" / "stack.json").stat().st_mode & 0o077 == 0
    assert (tmp_path / "c" / "stack.env").stat().st_mode & 0o077 == 0


def test_stack_for_rebuilds_the_recorded_topology(tmp_path):
    stack = NativeStack(ROOT, tmp_path, prefix="airloop_x", redis_url="redis://127.0.0.1:6379/3", ephemeral=True)
    stack._save(
        {
            "topology": "native",
            "databases": stack.databases,
            "postgres_url": stack.postgres_url,
            "redis_url": stack.redis_url,
            "ephemeral": True,
        }
    )
    again = stack_for(ROOT, tmp_path)
    assert isinstance(again, NativeStack)
    assert (again.databases, again.redis_url, again.ephemeral) == (stack.databases, stack.redis_url, True)
    assert type(stack_for(ROOT, tmp_path / "empty")).__name__ == "LocalStack"


def test_unreachable_postgres_is_a_clear_error(tmp_path):
    from airloop.dev.processes import free_port

    stack = NativeStack(ROOT, tmp_path, postgres_url=f"postgresql://postgres@127.0.0.1:{free_port()}")
    with pytest.raises(AirloopError, match="PostgreSQL at postgresql://postgres@127.0.0.1:.* is not reachable"):
        stack.ensure_databases()


def test_database_url_masks_a_password_with_an_empty_user():
    with pytest.raises(AirloopError) as info:
        database_url("redis://:hunter2@127.0.0.1:6379/0", "x")
    assert "hunter2" not in str(info.value) and "redis://:***@127.0.0.1:6379/0" in str(info.value)
