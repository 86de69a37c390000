"""The `airloop` command line. An edge: it reads the environment once, builds `Settings`, and calls the library.

User mistakes (bad spec, unreadable file, unknown model) end with one line on stderr and exit 2, an unreachable
service (MLflow down) with one line naming its URI and exit 4, a bug with one line and exit 70; a traceback only
with `--debug`. Every command exits with a code from `ExitCode`, the one table for the whole CLI.

Long because every command's options live here, each with its `--format table|json` report (until `cli` is split).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from airloop.errors import AirloopError, ServiceUnavailable
from airloop.metrics import TASKS

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
_debug = {"on": False}  # set by --debug: main() then prints the traceback of an internal error


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
    here = Path(__file__).resolve().parents[2]
    return here if (here / "include" / "pipelines").is_dir() else Path.cwd()


def settings():
    from airloop.dev.localstack import stack_env
    from airloop.settings import Settings

    root = project_root()
    env = {**stack_env(root / ".run"), **os.environ}  # a running local stack, overridden by the real env
    return Settings.from_mapping(env, base=root)


def _uri(path: Path) -> str:
    """An existing file as an absolute path; anything else as typed, so the error message shows what was given."""
    return str(path.resolve()) if path.exists() else str(path)


def fail(message: str, code: int = ExitCode.ERROR) -> NoReturn:
    typer.echo(f"airloop: {message}", err=True)
    raise typer.Exit(code)


def _report(format: Fmt, payload: Any, text: str) -> None:
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
    _debug["on"] = debug


def _spec(name: str):
    from airloop.catalog import find_spec

    return find_spec(name, settings().specs_dir)


@app.command()
def generate(
    pipeline: Annotated[str, typer.Option(help="pipeline whose generator to use")],
    out: Annotated[Path, typer.Option(help="directory to write the Parquet batch into")],
    rows: Annotated[int, typer.Option(min=1)] = 10_000,
    seed: Annotated[int, typer.Option()] = 0,
    drift: Annotated[Drift, typer.Option(case_sensitive=False)] = Drift.none,
    labels: Annotated[bool, typer.Option("--labels", help="include the label column")] = False,
    start: Annotated[str | None, typer.Option(help="first timestamp (default: derived from the seed)")] = None,
) -> None:
    """Write a realistic synthetic batch (deterministic per seed) as Parquet."""
    from airloop import uris
    from airloop.data.datagen import generate as gen
    from airloop.store import storage

    spec = _spec(pipeline)
    if not spec.generator:
        fail(f"pipeline '{pipeline}' declares no generator")
    df = gen(spec.generator, rows=rows, seed=seed, drift=drift.value, labels=labels, start=start)
    name = f"{pipeline}-s{seed}-{drift.value}{'-labelled' if labels else ''}-{rows}.parquet"
    uri = storage.write_parquet(df, uris.to_uri(out / name))
    typer.echo(uris.local_path(uri))


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="a Parquet or CSV batch; it is only read")],
    pipeline: Annotated[str, typer.Option(help="pipeline whose schema to check against")],
    require_label: Annotated[bool, typer.Option("--require-label", help="the label must be present")] = False,
    format: FormatOption = Fmt.json,
) -> None:
    """Check a batch against a pipeline's schema. Exit 0 valid, 1 invalid (the report on stdout), 2 error.

    The report is JSON by default (scripts and CI parse it); `--format table` prints one line per failure.

    An invalid batch also gets one line on stderr naming what failed and what the feature DAG will do with it
    (quarantine the bad rows, or reject the whole batch), so a person need not read the JSON to know.
    """
    from airloop.data.validation import read_table, rejection_reason, validate_frame

    spec = _spec(pipeline)
    df = read_table(_uri(file))
    report = validate_frame(df, spec, require_label=require_label).report
    failures = [f"  {f.column or '(frame)'}: {f.check} ({f.count} rows)" for f in report.failures]
    _report(format, report.to_dict(), "\n".join([f"{file}: {report.summary()}", *failures]))
    if not report.valid:
        rejected = rejection_reason(report, spec.schema_.max_invalid_share)
        verdict = (
            f"the feature DAG would reject the whole batch: {rejected}"
            if rejected
            else f"the feature DAG would quarantine these rows and curate the rest: {report.summary()}"
        )
        typer.echo(f"airloop: {file}: invalid, {verdict}", err=True)
    raise typer.Exit(ExitCode.OK if report.valid else ExitCode.NO)


def _drift_source(path: Path):
    """Parquet is compared a column at a time (memory: one column per side); CSV has to be read whole."""
    from airloop.data.validation import read_table
    from airloop.monitor.drift import ParquetColumns

    if path.suffix.lower() == ".csv":
        return read_table(_uri(path))
    if path.is_dir():
        fail(f"{path}: is a directory, not a file")
    return ParquetColumns(path)


@app.command()
def drift(
    reference: Annotated[Path, typer.Option(help="reference data (Parquet or CSV), e.g. the training data")],
    current: Annotated[Path, typer.Option(help="current data (Parquet or CSV), e.g. a new batch")],
    pipeline: Annotated[str | None, typer.Option(help="take column kinds and drift settings from this spec")] = None,
    method: Annotated[
        str | None,
        typer.Option(
            help="auto, or a statistic of the drift registry for every column (ks, psi, …) "
            "[default: the spec's drift.method, else auto]"
        ),
    ] = None,
    drift_share: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="share of drifted columns that means dataset drift")
    ] = None,
    columns: Annotated[
        str | None, typer.Option(help="comma-separated columns to compare (default: all shared)")
    ] = None,
    format: FormatOption = Fmt.json,
    fail_on_drift: Annotated[bool, typer.Option("--fail-on-drift", help="exit 3 when drift is detected")] = False,
) -> None:
    """Compare two tables column by column; exit 0 (3 with --fail-on-drift and drift), 2 on a bad call or file.

    JSON is the default output (scripts parse it). Without --pipeline or --columns, columns unique per row on both
    sides (ids) are skipped and named: in the JSON's `skipped_id_like`, and in a line under the table.
    """
    from airloop.monitor.drift import check_method, compare, drift_for_spec, id_like_columns

    if method is not None:
        method = method.lower()
        check_method(method)  # unknown: one line naming the registry's statistics, exit 2

    ref, cur = _drift_source(reference), _drift_source(current)
    wanted = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    if not wanted and not set(ref.columns) & set(cur.columns):
        fail(f"{reference} and {current} share no column")
    if pipeline:
        spec = _spec(pipeline)
        overrides: dict[str, Any] = {"method": method} if method is not None else {}  # else the spec's method
        if drift_share is not None:
            overrides["drift_share"] = drift_share
        if wanted:
            overrides["columns"] = wanted
        spec = spec.model_copy(update={"drift": spec.drift.model_copy(update=overrides)})
        report = drift_for_spec(spec, ref, cur)
        payload, note = report.to_dict(), ""
    else:  # no spec to name the id column: one unique per row on both sides is an id, and left out (said below)
        share = 0.5 if drift_share is None else drift_share
        ids = [] if wanted else id_like_columns(ref, cur)
        report = compare(ref, cur, columns=wanted, method=method or "auto", drift_share=share, skip=ids)
        payload = {**report.to_dict(), "skipped_id_like": ids}
        note = f"\nskipped id-like columns (unique per row): {', '.join(ids)}" if ids else ""
    if not report.features:
        fail("no column of a kind drift can be measured on (numeric or categorical) is shared by both files")
    _report(format, payload, report.to_table() + note)
    raise typer.Exit(ExitCode.DRIFT if fail_on_drift and report.drift_detected else ExitCode.OK)


@app.command()
def models(
    name: Annotated[str | None, typer.Argument(help="one pipeline (default: all)")] = None,
    format: FormatOption = Fmt.table,
) -> None:
    """Champion, challenger and every version of each pipeline's model."""
    from airloop.catalog import load_specs
    from airloop.metrics import TASK_METRICS
    from airloop.model.registry import Registry

    s = settings()
    specs = {sp.name: sp for sp in load_specs(s.specs_dir)}
    names = [name] if name else list(specs)
    rows = Registry.from_settings(s).describe_models(names)
    if format == Fmt.json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for entry in rows:
        typer.echo(f"{entry['pipeline']}: champion={entry['champion'] or '-'} challenger={entry['challenger'] or '-'}")
        if not entry["versions"]:
            typer.echo("  (no versions yet)")
            continue
        spec = specs.get(entry["pipeline"])
        metrics = TASK_METRICS[spec.label.task if spec else "binary"]  # the pipeline's own task's metrics
        typer.echo(
            f"  {'ver':>4} {'aliases':<20} " + " ".join(f"{m:>8}" for m in metrics) + f" {'data_md5':<12} "
            f"{'trigger':<10} {'gate':<9} created"
        )
        for v in entry["versions"]:
            values = " ".join(f"{v['metrics'].get(m, float('nan')):>8.4f}" for m in metrics)
            typer.echo(
                f"  {v['version']:>4} {','.join(v['aliases']) or '-':<20} {values} {(v['data_md5'] or '-')[:12]:<12} "
                f"{v['trigger'] or '-':<10} {v['gate'] or '-':<9} {v['created']}"
            )


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="the pipeline's registered model")],
    version: Annotated[str, typer.Argument(help="the version number to make champion")],
    reason: Annotated[str | None, typer.Option(help="why; recorded in the champion history with who did it")] = None,
    format: FormatOption = Fmt.table,
) -> None:
    """Make VERSION the champion of NAME by hand (recorded as a manual promotion, with --reason)."""
    from airloop.steps import promote as do_promote

    previous = do_promote(name, settings(), version, actor=_actor(), reason=reason)
    moved = previous != version
    text = f"{name}: champion v{previous or '-'} → v{version}" if moved else f"{name}: v{version} is already champion"
    payload = {"pipeline": name, "champion": version, "previous": previous, "moved": moved, "reason": reason}
    _report(format, payload, text)


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="the pipeline's registered model")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask (needed when stdin is not a terminal)")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would move; move nothing")] = False,
    format: FormatOption = Fmt.table,
) -> None:
    """Move NAME's champion back to the version that was champion before it (asks first on a terminal)."""
    from airloop.steps import rollback as do_rollback

    s = settings()
    old, new = do_rollback(name, s, actor=_actor(), dry_run=True)  # what would move; a mistake fails here
    if not dry_run and not yes:
        if not sys.stdin.isatty():
            fail(f"{name}: would move champion v{old} → v{new}; not a terminal, so pass --yes (or --dry-run)")
        if not typer.confirm(f"{name}: move champion v{old} → v{new}?", default=False):
            fail("nothing moved", ExitCode.NO)
    if not dry_run:
        old, new = do_rollback(name, s, actor=_actor())
    payload = {"pipeline": name, "previous": old, "champion": new, "dry_run": dry_run}
    done = "dry run: nothing moved" if dry_run else "rolled back"
    _report(format, payload, f"{name}: champion v{old} → v{new} ({done})")


@app.command()
def reproduce(
    name: Annotated[str, typer.Argument(help="the pipeline's registered model")],
    version: Annotated[str, typer.Argument(help="a version number, or an alias such as champion")],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE: rebuild with this booster parameter instead (repeatable)"),
    ] = None,
    format: FormatOption = Fmt.table,
) -> None:
    """Rebuild VERSION from its recorded data, spec and params; exit 0 identical, 1 different, 2 error."""
    import dvc  # noqa: F401  # sets its loggers' levels on import: before they are lowered below

    from airloop.model.reproduce import parse_overrides
    from airloop.model.reproduce import reproduce as rebuild

    # The report is the output: no MLflow download bars, no DVC chatter (its errors come back as one line).
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for noisy in ("dvc", "dvc_data", "dvc_objects"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    report = rebuild(name, version, settings(), overrides=parse_overrides(set_ or []))
    _report(format, report.to_dict(), report.to_table())
    raise typer.Exit(ExitCode.OK if report.identical else ExitCode.NO)


def _actor() -> str:
    return f"cli:{os.environ.get('USER') or os.environ.get('LOGNAME') or 'unknown'}"


@data_app.command("pull")
def data_pull(
    ref: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME@VERSION, e.g. fraud_detection@champion")],
    out: Annotated[Path, typer.Option(help="directory to restore the training data into")],
    format: FormatOption = Fmt.table,
) -> None:
    """Restore the exact bytes a model version was trained on (by the DVC md5 in its lineage)."""
    from airloop.model.registry import Registry
    from airloop.store.versioning import DataVersioner

    if "@" not in ref:
        fail(f"expected NAME@ALIAS or NAME@VERSION, got '{ref}'")
    name, which = ref.split("@", 1)
    s = settings()
    mv = Registry.from_settings(s).resolve(name, which)  # an unknown one: RegistryError, one line and exit 2
    md5 = (mv.tags or {}).get("data_md5")
    if not md5:
        fail(f"{name} v{mv.version} has no data_md5 lineage tag")
    path = DataVersioner.from_settings(s).restore(md5, out / f"{name}-v{mv.version}-{md5}.parquet")
    payload = {"pipeline": name, "version": str(mv.version), "data_md5": md5, "path": str(path)}
    _report(format, payload, str(path))


@stack_app.command("up")
def stack_up(
    native: Annotated[
        bool,
        typer.Option(
            "--native",
            help="the production topology without Docker: CeleryExecutor on PostgreSQL + Redis, separate Airflow "
            "components, MLflow on PostgreSQL with S3 artifacts, an S3-API server (AIRLOOP_POSTGRES_URL, "
            "AIRLOOP_REDIS_URL)",
        ),
    ] = False,
    format: FormatOption = Fmt.table,
) -> None:
    """Start the embedded stack (Airflow standalone + MLflow), or with --native the production topology."""
    from airloop.dev.localstack import LocalStack

    root = project_root()
    if native:
        from airloop.dev.nativestack import NativeStack

        stack: LocalStack = NativeStack(
            root,
            postgres_url=os.environ.get("AIRLOOP_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432",
            redis_url=os.environ.get("AIRLOOP_REDIS_URL") or "redis://127.0.0.1:6379/0",
        )
    else:
        stack = LocalStack(root)
    info = stack.up(progress=lambda m: typer.echo(m, err=True))
    _report(format, info, "\n".join(f"{key}: {value}" for key, value in info.items()))


@stack_app.command("down")
def stack_down() -> None:
    """Stop what `stack up` (or `make up`, `make demo`, `make stack-up`) started."""
    from airloop.dev.nativestack import stack_for

    for line in stack_for(project_root()).down():
        typer.echo(line)


# The label tasks `airloop new --task` offers: the spec's own list (`airloop.metrics.TASKS`).
Task = StrEnum("Task", {task: task for task in TASKS})  # type: ignore[misc]  # functional API from a tuple


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="the pipeline's name: names the spec file, its DAGs and its model")],
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="where the spec and its feature module go", show_default="AIRLOOP_SPECS_DIR"),
    ] = None,
    task: Annotated[Task, typer.Option(case_sensitive=False, help="what the label is")] = Task("binary"),
    from_: Annotated[
        Path | None, typer.Option("--from", help="a sample batch (Parquet or CSV) to infer the schema from")
    ] = None,
    label: Annotated[
        str | None,
        typer.Option(help="the label column", show_default="label, target, y, class or outcome; label without --from"),
    ] = None,
    time_column: Annotated[
        str | None,
        typer.Option(
            help="the timestamp column the split orders by",
            show_default="the only timestamp column; event_time without --from",
        ),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(help="the row id column (with --from)", show_default="a unique column named id or *_id"),
    ] = None,
    tests_dir: Annotated[Path, typer.Option(help="where the test of the feature module goes")] = Path("tests/unit"),
) -> None:
    """Start a pipeline: a spec (inferred from a sample with --from), a custom feature module and its test.

    Writes NAME.yaml and features_NAME.py into --dir and test_features_NAME.py into --tests-dir; refuses to
    overwrite any file (exit 2, nothing written).
    """
    from airloop.dev import scaffold

    sample = None
    if from_ is not None:
        from airloop.data.validation import read_table

        sample = read_table(_uri(from_))
    s = settings()
    target = directory if directory is not None else Path(s.specs_dir)
    plan = scaffold.plan(
        name,
        target,
        tests_dir,
        task=task.value,
        sample=sample,
        source=str(from_) if from_ is not None else None,
        label=label,
        time_column=time_column,
        id_column=id_column,
    )
    scaffold.write(plan)
    for warning in plan.warnings:
        typer.echo(f"airloop: warning: {warning}", err=True)
    pattern = "*.csv" if from_ is not None and from_.suffix.lower() == ".csv" else "*.parquet"
    landing = s.location(f"landing/{name}")
    typer.echo(scaffold.next_steps(plan, name, specs_dir=s.specs_dir, landing=landing, pattern=pattern))


@app.command()
def check(
    specs_dir: Annotated[
        Path | None, typer.Option("--specs-dir", help="folder of spec files (default: AIRLOOP_SPECS_DIR's)")
    ] = None,
    format: FormatOption = Fmt.table,
) -> None:
    """Load every pipeline spec as the DAG factory does, and import its custom feature modules.

    Exits 0 when every spec loads, 1 when any does not (each named with its file and a one-line error), 2 when the
    folder does not exist. Needs no running service: a CI step for a repository of specs.
    """
    from airloop.monitor.speccheck import load_checked

    directory = specs_dir if specs_dir is not None else Path(settings().specs_dir)
    if not directory.is_dir():
        fail(f"specs directory {directory} does not exist")
    result = load_checked(directory, import_features=True)
    valid = [{"name": spec.name, "file": str(path)} for path, spec in result.specs.items()]
    invalid = [{"file": str(path), "error": message} for path, message in result.errors.items()]
    lines = [f"ok       {v['file']}" for v in valid] + [f"invalid  {i['error']}" for i in invalid]
    summary = f"{len(valid) + len(invalid)} spec file(s) in {directory}: {len(valid)} valid, {len(invalid)} invalid"
    _report(format, {"specs_dir": str(directory), "valid": valid, "invalid": invalid}, "\n".join([*lines, summary]))
    raise typer.Exit(ExitCode.NO if invalid else ExitCode.OK)


@app.command()
def demo(
    rows: Annotated[int, typer.Option(min=2000, help="rows per generated batch")] = 40_000,
    timeout: Annotated[int, typer.Option(help="seconds to wait for each stage")] = 600,
) -> None:
    """Run the loop on the embedded stack: two labelled batches, a gate decision, a scored batch; then a summary."""
    from airloop.dev.demo import run_demo

    ok = run_demo(project_root(), rows=rows, timeout=timeout)
    raise typer.Exit(ExitCode.OK if ok else ExitCode.NO)


def _is_click(exc: BaseException, name: str) -> bool:
    """True for click's `name` exception, whichever copy of click (click or typer's vendored one) raised it."""
    return any(k.__name__ == name and "click" in k.__module__ for k in type(exc).__mro__)


def _print_traceback(exc: BaseException) -> None:
    """The traceback (--debug), with passwords in URLs masked: MLflow's own messages quote the tracking URI."""
    import re
    import traceback

    text = "".join(traceback.format_exception(exc))
    typer.echo(re.sub(r"(://[^/\s:@]+:)[^@\s/]+@", r"\1***@", text), err=True, nl=False)


def _internal(exc: BaseException) -> NoReturn:
    """A bug, not a user's mistake: one line (the traceback with --debug), exit 70."""
    if _debug["on"]:
        _print_traceback(exc)
    text = str(exc).strip()
    what = f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
    hint = "" if _debug["on"] else "; run with --debug for the traceback"
    typer.echo(f"airloop: internal error: {what}{hint}", err=True)
    sys.exit(ExitCode.INTERNAL)


def main() -> None:
    """Run a command and map how it ended onto `ExitCode`: no traceback unless --debug."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _debug["on"] = False
    # A person is waiting: an MLflow that is down answers exit 4 in seconds, not after MLflow's default ~4 minutes
    # of retries (the environment still decides; Airflow tasks keep MLflow's defaults and retry on top).
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # each retry's warning; the outcome is ours
    try:
        rc = app(standalone_mode=False)
    except ServiceUnavailable as exc:
        if _debug["on"]:  # the service's own error, as it came back (retries, status, body)
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


if __name__ == "__main__":
    main()
