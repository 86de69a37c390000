"""Developer commands: the local stacks, the demo loop, and `airloop new` (a pipeline from a sample)."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from airloop.cli.app import (
    ExitCode,
    Fmt,
    FormatOption,
    app,
    emit,
    path_arg,
    project_root,
    settings,
    stack_app,
)
from airloop.metrics import TASKS


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
    emit(format, info, "\n".join(f"{key}: {value}" for key, value in info.items()))


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

        sample = read_table(path_arg(from_))
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
def demo(
    rows: Annotated[int, typer.Option(min=2000, help="rows per generated batch")] = 40_000,
    timeout: Annotated[int, typer.Option(help="seconds to wait for each stage")] = 600,
) -> None:
    """Start (or reuse) the embedded stack and drive one round of the loop by dropping batches in its landing zone.

    Airflow standalone, MLflow and a local DVC remote start unless already running. Then, on `fraud_detection`:
    a first labelled batch trains v1 and the gate decides (skipped when a champion exists); a clean labelled batch
    (the monitor finds no drift, nothing retrains); a drifted one (drift → retrain → gate); an unlabelled batch
    the champion scores. One live line per stage; at the end the drift chain and a summary with the UIs' URLs.
    Run it again and the loop goes round once more with new batches. Exit 0 done, 1 a stage failed (its task's
    log tail is printed). `airloop stack down` stops the stack.
    """
    from airloop.dev.demo import run_demo

    ok = run_demo(project_root(), rows=rows, timeout=timeout)
    raise typer.Exit(ExitCode.OK if ok else ExitCode.NO)
