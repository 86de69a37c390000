"""The texts of the files `airloop new` writes, filled in from the templates beside this module.

The templates are files (`templates/spec.yaml`, `templates/features.py`, `templates/tests.py`), so they are read,
diffed and linted like the code they become: the Python ones are valid Python that ruff checks with the rest of
`include/`, and the YAML one loads as YAML. Placeholders are `string.Template` names (`$name`), which are valid
inside a Python string or a YAML scalar; nothing is an f-string over code. The YAML template adds two conventions:

- `content  #: comment`: the comment is aligned at column 40 after substitution (one space further out when the
  content is longer), since how far a line reaches depends on the names filled in;
- a comment line holding only `# ${block}` stands for lines written here (the columns, the features), each with
  its own indentation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import yaml

from airloop.dev.scaffold.inference import CATEGORY_RULE, Column, Inferred, fmt_number
from airloop.dev.scaffold.rules import task_metric

ONE_HOT_MAX = 20  # a category with more values than this is one integer code, not one column per value
UNSAFE_NAME = re.compile(r"[\[\]<,]")  # characters XGBoost refuses in feature names (one_hot names carry values)
NOTE = re.compile(r"^(.*?) *#: (.*)$")
BLOCK = re.compile(r"^ *# \$\{(\w+)\}$")
# The generated test finds the spec relative to itself; where no relative path exists (another drive) it is absolute.
SPEC_NEXT_TO_TEST = "Path(__file__).resolve().parent.joinpath(SPEC).resolve()"


def template(name: str) -> str:
    return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")


def fill_yaml(text: str, values: Mapping[str, str], blocks: Mapping[str, list[str]]) -> str:
    """Substitute `values`, align `#:` comments and expand `# ${block}` lines (see the module docstring)."""
    lines: list[str] = []
    for line in text.splitlines():
        if block := BLOCK.match(line):
            lines.extend(blocks[block[1]])
        elif note := NOTE.match(line):
            lines.append(_note(Template(note[1]).substitute(values), Template(note[2]).substitute(values)))
        else:
            lines.append(Template(line).substitute(values))
    return "\n".join(lines) + "\n"


def _y(value: Any) -> str:
    """A YAML flow scalar or list, quoted only where YAML needs it ('01', 'yes', 'a: b', …)."""
    text = yaml.safe_dump([value], default_flow_style=True, width=10_000, allow_unicode=True).strip()
    return text[1:-1]


def _note(line: str, comment: str, at: int = 40) -> str:
    """A YAML line with its comment aligned (or one space further out when the line is long)."""
    return f"{line.ljust(at - 1)} # {comment}" if len(line) < at - 1 else f"{line}  # {comment}"


def _column_line(col: Column) -> str:
    parts = [f"dtype: {col.dtype}"]
    if col.nullable:
        parts.append("nullable: true")
    if col.unique:
        parts.append("unique: true")
    if col.min is not None:
        parts.append(f"min: {fmt_number(col.min)}")
    if col.max is not None:
        parts.append(f"max: {fmt_number(col.max)}")
    if col.domain is not None:
        parts.append(f"domain: {_y(col.domain)}")
    if not col.required:
        parts.append("required: false")
    line = f"    {_y(col.name)}: {{{', '.join(parts)}}}"
    if len(line) > 116:  # a long domain: one key per line reads better than a wrapped flow mapping
        head = _note(f"    {_y(col.name)}:", col.note) if col.note else f"    {_y(col.name)}:"
        return "\n".join([head, *(f"      {p}" for p in parts)])
    return _note(line, col.note, at=64) if col.note else line


def module_name(name: str) -> str:
    return f"features_{name}"


def custom_feature_name(inferred: Inferred) -> str:
    """A name for the example custom feature that no column or other feature takes."""
    taken = {c.name for c in inferred.columns}
    for candidate in ("missing_count", "n_missing_inputs", "custom_missing_count"):
        if candidate not in taken:
            return candidate
    return f"missing_count_{len(taken)}"


def feature_lines(inferred: Inferred, name: str) -> list[str]:
    """identity for numbers and booleans, one_hot for categories, and the example custom function."""
    roles = {inferred.id_column, inferred.time_column, inferred.label}
    lines: list[str] = []
    for col in inferred.columns:
        if col.name in roles:
            continue
        if col.dtype in ("int", "float", "bool"):
            lines.append(f"  - {{name: {_y(col.name)}, transform: identity, column: {_y(col.name)}}}")
        elif col.dtype == "category":
            unsafe = any(UNSAFE_NAME.search(v) for v in col.domain or [])
            transform = "category_code" if unsafe or len(col.domain or []) > ONE_HOT_MAX else "one_hot"
            note = "   # values hold [ ] < or ',' which model column names cannot" if unsafe else ""
            lines.append(f"  - {{name: {_y(col.name)}, transform: {transform}, column: {_y(col.name)}}}{note}")
    for column, why in inferred.skipped.items():
        lines.append(f"  # {column}: no feature: {why}")
    ref = f"{module_name(name)}:missing_count"
    lines.append(
        f"  # A custom function (see {module_name(name)}.py); with no column(s) it gets every column but the label."
    )
    lines.append(f'  - {{name: {custom_feature_name(inferred)}, transform: "{ref}"}}')
    return lines


def _decay_limit(task: str, direction: str, metric: str, label_scale: float | None) -> tuple[str, str]:
    """`performance.max_drop` and what it means: a share of the label's spread for regression, 0.1 otherwise."""
    if task != "regression":
        return "0.1", f"a {'drop' if direction == 'maximize' else 'rise'} of the live {metric}"
    max_drop = fmt_number(0.1 * label_scale) if label_scale else "1.0"
    drop_note = "a rise of the live RMSE above the holdout's, in the label's units" + (
        " (here 10% of the sample's label standard deviation)" if label_scale else ": set it for your label's scale"
    )
    return max_drop, drop_note


def spec_yaml(name: str, inferred: Inferred, *, task: str = "binary", source: str | None = None) -> str:
    """The spec's text: every section present with the defaults spelled out, and a comment on each choice."""
    metric, direction = task_metric(task)
    max_drop, drop_note = _decay_limit(task, direction, metric, inferred.label_scale)
    time_line = (
        _note(f"  time_column: {_y(inferred.time_column)}", "the split orders by it: newest rows are the holdout")
        if inferred.time_column
        else "  # time_column: none found; without one the split is random (seeded by model.seed)"
    )
    values = {
        "name": name,
        "origin": f"inferred from {Path(source).name} by `airloop new --from`"
        if source
        else "written by `airloop new`",
        "pattern": "*.csv" if source and source.lower().endswith(".csv") else "*.parquet",
        "task": task,
        "id_column": _y(inferred.id_column),
        "label": _y(inferred.label),
        "metric": metric,
        "max_drop": max_drop,
        "drop_note": drop_note,
    }
    blocks = {
        "time_column": [time_line],
        "columns": [
            *([f"    # inferred: text is {CATEGORY_RULE} (values repeat); other text is a string"] if source else []),
            *(_column_line(c) for c in inferred.columns),
        ],
        "features": feature_lines(inferred, name),
    }
    return fill_yaml(template("spec.yaml"), values, blocks)


def features_module(name: str) -> str:
    """The custom feature module: the function the spec references, the contract, and a multi-column example.

    Lines that carry the name stay short, so the file passes the project's ruff checks whatever the name's length.
    """
    return Template(template("features.py")).substitute(name=name, module=module_name(name))


def features_test(name: str, spec_path: Path, test_path: Path) -> str:
    """A pytest module that loads the spec, checks the custom function, and builds features from made-up rows."""
    text = template("tests.py")
    try:
        rel = Path(os.path.relpath(spec_path.resolve(), test_path.resolve().parent)).as_posix()
    except ValueError:  # another drive (Windows): no relative path
        rel = spec_path.resolve().as_posix()
        text = text.replace(SPEC_NEXT_TO_TEST, "Path(SPEC)")
    return Template(text).substitute(name=name, module=module_name(name), spec=rel)
