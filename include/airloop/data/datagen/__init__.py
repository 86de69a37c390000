"""Synthetic batch generators, one per kind of pipeline, for demos, tests and benchmarks.

Data is generated, never committed: every generator is deterministic per seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from airloop.errors import SpecError

if TYPE_CHECKING:
    import pandas as pd

DRIFT_KINDS = ("none", "covariate", "concept")


def _fraud(**kwargs) -> pd.DataFrame:
    from airloop.data.datagen.fraud import generate

    return generate(**kwargs)


def _retail(**kwargs) -> pd.DataFrame:
    from airloop.data.datagen.retail import generate

    return generate(**kwargs)


# Imported on first use: a DAG file that names one generator need not import the others.
GENERATORS: dict[str, Callable[..., pd.DataFrame]] = {"fraud": _fraud, "retail": _retail}


def generate(
    kind: str, *, rows: int, seed: int, drift: str = "none", labels: bool = True, start: str | None = None
) -> pd.DataFrame:
    if kind not in GENERATORS:
        raise SpecError(f"unknown generator '{kind}' (known: {', '.join(sorted(GENERATORS))})")
    if drift not in DRIFT_KINDS:
        raise SpecError(f"unknown drift kind '{drift}' (known: {', '.join(DRIFT_KINDS)})")
    if rows < 1:
        raise SpecError(f"rows must be at least 1, got {rows}")
    return GENERATORS[kind](rows=rows, seed=seed, drift=drift, labels=labels, start=start)
