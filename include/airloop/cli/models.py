"""Commands about registered models: list them, promote, roll back, reproduce a version bit for bit."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from airloop.cli.app import (
    ExitCode,
    Fmt,
    FormatOption,
    actor,
    app,
    emit,
    fail,
    progress,
    settings,
    spec_named,
)


@app.command()
def models(
    name: Annotated[str | None, typer.Argument(help="one pipeline (default: all)")] = None,
    format: FormatOption = Fmt.table,
) -> None:
    """Champion, challenger and every version of each pipeline's model."""
    from airloop.catalog import load_specs_isolated
    from airloop.errors import SpecError
    from airloop.model.registry import Registry

    s = settings()
    if name:  # only the spec asked for: another pipeline's broken draft is not this command's business
        try:
            specs = {name: spec_named(name)}
        except SpecError:  # a model whose spec is gone (or broken) still lists, with the default task's metrics
            specs = {}
        names = [name]
    else:  # the specs that load; a broken draft is `airloop check`'s to report
        specs = {sp.name: sp for sp in load_specs_isolated(s.specs_dir).specs.values()}
        names = list(specs)
    rows = Registry.from_settings(s).describe_models(names)
    emit(format, rows, _models_table(rows, specs))


def _models_table(rows: list[dict], specs: dict) -> str:
    """`airloop models` for a person: per pipeline its aliases, then a line per version with its task's metrics."""
    from airloop.metrics import TASK_METRICS

    lines = []
    for entry in rows:
        lines.append(
            f"{entry['pipeline']}: champion={entry['champion'] or '-'} challenger={entry['challenger'] or '-'}"
        )
        if not entry["versions"]:
            lines.append("  (no versions yet)")
            continue
        spec = specs.get(entry["pipeline"])
        metrics = TASK_METRICS[spec.label.task if spec else "binary"]  # the pipeline's own task's metrics
        lines.append(
            f"  {'ver':>4} {'aliases':<20} " + " ".join(f"{m:>8}" for m in metrics) + f" {'data_md5':<12} "
            f"{'trigger':<10} {'gate':<9} created"
        )
        for v in entry["versions"]:
            values = " ".join(f"{v['metrics'].get(m, float('nan')):>8.4f}" for m in metrics)
            lines.append(
                f"  {v['version']:>4} {','.join(v['aliases']) or '-':<20} {values} {(v['data_md5'] or '-')[:12]:<12} "
                f"{v['trigger'] or '-':<10} {v['gate'] or '-':<9} {v['created']}"
            )
    return "\n".join(lines)


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="the pipeline's registered model")],
    version: Annotated[str, typer.Argument(help="the version number to make champion")],
    reason: Annotated[str | None, typer.Option(help="why; recorded in the champion history with who did it")] = None,
    format: FormatOption = Fmt.table,
) -> None:
    """Make VERSION the champion of NAME by hand (recorded as a manual promotion, with --reason)."""
    from airloop.steps import promote as do_promote

    previous = do_promote(name, settings(), version, actor=actor(), reason=reason)
    moved = previous != version
    text = f"{name}: champion v{previous or '-'} → v{version}" if moved else f"{name}: v{version} is already champion"
    payload = {"pipeline": name, "champion": version, "previous": previous, "moved": moved, "reason": reason}
    emit(format, payload, text)


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
    old, new = do_rollback(name, s, actor=actor(), dry_run=True)  # what would move; a mistake fails here
    if not dry_run and not yes:
        if not sys.stdin.isatty():
            fail(f"{name}: would move champion v{old} → v{new}; not a terminal, so pass --yes (or --dry-run)")
        if not typer.confirm(f"{name}: move champion v{old} → v{new}?", default=False):
            fail("nothing moved", ExitCode.NO)
    if not dry_run:
        old, new = do_rollback(name, s, actor=actor())
    payload = {"pipeline": name, "previous": old, "champion": new, "dry_run": dry_run}
    done = "dry run: nothing moved" if dry_run else "rolled back"
    emit(format, payload, f"{name}: champion v{old} → v{new} ({done})")


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
    """Rebuild VERSION from its recorded data, spec and params; exit 0 identical, 1 different, 2 error.

    On a terminal each stage (resolve, restore the data, rebuild, compare) is a line on stderr as it starts.
    """
    import dvc  # noqa: F401  # sets its loggers' levels on import: before they are lowered below

    from airloop.model.reproduce import parse_overrides
    from airloop.model.reproduce import reproduce as rebuild

    # The report is the output: no MLflow download bars, no DVC chatter (its errors come back as one line).
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for noisy in ("dvc", "dvc_data", "dvc_objects"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    with progress("airloop.model.reproduce", "airloop.model.rebuild"):
        report = rebuild(name, version, settings(), overrides=parse_overrides(set_ or []))
    emit(format, report.to_dict(), report.to_table())
    raise typer.Exit(ExitCode.OK if report.identical else ExitCode.NO)
