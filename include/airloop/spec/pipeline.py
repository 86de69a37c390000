"""The whole spec: its sections put together, the checks that span sections, its hash, and `validate_spec`.

A check that reads one section lives with that section (`data`, `training`, `gate`); the checks here need two or
more of them: the label against the schema, features against the columns and personal data, slices against the
schema and the label, and every metric against the label's task.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import ConfigDict, Field, ValidationError, model_validator

from airloop.errors import SpecError
from airloop.metrics import DEFAULT_METRIC, METRICS
from airloop.spec.base import NAME_RE, Strict
from airloop.spec.data import LABEL_DTYPES, ColumnSpec, FeatureSpec, LabelSpec, SchemaSpec, StorageSpec
from airloop.spec.gate import DriftSpec, GateSpec, PerformanceSpec, SlicesSpec
from airloop.spec.training import ModelSpec, SchedulesSpec, SplitSpec, TrainingSpec

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails


class PipelineSpec(Strict):
    """One pipeline: a spec file validated whole. Sections left out take their defaults; the gate's metric is filled
    in from the label's task. `schema` is stored as `schema_` (pydantic's BaseModel has a `schema`), read as `schema`.
    """

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
            # Frozen model: the filled-in gate replaces the partial one once, while the spec is being validated.
            object.__setattr__(self, "gate", self.gate.model_copy(update={"metric": DEFAULT_METRIC[task]}))
        search = self.model.search
        checks = [("gate.metric", self.gate.metric), ("performance.metric", self.performance.metric)]
        checks.append(("model.search.metric", search.metric if search else None))
        for field, metric in checks:
            if metric is not None and METRICS[metric][0] != task:
                raise ValueError(f"{field}: {metric} is a {METRICS[metric][0]} metric; label.task is {task}")

    @property
    def gate_metric(self) -> str:
        """The gate's metric: the spec's `gate.metric`, which validation fills in with the task's default."""
        metric = self.gate.metric
        assert metric is not None, "the pipeline spec fills in the gate metric when it is validated"
        return metric

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


def _describe(error: ErrorDetails, source: str) -> str:
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
