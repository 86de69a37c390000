"""Reading MLflow's errors: "not there" (a definite answer) apart from "cannot reach" (no answer at all).

MLflow raises `MlflowException` for both: a missing model is `RESOURCE_DOES_NOT_EXIST` (a missing alias
`INVALID_PARAMETER_VALUE`), while a refused connection, a timeout, an HTTP 5xx and a refused login arrive as
`INTERNAL_ERROR`, `TEMPORARILY_UNAVAILABLE`, `UNAUTHENTICATED`… and a local store that cannot be opened as an
`OSError`. Reading the second kind as the first told operators "the model is gone" and training "already trained"
when MLflow was merely down. Every `Registry` read that has a "not there" answer asks `check_reachable` first;
writes (alias moves, tags, logging) and loads run inside `answering`, so MLflow going down mid-way is also
`ServiceUnavailable` (the CLI's exit 4), never MLflow's own exception read as a bug (exit 70).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from airloop.errors import ServiceUnavailable, first_line

SERVICE = "the model registry (MLflow)"
NOT_THERE = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE"})
UNREACHABLE = frozenset(
    {
        "INTERNAL_ERROR",  # MLflow's code for a failed connection as well as for an HTTP 500
        "TEMPORARILY_UNAVAILABLE",
        "DEADLINE_EXCEEDED",
        "ENDPOINT_NOT_FOUND",  # a 404 without MLflow's JSON: the URI is not an MLflow server
        "UNAUTHENTICATED",
        "CUSTOMER_UNAUTHORIZED",
        "PERMISSION_DENIED",
        "REQUEST_LIMIT_EXCEEDED",
        "RESOURCE_EXHAUSTED",
        "IO_ERROR",
        "DATA_LOSS",
    }
)


def is_missing(exc: BaseException) -> bool:
    """MLflow answered that the model, version, alias or run does not exist."""
    return getattr(exc, "error_code", None) in NOT_THERE


def is_unreachable(exc: BaseException) -> bool:
    """MLflow gave no answer (connection, timeout, 5xx, authentication, a store that cannot be opened)."""
    if isinstance(exc, ServiceUnavailable):
        return True
    code = getattr(exc, "error_code", None)
    if code is not None:
        return code in UNREACHABLE
    if isinstance(exc, OSError):  # requests' errors are OSErrors too
        return True
    return any(k.__name__ == "OperationalError" and k.__module__.startswith("sqlalchemy") for k in type(exc).__mro__)


def check_reachable(exc: BaseException, uri: str) -> None:
    """Raise `ServiceUnavailable` (naming `uri`, password masked) when `exc` means MLflow could not answer."""
    if isinstance(exc, ServiceUnavailable):
        raise exc
    if is_unreachable(exc):
        raise ServiceUnavailable(SERVICE, uri, reason(exc)) from exc


@contextmanager
def answering(uri: str) -> Iterator[None]:
    """Around MLflow calls with no "not there" reading (writes, loads): no answer from `uri` is `ServiceUnavailable`;
    any other error passes unchanged."""
    try:
        yield
    except Exception as exc:
        check_reachable(exc, uri)
        raise


def reason(exc: BaseException) -> str:
    """Why MLflow could not answer, in a few words (its own messages run to a wrapped urllib3 traceback)."""
    text = str(exc)
    status = re.search(r"too many (\d{3}) error responses|error code (\d{3})", text)
    if status:
        return f"HTTP {status.group(1) or status.group(2)}"
    if "Connection refused" in text or "NewConnectionError" in text:
        return "connection refused"
    if "timed out" in text.lower() or "timeout" in text.lower():
        return "timed out"
    code = getattr(exc, "error_code", None)
    if code in ("UNAUTHENTICATED", "CUSTOMER_UNAUTHORIZED", "PERMISSION_DENIED"):
        return f"authentication refused ({code})"
    return first_line(exc, limit=200)
