"""Model search: the trials a spec's `model.search` asks for, and the rule that picks the winner.

Pure functions, no I/O: the orchestrator decides where trials train (one mapped Airflow task each, spread over
the Celery workers; or one after another in `airloop train`), and both paths use the same lists and rule, so a
search gives the same trials and the same winner wherever it runs.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import TYPE_CHECKING, Any

from airloop.contracts import Trial, TrialResult
from airloop.errors import AirloopError

if TYPE_CHECKING:
    from airloop.spec import PipelineSpec, RangeSpec, SearchSpec


def selection_metric(spec: PipelineSpec) -> str:
    """The metric trials are ranked by on the validation slice: the search's own, else the gate's."""
    search = spec.model.search
    return (search.metric if search else None) or spec.gate_metric


def trials(spec: PipelineSpec) -> list[Trial]:
    """The parameter overrides to try, in a fixed order (`index` 0, 1, …).

    `params` holds only the searched values; training lays them over `model.params`. Without a search the one
    trial is the spec's own parameters (an empty override).
    """
    search = spec.model.search
    if search is None:
        draws: list[dict[str, Any]] = [{}]
    elif search.strategy == "grid":
        draws = _grid(search)
    else:
        draws = _random(search, spec.model.seed)
    return [Trial(index=i, params=d) for i, d in enumerate(draws)]


def _grid(search: SearchSpec) -> list[dict[str, Any]]:
    keys = list(search.space)
    values = [search.space[k] for k in keys]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def _random(search: SearchSpec, seed: int) -> list[dict[str, Any]]:
    """`trials` distinct draws, seeded: a spec always searches the same trials (reproducible, resumable).

    A space of lists alone may hold fewer combinations than `trials`; then every combination is tried once.
    """
    rng = random.Random(f"airloop-search-{seed}")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _ in range(search.trials * 50):
        if len(out) == search.trials:
            break
        draw = {key: _draw(rng, values) for key, values in search.space.items()}
        key = repr(sorted(draw.items()))
        if key not in seen:
            seen.add(key)
            out.append(draw)
    return out


def _draw(rng: random.Random, values: list[Any] | RangeSpec) -> Any:
    if isinstance(values, list):
        return rng.choice(values)
    if values.log:
        x = math.exp(rng.uniform(math.log(values.low), math.log(values.high)))
    else:
        x = rng.uniform(values.low, values.high)
    if values.integer:
        return int(min(max(round(x), math.ceil(values.low)), math.floor(values.high)))
    return float(f"{x:.4g}")  # 4 significant digits: readable in MLflow, and no finer than a search can tell apart


def best(results: list[TrialResult], metric: str) -> TrialResult:
    """The winning trial: best `valid[metric]` in the metric's direction; the lowest index breaks ties.

    A trial without a finite score (a metric undefined on its validation slice) cannot win; if none has
    one, there is no winner and the search fails loudly rather than registering an arbitrary model.
    """
    from airloop.metrics import metric_direction

    sign = 1.0 if metric_direction(metric) == "maximize" else -1.0
    scored = [r for r in results if math.isfinite(float(r.valid.get(metric, float("nan"))))]
    if not scored:
        raise AirloopError(f"no search trial has a finite validation {metric} ({len(results)} tried)")
    return max(scored, key=lambda r: (sign * float(r.valid[metric]), -r.index))
