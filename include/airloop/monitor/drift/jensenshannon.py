"""Jensen–Shannon distance (numeric and categorical) between the two sides' histograms.

The distance is `scipy.spatial.distance.jensenshannon(p, q, base=2)`: the square root of the Jensen–Shannon
divergence measured in bits, so it lies in [0, 1] (0: same histogram; 1: no shared support). It is computed here with
the same operations as scipy, except that a rounding-level negative divergence is clamped to 0 (scipy would return
NaN from its square root).

Histograms: categorical columns use category counts over the union of both sides' categories, so a category seen
only in the current data counts fully. Numeric columns use the same 10 reference-decile bins as PSI (outer bins open
to ±inf), rather than equal-width bins over the pooled range: quantile bins follow the reference's mass, so a few
extreme values cannot squash the bulk of a skewed column (amounts, distances) into one bin.

Default threshold 0.1: drift when the distance ≥ 0.1.
"""

from __future__ import annotations

import numpy as np

from airloop.monitor.drift.columns import category_counts, quantile_bin_counts
from airloop.monitor.drift.registry import Statistic, register

N_BINS = 10


def js_distance(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    """Base-2 Jensen–Shannon distance between two count (or weight) vectors over the same bins."""
    p = p_counts / np.sum(p_counts)
    q = q_counts / np.sum(q_counts)
    m = (p + q) / 2.0
    from scipy.special import rel_entr  # late: spec checks load this at DAG parse; no scipy there

    js = (np.sum(rel_entr(p, m)) + np.sum(rel_entr(q, m))) / np.log(2.0)
    return float(np.sqrt(max(js / 2.0, 0.0)))


def _js_numeric(reference: np.ndarray, current: np.ndarray) -> tuple[float, float | None]:
    """Jensen–Shannon distance on the reference's decile bins."""
    return js_distance(*quantile_bin_counts(reference, current, N_BINS)), None


def _js_categorical(reference: np.ndarray, current: np.ndarray) -> tuple[float, float | None]:
    """Jensen–Shannon distance between category frequencies."""
    return js_distance(*category_counts(reference, current)), None


JENSENSHANNON = register(
    Statistic(
        "jensenshannon",
        {"numeric": _js_numeric, "categorical": _js_categorical},
        threshold=0.1,
        direction="above",
        doc="Jensen–Shannon distance (base 2) between histograms.",
    )
)
