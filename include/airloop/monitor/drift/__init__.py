"""Data drift: compare a current batch with a reference, column by column, and decide for the dataset.

Exports `compare` (two DataFrames in, a `DriftReport` out), `drift_for_spec` (the same, driven by a pipeline spec's
schema and `drift` section), the report types, and the statistic registry (`STATISTICS`, `get_statistic`,
`auto_method`). Statistics live one per module (`ks`, `wasserstein`, `psi`, `jensenshannon`, `chi2`); importing this
package registers them all.

Per column: missing values are dropped (and reported as a share), the statistic is chosen (`method`, else the `auto`
rule on the non-missing counts), and the column drifts when its statistic crosses its threshold. The dataset drifts
when the share of drifted columns is at least `drift_share`.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from airloop.errors import DataError, SpecError
from airloop.monitor.drift.columns import CATEGORICAL, NUMERIC, categorical_codes, infer_kind, numeric_values
from airloop.monitor.drift.parquet import ParquetColumns
from airloop.monitor.drift.registry import (
    AUTO_MAX_ROWS,
    KINDS,
    STATISTICS,
    Statistic,
    auto_method,
    check_method,
    get_statistic,
    register,
)
from airloop.monitor.drift.report import DriftReport, FeatureDrift
from airloop.monitor.drift_methods import BUILTIN_STATISTICS

for _name in BUILTIN_STATISTICS:  # each module registers its statistic
    importlib.import_module(f"{__name__}.{_name}")

if TYPE_CHECKING:
    import pandas as pd

    from airloop.spec import PipelineSpec

__all__ = [
    "AUTO_MAX_ROWS",
    "KINDS",
    "ParquetColumns",
    "STATISTICS",
    "DriftReport",
    "FeatureDrift",
    "Statistic",
    "auto_method",
    "compare",
    "drift_for_spec",
    "get_statistic",
    "id_like_columns",
    "register",
]

log = logging.getLogger(__name__)

# Spec dtypes → drift kinds; datetimes are absent on purpose (skipped).
_SPEC_KINDS = {"int": NUMERIC, "float": NUMERIC, "category": CATEGORICAL, "string": CATEGORICAL, "bool": CATEGORICAL}


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: Iterable[str] | None = None,
    kinds: Mapping[str, str] | None = None,
    method: str = "auto",
    drift_share: float = 0.5,
    thresholds: Mapping[str, float] | None = None,
    skip: Iterable[str] = (),
) -> DriftReport:
    """Measure drift of `current` against `reference`, column by column.

    Args:
        reference: The data the model was trained on (or a trusted recent window).
        current: The batch to check.
        columns: Columns to compare; each must exist in both frames. Default: every column present in both whose
            kind can be inferred (datetimes are skipped).
        kinds: `numeric` or `categorical` per column, overriding inference (e.g. an integer code that is really a
            category).
        method: `auto`, or a statistic name that is then used for every column of a kind it applies to (`chi2` on
            categorical columns; `ks`, `wasserstein`, `psi` on numeric ones; `jensenshannon` on both); other
            columns fall back to `auto`.
        drift_share: Share of drifted columns (0 < share ≤ 1) at which the dataset counts as drifted.
        thresholds: Threshold per statistic name overriding its default, e.g. `{"wasserstein": 0.2}` (tests:
            a p-value in (0, 1); distances: a positive number).
        skip: Columns left out of the default (`columns=None`) selection, e.g. `id_like_columns(...)`.

    Returns:
        The per-column results and the dataset decision.

    Raises:
        SpecError: Unknown method, statistic or kind; a bad drift share or threshold; a datetime column asked for.
        DataError: A requested column is missing from a frame, or a numeric column holds non-numbers.
    """
    forced = check_method(method)
    if isinstance(columns, str):
        raise SpecError(f"columns must be a list of column names, got the string {columns!r}")
    if not (isinstance(drift_share, int | float) and 0.0 < drift_share <= 1.0):
        raise SpecError(f"drift_share must be in (0, 1], got {drift_share!r}")
    limits = _check_thresholds(thresholds or {})
    kinds = _check_kinds(kinds or {}, reference)
    features = {
        name: _column_drift(name, kind, reference, current, forced, limits)
        for name, kind in _plan(reference, current, columns, kinds, set(skip))
    }
    report = DriftReport(features, float(drift_share), len(reference), len(current))
    log.info(
        "drift: %d of %d columns drifted (%s); dataset drift %s",
        len(report.drifted_columns),
        len(features),
        ", ".join(map(str, report.drifted_columns)) or "none",
        "detected" if report.drift_detected else "not detected",
    )
    return report


def _check_kinds(kinds: Mapping[str, str], reference: pd.DataFrame) -> dict[str, str]:
    for name, kind in kinds.items():
        if kind not in KINDS:
            raise SpecError(f"kinds: column '{name}' has unknown kind '{kind}' (known: {', '.join(KINDS)})")
        if name not in reference.columns:
            raise DataError(f"kinds: column '{name}' is not in the reference data")
    return dict(kinds)


def _column_drift(
    name: str,
    kind: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    forced: Statistic | None,
    limits: Mapping[str, float],
) -> FeatureDrift:
    """One column's drift: missing values set aside, the statistic chosen (forced, else `auto`), then applied."""
    if kind == NUMERIC:
        ref, miss_ref = numeric_values(reference[name])
        cur, miss_cur = numeric_values(current[name])
    else:
        ref, cur, miss_ref, miss_cur = categorical_codes(reference[name], current[name])
    if forced is not None and forced.applies_to(kind):
        stat = forced
    else:
        stat = STATISTICS[auto_method(kind, len(ref), len(cur))]
    threshold = limits.get(stat.name, stat.threshold)
    outcome = stat.compute(ref, cur, kind, threshold)
    return FeatureDrift(
        column=name,
        kind=kind,
        method=stat.name,
        statistic=outcome.statistic,
        p_value=outcome.p_value,
        threshold=threshold,
        drifted=outcome.drifted,
        missing_share_reference=miss_ref,
        missing_share_current=miss_cur,
    )


def _check_thresholds(thresholds: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for name, value in thresholds.items():
        stat = get_statistic(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise SpecError(f"thresholds: '{name}' must be a positive number, got {value!r}")
        if stat.is_test and value >= 1:
            raise SpecError(f"thresholds: '{name}' is a p-value threshold and must be below 1, got {value!r}")
        out[name] = float(value)
    return out


def _plan(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Iterable[str] | None,
    kinds: dict[str, str],
    skip: set[str],
) -> list[tuple[str, str]]:
    """(column, kind) pairs to compare, in order."""
    if columns is None:
        plan = []
        for name in reference.columns:
            if name in skip:
                continue
            if name not in current.columns:
                log.info("drift: column '%s' is not in the current data; skipped", name)
                continue
            kind = kinds.get(name) or infer_kind(reference.dtypes[name])
            if kind is None:
                log.debug("drift: column '%s' (%s) skipped", name, reference.dtypes[name])
                continue
            plan.append((name, kind))
        return plan
    plan = []
    for name in columns:
        for side, frame in (("reference", reference), ("current", current)):
            if name not in frame.columns:
                raise DataError(f"drift column '{name}' is not in the {side} data")
        kind = kinds.get(name) or infer_kind(reference.dtypes[name])
        if kind is None:
            raise SpecError(
                f"drift column '{name}' has dtype {reference.dtypes[name]}; drift is measured on numeric or "
                "categorical columns (pass kinds={...} for a column that is one of them)"
            )
        plan.append((name, kind))
    return plan


def id_like_columns(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    """Shared int or text columns whose values are unique per row on both sides: row ids, not features.

    Every value of an id is new in the current batch, so a drift statistic on it reports "drift" that means nothing;
    without a spec to name the id column, this is how `airloop drift` recognises one (and says it skipped it).
    """
    import pandas as pd

    found = []
    for name in reference.columns:
        dtype = reference.dtypes[name]
        text = pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype)
        if name not in current.columns or not (pd.api.types.is_integer_dtype(dtype) or text):
            continue
        if all(len(frame) > 1 and _unique_per_row(frame[name]) for frame in (reference, current)):
            found.append(str(name))
    return found


def _unique_per_row(values: pd.Series) -> bool:
    return bool(values.notna().all() and values.is_unique)


def drift_for_spec(spec: PipelineSpec, reference_df: pd.DataFrame, current_df: pd.DataFrame) -> DriftReport:
    """`compare` driven by a pipeline spec: kinds from its schema, method, share and columns from `spec.drift`.

    Schema dtypes `category`, `string` and `bool` are categorical; `int` and `float` are numeric; datetimes are
    skipped. Without `drift.columns`, the id, time and label columns are skipped too (an id never repeats, time always
    moves on, and the label is absent from scoring batches); optional columns are compared only when both frames
    have them. Columns named in `drift.columns` are compared as asked, the label included.

    Raises:
        SpecError: `drift.columns` names an undeclared or datetime column, or `drift.method` is unknown.
        DataError: A compared column is missing from a frame.
    """
    schema = spec.schema
    if spec.drift.columns is not None:
        for name in spec.drift.columns:
            if name not in schema.columns:
                raise SpecError(f"field 'drift.columns': '{name}' is not a declared column")
            if schema.columns[name].dtype not in _SPEC_KINDS:
                raise SpecError(f"field 'drift.columns': '{name}' is a {schema.columns[name].dtype} column")
        names = list(spec.drift.columns)
    else:
        skip = {schema.id_column, schema.time_column, spec.label.column}
        names = [
            name
            for name, col in schema.columns.items()
            if name not in skip
            and col.dtype in _SPEC_KINDS
            and (col.required or (name in reference_df.columns and name in current_df.columns))
        ]
    return compare(
        reference_df,
        current_df,
        columns=names,
        kinds={name: _SPEC_KINDS[schema.columns[name].dtype] for name in names},
        method=spec.drift.method,
        drift_share=spec.drift.drift_share,
    )
