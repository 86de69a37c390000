"""Where things are, as URIs: `file:///abs/path` or `s3://bucket/prefix`.

Pure string and path logic with no I/O, so settings (which only say *where*) can name locations without pulling in
the storage layer that reads and writes them.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse


def to_uri(path_or_uri: str | Path) -> str:
    """`/a/b` or `a/b` → `file:///abs/a/b`; URIs pass through unchanged (trailing slash dropped)."""
    text = str(path_or_uri)
    if "://" in text:
        return text.rstrip("/")
    return Path(text).resolve().as_uri()


def join_uri(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts if p)])


def is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def local_path(uri: str) -> Path:
    """The filesystem path behind a `file://` URI (or a plain path)."""
    if "://" not in uri:
        return Path(uri)
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise ValueError(f"not a local URI: {uri}")
    return Path(unquote(parsed.path))  # to_uri percent-encodes (spaces, non-ASCII)
