"""The `airloop` command line. An edge: it reads the environment once, builds `Settings`, and calls the library.

User mistakes (bad spec, unreadable file, unknown model) end with one line on stderr and exit 2, never a
traceback. Every command exits with a code from `ExitCode`, the one table for the whole CLI.
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

from airloop.errors import AirloopError
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
    ERROR = 2  # an unusable call: bad spec or argument, unreadable file, unknown model, a service that is down
    DRIFT = 3  # `drift --fail-on-drift` found dataset drift
    INTERRUPTED = 130  # Ctrl-C


class Fmt(StrEnum):
    table = "table"
    json = "json"


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
) -> None:
    """Check a batch against a pipeline's schema. Exit 0 valid, 1 invalid (JSON report on stdout), 2 error.

    An invalid batch also gets one line on stderr naming what failed and what the feature DAG will do with it
    (quarantine the bad rows, or reject the whole batch), so a person need not read the JSON to know.
    """
    from airloop.data.validation import read_table, rejection_reason, validate_frame

    spec = _spec(pipeline)
    df = read_table(_uri(file))
    report = validate_frame(df, spec, require_label=require_label).report
    typer.echo(json.dumps(report.to_dict(), indent=2, default=str))
    if not report.valid:
        rejected = rejection_reason(report, spec.schema_.max_invalid_share)
        verdict = (
            f"the feature DAG would reject the whole batch: {rejected}"
            if rejected
            else f"the feature DAG would quarantine these rows and curate the rest: {report.summary()}"
        )
        typer.echo(f"airloop: {file}: invalid, {verdict}", err=True)
    raise typer.Exit(ExitCode.OK if report.valid else ExitCode.NO)


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
    format: Annotated[Fmt, typer.Option("--format")] = Fmt.json,
    fail_on_drift: Annotated[bool, typer.Option("--fail-on-drift", help="exit 3 when drift is detected")] = False,
) -> None:
    """Compare two tables column by column; exit 0 (3 with --fail-on-drift and drift), 2 on a bad call or file."""
    from airloop.data.validation import read_table
    from airloop.monitor.drift import ParquetColumns, check_method, compare, drift_for_spec

    if method is not None:
        method = method.lower()
        check_method(method)  # unknown: one line naming the registry's statistics, exit 2

    def source(path: Path):
        # Parquet is compared a column at a time (memory: one column per side); CSV has to be read whole.
        if path.suffix.lower() == ".csv":
            return read_table(_uri(path))
        if path.is_dir():
            fail(f"{path}: is a directory, not a file")
        return ParquetColumns(path)

    ref, cur = source(reference), source(current)
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
    else:
        share = 0.5 if drift_share is None else drift_share
        report = compare(ref, cur, columns=wanted, method=method or "auto", drift_share=share)
    if not report.features:
        fail("no column of a kind drift can be measured on (numeric or categorical) is shared by both files")
    typer.echo(json.dumps(report.to_dict(), indent=2) if format == Fmt.json else report.to_table())
    raise typer.Exit(ExitCode.DRIFT if fail_on_drift and report.drift_detected else ExitCode.OK)


@app.command()
def models(
    name: Annotated[str | None, typer.Argument(help="one pipeline (default: all)")] = None,
    format: Annotated[Fmt, typer.Option("--format")] = Fmt.table,
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
def promote(name: str, version: str) -> None:
    """Make VERSION the champion of NAME by hand (recorded as a manual promotion)."""
    from airloop.steps import promote as do_promote

    previous = do_promote(name, settings(), version, actor=_actor())
    if previous == version:
        typer.echo(f"{name}: v{version} is already champion")
    else:
        typer.echo(f"{name}: champion v{previous or '-'} → v{version}")


@app.command()
def rollback(name: str) -> None:
    """Move NAME's champion back to the version that was champion before it."""
    from airloop.steps import rollback as do_rollback

    old, new = do_rollback(name, settings(), actor=_actor())
    typer.echo(f"{name}: champion v{old} → v{new} (rolled back)")


@app.command()
def reproduce(
    name: Annotated[str, typer.Argument(help="the pipeline's registered model")],
    version: Annotated[str, typer.Argument(help="a version number, or an alias such as champion")],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE: rebuild with this booster parameter instead (repeatable)"),
    ] = None,
    format: Annotated[Fmt, typer.Option("--format")] = Fmt.table,
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
    typer.echo(json.dumps(report.to_dict(), indent=2, default=str) if format == Fmt.json else report.to_table())
    raise typer.Exit(ExitCode.OK if report.identical else ExitCode.NO)


def _actor() -> str:
    return f"cli:{os.environ.get('USER') or os.environ.get('LOGNAME') or 'unknown'}"


@data_app.command("pull")
def data_pull(
    ref: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME@VERSION, e.g. fraud_detection@champion")],
    out: Annotated[Path, typer.Option(help="directory to restore the training data into")],
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
    typer.echo(path)


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
    typer.echo(json.dumps(info, indent=2))


@stack_app.command("down")
def stack_down() -> None:
    """Stop what `stack up` (or `make demo`, or `make stack-up`) started."""
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
    pattern = "*.csv" if from_ is not None and from_.suffix.lower() == ".csv" else "*.parquet"
    landing = s.location(f"landing/{name}")
    typer.echo(scaffold.next_steps(plan, name, specs_dir=s.specs_dir, landing=landing, pattern=pattern))


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


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        rc = app(standalone_mode=False)
    except AirloopError as exc:
        typer.echo(f"airloop: {exc}", err=True)
        sys.exit(ExitCode.ERROR)
    except Exception as exc:  # usage errors: typer raises its own vendored copies of click's exceptions
        if _is_click(exc, "ClickException"):
            exc.show()  # type: ignore[attr-defined]  # click's ClickException, known by name (vendored copies)
            sys.exit(ExitCode.ERROR)
        if _is_click(exc, "Abort"):
            sys.exit(ExitCode.INTERRUPTED)
        raise
    sys.exit(rc if isinstance(rc, int) else ExitCode.OK)


if __name__ == "__main__":
    main()
