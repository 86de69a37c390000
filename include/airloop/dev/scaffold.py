"""`airloop new`: the files a new pipeline starts from — a spec, a custom feature module and its test.

Pure functions that return file contents (and one that writes them, refusing to overwrite), so the CLI command
stays thin and every piece can be tested without a process. With a sample file (`--from`) the schema is inferred
from the data: dtypes, nullability, category domains, the label, and a first feature set. The inference is a
starting point a person reviews, not a contract: it leaves value ranges out (a range guessed from one file would
quarantine the next file's legitimate extremes) and only writes them as comments.
"""

from __future__ import annotations

import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from airloop.errors import AirloopError

if TYPE_CHECKING:
    import pandas as pd

TASKS = ("binary", "multiclass", "regression")
# The gate metric a new spec starts with, per label task; each is the task's default and has a fixed direction.
TASK_METRIC = {
    "binary": ("pr_auc", "maximize"),
    "multiclass": ("mlogloss", "minimize"),
    "regression": ("rmse", "minimize"),
}
CATEGORY_MAX = 20  # a text column with at most this many distinct values becomes a category with a domain
LABEL_CLASSES_MAX = 100  # a multiclass text label with more distinct values than this is refused
UNSAFE_NAME = re.compile(r"[\[\]<,]")  # characters XGBoost refuses in feature names (one_hot names carry values)
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
ID_NAME = re.compile(r"^(id|.*_id|.*id)$", re.IGNORECASE)
LABEL_NAMES = ("label", "target", "y", "class", "outcome")


class ScaffoldError(AirloopError):
    """`airloop new` cannot proceed: a bad name, a file already there, or a sample it cannot infer from."""


# --------------------------------------------------------------------------------------------- what the spec takes


def spec_name_pattern() -> str:
    from airloop.spec import NAME_RE

    return NAME_RE


def check_name(name: str) -> None:
    """Refuse names the spec would refuse, before any file is written."""
    if not re.match(spec_name_pattern(), name):
        raise ScaffoldError(
            f"'{name}' is not a valid pipeline name: a lower-case letter, then 1-62 lower-case letters, digits or "
            f"'_' (pattern {spec_name_pattern()}); it names the spec file, the DAGs and the registered model"
        )


def supported_tasks() -> tuple[str, ...]:
    """The label tasks this version of the spec accepts (read from the spec model, which is the authority)."""
    from airloop.spec import LabelSpec

    annotation = LabelSpec.model_fields["task"].annotation
    return tuple(a for a in typing.get_args(annotation) if isinstance(a, str)) or ("binary",)


def time_column_required() -> bool:
    """Whether the spec insists on a time column (older specs split by time only)."""
    from airloop.spec import SchemaSpec

    return SchemaSpec.model_fields["time_column"].is_required()


def check_task(task: str) -> None:
    if task not in TASKS:
        raise ScaffoldError(f"unknown task '{task}' (known: {', '.join(TASKS)})")
    supported = supported_tasks()
    if task not in supported:
        raise ScaffoldError(f"this version of airloop's spec accepts label.task {', '.join(supported)}, not {task}")


# ------------------------------------------------------------------------------------------------------ inference


@dataclass(frozen=True)
class Column:
    """One inferred column of the schema; `note` becomes a YAML comment (observed range, distinct values)."""

    name: str
    dtype: str
    nullable: bool = False
    unique: bool = False
    domain: list[str] | None = None
    min: float | None = None
    max: float | None = None
    required: bool = True
    note: str = ""


@dataclass(frozen=True)
class Inferred:
    """A schema inferred from a sample: columns in file order, the roles, and the columns no feature reads."""

    columns: list[Column]
    id_column: str
    time_column: str | None
    label: str
    skipped: dict[str, str] = field(default_factory=dict)  # column → why no feature reads it
    label_scale: float | None = None  # regression: the label's standard deviation (sizes performance.max_drop)


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _is_text(s: pd.Series) -> bool:
    import pandas as pd

    return pd.api.types.is_string_dtype(s.dtype) or s.dtype == object


def _looks_datetime(s: pd.Series) -> bool:
    """Text that is all ISO dates/timestamps (CSV has no datetime type): parsed as datetime, not as a category."""
    values = s.dropna()
    return len(values) > 0 and all(isinstance(v, str) and ISO_DATE.match(v.strip()) for v in values.head(1000))


def _kind(s: pd.Series) -> str:
    """The spec dtype a column's values fit: bool, int, float, datetime, or text (decided later: string/category)."""
    import numpy as np
    import pandas as pd

    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        values = s.dropna().to_numpy(dtype="float64")
        # CSV turns an int column with gaps into floats: integral values with missing ones are an int column.
        if s.isna().any() and len(values) and np.all(np.isfinite(values)) and np.all(values == np.floor(values)):
            return "int"
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if _is_text(s):
        values = s.dropna()
        if len(values) and all(isinstance(v, bool | np.bool_) for v in values.head(1000)):
            return "bool"
        if _looks_datetime(s):
            return "datetime"
    return "text"


def _infer_column(s: pd.Series, name: str) -> Column:
    kind = _kind(s)
    nullable = bool(s.isna().any())
    values = s.dropna()
    if kind in ("int", "float") and len(values):
        lo, hi = float(values.min()), float(values.max())
        return Column(name, kind, nullable, note=f"observed {_fmt(lo)} … {_fmt(hi)}")
    if kind != "text":
        return Column(name, kind, nullable)
    distinct = values.astype(str).unique()
    if 0 < len(distinct) <= CATEGORY_MAX and len(distinct) <= max(2, len(values) // 2):
        return Column(name, "category", nullable, domain=sorted(str(v) for v in distinct))
    return Column(name, "string", nullable, note=f"{len(distinct)} distinct values in the sample")


def _pick_id(df: pd.DataFrame, given: str | None) -> str:
    if given:
        return given
    candidates = [
        c
        for c in df.columns
        if ID_NAME.match(str(c)) and df[c].notna().all() and df[c].is_unique and _kind(df[c]) in ("int", "text")
    ]
    exact = [c for c in candidates if str(c).lower() == "id"]
    if exact or candidates:
        return str((exact or candidates)[0])
    raise ScaffoldError(
        "no id column found (a unique, never-missing column named id or *_id): pass --id-column COL; every batch "
        "row needs an identifier, which predictions and quarantine reports carry"
    )


def _pick_time(df: pd.DataFrame, given: str | None, kinds: dict[str, str], exclude: set[str]) -> str | None:
    if given:
        if kinds[given] != "datetime":
            raise ScaffoldError(f"--time-column '{given}' does not hold timestamps (its values look {kinds[given]})")
        return given
    stamps = [c for c, k in kinds.items() if k == "datetime" and c not in exclude]
    if len(stamps) == 1:
        return stamps[0]
    if len(stamps) > 1:
        raise ScaffoldError(f"several timestamp columns ({', '.join(stamps)}): pass --time-column COL for the split")
    if time_column_required():
        raise ScaffoldError("no timestamp column found: pass --time-column COL (the spec splits data by time)")
    return None


def _pick_label(df: pd.DataFrame, given: str | None) -> str:
    if given:
        return given
    for c in df.columns:
        if str(c).lower() in LABEL_NAMES:
            return str(c)
    raise ScaffoldError(f"no label column found (none is named {', '.join(LABEL_NAMES)}): pass --label COL")


def _label_column(s: pd.Series, name: str, task: str) -> tuple[Column, float | None]:
    """The label's column spec for the task; refuses labels the task cannot learn from, saying what to do."""
    import numpy as np

    kind = _kind(s)
    nullable = bool(s.isna().any())
    values = s.dropna()
    if task == "binary":
        if kind == "bool":
            return Column(name, "bool", nullable, required=False, note="absent in batches sent for scoring"), None
        numeric = kind in ("int", "float")
        seen = sorted({float(v) for v in values}) if numeric else sorted({str(v) for v in values})
        if not numeric or not set(seen) <= {0.0, 1.0}:
            shown = ", ".join(_fmt(v) if numeric else repr(v) for v in seen[:5])
            raise ScaffoldError(
                f"label '{name}' holds {shown}{' …' if len(seen) > 5 else ''}: a binary label is 0/1 or true/false "
                "(map it to 0/1 first, or choose --task multiclass)"
            )
        return Column(
            name, "int", nullable, min=0, max=1, required=False, note="absent in batches sent for scoring"
        ), None
    if task == "multiclass":
        if kind == "int":
            return Column(name, "int", nullable, required=False, note="absent in batches sent for scoring"), None
        if kind == "text":
            classes = sorted({str(v) for v in values})
            if len(classes) > LABEL_CLASSES_MAX:
                raise ScaffoldError(
                    f"label '{name}' has {len(classes)} distinct values: too many classes for multiclass"
                )
            return Column(
                name, "category", nullable, domain=classes, required=False, note="absent in batches sent for scoring"
            ), None
        raise ScaffoldError(f"label '{name}' is {kind}: a multiclass label is an int or text column of classes")
    if kind not in ("int", "float"):
        raise ScaffoldError(f"label '{name}' is {kind}: a regression label is a number")
    scale = float(np.std(values.to_numpy(dtype="float64"))) if len(values) > 1 else None
    return Column(name, kind, nullable, required=False, note="absent in batches sent for scoring"), scale


def infer_schema(
    df: pd.DataFrame,
    *,
    task: str = "binary",
    label: str | None = None,
    time_column: str | None = None,
    id_column: str | None = None,
) -> Inferred:
    """Infer a spec's schema from a sample batch (a starting point for a person to review).

    Dtypes map to string/int/float/bool/datetime/category (text with few distinct values is a category whose
    domain is those values); nullable where the sample has missing values; the id column is unique. Ranges are
    left out on purpose and only noted in comments. Raises `ScaffoldError` for roles it cannot find or a label
    the task cannot learn from.
    """
    if df.empty or not len(df.columns):
        raise ScaffoldError("the sample has no rows or no columns to infer a schema from")
    df = df.rename(columns=str)
    for role, col in (("--label", label), ("--time-column", time_column), ("--id-column", id_column)):
        if col is not None and col not in df.columns:
            raise ScaffoldError(f"{role} '{col}' is not a column of the sample (columns: {', '.join(df.columns)})")
    label = _pick_label(df, label)
    id_col = _pick_id(df, id_column)
    if id_col == label:
        raise ScaffoldError(f"'{label}' cannot be both the id column and the label")
    kinds = {c: _kind(df[c]) for c in df.columns}
    time_col = _pick_time(df, time_column, kinds, {id_col, label})
    if time_col in (id_col, label):
        raise ScaffoldError(f"'{time_col}' cannot be both the time column and the id column or label")

    columns: list[Column] = []
    skipped: dict[str, str] = {}
    scale = None
    for name in df.columns:
        s = df[name]
        if name == label:
            col, scale = _label_column(s, name, task)
        elif name == id_col:
            dtype = "int" if kinds[name] == "int" else "string"
            unique = bool(s.is_unique)
            col = Column(
                name, dtype, bool(s.isna().any()), unique=unique, note="" if unique else "not unique in the sample"
            )
        elif name == time_col:
            col = Column(name, "datetime", bool(s.isna().any()))
        else:
            col = _infer_column(s, name)
            if col.dtype == "string":
                skipped[name] = "free text or an identifier (a custom function could use it)"
            elif col.dtype == "datetime":
                skipped[name] = "a timestamp: e.g. hour_of_day or day_of_week, if its time of day matters"
        columns.append(col)
    return Inferred(columns, id_col, time_col, label, skipped, scale)


def skeleton(task: str = "binary", label: str | None = None, time_column: str | None = None) -> Inferred:
    """Example columns for a spec written without a sample: an id, a timestamp, a number, a category, the label."""
    label = label or "label"
    time_column = time_column or "event_time"
    if len({label, time_column, "id", "amount", "channel"}) < 5:
        raise ScaffoldError("--label and --time-column must differ from each other and from id, amount, channel")
    if task == "binary":
        target = Column(label, "int", min=0, max=1, required=False, note="absent in batches sent for scoring")
    elif task == "multiclass":
        target = Column(
            label,
            "category",
            domain=["class_a", "class_b", "class_c"],
            required=False,
            note="absent in batches sent for scoring",
        )
    else:
        target = Column(label, "float", required=False, note="absent in batches sent for scoring")
    columns = [
        Column("id", "string", unique=True),
        Column(time_column, "datetime"),
        Column("amount", "float", min=0, note="example column: replace with your data's"),
        Column("channel", "category", domain=["web", "store", "phone"], note="example column"),
        target,
    ]
    return Inferred(columns, "id", time_column, label)


# ---------------------------------------------------------------------------------------------------- file texts


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
        parts.append(f"min: {_fmt(col.min)}")
    if col.max is not None:
        parts.append(f"max: {_fmt(col.max)}")
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
            transform = "category_code" if unsafe else "one_hot"
            note = "   # values hold [ ] < or ',' which model column names cannot" if unsafe else ""
            lines.append(f"  - {{name: {_y(col.name)}, transform: {transform}, column: {_y(col.name)}}}{note}")
    for col, why in inferred.skipped.items():
        lines.append(f"  # {col}: no feature: {why}")
    ref = f"{module_name(name)}:missing_count"
    lines.append(
        f"  # A custom function (see {module_name(name)}.py); with no column(s) it gets every column but the label."
    )
    lines.append(f'  - {{name: {custom_feature_name(inferred)}, transform: "{ref}"}}')
    return lines


def spec_yaml(name: str, inferred: Inferred, *, task: str = "binary", source: str | None = None) -> str:
    """The spec's text: every section present with the defaults spelled out, and a comment on each choice."""
    metric, direction = TASK_METRIC[task]
    if task == "regression":
        scale = inferred.label_scale
        max_drop = _fmt(0.1 * scale) if scale else "1.0"
        drop_note = "a rise of the live RMSE above the holdout's, in the label's units" + (
            " (here 10% of the sample's label standard deviation)" if scale else ": set it for your label's scale"
        )
    else:
        max_drop, drop_note = "0.1", f"a {'drop' if direction == 'maximize' else 'rise'} of the live {metric}"
    pattern = "*.csv" if source and source.lower().endswith(".csv") else "*.parquet"
    origin = f"inferred from {Path(source).name} by `airloop new --from`" if source else "written by `airloop new`"
    time_line = (
        _note(f"  time_column: {_y(inferred.time_column)}", "the split orders by it: newest rows are the holdout")
        if inferred.time_column
        else "  # time_column: none found; without one the split is random (seeded by model.seed)"
    )
    lines = [
        f"# The {name} pipeline ({origin}).",
        "# Review every column, the label and the features; then check the spec against a batch with",
        f"# `airloop validate --pipeline {name} FILE`. Field reference: docs/authoring.md.",
        f"name: {name}",
        _note('description: ""', "one line: what it predicts, for whom"),
        "owner: airloop",
        f"tags: [{task}]",
        _note("# generator: fraud", "optional: a synthetic data generator for `airloop generate`"),
        "",
        "storage:",
        _note(f"  landing: landing/{name}", "relative to AIRLOOP_LANDING_ROOT, or a file:// or s3:// URI"),
        f'  pattern: "{pattern}"',
        "",
        "schema:",
        f"  id_column: {_y(inferred.id_column)}",
        time_line,
        _note("  max_invalid_share: 0.2", "a batch with more invalid rows than this is rejected whole"),
        _note("  columns:", "dtype, nullable, unique, min, max, domain, required"),
        *(_column_line(c) for c in inferred.columns),
        "",
        "label:",
        f"  column: {_y(inferred.label)}",
        f"  task: {task}",
        "",
        _note("features:", "identity, log1p, cyclical, one_hot, category_code, ratio, hour_of_day,"),
        _note("", "day_of_week, or a custom function 'module:function'"),
        *feature_lines(inferred, name),
        "",
        "model:",
        _note("  device: auto", "auto: cuda when a GPU is visible, else cpu"),
        "  num_boost_round: 300",
        "  early_stopping_rounds: 30",
        "  seed: 42",
        "  params: {max_depth: 6, eta: 0.1}",
        _note("  # search: {strategy: random, trials: 8, space: {max_depth: [4, 6, 8]}}", "one task per candidate"),
        "",
        _note("split: {valid_fraction: 0.15, holdout_fraction: 0.2}", "validation, then holdout (newest)"),
        "training:",
        _note("  window_batches: 12", "the newest labelled batches a model trains on"),
        "  min_rows: 1000",
        _note("  retrain_on_new_data: false", "after the first model: retrain on drift, decay, a schedule"),
        _note("  # queue: gpu", "send the training tasks to the GPU Celery workers"),
        _note("  # max_model_age: 30d", "retrain a champion older than this (checked daily)"),
        f"gate: {{metric: {metric}, direction: {direction}, min_improvement: 0.0}}",
        _note("drift: {method: auto, drift_share: 0.5}", "auto, ks, wasserstein, psi, jensenshannon, chi2"),
        _note(f"performance: {{metric: {metric}, max_drop: {max_drop}}}", f"decay: {drop_note}"),
        'schedules: {retrain: null, drift_check: "@hourly"}',
        _note("# slices: {by: [{column: COLUMN}], floor: null}", "fairness: the gate scores each group"),
        "# Personal data: add `pii: drop` or `pii: hash` to a column; features marked `candidate: true` are",
        "# measured with and without (docs/authoring.md: Personal data, Feature-importance test).",
        "",
    ]
    return "\n".join(lines)


def features_module(name: str) -> str:
    """The custom feature module: the function the spec references, the contract, and a multi-column example.

    Lines that carry the name stay short, so the file passes the project's ruff checks whatever the name's length.
    """
    module = module_name(name)
    return f'''"""Custom feature functions of the pipeline
{name}.

The spec references a function here as `transform: "MODULE:FUNCTION"`, e.g.
"{module}:missing_count".

airloop imports this module when it builds features (the feature task, training, drift checks) with the spec's
directory on the Python path for the import, so the module's name must be unique (hence the pipeline's name in
it) and helper modules next to it must be imported at the top of this file, not inside functions.

The contract: `fn(df: pd.DataFrame, **params) -> pd.Series | pd.DataFrame`
- `df` holds the feature's `column`/`columns` from the spec (every schema column but the label when it names
  none), one row per batch row, on a 0..n-1 index; `params` are the feature's `params`.
- Return one number per row: a Series is one model column named after the feature; a DataFrame is several,
  declared with `@outputs(...)` (model columns `<feature>__<column>`). Booleans become 0/1 and NaN means missing
  (XGBoost handles it); text, infinities, a wrong length or an index that is not df's are refused.
- The same code runs on training and on scoring batches: never read the label, and remember that a batch is
  not the whole history.
"""

from __future__ import annotations

import pandas as pd


def missing_count(df: pd.DataFrame) -> pd.Series:
    """How many of the row's inputs are missing: gaps in upstream data often carry signal of their own."""
    return df.isna().sum(axis=1)


# Several columns from one function: declare them, and return a DataFrame with exactly those columns.
#
# import numpy as np
# from airloop import outputs
#
# @outputs("sin", "cos")
# def day_of_year(df: pd.DataFrame, period: float = 365.25) -> pd.DataFrame:
#     angle = df.iloc[:, 0].dt.dayofyear * (2 * np.pi / period)
#     return pd.DataFrame({{"sin": np.sin(angle), "cos": np.cos(angle)}})
#
# used in the spec as
#   - name: season
#     transform: "MODULE:day_of_year"
#     column: event_time
#     params: {{period: 365.25}}
'''


def features_test(name: str, spec_path: Path, test_path: Path) -> str:
    """A pytest module that loads the spec, checks the custom function, and builds features from made-up rows."""
    try:
        rel = Path(os.path.relpath(spec_path.resolve(), test_path.resolve().parent)).as_posix()
        where = "Path(__file__).resolve().parent.joinpath(SPEC).resolve()"
    except ValueError:  # another drive (Windows): no relative path
        rel, where = spec_path.resolve().as_posix(), "Path(SPEC)"
    return f'''"""Tests of a pipeline's spec and custom features, written by `airloop new` (extend them).

They load the real spec, call the custom function the way the feature task does, and build a feature frame from
a few made-up rows that fit the schema, so a broken contract shows here rather than in a DAG run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airloop import PipelineSpec, build_features, feature_columns, load_spec, resolve_function, validate_frame

pytestmark = pytest.mark.unit

NAME = "{name}"
MODULE = "{module_name(name)}"
SPEC = "{rel}"
SPEC_PATH = {where}


@pytest.fixture(scope="module")
def spec() -> PipelineSpec:
    return load_spec(SPEC_PATH)


def sample_rows(spec: PipelineSpec, n: int = 6) -> pd.DataFrame:
    """n rows that fit the schema: values inside min/max, categories from their domain, row 0 missing where allowed."""
    data = {{}}
    for name, col in spec.schema.columns.items():
        if col.dtype == "datetime":
            values = pd.Series(pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"))
        elif col.domain:
            values = pd.Series([col.domain[i % len(col.domain)] for i in range(n)])
        elif col.dtype == "string":
            values = pd.Series([f"{{name}}-{{i}}" for i in range(n)])
        elif col.dtype == "bool":
            values = pd.Series([i % 2 == 0 for i in range(n)])
        else:
            low = col.min if col.min is not None else 0.0
            high = col.max if col.max is not None else low + 100.0
            values = pd.Series(np.linspace(low, high, n))
            if col.dtype == "int":
                values = values.round().astype("int64")
        if col.nullable:
            values = values.astype(object).where(values.index != 0, None)
        data[name] = values
    return pd.DataFrame(data)


def test_spec_loads(spec):
    assert spec.name == NAME


def test_missing_count_counts_missing_inputs():
    fn = resolve_function(f"{{MODULE}}:missing_count", [SPEC_PATH.parent])
    df = pd.DataFrame({{"a": [1.0, None, None], "b": ["x", "y", None]}})
    assert fn(df).tolist() == [0, 1, 2]


def test_features_build_from_rows_that_fit_the_schema(spec):
    rows = sample_rows(spec)
    result = validate_frame(rows, spec)
    assert result.report.valid, result.report.summary()  # edit sample_rows if the schema outgrew it
    built = build_features(result.valid_rows, spec)
    columns = feature_columns(spec)
    assert len(built) == len(rows)
    assert list(built.columns)[-len(columns) :] == columns
    for column in columns:
        assert built[column].dtype == np.float32, column
'''


# ------------------------------------------------------------------------------------------------------ the plan


@dataclass(frozen=True)
class Scaffold:
    """The files `airloop new` writes, by path, and the spec text checked to load."""

    spec_path: Path
    module_path: Path
    test_path: Path
    files: dict[Path, str]


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
    _check_loads(text, spec_path)
    files = {
        spec_path: text,
        module_path: features_module(name),
        test_path: features_test(name, spec_path, test_path),
    }
    return Scaffold(spec_path, module_path, test_path, files)


def _check_loads(text: str, spec_path: Path) -> None:
    """The written spec must load: a failure here is a bug in the inference, said plainly rather than written."""
    from airloop.catalog import parse_spec

    try:
        parse_spec(yaml.safe_load(text), str(spec_path))
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
    dags = ", ".join(f"{name}__{d}" for d in ("features", "train", "monitor", "retrain", "score"))
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
            "  3. start Airflow and MLflow: make demo (or airloop stack up); the DAG factory builds",
            f"     {dags} from the spec (Airflow UI: http://localhost:8080)",
            f"  4. drop batches ({pattern}) into {landing}: labelled ones train and are checked for drift,",
            "     unlabelled ones are scored",
        ]
    )
