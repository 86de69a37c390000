"""Commands about data: generate a batch, validate it, compare two tables for drift, check the specs,
restore a version's training data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from airloop.cli.app import (
    Drift,
    ExitCode,
    Fmt,
    FormatOption,
    app,
    data_app,
    emit,
    fail,
    path_arg,
    progress,
    settings,
    spec_named,
)


@app.command()
def generate(
    pipeline: Annotated[str, typer.Option(help="pipeline whose generator to use")],
    out: Annotated[Path, typer.Option(help="directory to write the Parquet batch into")],
    rows: Annotated[int, typer.Option(min=1, help="rows in the batch")] = 10_000,
    seed: Annotated[int, typer.Option(help="the same seed writes the same batch")] = 0,
    drift: Annotated[
        Drift,
        typer.Option(
            case_sensitive=False,
            help="none; covariate (the inputs shift); concept (the inputs stay, the label's relation changes)",
        ),
    ] = Drift.none,
    labels: Annotated[bool, typer.Option("--labels", help="include the label column")] = False,
    start: Annotated[str | None, typer.Option(help="first timestamp (default: derived from the seed)")] = None,
) -> None:
    """Write a realistic synthetic batch (deterministic per seed) as Parquet."""
    from airloop import uris
    from airloop.data.datagen import generate as gen
    from airloop.store import storage

    spec = spec_named(pipeline)
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
    format: FormatOption = Fmt.table,
) -> None:
    """Check a batch against a pipeline's schema. Exit 0 valid, 1 invalid (the report on stdout), 2 error.

    The table (the default, for people) says valid or invalid and lists one line per failure; scripts and CI pass
    `--format json` for the full report.

    An invalid batch also gets one line on stderr naming what failed and what the feature DAG will do with it
    (quarantine the bad rows, or reject the whole batch), so a person need not read the report to know.
    """
    from airloop.data.validation import read_table, rejection_reason, validate_frame

    spec = spec_named(pipeline)
    df = read_table(path_arg(file))
    report = validate_frame(df, spec, require_label=require_label).report
    failures = [f"  {f.column or '(frame)'}: {f.check} ({f.count} rows)" for f in report.failures]
    head = f"{file}: {report.summary()}" if report.valid else f"{file}: invalid: {report.summary()}"
    emit(format, report.to_dict(), "\n".join([head, *failures]))
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
        return read_table(path_arg(path))
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
            help="auto, or a statistic of the drift registry for every column (ks, psi, …)",
            show_default="the spec's drift.method, else auto",  # in help text, [..] would be read as rich markup
        ),
    ] = None,
    drift_share: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="share of drifted columns that means dataset drift")
    ] = None,
    columns: Annotated[
        str | None, typer.Option(help="comma-separated columns to compare (default: all shared)")
    ] = None,
    format: FormatOption = Fmt.table,
    fail_on_drift: Annotated[bool, typer.Option("--fail-on-drift", help="exit 3 when drift is detected")] = False,
) -> None:
    """Compare two tables column by column; exit 0 (3 with --fail-on-drift and drift), 2 on a bad call or file.

    A table is the default output (people read it); scripts pass `--format json`. Without --pipeline or --columns,
    columns unique per row on both sides (ids) are skipped and named: in the JSON's `skipped_id_like`, and in a line
    under the table.
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
        spec = spec_named(pipeline)
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
    emit(format, payload, report.to_table() + note)
    raise typer.Exit(ExitCode.DRIFT if fail_on_drift and report.drift_detected else ExitCode.OK)


@app.command()
def check(
    specs_dir: Annotated[
        Path | None, typer.Option("--specs-dir", help="folder of spec files (default: AIRLOOP_SPECS_DIR's)")
    ] = None,
    format: FormatOption = Fmt.table,
) -> None:
    """Load every pipeline spec with the DAG factory's checks, custom feature module imports included.

    Exits 0 when every spec loads, 1 when any does not (each named with its file and a one-line error), 2 when the
    folder does not exist. Needs no running service: a CI step for a repository of specs.
    """
    from airloop.monitor.speccheck import load_checked

    directory = specs_dir if specs_dir is not None else Path(settings().specs_dir)
    if not directory.is_dir():
        fail(f"specs directory {directory} does not exist")
    result = load_checked(directory)
    valid = [{"name": spec.name, "file": str(path)} for path, spec in result.specs.items()]
    invalid = [{"file": str(path), "error": message} for path, message in result.errors.items()]
    lines = [f"ok       {v['file']}" for v in valid] + [f"invalid  {i['error']}" for i in invalid]
    summary = f"{len(valid) + len(invalid)} spec file(s) in {directory}: {len(valid)} valid, {len(invalid)} invalid"
    emit(format, {"specs_dir": str(directory), "valid": valid, "invalid": invalid}, "\n".join([*lines, summary]))
    raise typer.Exit(ExitCode.NO if invalid else ExitCode.OK)


@data_app.command("pull")
def data_pull(
    ref: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME@VERSION, e.g. fraud_detection@champion")],
    out: Annotated[Path, typer.Option(help="directory to restore the training data into")],
    format: FormatOption = Fmt.table,
) -> None:
    """Restore the exact bytes a model version was trained on (by the DVC md5 in its lineage).

    On a terminal the stages (resolve the version, restore from the DVC remote) are lines on stderr.
    """
    from airloop.model.registry import Registry
    from airloop.store.versioning import DataVersioner

    if "@" not in ref:
        fail(f"expected NAME@ALIAS or NAME@VERSION, got '{ref}'")
    name, which = ref.split("@", 1)
    s = settings()
    with progress() as say:
        say(f"resolving {name} {which} in the model registry")
        mv = Registry.from_settings(s).resolve(name, which)  # an unknown one: RegistryError, one line and exit 2
        md5 = (mv.tags or {}).get("data_md5")
        if not md5:
            fail(f"{name} v{mv.version} has no data_md5 lineage tag")
        say(f"restoring v{mv.version}'s training data (DVC md5 {md5}) into {out}")
        path = DataVersioner.from_settings(s).restore(md5, out / f"{name}-v{mv.version}-{md5}.parquet")
    payload = {"pipeline": name, "version": str(mv.version), "data_md5": md5, "path": str(path)}
    emit(format, payload, str(path))
