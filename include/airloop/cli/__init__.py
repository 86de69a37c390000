"""The `airloop` command line. An edge: it reads the environment once, builds `Settings`, and calls the library.

User mistakes (bad spec, unreadable file, unknown model) end with one line on stderr and exit 2, an unreachable
service (MLflow down) with one line naming its URI and exit 4, a bug with one line and exit 70; a traceback only
with `--debug`. Every command exits with a code from `ExitCode`, the one table for the whole CLI.

The commands live by subject: `data` (generate, validate, drift, check, data pull), `models` (models, promote,
rollback, reproduce) and `dev` (stack, new, demo); `app` holds what they share. This module runs them.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import NoReturn

import typer

from airloop.cli import data, dev, models  # noqa: F401  (each registers its commands on the app)
from airloop.cli.app import ExitCode, app, debug_state
from airloop.errors import AirloopError, ServiceUnavailable

__all__ = ["ExitCode", "app", "main"]


def _is_click(exc: BaseException, name: str) -> bool:
    """True for click's `name` exception, whichever copy of click (click or typer's vendored one) raised it."""
    return any(k.__name__ == name and "click" in k.__module__ for k in type(exc).__mro__)


def _print_traceback(exc: BaseException) -> None:
    """The traceback (--debug), with passwords in URLs masked: MLflow's own messages quote the tracking URI."""
    import re

    text = "".join(traceback.format_exception(exc))
    typer.echo(re.sub(r"(://[^/\s:@]*:)[^@\s/]+@", r"\1***@", text), err=True, nl=False)  # user may be empty


def _internal(exc: BaseException) -> NoReturn:
    """A bug, not a user's mistake: one line (the traceback with --debug), exit 70."""
    if debug_state["on"]:
        _print_traceback(exc)
    text = str(exc).strip()
    what = f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
    hint = "" if debug_state["on"] else "; run with --debug for the traceback"
    typer.echo(f"airloop: internal error: {what}{hint}", err=True)
    sys.exit(ExitCode.INTERNAL)


def main() -> None:
    """Run a command and map how it ended onto `ExitCode`: no traceback unless --debug."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    debug_state["on"] = False
    # A person is waiting: an MLflow that is down answers exit 4 in seconds, not after MLflow's default ~4 minutes
    # of retries (the environment still decides; Airflow tasks keep MLflow's defaults and retry on top).
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # each retry's warning; the outcome is ours
    try:
        rc = app(standalone_mode=False)
    except ServiceUnavailable as exc:
        if debug_state["on"]:  # the service's own error, as it came back (retries, status, body)
            _print_traceback(exc)
        typer.echo(f"airloop: {exc}", err=True)
        sys.exit(ExitCode.UNREACHABLE)
    except AirloopError as exc:
        typer.echo(f"airloop: {exc}", err=True)
        sys.exit(ExitCode.ERROR)
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as exc:  # usage errors: typer raises its own vendored copies of click's exceptions
        if _is_click(exc, "ClickException"):
            exc.show()  # type: ignore[attr-defined]  # click's ClickException, known by name (vendored copies)
            sys.exit(ExitCode.ERROR)
        if _is_click(exc, "Abort"):
            sys.exit(ExitCode.INTERRUPTED)
        _internal(exc)
    sys.exit(rc if isinstance(rc, int) else ExitCode.OK)
