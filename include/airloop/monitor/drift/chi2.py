"""Pearson chi-square test of homogeneity (categorical) on the 2×K table of category counts.

Rows are reference and current, columns the union of both sides' categories (a category absent from both does not
exist here, so no column has a zero expected count). Statistic and p-value equal
`scipy.stats.chi2_contingency(table, correction=False)`'s, computed directly (expected = row sum × column sum / total,
K − 1 degrees of freedom). A single category on both sides has 0 degrees of freedom: statistic 0, p-value 1, as in
scipy.

Default threshold 0.05 on the p-value: drift when p < 0.05.
"""

from __future__ import annotations

import numpy as np

from airloop.monitor.drift.columns import category_counts
from airloop.monitor.drift.registry import Statistic, register


def _chi2(reference: np.ndarray, current: np.ndarray) -> tuple[float, float | None]:
    """Chi-square statistic and p-value for "both sides share one category distribution"."""
    table = np.vstack(category_counts(reference, current)).astype(np.float64)
    dof = table.shape[1] - 1
    if dof == 0:
        return 0.0, 1.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    from scipy import stats  # late: spec checks load this at DAG parse; no scipy there

    return statistic, float(stats.chi2.sf(statistic, dof))


CHI2 = register(Statistic("chi2", {"categorical": _chi2}, threshold=0.05, direction="below", doc=_chi2.__doc__ or ""))
