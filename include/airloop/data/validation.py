"""Schema validation of raw batches with Pandera, splitting a batch into valid rows and quarantined rows.

The Pandera schema is built from the spec, validated lazily (every failure collected, not just the first), and
the failure cases are folded into a report that both `airloop validate` and the feature DAG write as JSON. The
report never holds values of personal columns (spec `pii`): they read `<pii>`.
Row-level failures (a null, an out-of-range value, an unknown category, a duplicate id, a value that cannot be
coerced) quarantine only those rows; schema-level failures (a missing column, an unreadable file) fail the batch.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from airloop.errors import AirloopError, DataError, first_line

if TYPE_CHECKING:
    import pandas as pd
    import pandera.pandas as pa

    from airloop.spec import ColumnSpec, PipelineSpec

log = logging.getLogger(__name__)
MAX_EXAMPLES = 5
# A report is read by people and travels through XCom: one 5 MB cell must not become a 5 MB report.
MAX_EXAMPLE_CHARS = 200


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

    def summary(self) -> str:
        """One line for people: what failed, by column and check, with a first example.

        The JSON report holds every detail; this is the line a log, a CLI user or a task's failure reason shows,
        so it names the problem (the column and the check) rather than only counting rows.
        """
        if self.valid:
            return f"valid ({self.n_rows} rows)"
        return self.describe(self.batch_error or f"{self.n_invalid_rows} of {self.n_rows} rows invalid")

    def describe(self, head: str) -> str:
        """`head`, followed by each failure as `column: check (count rows, e.g. example)`."""
        parts = []
        for f in self.failures:
            if f.check == "column_in_dataframe":
                continue  # a missing column is already named by the batch error
            example = f", e.g. {_short(f.examples[0])}" if f.examples and f.examples[0] is not None else ""
            rows = "row" if f.count == 1 else "rows"
            parts.append(f"{f.column or '(frame)'}: {f.check.split('(', 1)[0]} ({f.count} {rows}{example})")
        return f"{head}: {'; '.join(parts)}" if parts else head

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
        if name == spec.label.column:
            checks += _label_checks(spec, col)
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


def _label_checks(spec: PipelineSpec, col: ColumnSpec) -> list:
    """What the label must hold for its task, beyond the column's own checks.

    A binary label is 0 or 1 (unless its min/max already say so, or it is a bool); a multiclass label with
    declared `classes` is one of them. A wrong label quarantines its row here, not the whole training run later.
    """
    import pandera.pandas as pa

    task = spec.label.task
    if task == "binary" and col.dtype != "bool":
        bounded = col.min is not None and col.max is not None and col.min >= 0 and col.max <= 1
        return [] if bounded else [pa.Check.isin([0, 1])]
    if task == "multiclass" and spec.label.classes is not None:
        return [pa.Check.isin(spec.label.classes)]
    return []


def rejection_reason(report: ValidationReport, max_invalid_share: float) -> str | None:
    """Why the feature step rejects a whole batch, or None when its valid rows are curated (the rest quarantined).

    One rule shared by the feature step and `airloop validate`, so the CLI says what the DAG will do.
    """
    if report.batch_error:
        return report.batch_error
    if report.n_rows and report.n_invalid_rows >= report.n_rows:
        return report.describe(f"all {report.n_rows} rows invalid")
    if report.invalid_share > max_invalid_share:
        return report.describe(
            f"{report.n_invalid_rows} of {report.n_rows} rows invalid "
            f"({report.invalid_share:.1%} > max_invalid_share {max_invalid_share:.1%})"
        )
    return None


def read_table(uri: str) -> pd.DataFrame:
    """Read a Parquet or CSV batch; a file that cannot be read becomes a `DataError` with a one-line reason.

    An `AirloopError` from storage (`ServiceUnavailable`: S3 down) passes through unchanged: an unreachable store
    says nothing about the batch, which must stay pending rather than be rejected.
    """
    import pandas as pd

    from airloop import uris
    from airloop.store import storage

    name = uri.rsplit("/", 1)[-1].lower()
    try:
        if uris.is_local(uri):
            path = uris.local_path(uri)
            if not path.exists():
                raise DataError(f"{path}: no such file")
            if path.is_dir():
                raise DataError(f"{path}: is a directory, not a file")
            source: Any = path
        else:
            source = io.BytesIO(storage.read_bytes(uri))  # one fresh GET: never a stale cached listing
        if name.endswith(".csv"):
            return pd.read_csv(source)
        df = pd.read_parquet(source)
        _check_utf8(df, uri)
        return df
    except AirloopError:
        raise
    except Exception as exc:  # pyarrow/pandas raise many types for corrupt input; the reason is what matters
        reason = first_line(exc)
        reason = re.sub(r"^Could not open Parquet input source '[^']*': ", "", reason)  # the path is said once
        if isinstance(exc, UnicodeDecodeError):
            reason += " (the file is not UTF-8: re-encode it as UTF-8)"
        raise DataError(f"{uri}: cannot read as {'CSV' if name.endswith('.csv') else 'Parquet'}: {reason}") from None


def _check_utf8(df: pd.DataFrame, uri: str) -> None:
    """Refuse Parquet string columns holding bytes that are not UTF-8 (a writer with the wrong encoding).

    Arrow-backed string columns are not decoded when read, so such bytes would pass validation, be curated and
    fail much later (or never, silently wrong). Checking here names the column while the raw batch is at hand.
    """
    import pandas as pd
    import pyarrow as pa

    for name in df.columns:
        dtype = df[name].dtype
        if not isinstance(dtype, pd.StringDtype) or dtype.storage != "pyarrow":
            continue  # Python-backed strings were decoded on read: they are valid text
        try:
            df[name].array.__arrow_array__().validate(full=True)
        except pa.ArrowInvalid as exc:
            detail = re.sub(r"^In chunk \d+: Invalid: ", "", str(exc).strip().splitlines()[0])
            raise DataError(f"{uri}: column '{name}' is not valid UTF-8 text (wrong encoding?): {detail}") from None


def validate_frame(df: pd.DataFrame, spec: PipelineSpec, *, require_label: bool = False) -> ValidationResult:
    """Validate a raw batch; never modifies `df`. Returns the report and the coerced valid rows.

    The report's example values of personal columns (spec `pii`) read `<pii>`; the valid rows stay raw, for the
    feature step to drop or hash (`airloop.data.pii.apply`).
    """
    import pandas as pd
    import pandera.errors as pe

    from airloop.data.pii import mask_report

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
        undeclared = [str(c) for c in df.columns if c not in spec.schema_.columns]
        if result.report.batch_error and undeclared and any(f.check == "column_in_dataframe" for f in failures):
            # A missing column next to an unknown one is most often a rename upstream: say so.
            shown = ", ".join(_short(c) for c in undeclared[:MAX_EXAMPLES])
            result.report.batch_error += f"; undeclared columns present (renamed?): {shown}"
    else:
        if bad.any():
            report = ValidationReport(False, n, int(bad.sum()), failures)
            result = ValidationResult(report, coerced.loc[~bad] if (~bad).any() else None, bad)
        else:
            result = ValidationResult(ValidationReport(True, n, 0), coerced, bad)
    if not positional and result.valid_rows is not None and result.invalid_mask is not None:
        result.valid_rows.index = original_index[~result.invalid_mask]
    mask_report(result.report, spec)  # every reader of a report (JSON, logs, the CLI) sees no personal values
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
    """JSON-friendly example values (numpy scalars, timestamps, NaN, ±inf), long text cut to `MAX_EXAMPLE_CHARS`.

    Infinity becomes the string "inf"/"-inf": `json.dumps` would otherwise write `Infinity`, which is not JSON.
    """
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if np.isnan(value):
            return None
        if np.isinf(value):
            return "inf" if value > 0 else "-inf"
    if isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_EXAMPLE_CHARS:
        return f"{text[:MAX_EXAMPLE_CHARS]}… ({len(text):,} characters)"
    return text


def _short(value: Any, limit: int = 40) -> str:
    """A value quoted for a one-line summary, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
