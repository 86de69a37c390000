"""The spec catalog: find, read and list pipeline specs, and check what they reference.

`airloop.spec` says what a valid spec looks like; this module reads spec files and also checks that every
feature's transform or `module:function` exists, which needs the feature registry (`airloop.data.features`).
Keeping the two apart lets the spec model stay at the bottom of the layers while the check sees the features.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from airloop.errors import AirloopError, SpecError, first_line
from airloop.spec import PipelineSpec, validate_spec


def parse_spec(data: Any, source: str = "<spec>") -> PipelineSpec:
    """A parsed YAML document as a checked `PipelineSpec`: valid fields, and features that exist."""
    from airloop.data.features import check_features  # late: keeps spec parsing light for DAG files

    spec = validate_spec(data, source)
    check_features(spec, source)
    return spec


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line error as one line (problem, where, and what it was parsing), as the CLI prints one line."""
    problem, mark = getattr(exc, "problem", None), getattr(exc, "problem_mark", None)
    if not problem:
        return " ".join(str(exc).split())
    text = problem + (f" at line {mark.line + 1}, column {mark.column + 1}" if mark else "")
    context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context:
        text += f" ({context}" + (f" from line {start.line + 1}, column {start.column + 1}" if start else "") + ")"
    return text


def load_spec(path: str | Path) -> PipelineSpec:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read spec ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text (byte {exc.start}): save the spec as UTF-8") from None
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # C parser: ~8x faster
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    spec = parse_spec(data, str(path))
    if path.stem != spec.name:
        raise SpecError(f"{path}: field 'name': '{spec.name}' must match the file name '{path.stem}'")
    return spec


def spec_files(directory: str | Path) -> list[Path]:
    """The spec files (`*.yaml`, `*.yml`) in a directory, sorted by name."""
    return [p for p in sorted(Path(directory).glob("*.y*ml")) if re.match(r".*\.ya?ml$", p.name)]


def load_specs(directory: str | Path) -> list[PipelineSpec]:
    """All specs in a directory, sorted by name; one bad file fails the whole load loudly."""
    return [load_spec(p) for p in spec_files(directory)]


@dataclass(frozen=True)
class SpecLoad:
    """Every spec file of a directory, read one by one: the good specs, and each bad file's one-line error."""

    specs: dict[Path, PipelineSpec] = field(default_factory=dict)
    errors: dict[Path, str] = field(default_factory=dict)


def load_specs_isolated(directory: str | Path, check: Callable[[PipelineSpec, str], None] | None = None) -> SpecLoad:
    """Like `load_specs`, but a bad file is recorded, not raised: one user's draft must not hide every pipeline.

    `check(spec, source)` runs on each spec that loads (the checks above the catalog: `monitor.speccheck`). Any
    exception, from reading, parsing or `check`, becomes that file's error (one line per fault, naming the file);
    the other files still load.
    """
    out = SpecLoad()
    for path in spec_files(directory):
        try:
            spec = load_spec(path)
            if check is not None:
                check(spec, str(path))
        except AirloopError as exc:  # already names the file and field (a spec with several faults: a line each)
            out.errors[path] = str(exc)
        except Exception as exc:  # anything else in one file (a bug, an odd file) stays that file's problem
            out.errors[path] = f"{path}: {type(exc).__name__}: {first_line(exc)}"
        else:
            out.specs[path] = spec
    return out


def find_spec(name: str, directory: str | Path) -> PipelineSpec:
    """The spec of pipeline `name` (`NAME.yaml` or `NAME.yml`); SpecError naming the known ones when absent."""
    files = spec_files(directory)
    for path in files:
        if path.stem == name:
            return load_spec(path)
    known = ", ".join(sorted(p.stem for p in files)) or "none"
    raise SpecError(f"unknown pipeline '{name}' (known: {known}; looked in {directory})")
