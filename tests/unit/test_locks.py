"""The S3 lock tells "cannot reach" from contention: an unreachable store is `ServiceUnavailable` (exit 4), never a
raw botocore error, "cannot take lock" or a lock read as released; 412/409 stay contention. No S3 server needed."""

from __future__ import annotations

import socket
import time

import pytest
from botocore.exceptions import ClientError

from airloop.errors import AirloopError, ServiceUnavailable
from airloop.store import locks

pytestmark = pytest.mark.unit

LOCK = "s3://bucket/state/fraud_detection/champion.lock"


def _closed_port_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_a_lock_on_an_unreachable_s3_raises_service_unavailable(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")  # credentials present: the refusal, not their absence, is tested
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    endpoint = _closed_port_endpoint()
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as caught, locks.exclusive(LOCK, endpoint_url=endpoint, timeout=5):
        pytest.fail("the body must not run without the lock")
    assert (caught.value.service, caught.value.uri) == ("S3", endpoint)
    assert "connection refused" in caught.value.reason and LOCK in caught.value.reason
    assert time.monotonic() - started < 30


def _error(status: int, code: str) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "op")


class _Client:
    """A boto3 S3 client whose PUT and GET give the answers under test."""

    def __init__(self, put: ClientError, get: ClientError | None = None) -> None:
        self.put, self.get = put, get

    def put_object(self, **kw):
        raise self.put

    def get_object(self, **kw):
        raise self.get or _error(404, "NoSuchKey")

    def delete_object(self, **kw):
        pass


@pytest.mark.parametrize(
    ("put", "get", "expected"),
    [
        (_error(503, "SlowDown"), None, ServiceUnavailable),  # a 5xx on PUT: was "cannot take lock"
        (_error(412, "PreconditionFailed"), _error(503, "SlowDown"), ServiceUnavailable),  # was read as released
        (_error(409, "ConditionalRequestConflict"), _error(500, "InternalError"), ServiceUnavailable),
        (_error(400, "InvalidRequest"), None, AirloopError),  # an answer that is neither: cannot take the lock
    ],
    ids=["put-503", "held-get-503", "conflict-get-500", "put-400"],
)
def test_the_lock_classifies_s3_answers_like_storage(monkeypatch, put, get, expected):
    import boto3

    monkeypatch.setattr(boto3, "client", lambda *a, **kw: _Client(put, get))
    with pytest.raises(expected) as caught, locks.exclusive(LOCK, endpoint_url="http://minio:9000", timeout=0.2):
        pytest.fail("the body must not run without the lock")
    if expected is ServiceUnavailable:
        assert caught.value.uri == "http://minio:9000"
    else:
        assert str(caught.value).startswith(f"cannot take lock {LOCK}")


def test_contention_with_a_released_lock_still_times_out_as_held(monkeypatch):
    """412 then 404 on GET (released meanwhile): contention, retried until the timeout, not an outage."""
    import boto3

    monkeypatch.setattr(boto3, "client", lambda *a, **kw: _Client(_error(412, "PreconditionFailed")))
    with pytest.raises(AirloopError, match="still held by unknown") as caught:
        with locks.exclusive(LOCK, endpoint_url="http://minio:9000", timeout=0.2, poll=0.05):
            pass
    assert not isinstance(caught.value, ServiceUnavailable)
