"""Feature transforms: a registry of small named functions, and the spec-driven feature builder.

A spec lists features as `{name, transform, column(s), params}`. Each transform is a pure function from
input columns to one or more float32 arrays, and declares its output column names up front, so the model's
feature list is known from the spec alone (for signatures and for checking a spec before any data exists).
A transform may also be a custom function, `module.path:function`, imported when first used (`custom`).
"""

from __future__ import annotations

from airloop.data.features.build import build_features, check_features, feature_columns, feature_outputs, slice_column
from airloop.data.features.custom import FeatureError, outputs, resolve_function
from airloop.data.features.registry import TRANSFORMS, Transform, get_transform, is_known_transform

__all__ = [
    "TRANSFORMS",
    "FeatureError",
    "Transform",
    "build_features",
    "check_features",
    "feature_columns",
    "feature_outputs",
    "get_transform",
    "is_known_transform",
    "outputs",
    "resolve_function",
    "slice_column",
]
