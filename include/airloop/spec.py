"""Pipeline specs: one YAML file per model pipeline, validated into typed objects.

A spec is the only thing a data engineer writes to get a pipeline: schema, features, model, split, gate, drift
and schedules. Everything downstream (DAG factory, CLI, library functions) takes a `PipelineSpec`, never raw YAML,
so a bad spec fails once, at load time, with the offending field named.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from airloop.errors import SpecError

NAME_RE = r"^[a-z][a-z0-9_]{1,62}$"
DType = Literal["string", "int", "float", "bool", "datetime", "category"]
Task = Literal["binary", "multiclass", "regression"]
Metric = Literal["pr_auc", "roc_auc", "log_loss", "mlogloss", "accuracy", "macro_f1", "rmse", "mae", "r2"]
Direction = Literal["maximize", "minimize"]

# Every metric belongs to one label task and has one natural direction: a gate or a decay check that reads a
# metric the wrong way round would promote worse models, so the direction is never left to the spec's author.
METRICS: dict[str, tuple[str, str]] = {
    "pr_auc": ("binary", "maximize"),
    "roc_auc": ("binary", "maximize"),
    "log_loss": ("binary", "minimize"),
    "mlogloss": ("multiclass", "minimize"),
    "accuracy": ("multiclass", "maximize"),
    "macro_f1": ("multiclass", "maximize"),
    "rmse": ("regression", "minimize"),
    "mae": ("regression", "minimize"),
    "r2": ("regression", "maximize"),
}
TASK_METRICS: dict[str, tuple[str, ...]] = {
    task: tuple(m for m, (t, _) in METRICS.items() if t == task) for task in ("binary", "multiclass", "regression")
}
DEFAULT_METRIC = {"binary": "pr_auc", "multiclass": "mlogloss", "regression": "rmse"}
AGE_RE = r"^([0-9]+(?:\.[0-9]+)?)([mhdw])$"
AGE_UNITS = {"m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
# Label dtypes each task can learn from: 0/1 (or bool) for binary, discrete values for multiclass, numbers for
# regression. A float label for multiclass would make 1.0 and 1.00000001 two classes: refused at load time.
LABEL_DTYPES = {"binary": ("int", "bool"), "multiclass": ("string", "category", "int"), "regression": ("int", "float")}


def metric_direction(metric: str) -> str:
    """`maximize` or `minimize`: the way a metric gets better."""
    return METRICS[metric][1]


def improvement(metric: str, new: float, old: float) -> float:
    """How much better `new` is than `old`, in the metric's own units (positive: better, whatever the direction)."""
    return new - old if metric_direction(metric) == "maximize" else old - new


class _Strict(BaseModel):
    # Unknown keys are almost always typos in a hand-written spec: refuse them.
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    dtype: DType
    nullable: bool = False
    unique: bool = False
    min: float | None = None
    max: float | None = None
    domain: list[str] | None = None
    required: bool = True
    pii: Literal["drop", "hash"] | None = None  # personal data: dropped, or replaced by a keyed hash, at ingest

    @model_validator(mode="after")
    def _check(self) -> ColumnSpec:
        if self.domain is not None and self.dtype not in ("category", "string"):
            raise ValueError("domain: only allowed for category or string columns")
        if self.dtype == "category" and not self.domain:
            raise ValueError("domain: category columns need a non-empty domain")
        if (self.min is not None or self.max is not None) and self.dtype not in ("int", "float"):
            raise ValueError("min: min/max are only allowed for int or float columns")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min: min ({self.min}) is greater than max ({self.max})")
        return self


class SchemaSpec(_Strict):
    """Columns and their roles. `time_column` is optional: without it the split is random (seeded), not by time."""

    columns: dict[str, ColumnSpec]
    id_column: str
    time_column: str | None = None
    max_invalid_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2

    @model_validator(mode="after")
    def _check(self) -> SchemaSpec:
        for role in ("id_column", "time_column"):
            col = getattr(self, role)
            if col is not None and col not in self.columns:
                raise ValueError(f"{role}: {role} '{col}' is not a declared column")
        if self.time_column is not None and self.columns[self.time_column].dtype != "datetime":
            raise ValueError(f"time_column: time_column '{self.time_column}' must have dtype datetime")
        return self


class LabelSpec(_Strict):
    """What the model learns to predict.

    `classes` (multiclass only) fixes the class list and its order; without it the classes are the label
    column's category domain, else the sorted distinct labels of the training set. Each model version records
    the list it was trained with, so scoring maps class indexes back to labels even when the list changes.
    """

    column: str
    task: Task = "binary"
    classes: list[str | int] | None = None

    @model_validator(mode="after")
    def _check(self) -> LabelSpec:
        if self.classes is None:
            return self
        if self.task != "multiclass":
            raise ValueError(f"classes: only a multiclass label has classes; label.task is {self.task}")
        if len(self.classes) < 2:
            raise ValueError("classes: a multiclass label needs at least 2 classes")
        dupes = sorted({str(c) for c in self.classes if [str(x) for x in self.classes].count(str(c)) > 1})
        if dupes:
            raise ValueError(f"classes: duplicate classes: {dupes}")
        return self


class FeatureSpec(_Strict):
    name: str
    transform: str
    column: str | None = None
    columns: list[str] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    candidate: bool = False  # on trial: training measures the gate metric with and without it

    @property
    def inputs(self) -> list[str]:
        return list(self.columns or []) + ([self.column] if self.column else [])


# Booster parameters the label task owns (objective, metrics, classes) or the deployment owns (device, threads):
# a search over them would compare models that cannot be compared, or trained on different hardware.
UNSEARCHABLE = ("objective", "eval_metric", "num_class", "device", "nthread", "seed", "tree_method")


class RangeSpec(_Strict):
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


class SearchSpec(_Strict):
    """Hyper-parameter search: each candidate is one mapped training task and one MLflow child run.

    Candidates are `model.params` with the drawn values on top. `grid` tries every combination of the listed
    values; `random` draws `trials` candidates (seeded by `model.seed`) from lists and ranges. Every candidate
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


class ModelSpec(_Strict):
    params: dict[str, Any] = Field(default_factory=dict)
    num_boost_round: Annotated[int, Field(ge=1, le=100_000)] = 300
    early_stopping_rounds: Annotated[int, Field(ge=1)] | None = 30
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 42
    nthread: Annotated[int, Field(ge=0)] = 0
    search: SearchSpec | None = None


class SplitSpec(_Strict):
    """Time-based split: the newest `holdout_fraction` is the holdout, the slice before it validates.

    Without a `schema.time_column` the same fractions are drawn at random, seeded by `model.seed`.
    """

    valid_fraction: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.15
    holdout_fraction: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.2


class TrainingSpec(_Strict):
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


class GateSpec(_Strict):
    """Which holdout metric decides promotion, and by how much (in the metric's units) a challenger must win.

    `metric` defaults to the label task's metric (binary pr_auc, multiclass mlogloss, regression rmse) and
    `direction` to the metric's natural one; both are filled in when the pipeline spec is validated. A direction
    against the metric's nature is refused rather than obeyed.
    """

    metric: Metric | None = None
    direction: Direction | None = None
    min_improvement: Annotated[float, Field(ge=0.0)] = 0.0
    require_feature_gain: bool = False  # refuse a challenger whose candidate features do not each earn their place
    min_feature_gain: Annotated[float, Field(ge=0.0)] = 0.0  # in the metric's units, on the holdout

    @model_validator(mode="after")
    def _check(self) -> GateSpec:
        if self.metric is None:
            return self  # the pipeline spec fills the task's default metric, then checks the direction
        natural = metric_direction(self.metric)
        if self.direction is None:
            object.__setattr__(self, "direction", natural)  # frozen model: filled once, while validating
        elif self.direction != natural:
            raise ValueError(f"direction: metric {self.metric} must be {natural}d, not {self.direction}d")
        return self


class DriftSpec(_Strict):
    method: str = "auto"
    drift_share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    columns: list[str] | None = None


class PerformanceSpec(_Strict):
    """Performance decay: on labelled feedback batches, the champion's live metric against its holdout score.

    A drop of more than `max_drop` (absolute, in the metric's own units; a rise for a metric that is minimized,
    such as log_loss or rmse) means decay, which retrains like drift does. `metric` defaults to the gate's metric.
    """

    metric: Metric | None = None
    max_drop: Annotated[float, Field(gt=0.0)] = 0.1


class SchedulesSpec(_Strict):
    """Cron strings or presets; data-aware schedules (assets) are implied by the loop itself."""

    retrain: str | None = None
    drift_check: str | None = "@hourly"

    @field_validator("retrain", "drift_check")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None or value.startswith("@") or len(value.split()) == 5:
            return value
        raise ValueError(f"'{value}' is neither a cron expression (5 fields) nor a preset like @daily")


class StorageSpec(_Strict):
    """Locations relative to the deployment's data root, or absolute `file://` / `s3://` URIs."""

    landing: str
    pattern: str = "*.parquet"


class SliceSpec(_Strict):
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


class SlicesSpec(_Strict):
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


class PipelineSpec(_Strict):
    name: Annotated[str, Field(pattern=NAME_RE)]
    description: str = ""
    generator: str | None = None
    owner: str = "airloop"
    tags: list[str] = Field(default_factory=list)
    storage: StorageSpec
    schema_: SchemaSpec = Field(alias="schema")
    label: LabelSpec
    features: list[FeatureSpec]
    model: ModelSpec = Field(default_factory=ModelSpec)
    split: SplitSpec = Field(default_factory=SplitSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    gate: GateSpec = Field(default_factory=GateSpec)
    drift: DriftSpec = Field(default_factory=DriftSpec)
    performance: PerformanceSpec = Field(default_factory=PerformanceSpec)
    schedules: SchedulesSpec = Field(default_factory=SchedulesSpec)
    slices: SlicesSpec | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def schema(self) -> SchemaSpec:  # type: ignore[override]  # `schema` shadows a deprecated BaseModel method
        return self.schema_

    @model_validator(mode="after")
    def _check(self) -> PipelineSpec:
        cols = self.schema_.columns
        if self.label.column not in cols:
            raise ValueError(f"label.column: label column '{self.label.column}' is not a declared column")
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"features: duplicate feature names: {dupes}")
        for i, feat in enumerate(self.features):
            for col in feat.inputs:
                if col not in cols:
                    raise ValueError(f"features.{i}: feature '{feat.name}' reads undeclared column '{col}'")
                if col == self.label.column:
                    raise ValueError(
                        f"features.{i}: feature '{feat.name}' reads the label column '{col}' (target leak)"
                    )
        self._check_label(cols[self.label.column])
        self._check_personal_data()
        self._check_candidates()
        self._check_slices()
        self._fill_metrics()
        return self

    def _check_personal_data(self) -> None:
        """PII never feeds the model raw: `drop` columns feed nothing; the label and time cannot be personal data
        (a hashed time cannot split by time, a hashed label cannot be learned); an id may be hashed, not dropped."""
        cols, schema = self.schema_.columns, self.schema_
        for name, col in cols.items():
            if col.pii is None:
                continue
            if name == self.label.column:
                raise ValueError(f"schema.columns.{name}.pii: the label column cannot be personal data")
            if name == schema.time_column:
                raise ValueError(f"schema.columns.{name}.pii: the time column cannot be hashed or dropped")
            if name == schema.id_column and col.pii == "drop":
                raise ValueError(f"schema.columns.{name}.pii: the id column cannot be dropped; use pii: hash")
            if col.pii == "hash" and col.dtype not in ("string", "int", "category"):
                raise ValueError(f"schema.columns.{name}.pii: only string, int or category columns can be hashed")
        for i, feat in enumerate(self.features):
            dropped = [c for c in feat.inputs if cols[c].pii == "drop"]
            if dropped:
                raise ValueError(f"features.{i}: feature '{feat.name}' reads '{dropped[0]}', which is pii: drop")
            # Built-in transforms need raw values (a domain to one-hot, numbers to log): a hash would silently make
            # all-zero or missing features. Only a custom function, written for hashes, may read one.
            hashed = [c for c in feat.inputs if cols[c].pii == "hash"]
            if hashed and ":" not in feat.transform:
                raise ValueError(
                    f"features.{i}: feature '{feat.name}' reads '{hashed[0]}', which is pii: hash; built-in "
                    "transforms need its raw values (only a custom function may read hashes)"
                )

    def _check_candidates(self) -> None:
        candidates = [f.name for f in self.features if f.candidate]
        if candidates and len(candidates) == len(self.features):
            raise ValueError("features: every feature is a candidate; a model needs some features to compare against")
        if self.gate.require_feature_gain and not candidates:
            raise ValueError("gate.require_feature_gain: no feature is marked candidate: true")

    def _check_slices(self) -> None:
        if self.slices is None:
            return
        cols = self.schema_.columns
        labels = [s.label for s in self.slices.by]
        if len(set(labels)) != len(labels):
            raise ValueError(f"slices.by: slice names must be unique, got {labels}")
        for i, cut in enumerate(self.slices.by):
            col = cols.get(cut.column)
            if col is None:
                raise ValueError(f"slices.by.{i}.column: '{cut.column}' is not a declared column")
            if cut.column == self.label.column:
                raise ValueError(f"slices.by.{i}.column: '{cut.column}' is the label")
            if col.pii is not None:
                raise ValueError(f"slices.by.{i}.column: '{cut.column}' is personal data (pii: {col.pii})")
            numeric = col.dtype in ("int", "float")
            if cut.bins is not None and not numeric:
                raise ValueError(f"slices.by.{i}.bins: bins need an int or float column; '{cut.column}' is {col.dtype}")
            if cut.bins is None and col.dtype in ("float", "datetime"):
                raise ValueError(f"slices.by.{i}.bins: a {col.dtype} column needs bins to make groups")

    def _check_label(self, col: ColumnSpec) -> None:
        """The label column's dtype must suit the task, and declared classes must be values it can hold."""
        task = self.label.task
        if col.dtype not in LABEL_DTYPES[task]:
            raise ValueError(
                f"label.task: a {task} label needs a column of dtype {'/'.join(LABEL_DTYPES[task])}; "
                f"'{self.label.column}' is {col.dtype}"
            )
        if self.label.classes is None:
            return
        want = int if col.dtype == "int" else str
        wrong = [c for c in self.label.classes if type(c) is not want]
        if wrong:
            raise ValueError(
                f"label.classes: '{self.label.column}' is a {col.dtype} column, classes {wrong} are not {want.__name__}"
            )
        if col.domain is not None and not set(self.label.classes) <= set(col.domain):
            outside = [c for c in self.label.classes if c not in col.domain]
            raise ValueError(f"label.classes: {outside} are not in the domain of '{self.label.column}'")

    def _fill_metrics(self) -> None:
        """Default the gate's metric to the task's, then refuse any metric that belongs to another task."""
        task = self.label.task
        if self.gate.metric is None:
            metric = DEFAULT_METRIC[task]
            natural = metric_direction(metric)
            if self.gate.direction not in (None, natural):
                raise ValueError(
                    f"gate.direction: metric {metric} (the {task} default) must be {natural}d, "
                    f"not {self.gate.direction}d"
                )
            # Frozen model: the filled-in gate replaces the partial one once, while the spec is being validated.
            object.__setattr__(self, "gate", self.gate.model_copy(update={"metric": metric, "direction": natural}))
        search = self.model.search
        checks = [("gate.metric", self.gate.metric), ("performance.metric", self.performance.metric)]
        checks.append(("model.search.metric", search.metric if search else None))
        for field, metric in checks:
            if metric is not None and METRICS[metric][0] != task:
                raise ValueError(f"{field}: {metric} is a {METRICS[metric][0]} metric; label.task is {task}")

    @property
    def spec_hash(self) -> str:
        """Stable hash of the spec's meaning (not its formatting), recorded as lineage on every model.

        Fields added later are left out while they hold their default, so a spec that does not use them keeps
        the hash it had before they existed (lineage stays comparable across upgrades).
        """
        data = self.model_dump(mode="json", by_alias=True)
        if data["label"].get("classes") is None:
            data["label"].pop("classes", None)
        _drop_defaults(data)
        payload = json.dumps(data, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


# Fields added after specs were in use, with their defaults: left out of the hash while they hold them.
_LATER_FIELDS: tuple[tuple[str, Any], ...] = (
    ("model.search", None),
    ("training.max_model_age", None),
    ("gate.require_feature_gain", False),
    ("gate.min_feature_gain", 0.0),
    ("slices", None),
)


def _drop_defaults(data: dict[str, Any]) -> None:
    for path, default in _LATER_FIELDS:
        *parents, leaf = path.split(".")
        node = data
        for key in parents:
            node = node.get(key, {})
        if leaf in node and node[leaf] == default:
            del node[leaf]
    for col in data["schema"]["columns"].values():
        if col.get("pii") is None:
            col.pop("pii", None)
    for feat in data["features"]:
        if feat.get("candidate") is False:
            feat.pop("candidate", None)


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("function-after",)]
    return ".".join("schema" if p == "schema_" else p for p in parts) or "(top level)"


def _describe(error: dict[str, Any], source: str) -> str:
    """`file: field 'a.b': message`; validators that check several fields name the one at fault first."""
    loc, msg = list(error["loc"]), str(error["msg"]).removeprefix("Value error, ")
    named = re.match(r"^([a-z_]+(?:\.[a-z_0-9]+)*): (.*)$", msg, re.S)
    if named and error["type"] == "value_error":
        loc, msg = [*loc, *named.group(1).split(".")], named.group(2)
    return f"{source}: field '{_field_path(tuple(loc))}': {msg}"


def validate_spec(data: Any, source: str = "<spec>") -> PipelineSpec:
    """Validate a parsed YAML document into a `PipelineSpec`; errors name the file and the field.

    Structure only: whether the features' transforms and functions exist is the catalog's check
    (`airloop.catalog.parse_spec`), which needs the feature registry this module must not import.
    """
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a pipeline spec must be a mapping, got {type(data).__name__}")
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as exc:
        lines = [_describe(e, source) for e in exc.errors()]
        raise SpecError("\n".join(lines)) from None
    return spec
