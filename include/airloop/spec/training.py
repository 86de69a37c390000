"""The training sections of a spec: the model and its search, the split, the training window, retrain schedules."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from airloop.metrics import Metric
from airloop.spec.base import Strict

AGE_RE = r"^([0-9]+(?:\.[0-9]+)?)([mhdw])$"
AGE_UNITS = {"m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
# Booster parameters the label task owns (objective, metrics, classes) or the deployment owns (device, threads):
# a search over them would compare models that cannot be compared, or trained on different hardware.
UNSEARCHABLE = ("objective", "eval_metric", "num_class", "device", "nthread", "seed", "tree_method")


class RangeSpec(Strict):
    """A numeric range to draw from (random search only): uniform, log-uniform with `log: true`, whole numbers
    with `integer: true`."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _check(self) -> RangeSpec:
        if self.low >= self.high:
            raise ValueError(f"low: low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"low: a log range needs low > 0, got {self.low}")
        return self


class SearchSpec(Strict):
    """Hyper-parameter search: each trial is one mapped training task and one MLflow child run.

    Trials are `model.params` with the drawn values on top. `grid` tries every combination of the listed
    values; `random` draws `trials` of them (seeded by `model.seed`) from lists and ranges. Every trial
    trains on the same versioned training set and split; the best by `metric` on the validation slice (the
    gate's metric by default) is registered and goes to the gate, which alone looks at the holdout.
    """

    strategy: Literal["grid", "random"] = "random"
    space: dict[str, list[Any] | RangeSpec]
    trials: Annotated[int, Field(ge=1, le=256)] = 8
    max_trials: Annotated[int, Field(ge=1, le=256)] = 64
    parallel: Annotated[int, Field(ge=1, le=64)] = 4
    metric: Metric | None = None

    @model_validator(mode="after")
    def _check(self) -> SearchSpec:
        if not self.space:
            raise ValueError("space: a search needs at least one parameter to vary")
        for key, values in self.space.items():
            if key in UNSEARCHABLE:
                raise ValueError(f"space: '{key}' is set by airloop (task, device or seed) and cannot be searched")
            if isinstance(values, list) and not values:
                raise ValueError(f"space: '{key}' lists no values")
            if isinstance(values, RangeSpec) and self.strategy == "grid":
                raise ValueError(f"space: '{key}' is a range; a grid search needs a list of values")
        if self.strategy == "grid":
            size = 1
            for values in self.space.values():
                size *= len(values)  # type: ignore[arg-type]  # lists only, checked above
            if size > self.max_trials:
                raise ValueError(f"space: the grid has {size} combinations, more than max_trials ({self.max_trials})")
        elif self.trials > self.max_trials:
            raise ValueError(f"trials: {self.trials} is more than max_trials ({self.max_trials})")
        return self


class ModelSpec(Strict):
    params: dict[str, Any] = Field(default_factory=dict)
    num_boost_round: Annotated[int, Field(ge=1, le=100_000)] = 300
    early_stopping_rounds: Annotated[int, Field(ge=1)] | None = 30
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 42
    nthread: Annotated[int, Field(ge=0)] = 0
    search: SearchSpec | None = None


class SplitSpec(Strict):
    """Time-based split: the newest `holdout_fraction` is the holdout, the slice before it validates.

    Without a `schema.time_column` the same fractions are drawn at random, seeded by `model.seed`.
    """

    valid_fraction: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.15
    holdout_fraction: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.2


class TrainingSpec(Strict):
    """What a model trains on, and when new data alone is reason enough to retrain.

    With `retrain_on_new_data` false (the default) the first model trains as soon as labelled data arrives; after
    that, retraining is driven by drift (or a schedule, or a person), not by every new batch.
    `queue` routes the training tasks to a Celery queue (`gpu` sends them to the GPU workers); None keeps them
    on the executor's default queue.
    """

    window_batches: Annotated[int, Field(ge=1)] = 12
    min_rows: Annotated[int, Field(ge=10)] = 1000
    retrain_on_new_data: bool = False
    queue: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")] | None = None
    max_model_age: Annotated[str, Field(pattern=AGE_RE)] | None = None

    @property
    def max_model_age_seconds(self) -> float | None:
        """`max_model_age` in seconds (`90m`, `36h`, `30d`, `2w`); None when models never go stale."""
        if self.max_model_age is None:
            return None
        number, unit = re.fullmatch(AGE_RE, self.max_model_age).groups()  # type: ignore[union-attr]
        return float(number) * AGE_UNITS[unit]


class SchedulesSpec(Strict):
    """Clock schedules on top of the data-aware ones (assets) the loop implies: `retrain` (a cron string or a
    preset such as `@weekly`, in UTC) also runs the training DAG on the clock."""

    retrain: str | None = None

    @field_validator("retrain")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None or value.startswith("@") or len(value.split()) == 5:
            return value
        raise ValueError(f"'{value}' is neither a cron expression (5 fields) nor a preset like @daily")
