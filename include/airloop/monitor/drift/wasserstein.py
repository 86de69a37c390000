"""Normed Wasserstein (earth mover's) distance (numeric), as Evidently uses it.

`wasserstein_distance(ref, cur) / max(std(ref), 0.001)`: the 1-D distance is the area between the two empirical
CDFs, computed with numpy on the merged sorted sample (equal to `scipy.stats.wasserstein_distance`). Dividing by the
reference's (population) standard deviation makes it unit-free, so one threshold fits amounts and ages alike; the
0.001 floor keeps a constant reference column from dividing by zero.

Default threshold 0.1: drift when the normed distance ≥ 0.1, i.e. the mass moved a tenth of a standard deviation.
"""

from __future__ import annotations

import numpy as np

from airloop.monitor.drift.columns import merged_ecdf
from airloop.monitor.drift.registry import Statistic, register

MIN_NORM = 0.001


def _wasserstein(reference: np.ndarray, current: np.ndarray) -> tuple[float, float | None]:
    """Wasserstein distance divided by the reference's standard deviation (floored at 0.001)."""
    values, ref_cdf, cur_cdf = merged_ecdf(reference, current)
    distance = float(np.sum(np.abs(ref_cdf[:-1] - cur_cdf[:-1]) * np.diff(values)))
    return distance / max(float(np.std(reference)), MIN_NORM), None


WASSERSTEIN = register(
    Statistic(
        "wasserstein", {"numeric": _wasserstein}, threshold=0.1, direction="above", doc=_wasserstein.__doc__ or ""
    )
)
