"""What `airloop new` writes, where, and what to do next: the plan (checked before anything is written), the
all-or-nothing write, and the next-steps text with this deployment's real locations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from airloop.dev.scaffold.inference import infer_schema, skeleton
from airloop.dev.scaffold.render import features_module, features_test, module_name, spec_yaml
from airloop.dev.scaffold.rules import ScaffoldError, check_name, check_task
from airloop.errors import AirloopError
from airloop.naming import DagKind, dag_id

if TYPE_CHECKING:
    import pandas as pd

    from airloop.spec import PipelineSpec

# The DAGs a new spec becomes, as the next steps list them (no staleness DAG: the spec leaves max_model_age out).
NEW_SPEC_DAGS = (DagKind.FEATURES, DagKind.TRAIN, DagKind.MONITOR, DagKind.RETRAIN, DagKind.SCORE)


@dataclass(frozen=True)
class Scaffold:
    """The files `airloop new` writes, by path, and the spec text checked to load."""

    spec_path: Path
    module_path: Path
    test_path: Path
    files: dict[Path, str]
    warnings: tuple[str, ...] = ()  # what the person should know before landing data (the CLI prints them)


def plan(
    name: str,
    spec_dir: Path,
    tests_dir: Path,
    *,
    task: str = "binary",
    sample: pd.DataFrame | None = None,
    source: str | None = None,
    label: str | None = None,
    time_column: str | None = None,
    id_column: str | None = None,
) -> Scaffold:
    """Everything `airloop new` would write, checked: a valid name and task, and a spec that loads."""
    check_name(name)
    check_task(task)
    if sample is not None:
        inferred = infer_schema(sample, task=task, label=label, time_column=time_column, id_column=id_column)
    else:
        if id_column:
            raise ScaffoldError("--id-column needs --from (without a sample the spec's example id column is 'id')")
        inferred = skeleton(task, label, time_column)
    spec_path = spec_dir / f"{name}.yaml"
    module_path = spec_dir / f"{module_name(name)}.py"
    test_path = tests_dir / f"test_{module_name(name)}.py"
    text = spec_yaml(name, inferred, task=task, source=source)
    min_rows = _check_loads(text, spec_path).training.min_rows
    warnings: tuple[str, ...] = ()
    if sample is not None and len(sample) < min_rows:
        warnings = (
            f"the sample has {len(sample)} rows, fewer than training.min_rows ({min_rows}): training waits for "
            f"that many labelled rows; land more, or lower training.min_rows in {spec_path}",
        )
    files = {
        spec_path: text,
        module_path: features_module(name),
        test_path: features_test(name, spec_path, test_path),
    }
    return Scaffold(spec_path, module_path, test_path, files, warnings)


def _check_loads(text: str, spec_path: Path) -> PipelineSpec:
    """The written spec must load: a failure here is a bug in the inference, said plainly rather than written."""
    from airloop.catalog import parse_spec

    try:
        return parse_spec(yaml.safe_load(text), str(spec_path))
    except AirloopError as exc:
        raise ScaffoldError(f"the inferred spec does not load, so nothing was written: {exc}") from None


def write(scaffold: Scaffold) -> list[Path]:
    """Write every file, or none: any that exists (or a spec of the same name as .yml) stops the lot."""
    spec_path = scaffold.spec_path
    clashes = [p for p in scaffold.files if p.exists()]
    alt = spec_path.with_suffix(".yml")
    if alt.exists():
        clashes.append(alt)
    if clashes:
        raise ScaffoldError(f"refusing to overwrite {', '.join(str(p) for p in clashes)}: nothing was written")
    written: list[Path] = []
    for path, text in scaffold.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as fh:  # "x": a file created meanwhile is still not overwritten
            fh.write(text)
        written.append(path)
    return written


def next_steps(scaffold: Scaffold, name: str, *, specs_dir: str, landing: str, pattern: str) -> str:
    """What to do after `airloop new`, with this deployment's real locations."""
    same = Path(specs_dir).resolve() == scaffold.spec_path.parent.resolve()
    where = (
        ""
        if same
        else f"\n     (the CLI and Airflow read specs from {specs_dir}: move the files there or set AIRLOOP_SPECS_DIR)"
    )
    dags = ", ".join(dag_id(name, kind) for kind in NEW_SPEC_DAGS)
    made = [
        (scaffold.spec_path, "the spec: review the columns, the label and the features"),
        (scaffold.module_path, "custom feature functions (the spec uses missing_count)"),
        (scaffold.test_path, "tests of the spec and of the functions"),
    ]
    width = max(len(str(p)) for p, _ in made)
    return "\n".join(
        [
            "created:",
            *(f"  {str(p).ljust(width)}  {what}" for p, what in made),
            "next:",
            f"  1. check a batch against the spec: airloop validate --pipeline {name} FILE{where}",
            f"  2. run the tests: pytest {scaffold.test_path}",
            "  3. start Airflow and MLflow: make up (or airloop stack up), which prints the UI's URLs; the DAG",
            f"     factory builds {dags} from the spec",
            f"  4. drop batches ({pattern}) into {landing}: labelled ones train and are checked for drift,",
            "     unlabelled ones are scored",
        ]
    )
