"""Two-sample Kolmogorov–Smirnov test (numeric): the largest gap between the two empirical CDFs.

The statistic is computed with numpy on the merged sorted sample and equals `scipy.stats.ks_2samp(ref, cur)`'s.
The p-value follows scipy's `method="auto"`: the exact distribution when both sides have at most 10 000 values
(scipy computes it, from a re-sort that is cheap at that size), else Smirnov's asymptotic `kstwo.sf(d, round(en))`
with `en = n·m / (n + m)`, the same formula scipy uses, without a second sort of a large sample.

Default threshold 0.05 on the p-value: drift when p < 0.05.
"""

from __future__ import annotations

import numpy as np

from airloop.monitor.drift.columns import merged_ecdf
from airloop.monitor.drift.registry import Statistic, register

EXACT_MAX_N = 10_000  # scipy's MAX_AUTO_N: at or below it `ks_2samp` uses the exact distribution


def _ks(reference: np.ndarray, current: np.ndarray) -> tuple[float, float | None]:
    """Kolmogorov–Smirnov statistic and two-sided p-value."""
    from scipy import stats  # late: spec checks load this at DAG parse; no scipy there

    values, ref_cdf, cur_cdf = merged_ecdf(reference, current)
    # Only the last of a run of equal values has both CDFs complete (scipy's `side="right"`).
    last = np.append(values[1:] != values[:-1], True)
    d = float(np.max(np.abs(ref_cdf[last] - cur_cdf[last])))
    n1, n2 = len(reference), len(current)
    if max(n1, n2) <= EXACT_MAX_N:
        p_value = float(stats.ks_2samp(reference, current).pvalue)
    else:
        en = float(n1) * float(n2) / (float(n1) + float(n2))
        p_value = float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0))
    return d, p_value


KS = register(Statistic("ks", {"numeric": _ks}, threshold=0.05, direction="below", doc=_ks.__doc__ or ""))
