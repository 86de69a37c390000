"""Population stability index (numeric): how far the current bin shares moved from the reference's.

`PSI = Σ (cur_i − ref_i) · ln(cur_i / ref_i)` over 10 bins cut at the reference's deciles (see
`airloop.monitor.drift.columns.quantile_bin_counts`: deduplicated cuts, outer bins open to ±inf, values above the
reference's maximum in a bin of their own), with `ref_i`, `cur_i` each side's share of values per bin.

Zero-count guard: a bin empty on one side would make the log infinite, so shares equal to 0 are replaced by 1e-4
(0.01 %) before the log, without renormalising; a bin empty on both sides then contributes exactly 0. This is the
convention of Evidently and most credit-risk tooling, so values are comparable with theirs.

Default threshold 0.1: drift when PSI ≥ 0.1 (the usual reading: < 0.1 stable, 0.1–0.25 moderate, > 0.25 major).
"""

from __future__ import annotations

import numpy as np

from airloop.monitor.drift.columns import quantile_bin_counts
from airloop.monitor.drift.registry import Statistic, register

N_BINS = 10
ZERO_SHARE = 1e-4


def _psi(reference: np.ndarray, current: np.ndarray) -> tuple[float, float | None]:
    """Population stability index on the reference's decile bins."""
    ref_counts, cur_counts = quantile_bin_counts(reference, current, N_BINS)
    ref_share = ref_counts / len(reference)
    cur_share = cur_counts / len(current)
    ref_share = np.where(ref_share == 0, ZERO_SHARE, ref_share)
    cur_share = np.where(cur_share == 0, ZERO_SHARE, cur_share)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share))), None


PSI = register(Statistic("psi", {"numeric": _psi}, threshold=0.1, direction="above", doc=_psi.__doc__ or ""))
