"""A spec's schema inferred from a sample batch (`airloop new --from`), or the example schema of a skeleton.

The inference is a starting point a person reviews, not a contract: dtypes, nullability, category domains, the
roles (id, time, label) and which columns no first feature reads. It leaves value ranges out (a range guessed from
one file would quarantine the next file's legitimate extremes) and only notes them, as YAML comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airloop.dev.scaffold.rules import ScaffoldError

if TYPE_CHECKING:
    import pandas as pd

# A text column becomes a category (with its values as the domain) when it has at most CATEGORY_MAX distinct values,
# or at most CATEGORY_SHARE of the sample's rows (a big sample's code lists), and its values repeat (at most half as
# many distinct values as rows); anything else is free text (or an identifier) that no first feature reads.
CATEGORY_MAX = 50
CATEGORY_SHARE = 0.01
CATEGORY_RULE = f"a category: ≤ {CATEGORY_MAX} distinct values or ≤ {CATEGORY_SHARE:.0%} of rows"
LABEL_CLASSES_MAX = 100  # a multiclass text label with more distinct values than this is refused
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
ID_NAME = re.compile(r"^(id|.*_id|.*id)$", re.IGNORECASE)
LABEL_NAMES = ("label", "target", "y", "class", "outcome")
SCORING_NOTE = "absent in batches sent for scoring"


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


def fmt_number(value: float) -> str:
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
        return Column(name, kind, nullable, note=f"observed {fmt_number(lo)} … {fmt_number(hi)}")
    if kind != "text":
        return Column(name, kind, nullable)
    distinct = values.astype(str).unique()
    n = len(distinct)
    if is_category(n, len(values)):
        return Column(name, "category", nullable, domain=sorted(str(v) for v in distinct), note=f"{n} distinct values")
    return Column(name, "string", nullable, note=f"{n} distinct values in the sample: too many for {CATEGORY_RULE}")


def is_category(distinct: int, rows: int) -> bool:
    """The categorical-code rule (CATEGORY_MAX, CATEGORY_SHARE): few distinct values, each seen more than once."""
    few = distinct <= max(CATEGORY_MAX, int(rows * CATEGORY_SHARE))
    return 0 < distinct <= max(2, rows // 2) and few


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


def _pick_time(given: str | None, kinds: dict[str, str], exclude: set[str]) -> str | None:
    if given:
        if kinds[given] != "datetime":
            raise ScaffoldError(f"--time-column '{given}' does not hold timestamps (its values look {kinds[given]})")
        return given
    stamps = [c for c, k in kinds.items() if k == "datetime" and c not in exclude]
    if len(stamps) == 1:
        return stamps[0]
    if len(stamps) > 1:
        raise ScaffoldError(f"several timestamp columns ({', '.join(stamps)}): pass --time-column COL for the split")
    return None  # no time column: the spec splits at random


def _pick_label(df: pd.DataFrame, given: str | None) -> str:
    if given:
        return given
    for c in df.columns:
        if str(c).lower() in LABEL_NAMES:
            return str(c)
    raise ScaffoldError(f"no label column found (none is named {', '.join(LABEL_NAMES)}): pass --label COL")


def _binary_label(s: pd.Series, name: str, kind: str, nullable: bool) -> Column:
    if kind == "bool":
        return Column(name, "bool", nullable, required=False, note=SCORING_NOTE)
    numeric = kind in ("int", "float")
    values = s.dropna()
    numbers = sorted({float(v) for v in values}) if numeric else []
    if not numeric or not set(numbers) <= {0.0, 1.0}:
        seen = [fmt_number(v) for v in numbers] if numeric else [repr(v) for v in sorted({str(v) for v in values})]
        raise ScaffoldError(
            f"label '{name}' holds {', '.join(seen[:5])}{' …' if len(seen) > 5 else ''}: a binary label is 0/1 or "
            "true/false (map it to 0/1 first, or choose --task multiclass)"
        )
    return Column(name, "int", nullable, min=0, max=1, required=False, note=SCORING_NOTE)


def _multiclass_label(s: pd.Series, name: str, kind: str, nullable: bool) -> Column:
    if kind == "int":
        return Column(name, "int", nullable, required=False, note=SCORING_NOTE)
    if kind != "text":
        raise ScaffoldError(f"label '{name}' is {kind}: a multiclass label is an int or text column of classes")
    classes = sorted({str(v) for v in s.dropna()})
    if len(classes) > LABEL_CLASSES_MAX:
        raise ScaffoldError(f"label '{name}' has {len(classes)} distinct values: too many classes for multiclass")
    return Column(name, "category", nullable, domain=classes, required=False, note=SCORING_NOTE)


def _label_column(s: pd.Series, name: str, task: str) -> tuple[Column, float | None]:
    """The label's column spec for the task (and, for regression, its scale); refuses labels the task cannot
    learn from, saying what to do."""
    import numpy as np

    kind = _kind(s)
    nullable = bool(s.isna().any())
    if task == "binary":
        return _binary_label(s, name, kind, nullable), None
    if task == "multiclass":
        return _multiclass_label(s, name, kind, nullable), None
    if kind not in ("int", "float"):
        raise ScaffoldError(f"label '{name}' is {kind}: a regression label is a number")
    values = s.dropna()
    scale = float(np.std(values.to_numpy(dtype="float64"))) if len(values) > 1 else None
    return Column(name, kind, nullable, required=False, note=SCORING_NOTE), scale


def _pick_roles(
    df: pd.DataFrame, label: str | None, time_column: str | None, id_column: str | None
) -> tuple[str, str, str | None, dict[str, str]]:
    """The label, id and time columns (given or found) and every column's kind; refuses a column in two roles."""
    for role, col in (("--label", label), ("--time-column", time_column), ("--id-column", id_column)):
        if col is not None and col not in df.columns:
            raise ScaffoldError(f"{role} '{col}' is not a column of the sample (columns: {', '.join(df.columns)})")
    label = _pick_label(df, label)
    id_col = _pick_id(df, id_column)
    if id_col == label:
        raise ScaffoldError(f"'{label}' cannot be both the id column and the label")
    kinds = {c: _kind(df[c]) for c in df.columns}
    time_col = _pick_time(time_column, kinds, {id_col, label})
    if time_col in (id_col, label):
        raise ScaffoldError(f"'{time_col}' cannot be both the time column and the id column or label")
    return label, id_col, time_col, kinds


def infer_schema(
    df: pd.DataFrame,
    *,
    task: str = "binary",
    label: str | None = None,
    time_column: str | None = None,
    id_column: str | None = None,
) -> Inferred:
    """Infer a spec's schema from a sample batch (a starting point for a person to review).

    Dtypes map to string/int/float/bool/datetime/category (text with few distinct values, by `is_category`, is a
    category whose domain is those values); nullable where the sample has missing values; the id column is unique.
    Ranges are left out on purpose and only noted in comments. Raises `ScaffoldError` for roles it cannot find or
    a label the task cannot learn from.
    """
    if df.empty or not len(df.columns):
        raise ScaffoldError("the sample has no rows or no columns to infer a schema from")
    df = df.rename(columns=str)
    label, id_col, time_col, kinds = _pick_roles(df, label, time_column, id_column)
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
                skipped[name] = f"free text or an identifier, not {CATEGORY_RULE} (a custom function could use it)"
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
        target = Column(label, "int", min=0, max=1, required=False, note=SCORING_NOTE)
    elif task == "multiclass":
        target = Column(label, "category", domain=["class_a", "class_b", "class_c"], required=False, note=SCORING_NOTE)
    else:
        target = Column(label, "float", required=False, note=SCORING_NOTE)
    columns = [
        Column("id", "string", unique=True),
        Column(time_column, "datetime"),
        Column("amount", "float", min=0, note="example column: replace with your data's"),
        Column("channel", "category", domain=["web", "store", "phone"], note="example column"),
        target,
    ]
    return Inferred(columns, "id", time_column, label)
