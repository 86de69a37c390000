"""The champion lock on an S3 API server (moto): conditional PUTs make it exclusive across processes and hosts."""

from __future__ import annotations

import json
import threading
import time

import pytest

from airloop.errors import AirloopError
from airloop.store import locks

pytestmark = pytest.mark.integration


@pytest.fixture
def lock_uri(s3_env):
    return f"s3://{s3_env['data']}/state/fraud_detection/locks/champion.lock"


def test_holders_never_overlap(lock_uri, s3_endpoint):
    inside, overlaps = [], []

    def worker(i: int) -> None:
        with locks.exclusive(lock_uri, owner=f"w{i}", timeout=60, poll=0.02, endpoint_url=s3_endpoint):
            if inside:
                overlaps.append(i)
            inside.append(i)
            time.sleep(0.05)
            inside.remove(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert overlaps == []


def test_a_held_lock_times_out_naming_its_holder(lock_uri, s3_endpoint, s3_client):
    with locks.exclusive(lock_uri, owner="worker-a", endpoint_url=s3_endpoint):
        with pytest.raises(AirloopError, match="still held by worker-a"):
            with locks.exclusive(lock_uri, owner="worker-b", timeout=0.5, endpoint_url=s3_endpoint):
                pass
    bucket, key = lock_uri[5:].split("/", 1)
    assert "Contents" not in s3_client.list_objects_v2(Bucket=bucket, Prefix=key), "released on exit"


def test_an_expired_lock_of_a_dead_holder_is_taken_over(lock_uri, s3_endpoint, s3_client):
    bucket, key = lock_uri[5:].split("/", 1)
    dead = {"owner": "crashed-worker", "acquired": time.time() - 900, "expires": time.time() - 300}
    s3_client.put_object(Bucket=bucket, Key=key, Body=json.dumps(dead).encode())
    with locks.exclusive(lock_uri, owner="new", timeout=5, endpoint_url=s3_endpoint):
        holder = json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
        assert holder["owner"] == "new"


def test_a_live_lock_is_not_taken_over(lock_uri, s3_endpoint, s3_client):
    bucket, key = lock_uri[5:].split("/", 1)
    live = {"owner": "busy-worker", "acquired": time.time(), "expires": time.time() + 300}
    s3_client.put_object(Bucket=bucket, Key=key, Body=json.dumps(live).encode())
    with pytest.raises(AirloopError, match="busy-worker"):
        with locks.exclusive(lock_uri, owner="new", timeout=0.5, endpoint_url=s3_endpoint):
            pass
    assert json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())["owner"] == "busy-worker"


def test_release_leaves_a_lock_that_is_no_longer_ours(lock_uri, s3_endpoint, s3_client):
    """A holder whose lease ran out (and was taken over) must not delete the new holder's lock."""
    bucket, key = lock_uri[5:].split("/", 1)
    with locks.exclusive(lock_uri, owner="slow", endpoint_url=s3_endpoint):
        theirs = {"owner": "other", "acquired": time.time(), "expires": time.time() + 300}
        s3_client.put_object(Bucket=bucket, Key=key, Body=json.dumps(theirs).encode())  # took over meanwhile
    assert json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())["owner"] == "other"
