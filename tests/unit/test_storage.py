"""Local storage: URIs, atomic writes, listings that skip in-progress files, content hashes; and `s3://` that
cannot be reached (closed port, HTTP 500, 403) raising `ServiceUnavailable` rather than reading as "missing"."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from airloop import uris
from airloop.errors import ServiceUnavailable
from airloop.store import storage

pytestmark = pytest.mark.unit


def test_to_uri_of_an_absolute_path(tmp_path):
    assert uris.to_uri(tmp_path / "a" / "b.parquet") == f"file://{tmp_path}/a/b.parquet"


def test_to_uri_of_a_relative_path_resolves_against_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert uris.to_uri("data/x.parquet") == f"file://{tmp_path.resolve()}/data/x.parquet"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [("s3://bucket/prefix/", "s3://bucket/prefix"), ("file:///a/b", "file:///a/b"), ("gs://b/x//", "gs://b/x")],
)
def test_to_uri_passes_uris_through(uri, expected):
    assert uris.to_uri(uri) == expected


@pytest.mark.parametrize(
    ("base", "parts", "expected"),
    [
        ("file:///data", ("landing", "x.parquet"), "file:///data/landing/x.parquet"),
        ("file:///data/", ("/landing/", "/x.parquet"), "file:///data/landing/x.parquet"),
        ("s3://bucket/root", ("", "state", "p"), "s3://bucket/root/state/p"),
        ("s3://bucket", (), "s3://bucket"),
    ],
)
def test_join_uri(base, parts, expected):
    assert uris.join_uri(base, *parts) == expected


def test_local_path_round_trip(tmp_path):
    path = tmp_path / "dir" / "f.parquet"
    assert uris.local_path(uris.to_uri(path)) == path
    assert uris.local_path(str(path)) == path


@pytest.mark.parametrize("name", ["with space", "naïve"])
def test_local_path_round_trip_with_special_characters(tmp_path, name):
    path = tmp_path / name / "f.parquet"
    assert uris.local_path(uris.to_uri(path)) == path


def test_local_path_refuses_remote_uris():
    with pytest.raises(ValueError, match="not a local URI"):
        uris.local_path("s3://bucket/key")


@pytest.mark.parametrize(
    ("uri", "local"), [("/a/b", True), ("file:///a/b", True), ("s3://b/k", False), ("http://h/x", False)]
)
def test_is_local(uri, local):
    assert uris.is_local(uri) is local


# ---------------------------------------------------------------------------------------------------------- writes


def test_write_bytes_creates_parents_and_leaves_no_temp_files(tmp_path):
    uri = uris.to_uri(tmp_path / "deep" / "er" / "f.bin")
    assert storage.write_bytes(uri, b"one") == uri
    storage.write_bytes(uri, b"two")
    assert (tmp_path / "deep" / "er" / "f.bin").read_bytes() == b"two"
    assert os.listdir(tmp_path / "deep" / "er") == ["f.bin"]


def test_write_bytes_failure_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(storage.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        storage.write_bytes(uris.to_uri(target), b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_write_bytes_file_mode_follows_umask_like_write_parquet(tmp_path):
    storage.write_bytes(uris.to_uri(tmp_path / "a.bin"), b"x")
    storage.write_parquet(pd.DataFrame({"a": [1]}), uris.to_uri(tmp_path / "b.parquet"))
    mode = stat.S_IMODE((tmp_path / "a.bin").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "b.parquet").stat().st_mode)


def test_write_parquet_round_trip_and_no_temp_files(tmp_path):
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]})
    uri = uris.to_uri(tmp_path / "out" / "t.parquet")
    storage.write_parquet(df, uri)
    pd.testing.assert_frame_equal(storage.read_parquet(uri), df)
    pd.testing.assert_frame_equal(storage.read_parquet(uri, columns=["b"]), df[["b"]])
    assert os.listdir(tmp_path / "out") == ["t.parquet"]


def test_copy_leaves_the_source_untouched(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"raw batch")
    dst = storage.copy(uris.to_uri(src), uris.to_uri(tmp_path / "q" / "copy.bin"))
    assert storage.read_bytes(dst) == b"raw batch"
    assert src.read_bytes() == b"raw batch"


def test_exists(tmp_path):
    (tmp_path / "here").write_bytes(b"")
    assert storage.exists(uris.to_uri(tmp_path / "here"))
    assert not storage.exists(uris.to_uri(tmp_path / "gone"))


# ---------------------------------------------------------------------------------------------------------- listing


@pytest.fixture
def zone(tmp_path):
    for name, data in [("b.parquet", b"bb"), ("a.parquet", b"a"), ("c.csv", b"c"), (".hidden.parquet", b"h")]:
        (tmp_path / name).write_bytes(data)
    (tmp_path / "_upload.parquet").write_bytes(b"u")
    (tmp_path / "sub.parquet").mkdir()
    return tmp_path


def test_list_files_skips_hidden_underscore_and_directories(zone):
    assert [f.name for f in storage.list_files(uris.to_uri(zone))] == ["a.parquet", "b.parquet", "c.csv"]


def test_list_files_filters_by_pattern(zone):
    files = storage.list_files(uris.to_uri(zone), "*.parquet")
    assert [f.name for f in files] == ["a.parquet", "b.parquet"]
    assert [f.size for f in files] == [1, 2]
    assert files[1].uri == uris.to_uri(zone / "b.parquet")
    assert files[1].mtime == pytest.approx((zone / "b.parquet").stat().st_mtime)


def test_list_files_of_a_missing_directory_is_empty(tmp_path):
    assert storage.list_files(uris.to_uri(tmp_path / "nope"), "*.parquet") == []


# ------------------------------------------------------------------------------------------------------------ hashes


def test_sha256_is_the_content_hash(tmp_path):
    data = os.urandom(3 << 20)  # more than one read chunk
    (tmp_path / "one.bin").write_bytes(data)
    (tmp_path / "two.bin").write_bytes(data)
    (tmp_path / "three.bin").write_bytes(data[:-1] + b"\x00" if data[-1] else data[:-1] + b"\x01")
    one = storage.sha256(uris.to_uri(tmp_path / "one.bin"))
    assert one == hashlib.sha256(data).hexdigest()
    assert storage.sha256(uris.to_uri(tmp_path / "two.bin")) == one
    assert storage.sha256(uris.to_uri(tmp_path / "three.bin")) != one


# ------------------------------------------------------------------ s3:// that cannot be reached is not "missing"


class _Answers(BaseHTTPRequestHandler):
    """An S3 endpoint that answers every request with one status and an S3-style XML error."""

    status = 500
    code = b"InternalError"

    def _answer(self) -> None:
        body = b'<?xml version="1.0"?><Error><Code>' + self.code + b"</Code><Message>no</Message></Error>"
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_HEAD = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


class _Answers403(_Answers):
    status = 403
    code = b"AccessDenied"


def _closed_port_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture(params=["closed-port", "http-500", "http-403"])
def unreachable(request) -> Iterator[tuple[str, str]]:
    """(endpoint, expected reason) of an S3 endpoint that gives no usable answer; one attempt, no retries."""
    if request.param == "closed-port":
        yield _closed_port_endpoint(), "connection refused"
        return
    handler, why = (_Answers, "HTTP 500") if request.param == "http-500" else (_Answers403, "authentication refused")
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", why
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _s3_options(endpoint: str) -> dict:
    """s3fs options for `endpoint` (one filesystem per endpoint: fsspec caches them by options), unsigned: the
    answer, not the credentials, is under test."""
    return {
        "anon": True,
        "client_kwargs": {"endpoint_url": endpoint},
        "config_kwargs": {"retries": {"max_attempts": 1, "mode": "standard"}},
    }


@pytest.mark.parametrize(
    "call",
    [
        lambda uri, o: storage.exists(uri, o),
        lambda uri, o: storage.read_bytes(uri, o),
        lambda uri, o: storage.sha256(uri, o),
        lambda uri, o: storage.list_files(uri.rsplit("/", 1)[0] + "/", "*", o),
        lambda uri, o: storage.write_bytes(uri, b"x", o),
        lambda uri, o: storage.read_parquet(uri, None, o),
    ],
    ids=["exists", "read_bytes", "sha256", "list_files", "write_bytes", "read_parquet"],
)
def test_an_unreachable_s3_raises_service_unavailable_naming_the_endpoint(call, unreachable):
    endpoint, why = unreachable
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as caught:
        call("s3://bucket/zone/batch.parquet", _s3_options(endpoint))
    assert caught.value.service == "S3"
    assert caught.value.uri == endpoint
    assert why in caught.value.reason and "s3://bucket/zone" in caught.value.reason
    assert time.monotonic() - started < 30


def test_unreachable_reason_reads_the_cause_and_leaves_answers_alone():
    from botocore.exceptions import ClientError, EndpointConnectionError

    def raised_from(cause: BaseException, exc: BaseException) -> BaseException:
        exc.__cause__ = cause
        return exc

    def client_error(status: int, code: str) -> ClientError:
        response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return ClientError(response, "GetObject")  # type: ignore[arg-type]

    refused = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    assert storage.unreachable_reason(raised_from(refused, OSError("wrapped"))) == "connection refused"
    assert storage.unreachable_reason(raised_from(client_error(503, "SlowDown"), OSError(5, "x"))) == "HTTP 503"
    assert storage.unreachable_reason(client_error(403, "InvalidAccessKeyId")) == (
        "authentication refused (InvalidAccessKeyId)"
    )
    # Answers: a missing key or bucket, a bad request.
    assert storage.unreachable_reason(raised_from(client_error(404, "NoSuchKey"), FileNotFoundError("k"))) is None
    assert storage.unreachable_reason(client_error(400, "InvalidRequest")) is None
    assert storage.unreachable_reason(ValueError("not a store error")) is None


def test_a_missing_local_file_is_still_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(uris.to_uri(tmp_path / "missing.bin"))
    assert not storage.exists(uris.to_uri(tmp_path / "missing.bin"))
