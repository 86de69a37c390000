"""Fixtures for tests against real services: a real S3-API server (moto's standalone server) on a free port.

The library is only ever given an endpoint URL (the standard AWS_ENDPOINT_URL_S3 for boto3/s3fs, `endpointurl`
for DVC), so what passes here passes against MinIO or AWS unchanged. moto keeps everything in memory: each test
gets fresh, uniquely named buckets, and nothing survives the session.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

MOTO_SERVER = Path(sys.executable).with_name("moto_server")
READY_TIMEOUT = 30.0
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _answers(url: str) -> bool:
    """Any HTTP answer (even an error status) means the server is up; a refused connection means not yet."""
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own process group: only what this fixture started
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> Iterator[str]:
    """URL of a moto S3 server started for this session (stopped at teardown, whatever happens)."""
    if not MOTO_SERVER.exists():
        pytest.fail(f"{MOTO_SERVER} not found: install the pinned requirements (moto[server])")
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not _answers(url):
            if proc.poll() is not None:
                pytest.fail(f"moto_server exited with {proc.returncode} before answering:\n{_tail(log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"moto_server did not answer on {url} within {READY_TIMEOUT:.0f}s:\n{_tail(log)}")
            time.sleep(0.1)
        yield url
    finally:
        _stop(proc)


def _point_at(mp: pytest.MonkeyPatch, endpoint: str) -> None:
    mp.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    for key, value in CREDENTIALS.items():
        mp.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        mp.delenv(key, raising=False)


def _clear_fs_cache() -> None:
    """fsspec caches filesystem instances (with their clients and listings) by constructor arguments, not by
    environment: drop them so no test talks to another test's endpoint or sees its listings."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


def _fresh_buckets(endpoint: str) -> dict[str, str]:
    import boto3

    suffix = uuid.uuid4().hex[:12]
    buckets = {role: f"airloop-{role}-{suffix}" for role in ("landing", "data", "dvc")}
    client = boto3.client("s3", endpoint_url=endpoint)
    for name in buckets.values():
        client.create_bucket(Bucket=name)
    return buckets


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch) -> Iterator[dict[str, str]]:
    """Point boto3/s3fs at the moto server through the standard variables; return fresh buckets by role.

    Keys: `landing`, `data`, `dvc` (bucket names, unique per test).
    """
    _point_at(monkeypatch, s3_endpoint)
    _clear_fs_cache()
    yield _fresh_buckets(s3_endpoint)
    _clear_fs_cache()


@pytest.fixture(scope="module")
def s3_module_env(s3_endpoint) -> Iterator[dict[str, str]]:
    """`s3_env` for module-scoped fixtures (one expensive setup shared by several tests)."""
    with pytest.MonkeyPatch.context() as mp:
        _point_at(mp, s3_endpoint)
        _clear_fs_cache()
        yield _fresh_buckets(s3_endpoint)
        _clear_fs_cache()


@pytest.fixture(scope="module")
def s3_client(s3_endpoint):
    """A plain boto3 client on the same server: writes and reads that bypass fsspec entirely."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="module")
def redis_url() -> str:
    """An empty Redis database (15 down to 1) for a test stack's Celery broker, so its queues never mix with a
    running stack's (database 0, `make stack-up`) or another module's."""
    import os

    import redis

    server = os.environ.get("AIRLOOP_REDIS_URL") or "redis://127.0.0.1:6379"
    base = server.rstrip("/").rsplit("/", 1)[0] if server.count("/") > 2 else server.rstrip("/")
    for n in range(15, 0, -1):
        if redis.Redis.from_url(f"{base}/{n}").dbsize() == 0:
            return f"{base}/{n}"
    pytest.fail("no empty Redis database (1–15) for the test broker")
