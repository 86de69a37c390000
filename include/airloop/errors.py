"""Errors a user can cause. The CLI and DAG glue turn these into one clear message, never a traceback."""

from __future__ import annotations


class AirloopError(Exception):
    """Base class: something the user can fix (a spec, a file, a call, a missing service)."""


class SpecError(AirloopError):
    """A pipeline spec is invalid; the message names the file and the field."""


class DataError(AirloopError):
    """An input file cannot be read as a table (missing, corrupt, wrong format)."""


class RegistryError(AirloopError):
    """A model or version asked for does not exist, or the registry refused a change."""


class ServiceUnavailable(AirloopError):
    """A service could not answer (connection refused, timeout, HTTP 5xx, authentication refused): its state is
    unknown, which is never the same as "not there". The message names the service and its URI, password masked.
    """

    def __init__(self, service: str, uri: str, reason: str) -> None:
        self.service = service
        self.uri = mask_credentials(uri)
        self.reason = _mask_password_of(uri, reason)
        super().__init__(f"{service} is unreachable at {self.uri}: {self.reason}")


def first_line(exc: BaseException, *, limit: int | None = None) -> str:
    """An error as one line (MLflow's, pyarrow's and botocore's messages run to a stack of lines), for one-line
    CLI errors and logs; cut to `limit` characters (ending in `...`) when given."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if limit is None or len(line) <= limit else line[: limit - 3] + "..."


def mask_credentials(uri: str) -> str:
    """`uri` with the password of its user-info replaced by `***` (`http://user:***@host`), for messages and logs."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.password is None:
        return uri
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _mask_password_of(uri: str, text: str) -> str:
    """`text` (an error message, which may quote the URI) without the password of `uri`."""
    from urllib.parse import urlsplit

    try:
        password = urlsplit(uri).password
    except ValueError:
        return text
    return text.replace(f":{password}@", ":***@") if password else text
