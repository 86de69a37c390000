"""airloop: the closed MLOps loop (validate → version → train → gate → score → drift → retrain) as a library.

Airflow DAGs and plugins call into this package; it never imports Airflow and reads no environment at import time.

This module is the public façade: what user code (custom feature functions, the tests `airloop new` generates)
imports. Names resolve on first use, so `import airloop` stays as light as the DAG files need it to be.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name → the module that defines it. Everything else is reached through its stage's module.
_EXPORTS = {
    "AirloopError": "airloop.errors",
    "DataError": "airloop.errors",
    "SpecError": "airloop.errors",
    "PipelineSpec": "airloop.spec",
    "Settings": "airloop.settings",
    "load_spec": "airloop.catalog",
    "load_specs": "airloop.catalog",
    "find_spec": "airloop.catalog",
    "parse_spec": "airloop.catalog",
    "build_features": "airloop.data.features",
    "feature_columns": "airloop.data.features",
    "outputs": "airloop.data.features",
    "resolve_function": "airloop.data.features",
    "validate_frame": "airloop.data.validation",
}
__all__ = [
    "AirloopError",
    "DataError",
    "PipelineSpec",
    "Settings",
    "SpecError",
    "build_features",
    "feature_columns",
    "find_spec",
    "load_spec",
    "load_specs",
    "outputs",
    "parse_spec",
    "resolve_function",
    "validate_frame",
]

if TYPE_CHECKING:
    from airloop.catalog import find_spec, load_spec, load_specs, parse_spec
    from airloop.data.features import build_features, feature_columns, outputs, resolve_function
    from airloop.data.validation import validate_frame
    from airloop.errors import AirloopError, DataError, SpecError
    from airloop.settings import Settings
    from airloop.spec import PipelineSpec


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'airloop' has no attribute '{name}'")
