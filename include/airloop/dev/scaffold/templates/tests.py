"""Tests of a pipeline's spec and custom features, written by `airloop new` (extend them).

They load the real spec, call the custom function the way the feature task does, and build a feature frame from
a few made-up rows that fit the schema, so a broken contract shows here rather than in a DAG run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airloop import PipelineSpec, build_features, feature_columns, load_spec, resolve_function, validate_frame

pytestmark = pytest.mark.unit

NAME = "$name"
MODULE = "$module"
SPEC = "$spec"
SPEC_PATH = Path(__file__).resolve().parent.joinpath(SPEC).resolve()


@pytest.fixture(scope="module")
def spec() -> PipelineSpec:
    return load_spec(SPEC_PATH)


def sample_rows(spec: PipelineSpec, n: int = 6) -> pd.DataFrame:
    """n rows that fit the schema: values inside min/max, categories from their domain, row 0 missing where allowed."""
    data = {}
    for name, col in spec.schema.columns.items():
        if col.dtype == "datetime":
            values = pd.Series(pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"))
        elif col.domain:
            values = pd.Series([col.domain[i % len(col.domain)] for i in range(n)])
        elif col.dtype == "string":
            values = pd.Series([f"{name}-{i}" for i in range(n)])
        elif col.dtype == "bool":
            values = pd.Series([i % 2 == 0 for i in range(n)])
        else:
            low = col.min if col.min is not None else 0.0
            high = col.max if col.max is not None else low + 100.0
            values = pd.Series(np.linspace(low, high, n))
            if col.dtype == "int":
                values = values.round().astype("int64")
        if col.nullable:
            values = values.astype(object).where(values.index != 0, None)
        data[name] = values
    return pd.DataFrame(data)


def test_spec_loads(spec):
    assert spec.name == NAME


def test_missing_count_counts_missing_inputs():
    fn = resolve_function(f"{MODULE}:missing_count", [SPEC_PATH.parent])
    df = pd.DataFrame({"a": [1.0, None, None], "b": ["x", "y", None]})
    assert fn(df).tolist() == [0, 1, 2]


def test_features_build_from_rows_that_fit_the_schema(spec):
    rows = sample_rows(spec)
    result = validate_frame(rows, spec)
    assert result.report.valid, result.report.summary()  # edit sample_rows if the schema outgrew it
    built = build_features(result.valid_rows, spec)
    columns = feature_columns(spec)
    assert len(built) == len(rows)
    assert list(built.columns)[-len(columns) :] == columns
    for column in columns:
        assert built[column].dtype == np.float32, column
