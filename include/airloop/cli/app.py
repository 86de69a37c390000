"""The `airloop` application: its sub-apps, the one exit-code table, and what every command shares.

Commands live by subject in `data`, `models` and `dev`; each registers itself on `app` (or a sub-app) when
`airloop.cli` imports it. Settings are built once per call from the environment, never at import.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer


def _flags_without_a_type() -> None:
    """No `<bool>` beside flags in any command's help.

    typer (0.29) draws its rich help with a type column and fills it for every option, flags included
    (`--debug <bool>`, even `--help <bool>`), though a flag takes no value; its plain help already leaves flags
    bare. The one place that draws the column, `TyperOption.display_type_rich`, answers None for a flag here
    (None is typer's own "no type to show"); options that take a value keep their type.
    """
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "airloop_flags_bare", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag and not self.count else shown(self, ctx)

    display_type_rich.airloop_flags_bare = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_without_a_type()
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="airloop: the closed MLOps loop on Airflow, MLflow and DVC.",
)
data_app = typer.Typer(no_args_is_help=True, help="Versioned datasets (DVC).")
stack_app = typer.Typer(
    no_args_is_help=True, help="Local stacks: embedded (standalone + MLflow) or --native (the production topology)."
)
app.add_typer(data_app, name="data")
app.add_typer(stack_app, name="stack")


class ExitCode(IntEnum):
    """The exit codes of every `airloop` command; scripts and CI may rely on them."""

    OK = 0  # done: valid data, an identical rebuild, no drift (or drift without --fail-on-drift)
    NO = 1  # the command's question answered no: invalid data, a rebuild that differs, a check that failed
    ERROR = 2  # an unusable call: bad spec or argument, unreadable file, unknown model or version
    DRIFT = 3  # `drift --fail-on-drift` found dataset drift
    UNREACHABLE = 4  # a service could not be reached (MLflow down, timeout, HTTP 5xx, login refused): state unknown
    INTERNAL = 70  # an internal error (a bug): one line, the traceback with --debug
    INTERRUPTED = 130  # Ctrl-C


def exit_code_table() -> str:
    """The exit codes as `airloop --help` lists them (the same lines are in the README's CLI section)."""
    meaning = {
        ExitCode.OK: "ok",
        ExitCode.NO: "a negative result it exists to report (invalid, differs, failed)",
        ExitCode.ERROR: "bad call or bad input (unknown spec, model or version; unreadable file)",
        ExitCode.DRIFT: "drift found with --fail-on-drift",
        ExitCode.UNREACHABLE: "a service unreachable (the message names its URI, credentials masked)",
        ExitCode.INTERNAL: "an internal error (one line; --debug shows the traceback)",
        ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
    }
    return "\n".join(f"{int(code):>4}  {text}" for code, text in meaning.items())


app.info.help = f"{app.info.help}\n\nExit codes:\n{exit_code_table()}"
debug_state = {"on": False}  # set by --debug: main() then prints the traceback of an internal error


class Fmt(StrEnum):
    table = "table"
    json = "json"


FormatOption = Annotated[Fmt, typer.Option("--format", help="table for people, json for scripts")]


class Drift(StrEnum):
    none = "none"
    covariate = "covariate"
    concept = "concept"


def project_root() -> Path:
    """The checkout this package lives in (editable install), else the working directory."""
    here = Path(__file__).resolve().parents[3]
    return here if (here / "include" / "pipelines").is_dir() else Path.cwd()


def settings():
    from airloop.dev.localstack import stack_env
    from airloop.settings import Settings

    root = project_root()
    env = {**stack_env(root / ".run"), **os.environ}  # a running local stack, overridden by the real env
    return Settings.from_mapping(env, base=root)


def path_arg(path: Path) -> str:
    """An existing file as an absolute path; anything else as typed, so the error message shows what was given."""
    return str(path.resolve()) if path.exists() else str(path)


def fail(message: str, code: int = ExitCode.ERROR) -> NoReturn:
    typer.echo(f"airloop: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def progress(*loggers: str) -> Iterator[Callable[[str], None]]:
    """The stages of a long command, one short line each on stderr, for a person watching (stderr a terminal).

    Yields a function that says a stage; the library's own stage messages (INFO on `loggers`) are shown the same
    way. Off a terminal nothing is added: a script's stdout stays the result (`--format json` parses) and its
    stderr the one error line, if any.
    """
    if not sys.stderr.isatty():
        yield lambda _message: None
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("airloop: %(message)s"))
    saved = [(logger, logger.level, logger.propagate) for logger in map(logging.getLogger, loggers)]
    for logger, _, _ in saved:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # not twice (the root handler of `main`)
    try:
        yield lambda message: typer.echo(f"airloop: {message}", err=True)
    finally:
        for logger, level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate


def emit(format: Fmt, payload: Any, text: str) -> None:
    """A command's result: the JSON shape scripts parse, or the text a person reads."""
    typer.echo(json.dumps(payload, indent=2, default=str) if format == Fmt.json else text)


def _version(value: bool) -> None:
    if value:
        import airloop

        typer.echo(f"airloop {airloop.__version__}")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_version, help="print the version and exit")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show the traceback of an internal error")] = False,
) -> None:
    """Options that come before the command."""
    debug_state["on"] = debug


def spec_named(name: str):
    from airloop.catalog import find_spec

    return find_spec(name, settings().specs_dir)


def actor() -> str:
    return f"cli:{os.environ.get('USER') or os.environ.get('LOGNAME') or 'unknown'}"
