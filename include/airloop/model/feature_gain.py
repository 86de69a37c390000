"""Does a feature earn its place? The gate metric with and without each candidate feature.

A feature the spec marks `candidate: true` is on trial: the model is refit without its columns on the same split,
with the same parameters and seed, and both models are scored on the same holdout. The gain (in the gate metric's
own units, positive when the feature helps) is recorded on the version; `gate.require_feature_gain` makes the gate
refuse a challenger with a candidate that gains less than `gate.min_feature_gain`.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airloop.model.training import Split
    from airloop.spec import PipelineSpec

log = logging.getLogger(__name__)
TAG = "feature_gain"  # version tags: feature_gain.<feature> = gain, feature_gain.<feature>.adds = true|false


def candidates(spec: PipelineSpec) -> list[str]:
    return [f.name for f in spec.features if f.candidate]


def feature_gain(
    spec: PipelineSpec, split: Split, params: dict[str, Any], with_score: float
) -> dict[str, dict[str, Any]]:
    """`{feature: {"with", "without", "gain", "adds"}}` for every candidate feature.

    Args:
        spec: the pipeline; its gate metric and `min_feature_gain` decide.
        split: the split the model was trained and scored on.
        params: the model's exact booster parameters (a search winner's included), so the only difference
            between the two models is the feature.
        with_score: the model's own holdout score (already computed by training).
    """
    from airloop.data.features import feature_columns, feature_outputs
    from airloop.metrics import improvement
    from airloop.model import training

    metric = spec.gate_metric
    every = feature_columns(spec)
    by_name = {f.name: f for f in spec.features}
    # The recorded thread count, not this machine's: "all cores" may be another number here.
    model = spec.model.model_copy(update={"nthread": int(params.get("nthread") or spec.model.nthread)})
    recipe = spec.model_copy(update={"model": model})
    out: dict[str, dict[str, Any]] = {}
    for name in candidates(spec):
        gone = set(feature_outputs(spec, by_name[name]))
        kept = [c for c in every if c not in gone]
        fit = training.fit(split, recipe, kept, _overrides(params))
        without = float(fit.metrics[metric])
        gain = improvement(metric, with_score, without)
        adds = math.isfinite(gain) and gain > 0 and gain >= spec.gate.min_feature_gain
        out[name] = {"with": with_score, "without": without, "gain": gain, "adds": adds}
        log.info(
            "%s: candidate feature %s: %s %.4f with, %.4f without (gain %+.4f)",
            spec.name,
            name,
            metric,
            with_score,
            without,
            gain,
        )
    return out


def _overrides(params: dict[str, Any]) -> dict[str, Any]:
    """A trained model's parameters as overrides, less those `training.xgb_params` sets itself."""
    owned = ("device", "num_class", "objective", "eval_metric", "nthread", "seed")
    return {k: v for k, v in params.items() if k not in owned}


def tags(gains: dict[str, dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, g in gains.items():
        out[f"{TAG}.{name}"] = f"{g['gain']:.6f}"
        out[f"{TAG}.{name}.adds"] = "true" if g["adds"] else "false"
    return out


def from_tags(version_tags: dict[str, str]) -> dict[str, dict[str, Any]]:
    """What `tags` recorded, back from a version's tags."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in sorted(version_tags.items()):
        if key.startswith(f"{TAG}.") and key.endswith(".adds"):
            name = key[len(TAG) + 1 : -len(".adds")]
            out[name] = {"gain": float(version_tags.get(f"{TAG}.{name}", "nan")), "adds": value == "true"}
    return out


def verdict(spec: PipelineSpec, version_tags: dict[str, str]) -> tuple[bool, str]:
    """The gate's feature rule: every candidate must add at least `min_feature_gain` when the spec requires it."""
    if not spec.gate.require_feature_gain:
        return True, "feature gain not required"
    recorded = from_tags(version_tags)
    missing = [n for n in candidates(spec) if n not in recorded]
    if missing:
        return False, f"no feature-gain test recorded for candidate feature(s) {missing}"
    idle = [f"{n} ({recorded[n]['gain']:+.4f})" for n in candidates(spec) if not recorded[n]["adds"]]
    if idle:
        return False, (
            f"candidate feature(s) {', '.join(idle)} add less than min_feature_gain "
            f"{spec.gate.min_feature_gain} {spec.gate.metric}"
        )
    return True, "every candidate feature adds predictive power"
