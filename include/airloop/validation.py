"""Schema validation of raw batches with Pandera, splitting a batch into valid rows and quarantined rows.

The Pandera schema is built from the spec, validated lazily (every failure collected, not just the first), and
the failure cases are folded into a report that both `airloop validate` and the feature DAG write as JSON.
Row-level failures (a null, an out-of-range value, an unknown category, a duplicate id, a value that cannot be
coerced) quarantine only those rows; schema-level failures (a missing column, an unreadable file) fail the batch.
"""

from __future__ import annotations

import io
import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from airloop.errors import DataError

if TYPE_CHECKING:
    import pandas as pd
    import pandera.pandas as pa

    from airloop.spec import ColumnSpec, PipelineSpec

log = logging.getLogger(__name__)
MAX_EXAMPLES = 5


@dataclass
class Failure:
    column: str | None
    check: str
    count: int
    examples: list[Any]


@dataclass
class ValidationReport:
    valid: bool
    n_rows: int
    n_invalid_rows: int
    failures: list[Failure] = field(default_factory=list)
    batch_error: str | None = None  # set when the batch as a whole is unusable

    @property
    def invalid_share(self) -> float:
        return self.n_invalid_rows / self.n_rows if self.n_rows else 1.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.batch_error is None:
            out.pop("batch_error")
        return out


@dataclass
class ValidationResult:
    report: ValidationReport
    valid_rows: pd.DataFrame | None  # coerced, valid rows only; None when the batch failed as a whole
    invalid_mask: np.ndarray | None  # over the input rows


def _target_dtype(col: ColumnSpec):
    """The pandas dtype a column is coerced to; nullable-capable, so a null is a check failure, not a crash."""
    import pandas as pd

    return {
        "string": pd.StringDtype(),
        "category": pd.StringDtype(),
        "int": pd.Int64Dtype(),
        "float": np.dtype("float64"),
        "bool": pd.BooleanDtype(),
        "datetime": pd.DatetimeTZDtype("us", "UTC"),
    }[col.dtype]


def coerce_frame(df: pd.DataFrame, spec: PipelineSpec) -> tuple[pd.DataFrame, list[Failure], np.ndarray]:
    """Convert declared columns to their spec dtypes; values that cannot be converted become row failures.

    Done here rather than with Pandera's `coerce=True` because Pandera reports a failed coercion as a
    schema-level failure, which would reject a whole batch for one bad cell. Columns already of the right
    dtype are not copied.
    """
    import pandas as pd

    out = {}
    failures: list[Failure] = []
    bad = np.zeros(len(df), dtype=bool)
    for name, col in spec.schema_.columns.items():
        if name not in df.columns:
            continue
        s = df[name]
        target = _target_dtype(col)
        if _acceptable(s.dtype, col):
            continue
        try:
            if col.dtype in ("int", "float"):
                num = pd.to_numeric(s, errors="coerce")
                if col.dtype == "int":
                    integral = num.isna() | (num == np.floor(num))
                    num = num.where(integral)
                converted = num.astype(target)
            elif col.dtype == "bool":
                converted = s.map(_BOOLS, na_action="ignore").astype(target) if s.dtype == object else s.astype(target)
            elif col.dtype == "datetime":
                converted = pd.to_datetime(s, utc=True, errors="coerce", format="mixed").astype(target)
            else:
                converted = s.astype(target)
        except (TypeError, ValueError):
            converted = pd.Series(pd.NA, index=s.index, dtype=target)
        lost = (s.notna() & converted.isna()).to_numpy()
        if lost.any():
            bad |= lost
            examples = [_plain(v) for v in s[lost].drop_duplicates().head(MAX_EXAMPLES)]
            failures.append(Failure(name, f"coerce_dtype('{col.dtype}')", int(lost.sum()), examples))
        out[name] = converted
    if out:
        df = df.assign(**out)
    return df, failures, bad


def _acceptable(dtype, col: ColumnSpec) -> bool:
    """Already-typed columns (int64 for an int, bool for a bool) pass as they are: no copy, no conversion."""
    import pandas as pd

    kind = getattr(dtype, "kind", "O")
    match col.dtype:
        case "int":
            return kind in "iu"
        case "float":
            return kind == "f"
        case "bool":
            return kind == "b"
        case "datetime":
            return dtype == pd.DatetimeTZDtype("us", "UTC")
        case _:
            return isinstance(dtype, pd.StringDtype)


_BOOLS = {
    True: True,
    False: False,
    "true": True,
    "false": False,
    "True": True,
    "False": False,
    "1": True,
    "0": False,
}


def build_schema(spec: PipelineSpec, *, require_label: bool = False) -> pa.DataFrameSchema:
    """The Pandera schema for a pipeline's coerced batches (label required only where training needs it)."""
    import pandera.pandas as pa

    columns = {}
    for name, col in spec.schema_.columns.items():
        checks = []
        if col.min is not None and col.max is not None:
            checks.append(pa.Check.in_range(col.min, col.max))
        elif col.min is not None:
            checks.append(pa.Check.ge(col.min))
        elif col.max is not None:
            checks.append(pa.Check.le(col.max))
        if col.domain:
            checks.append(pa.Check.isin(col.domain))
        required = col.required or (require_label and name == spec.label.column)
        columns[name] = pa.Column(
            None,  # dtypes are guaranteed by coerce_frame, which reports bad cells row by row
            checks=checks,
            nullable=col.nullable,
            unique=col.unique,
            report_duplicates="exclude_first",
            required=required,
        )
    return pa.DataFrameSchema(columns, name=spec.name, strict=False)


def read_table(uri: str) -> pd.DataFrame:
    """Read a Parquet or CSV batch; any failure becomes a `DataError` with a one-line reason."""
    import pandas as pd

    from airloop import storage

    name = uri.rsplit("/", 1)[-1].lower()
    try:
        if storage.is_local(uri):
            path = storage.local_path(uri)
            if not path.exists():
                raise DataError(f"{path}: no such file")
            if path.is_dir():
                raise DataError(f"{path}: is a directory, not a file")
            source: Any = path
        else:
            source = io.BytesIO(storage.read_bytes(uri))  # one fresh GET: never a stale cached listing
        if name.endswith(".csv"):
            return pd.read_csv(source)
        return pd.read_parquet(source)
    except DataError:
        raise
    except Exception as exc:  # pyarrow/pandas raise many types for corrupt input; the reason is what matters
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{uri}: cannot read as {'CSV' if name.endswith('.csv') else 'Parquet'}: {reason}") from None


def validate_frame(df: pd.DataFrame, spec: PipelineSpec, *, require_label: bool = False) -> ValidationResult:
    """Validate a raw batch; never modifies `df`. Returns the report and the coerced valid rows."""
    import pandas as pd
    import pandera.errors as pe

    n = len(df)
    if n == 0:
        report = ValidationReport(False, 0, 0, [], batch_error="the batch has no rows")
        return ValidationResult(report, None, None)
    original_index = df.index
    positional = isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1
    if not positional:  # failure cases name rows by index label: make labels unique positions first
        df = df.reset_index(drop=True)
    coerced, failures, bad = coerce_frame(df, spec)
    schema = build_schema(spec, require_label=require_label)
    try:
        schema.validate(coerced, lazy=True, inplace=True)
    except pe.SchemaErrors as exc:
        result = _from_errors(coerced, exc, failures, bad)
    else:
        if bad.any():
            report = ValidationReport(False, n, int(bad.sum()), failures)
            result = ValidationResult(report, coerced.loc[~bad] if (~bad).any() else None, bad)
        else:
            result = ValidationResult(ValidationReport(True, n, 0), coerced, bad)
    if not positional and result.valid_rows is not None:
        result.valid_rows.index = original_index[~result.invalid_mask]
    return result


def _from_errors(df: pd.DataFrame, exc, failures: list[Failure], bad: np.ndarray) -> ValidationResult:
    import pandas as pd

    fc = exc.failure_cases.copy()
    missing = fc["check"] == "column_in_dataframe"
    fc.loc[missing, "column"] = fc.loc[missing, "failure_case"]
    n = len(df)
    coerced_cols = {f.column for f in failures}
    for (column, check), group in fc.groupby(["column", "check"], dropna=False, sort=True):
        if check == "not_nullable" and column in coerced_cols:
            group = group[~bad[df.index.get_indexer(group["index"])]]  # already reported as coercion failures
            if group.empty:
                continue
        examples = [_plain(v) for v in group["failure_case"].drop_duplicates().head(MAX_EXAMPLES)]
        failures.append(Failure(None if pd.isna(column) else str(column), str(check), len(group), examples))
    row_level = fc["index"].notna()
    if (~row_level).any():
        # A missing column or a column of the wrong kind: no row of this batch can be trusted.
        what = "; ".join(
            sorted(
                {f"{c}: {k}" for c, k in zip(fc.loc[~row_level, "column"], fc.loc[~row_level, "check"], strict=True)}
            )
        )
        report = ValidationReport(False, n, n, failures, batch_error=f"schema-level failure ({what})")
        return ValidationResult(report, None, np.ones(n, dtype=bool))
    invalid = bad | df.index.isin(pd.Index(fc.loc[row_level, "index"].unique()))
    report = ValidationReport(False, n, int(invalid.sum()), failures)
    return ValidationResult(report, df.loc[~invalid] if (~invalid).any() else None, invalid)


def _plain(value: Any) -> Any:
    """JSON-friendly example values (numpy scalars, timestamps, NaN)."""
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)
