"""The data sections of a spec: where batches land (`storage`), their columns (`schema`), the label, the features."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from airloop.metrics import Task
from airloop.spec.base import Strict

DType = Literal["string", "int", "float", "bool", "datetime", "category"]
# Label dtypes each task can learn from: 0/1 (or bool) for binary, discrete values for multiclass, numbers for
# regression. A float label for multiclass would make 1.0 and 1.00000001 two classes: refused at load time.
LABEL_DTYPES = {"binary": ("int", "bool"), "multiclass": ("string", "category", "int"), "regression": ("int", "float")}


class StorageSpec(Strict):
    """Locations relative to the deployment's data root, or absolute `file://` / `s3://` URIs."""

    landing: str
    pattern: str = "*.parquet"


class ColumnSpec(Strict):
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


class SchemaSpec(Strict):
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


class LabelSpec(Strict):
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


class FeatureSpec(Strict):
    name: str
    transform: str
    column: str | None = None
    columns: list[str] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    candidate: bool = False  # on trial: training measures the gate metric with and without it

    @property
    def inputs(self) -> list[str]:
        return list(self.columns or []) + ([self.column] if self.column else [])
