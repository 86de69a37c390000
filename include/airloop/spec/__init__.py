"""Pipeline specs: one YAML file per model pipeline, validated into typed objects.

A spec is the only thing a data engineer writes to get a pipeline: schema, features, model, split, gate, drift
and schedules. Everything downstream (DAG factory, CLI, library functions) takes a `PipelineSpec`, never raw YAML,
so a bad spec fails once, at load time, with the offending field named.

One module per group of sections: `data` (storage, schema, label, features), `training` (model, search, split,
training, schedules), `gate` (gate, slices, drift, performance) and `pipeline` (the whole spec, the checks that
span sections, its hash, `validate_spec`). Task metrics and their directions are `airloop.metrics`. Importing this
package loads pydantic and nothing heavier: DAG files parse specs.
"""

from __future__ import annotations

from airloop.spec.base import NAME_RE
from airloop.spec.data import ColumnSpec, DType, FeatureSpec, LabelSpec, SchemaSpec, StorageSpec
from airloop.spec.gate import DriftSpec, GateSpec, PerformanceSpec, SliceSpec, SlicesSpec
from airloop.spec.pipeline import PipelineSpec, validate_spec
from airloop.spec.training import (
    AGE_RE,
    UNSEARCHABLE,
    ModelSpec,
    RangeSpec,
    SchedulesSpec,
    SearchSpec,
    SplitSpec,
    TrainingSpec,
)

__all__ = [
    "AGE_RE",
    "NAME_RE",
    "UNSEARCHABLE",
    "ColumnSpec",
    "DType",
    "DriftSpec",
    "FeatureSpec",
    "GateSpec",
    "LabelSpec",
    "ModelSpec",
    "PerformanceSpec",
    "PipelineSpec",
    "RangeSpec",
    "SchedulesSpec",
    "SchemaSpec",
    "SearchSpec",
    "SliceSpec",
    "SlicesSpec",
    "SplitSpec",
    "StorageSpec",
    "TrainingSpec",
    "validate_spec",
]
