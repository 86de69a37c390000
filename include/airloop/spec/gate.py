"""The sections that decide and watch a model: the promotion gate, fairness slices, drift and performance decay."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from airloop.metrics import Metric
from airloop.spec.base import Strict


class GateSpec(Strict):
    """Which holdout metric decides promotion, and by how much (in the metric's units) a challenger must win.

    `metric` defaults to the label task's metric (binary pr_auc, multiclass mlogloss, regression rmse), filled in
    when the pipeline spec is validated. Which way it gets better is the metric's own
    (`airloop.metrics.metric_direction`), never written in a spec: read the wrong way round, it would promote worse
    models.
    """

    metric: Metric | None = None
    min_improvement: Annotated[float, Field(ge=0.0)] = 0.0
    require_feature_gain: bool = False  # refuse a challenger whose candidate features do not each earn their place
    min_feature_gain: Annotated[float, Field(ge=0.0)] = 0.0  # in the metric's units, on the holdout


class SliceSpec(Strict):
    """One way to cut the holdout into groups: by a column's values, or by `bins` of a numeric column.

    `bins` are edges: `[18, 30, 45, 65, 120]` makes the bands 18–30, 30–45, 45–65, 65–120 (left-closed).
    """

    column: str
    bins: list[float] | None = None
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")] | None = None

    @property
    def label(self) -> str:
        return self.name or self.column

    @model_validator(mode="after")
    def _check(self) -> SliceSpec:
        if self.bins is not None:
            if len(self.bins) < 2:
                raise ValueError("bins: at least two edges (one band)")
            if any(b >= a for a, b in zip(self.bins[1:], self.bins[:-1], strict=True)):
                raise ValueError(f"bins: edges must increase strictly, got {self.bins}")
        return self


class SlicesSpec(Strict):
    """Fairness slices: the gate scores the challenger (and the champion) on each group of the holdout.

    The challenger is refused when its worst group's gate metric is worse than `floor`, or when the gap between
    its best and worst group is wider than the champion's by more than `max_gap_increase` (both in the metric's
    units). Groups with fewer than `min_rows` holdout rows, or where the metric is undefined, are reported but
    not judged. Per-group metrics are logged on the version's MLflow run and shown in Model Ops.
    """

    by: Annotated[list[SliceSpec], Field(min_length=1)]
    min_rows: Annotated[int, Field(ge=1)] = 30
    floor: float | None = None
    max_gap_increase: Annotated[float, Field(ge=0.0)] | None = None


class DriftSpec(Strict):
    method: str = "auto"
    drift_share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    columns: list[str] | None = None


class PerformanceSpec(Strict):
    """Performance decay: on labelled feedback batches, the champion's live metric against its holdout score.

    A drop of more than `max_drop` (absolute, in the metric's own units; a rise for a metric that is minimized,
    such as log_loss or rmse) means decay, which retrains like drift does. `metric` defaults to the gate's metric.
    """

    metric: Metric | None = None
    max_drop: Annotated[float, Field(gt=0.0)] = 0.1
