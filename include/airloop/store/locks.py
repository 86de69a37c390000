"""Mutual exclusion across processes and hosts, for the loop's few read-modify-write steps.

Moving the `champion` alias reads the current champion, compares, then writes; MLflow has no compare-and-set on
aliases, so two retrain runs on two Celery workers could both read v3 and both "win". Every move of the alias
therefore happens under one lock per pipeline, kept beside the pipeline's state:

- local data roots: an `fcntl` lock on a file (one host);
- object stores: a lock object created with a conditional PUT (`If-None-Match: *`), which S3, MinIO and moto apply
  atomically. It records its owner and a lease; a holder that died is taken over once its lease has run out, and
  a holder only ever deletes its own lock object (`If-Match` on its ETag).

An object store that gives no answer (connection refused, HTTP 5xx, credentials refused) raises
`ServiceUnavailable`, as storage does: never "cannot take lock", never "released". 412/409 are contention.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

from airloop import uris
from airloop.errors import AirloopError, ServiceUnavailable
from airloop.store.storage import answering

log = logging.getLogger(__name__)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def exclusive(
    uri: str,
    *,
    owner: str | None = None,
    timeout: float = 120.0,
    lease: float = 300.0,
    poll: float = 0.2,
    endpoint_url: str | None = None,
) -> Iterator[None]:
    """Hold the lock at `uri` (a `file://` path or `s3://bucket/key`) for the body of the `with` block.

    Args:
        uri: where the lock lives.
        owner: who holds it (recorded in S3 locks; for messages).
        timeout: seconds to wait for a held lock before giving up with an error.
        lease: seconds after which an S3 lock whose holder never released it may be taken over.
        poll: seconds between attempts while waiting.
        endpoint_url: S3 endpoint (MinIO, moto); None uses the environment / AWS.
    """
    owner = owner or default_owner()
    if uris.is_local(uri):
        with _local(uri, timeout, poll):
            yield
    else:
        with _s3(uri, owner, timeout, lease, poll, endpoint_url):
            yield


@contextmanager
def _local(uri: str, timeout: float, poll: float) -> Iterator[None]:
    path = uris.local_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with open(path, "a") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AirloopError(f"lock {path} is still held after {timeout:.0f}s") from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


@contextmanager
def _s3(uri: str, owner: str, timeout: float, lease: float, poll: float, endpoint_url: str | None) -> Iterator[None]:
    import boto3
    from botocore.exceptions import ClientError

    parsed = urlparse(uri)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    s3 = boto3.client("s3", endpoint_url=endpoint_url) if endpoint_url else boto3.client("s3")
    deadline = time.monotonic() + timeout
    while True:
        body = json.dumps({"owner": owner, "acquired": time.time(), "expires": time.time() + lease}).encode()
        try:
            with answering(uri, endpoint_url):
                etag = s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")["ETag"]
            break
        except ClientError as exc:
            if _code(exc) not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise AirloopError(f"cannot take lock {uri}: {exc}") from exc
        holder = _holder(s3, uri, endpoint_url)
        if holder and holder["expires"] < time.time():
            log.warning("lock %s held by %s expired %.0fs ago: taking it over", uri, holder["owner"], -holder["left"])
            try:
                with answering(uri, endpoint_url):
                    s3.delete_object(Bucket=bucket, Key=key, IfMatch=holder["etag"])
            except ClientError:
                pass  # someone else took it over first, or the holder released it: try again
            continue
        if time.monotonic() > deadline:
            who = holder["owner"] if holder else "unknown"
            raise AirloopError(f"lock {uri} is still held by {who} after {timeout:.0f}s")
        time.sleep(poll)
    try:
        yield
    finally:
        try:
            with answering(uri, endpoint_url):
                s3.delete_object(Bucket=bucket, Key=key, IfMatch=etag)
        except ClientError as exc:  # our lease ran out and another holder has it now: leave theirs alone
            log.warning("lock %s was no longer ours at release: %s", uri, exc)
        except ServiceUnavailable as exc:  # raising here would hide the body's outcome; the lease frees the lock
            log.warning("lock %s not released (taken over when its lease runs out): %s", uri, exc)


def _holder(s3, uri: str, endpoint_url: str | None) -> dict | None:
    """The lock object's owner, lease and ETag; None when it is gone (released meanwhile)."""
    from botocore.exceptions import ClientError

    parsed = urlparse(uri)
    try:
        with answering(uri, endpoint_url):
            obj = s3.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))
            raw = obj["Body"].read()
    except ClientError:
        return None  # an answer: the object is not there (released meanwhile)
    try:
        data = json.loads(raw)
        expires = float(data["expires"])
    except (ValueError, KeyError, TypeError):
        expires, data = 0.0, {"owner": "unreadable lock"}  # a corrupt lock object must not block forever
    return {"owner": data.get("owner"), "expires": expires, "left": expires - time.time(), "etag": obj["ETag"]}
