"""One storage abstraction for every location airloop touches: `file://` and `s3://` (or any fsspec URL).

Code above this module passes URIs around (that is also what goes through XCom), never open files or frames.
Local paths get atomic writes (write to a temp name, then rename) so a crash never leaves half a file behind.
S3 is reached only through fsspec/s3fs with an endpoint URL, so MinIO and AWS work unchanged.

On `s3://` a missing key is still `FileNotFoundError` (or an empty listing, `exists` False), while an object store
that gives no answer (connection refused, timeout, HTTP 5xx, credentials missing or refused) raises
`ServiceUnavailable` naming the endpoint: "cannot reach" is never read as "not there".
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from airloop.errors import ServiceUnavailable
from airloop.uris import is_local, local_path, to_uri


@dataclass(frozen=True)
class FileInfo:
    uri: str
    name: str
    size: int
    mtime: float


def _fs(uri: str, options: dict[str, Any] | None = None, *, fresh: bool = False):
    """The fsspec filesystem and path for a remote URI.

    fsspec reuses one filesystem instance per set of options, and s3fs caches directory listings and file
    details in it for the life of the process. `fresh=True` drops what is cached for `uri` (and its parents), so
    a long-lived process (the triggerer polling a landing zone, a worker) sees what *other* processes wrote since.
    """
    import fsspec  # late: only remote locations need it

    fs, path = fsspec.core.url_to_fs(uri, **(options or {}))
    if fresh:
        fs.invalidate_cache(path)
    return fs, path


def _s3_endpoint(options: dict[str, Any] | None) -> str:
    """The S3 endpoint the call went to: the options' own, else the environment's, else AWS."""
    opts = options or {}
    return (
        opts.get("endpoint_url")
        or (opts.get("client_kwargs") or {}).get("endpoint_url")
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or "https://s3.amazonaws.com"
    )


def unreachable_reason(exc: BaseException) -> str | None:
    """Why an object store gave no answer, in a few words; None when `exc` is an answer (a missing key, say).

    s3fs re-raises botocore's errors as OSErrors (`PermissionError` for a 403) with the original as the cause, so
    the cause chain is read too.
    """
    if isinstance(exc, FileNotFoundError):
        return None
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 5:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    for e in seen:
        names = {k.__name__ for k in type(e).__mro__}
        if names & {"NoCredentialsError", "PartialCredentialsError"}:
            return "no credentials"
        if names & {"ConnectTimeoutError", "ReadTimeoutError", "FSTimeoutError", "TimeoutError"}:
            return "timed out"
        if names & {"EndpointConnectionError", "ConnectionError", "HTTPClientError"} and "BotoCoreError" in names:
            return "connection refused" if "EndpointConnectionError" in names else f"connection failed ({e})"
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
            code = (response.get("Error") or {}).get("Code") or str(status)
            if status >= 500:
                return f"HTTP {status}"
            if status in (401, 403):
                return f"authentication refused ({code})"
    return None


@contextmanager
def answering(uri: str, endpoint: str | None = None) -> Iterator[None]:
    """Around a call to a remote store: "cannot reach" on `s3://` becomes `ServiceUnavailable` naming `endpoint`
    (None: the environment's, else AWS); every answer (a missing key, a failed precondition) passes unchanged.

    For any S3 client, not only this module's fsspec calls: the S3 lock wraps its boto3 calls in it.
    """
    try:
        yield
    except Exception as exc:
        why = unreachable_reason(exc) if uri.startswith(("s3://", "s3a://")) else None
        if why is None:
            raise
        raise ServiceUnavailable("S3", endpoint or _s3_endpoint(None), f"{why} (for {uri})") from exc


def _answering(uri: str, options: dict[str, Any] | None):
    """`answering` for this module's calls, naming the endpoint their fsspec options reach."""
    return answering(uri, _s3_endpoint(options))


def list_files(uri: str, pattern: str = "*", options: dict[str, Any] | None = None) -> list[FileInfo]:
    """Files directly under `uri` matching a glob `pattern`, sorted by name; a missing directory is empty.

    Hidden and temporary files (leading `.` or `_`) are skipped: writers use them for uploads in progress.
    """
    out: list[FileInfo] = []
    if is_local(uri):
        root = local_path(uri)
        try:
            entries = list(os.scandir(root))
        except FileNotFoundError:
            return []
        for e in entries:
            if e.name[0] in "._" or not e.is_file() or not fnmatch.fnmatch(e.name, pattern):
                continue
            st = e.stat()
            out.append(FileInfo(to_uri(e.path), e.name, st.st_size, st.st_mtime))
    else:
        fs, path = _fs(uri, options, fresh=True)
        scheme = uri.split("://", 1)[0]
        try:
            with _answering(uri, options):
                infos = fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        for info in infos:
            name = info["name"].rstrip("/").rsplit("/", 1)[-1]
            if info.get("type") != "file" or name[0] in "._" or not fnmatch.fnmatch(name, pattern):
                continue
            mtime = info.get("LastModified") or info.get("mtime") or 0
            mtime = mtime.timestamp() if hasattr(mtime, "timestamp") else float(mtime)
            out.append(FileInfo(f"{scheme}://{info['name']}", name, int(info.get("size") or 0), mtime))
    return sorted(out, key=lambda f: f.name)


def exists(uri: str, options: dict[str, Any] | None = None) -> bool:
    if is_local(uri):
        return local_path(uri).exists()
    fs, path = _fs(uri, options, fresh=True)
    with _answering(uri, options):
        return fs.exists(path)


def read_bytes(uri: str, options: dict[str, Any] | None = None) -> bytes:
    if is_local(uri):
        return local_path(uri).read_bytes()
    fs, path = _fs(uri, options, fresh=True)
    with _answering(uri, options):
        return fs.cat_file(path)


def sha256(uri: str, options: dict[str, Any] | None = None) -> str:
    """Content hash of a file: the identity of a batch, whatever its name."""
    h = hashlib.sha256()
    if is_local(uri):
        with open(local_path(uri), "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    else:
        fs, path = _fs(uri, options, fresh=True)  # a stale size/ETag would fail the read of a replaced object
        with _answering(uri, options), fs.open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def write_bytes(uri: str, data: bytes, options: dict[str, Any] | None = None) -> str:
    """Write a whole file atomically (local) or in one PUT (object stores). Returns the URI."""
    if is_local(uri):
        path = local_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")  # not mkstemp: keep the umask's mode
        try:
            with open(tmp, "xb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    else:
        fs, path = _fs(uri, options)
        with _answering(uri, options):
            fs.pipe_file(path, data)
    return uri


def write_parquet(df, uri: str, options: dict[str, Any] | None = None, **parquet: Any) -> str:
    """Write a DataFrame as Parquet atomically (same guarantees as `write_bytes`).

    Extra keyword arguments go to the Parquet writer (e.g. `use_dictionary=False` for numeric feature tables,
    where dictionary encoding costs half the write time and saves nothing).
    """
    if is_local(uri):
        path = local_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
        try:
            df.to_parquet(tmp, index=False, **parquet)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return uri
    import io

    buf = io.BytesIO()
    df.to_parquet(buf, index=False, **parquet)
    return write_bytes(uri, buf.getvalue(), options)


def read_parquet(uri: str, columns: list[str] | None = None, options: dict[str, Any] | None = None):
    import pandas as pd

    if is_local(uri):
        return pd.read_parquet(local_path(uri), columns=columns)
    fs, path = _fs(uri, options, fresh=True)
    with _answering(uri, options):
        return pd.read_parquet(path, columns=columns, filesystem=fs)


def copy(src: str, dst: str, options: dict[str, Any] | None = None) -> str:
    """Copy a file (used to quarantine raw batches: the original is never moved or changed)."""
    return write_bytes(dst, read_bytes(src, options), options)
