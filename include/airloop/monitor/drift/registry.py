"""The drift-statistic registry: one `Statistic` descriptor per statistic module, and the `auto` rule.

Each statistic lives in its own small module (`ks`, `wasserstein`, `psi`, `jensenshannon`, `chi2`) holding a private
pure function per column kind and a public descriptor registered here with `register`. Adding a statistic is one new
module named as the statistic plus its name in `airloop.monitor.drift_methods.BUILTIN_STATISTICS`; nothing else
changes.

A descriptor says which column kinds it applies to, its default threshold, and how the threshold reads: distances
drift when the statistic is *above* it (statistic ≥ threshold); tests drift when the p-value is *below* it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

from airloop.errors import SpecError
from airloop.monitor.drift_methods import AUTO, BUILTIN_STATISTICS, unknown_method

if TYPE_CHECKING:
    import numpy as np

KINDS = ("numeric", "categorical")
# Below this many values on the smaller side a test's p-value is the right yardstick (sampling noise is real); above
# it tests flag differences too small to matter, so auto switches to distances with fixed thresholds (Evidently's rule).
AUTO_MAX_ROWS = 1000

StatFn = Callable[["np.ndarray", "np.ndarray"], tuple[float, float | None]]


class Outcome(NamedTuple):
    statistic: float
    p_value: float | None
    drifted: bool


@dataclass(frozen=True)
class Statistic:
    """A registered drift statistic.

    Attributes:
        name: Registry name, also the `method` a user passes (`ks`, `psi`, ...).
        functions: Pure function per column kind it applies to; each takes the reference and current values as 1-D
            arrays with missing values already dropped and both sides non-empty, and returns `(statistic, p_value)`
            (`p_value` is None for distances).
        threshold: Default threshold.
        direction: `above`: drift when statistic ≥ threshold (distances); `below`: drift when p-value < threshold
            (tests).
        doc: One line for people (the function's docstring).
    """

    name: str
    functions: Mapping[str, StatFn]
    threshold: float
    direction: Literal["above", "below"]
    doc: str = ""

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.functions)

    @property
    def is_test(self) -> bool:
        return self.direction == "below"

    def applies_to(self, kind: str) -> bool:
        return kind in self.functions

    def compute(self, reference: np.ndarray, current: np.ndarray, kind: str, threshold: float | None = None) -> Outcome:
        """Statistic, p-value and decision for one column.

        An empty side (no values left after dropping missing ones) has one answer for every statistic, because
        there is nothing to compare: statistic 0.0, p-value 1.0 for tests and None for distances, not drifted.
        """
        threshold = self.threshold if threshold is None else threshold
        if len(reference) == 0 or len(current) == 0:
            return Outcome(0.0, 1.0 if self.is_test else None, False)
        try:
            fn = self.functions[kind]
        except KeyError:
            raise SpecError(
                f"drift statistic '{self.name}' does not apply to {kind} columns (only {', '.join(self.kinds)})"
            ) from None
        statistic, p_value = fn(reference, current)
        if self.is_test:
            drifted = p_value is not None and p_value < threshold
        else:
            drifted = statistic >= threshold
        return Outcome(float(statistic), None if p_value is None else float(p_value), bool(drifted))


STATISTICS: dict[str, Statistic] = {}


def register(stat: Statistic) -> Statistic:
    """Add a descriptor to the registry (module import time); returns it so modules can bind it to a name."""
    if stat.name in STATISTICS:
        raise ValueError(f"drift statistic '{stat.name}' is registered twice")
    if stat.name not in BUILTIN_STATISTICS:  # the list specs are checked against at load time
        raise ValueError(f"drift statistic '{stat.name}' is not in monitor.drift_methods.BUILTIN_STATISTICS")
    unknown = set(stat.kinds) - set(KINDS)
    if unknown or not stat.kinds:
        raise ValueError(f"drift statistic '{stat.name}' has bad kinds {sorted(unknown) or '(none)'}")
    STATISTICS[stat.name] = stat
    return stat


def get_statistic(name: str) -> Statistic:
    try:
        return STATISTICS[name]
    except KeyError:
        raise SpecError(f"unknown drift statistic '{name}' (known: {', '.join(sorted(STATISTICS))})") from None


def check_method(method: str) -> Statistic | None:
    """The statistic a `method` forces, or None for `auto`; unknown names raise SpecError listing the known ones."""
    why = unknown_method(method)
    if why:
        raise SpecError(why)
    return None if method == AUTO else STATISTICS[method]


def auto_method(kind: str, n_reference: int, n_current: int) -> str:
    """The statistic `auto` picks for a column.

    Rule, on the non-missing row counts: when the smaller side has at most `AUTO_MAX_ROWS` (1000) values, use a
    test, whose p-value accounts for small-sample noise: `ks` for numeric columns, `chi2` for categorical ones.
    Otherwise use a distance with a fixed threshold, since on large samples tests call negligible differences
    significant: `wasserstein` (normed) for numeric, `jensenshannon` for categorical.

    Args:
        kind: `numeric` or `categorical`.
        n_reference: Non-missing values on the reference side.
        n_current: Non-missing values on the current side.

    Returns:
        A registered statistic name.
    """
    if kind not in KINDS:
        raise SpecError(f"unknown column kind '{kind}' (known: {', '.join(KINDS)})")
    small = min(n_reference, n_current) <= AUTO_MAX_ROWS
    if kind == "numeric":
        return "ks" if small else "wasserstein"
    return "chi2" if small else "jensenshannon"
