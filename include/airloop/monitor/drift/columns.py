"""Column plumbing shared by `compare` and the statistics: kinds, values without missing ones, and counting.

Kind inference (when no spec or `kinds` says otherwise): integer and float dtypes are numeric; bool, string,
category and object are categorical (a bool has two values, not a scale); datetimes and timedeltas are skipped,
since their drift is the passage of time, not a change in the data.

Missing values never enter a statistic; each feature reports its missing share instead. For numeric columns
±inf counts as missing too: no statistic here has a finite value on infinite inputs.

The counting helpers work on whole arrays (sorting, `searchsorted`, `bincount`): no per-row Python.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from airloop.errors import DataError

NUMERIC = "numeric"
CATEGORICAL = "categorical"


def infer_kind(dtype) -> str | None:
    """`numeric`, `categorical`, or None for dtypes drift does not measure (datetimes, timedeltas, complex)."""
    api = pd.api.types
    if api.is_bool_dtype(dtype):
        return CATEGORICAL
    if (
        api.is_datetime64_any_dtype(dtype)
        or api.is_timedelta64_dtype(dtype)
        or isinstance(dtype, pd.PeriodDtype)
        or api.is_complex_dtype(dtype)
    ):
        return None
    if api.is_numeric_dtype(dtype):
        return NUMERIC
    return CATEGORICAL


def numeric_values(s: pd.Series) -> tuple[np.ndarray, float]:
    """Finite values as float64, and the share of rows that were missing (NaN, NA, None, ±inf)."""
    api = pd.api.types
    if api.is_datetime64_any_dtype(s.dtype) or api.is_timedelta64_dtype(s.dtype):
        raise DataError(f"column '{s.name}' has dtype {s.dtype}: drift cannot treat it as numeric")
    try:
        x = s.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        raise DataError(
            f"column '{s.name}' has non-numeric values (dtype {s.dtype}): cannot treat it as numeric"
        ) from None
    finite = np.isfinite(x)
    n = len(x)
    return x[finite], _share(n - int(finite.sum()), n)


def categorical_codes(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Both sides as integer codes of one shared set of categories (missing values dropped), and missing shares.

    Factorizing both sides together means equal values get equal codes even when the two frames hold different
    dtypes (say Arrow strings on one side and a pandas Categorical on the other).
    """
    both = pd.concat([reference.reset_index(drop=True), current.reset_index(drop=True)], ignore_index=True)
    codes, _ = pd.factorize(both, use_na_sentinel=True)
    ref, cur = codes[: len(reference)], codes[len(reference) :]
    ref_ok, cur_ok = ref >= 0, cur >= 0
    return (
        ref[ref_ok],
        cur[cur_ok],
        _share(len(ref) - int(ref_ok.sum()), len(ref)),
        _share(len(cur) - int(cur_ok.sum()), len(cur)),
    )


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def merged_ecdf(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both empirical CDFs evaluated at every value of the pooled sample, in sorted order.

    Returns `(values, ref_cdf, cur_cdf)`: `values` is the pooled sample sorted; at the last position of each run of
    equal values both CDFs equal scipy's `searchsorted(..., side="right") / n` (at earlier positions of a run they
    are partial, which matters to a maximum but not to an integral, where the gap to the next value is 0).

    Sorting each side and merging the two sorted runs with a stable argsort (timsort detects the runs) is about
    three times faster than scipy's sort-then-binary-search on 1M-row columns.
    """
    n_ref = len(reference)
    pooled = np.concatenate([np.sort(reference), np.sort(current)])
    order = np.argsort(pooled, kind="stable")
    values = pooled[order]
    ref_count = np.cumsum(order < n_ref)
    cur_count = np.arange(1, len(values) + 1) - ref_count
    return values, ref_count / n_ref, cur_count / len(current)


def quantile_bin_counts(reference: np.ndarray, current: np.ndarray, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Counts per bin on bins cut at the reference's quantiles, for both sides.

    Cut points are the reference's interior quantiles (deciles for 10 bins), deduplicated, so tied values (integer
    columns, point masses) shrink the number of bins rather than make empty ones. Bins are left-closed,
    `[cut_i, cut_i+1)`, and the outer bins are open to ±inf, so current values outside the reference's range still
    land in a bin. When the top cut is the reference's maximum (a point mass there, or a constant column), one more
    cut just above it gives values above the reference's maximum a bin of their own; without it a constant
    reference would share its only bin with any larger current values and never show drift.
    """
    probs = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    cuts = np.unique(np.quantile(reference, probs))
    top = reference.max()
    if cuts[-1] >= top:
        cuts = np.append(cuts, np.nextafter(top, np.inf))
    n = len(cuts) + 1
    ref_counts = np.bincount(np.searchsorted(cuts, reference, side="right"), minlength=n)
    cur_counts = np.bincount(np.searchsorted(cuts, current, side="right"), minlength=n)
    return ref_counts, cur_counts


def category_counts(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts per category over the union of both sides' categories (each category seen on at least one side)."""
    codes, uniques = pd.factorize(np.concatenate([reference, current]))
    n = len(uniques)
    return np.bincount(codes[: len(reference)], minlength=n), np.bincount(codes[len(reference) :], minlength=n)
