"""Reproduce a registered model version: rebuild it from its lineage and say whether it came out bit for bit.

Exports `reproduce` (returns a `Report`) and `parse_overrides` (the CLI's `--set key=value`). Fetching what a
version was built from and training it again is `airloop.model.rebuild`; this module compares and reports.

A version's lineage names everything it was built from: the training bytes (the DVC md5 in its `data_md5` tag),
the spec (`airloop/spec.json` on its MLflow run, whose hash is the `spec_hash` tag) and the exact booster
parameters (`airloop/params.json`: seed and thread count included). XGBoost's CPU training is deterministic for
a given seed and thread count, so rebuilding from these must give the registered model's exact bytes and
predictions; when it does not, the report lists what differed, from the data to the holdout metrics.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airloop.errors import AirloopError
from airloop.model import rebuild
from airloop.model.rebuild import FIXED_PARAMS, Rebuilt, Recorded, Source

if TYPE_CHECKING:
    import numpy as np

    from airloop.model.training import FitResult
    from airloop.settings import Settings
    from airloop.spec import PipelineSpec

log = logging.getLogger(__name__)
_ABSENT = "(absent)"


@dataclass
class Difference:
    """One thing the rebuild did not reproduce: what, its recorded and rebuilt values, and why if known."""

    item: str
    recorded: Any = None
    rebuilt: Any = None
    note: str = ""

    def line(self) -> str:
        values = "" if self.recorded is None and self.rebuilt is None else f": {self.recorded} → {self.rebuilt}"
        return f"{self.item}{values}" + (f" ({self.note})" if self.note else "")


@dataclass
class Report:
    """What `reproduce` found. `identical` means bit for bit: the same predictions and the same model bytes."""

    name: str
    version: str
    run_id: str
    identical: bool
    predictions_equal: bool
    model_bytes_equal: bool
    n_holdout: int
    rows_differing: int
    max_abs_diff: float
    data_md5: str
    spec_hash: str
    device: str  # the rebuild's
    xgboost_version: str  # installed
    params: dict[str, Any]  # the rebuild's booster parameters
    overrides: dict[str, Any]
    metrics: dict[str, dict[str, float | None]]  # holdout metric → recorded, registered (here), rebuilt
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        n = len(self.differences)
        counted = f"{n} difference{'s' if n != 1 else ''}"
        if self.identical:
            # e.g. `--set nthread=2` on a small data set: a parameter differs, the model does not
            return "identical (bit for bit: same predictions, same model bytes)" + (f" despite {counted}" if n else "")
        return f"different ({counted})"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict
        return _json_safe(out)

    def to_table(self) -> str:
        lines = [
            f"{self.name} v{self.version} (run {self.run_id}): {self.verdict}",
            f"  data       md5 {self.data_md5}",
            f"  spec       hash {self.spec_hash}",
            f"  device     {self.device}, nthread {self.params.get('nthread')}, seed {self.params.get('seed')}, "
            f"xgboost {self.xgboost_version}",
            f"  holdout    {self.n_holdout} rows, {self.rows_differing} with different predictions"
            + (f" (max abs diff {self.max_abs_diff:.3g})" if self.rows_differing else ""),
            f"  model      bytes {'equal' if self.model_bytes_equal else 'differ'}",
        ]
        if self.overrides:
            lines.append("  --set      " + ", ".join(f"{k}={v}" for k, v in self.overrides.items()))
        if self.metrics:
            lines.append(f"  {'metric':<10} {'recorded':>10} {'rebuilt':>10}")
            lines += [f"  {k:<10} {_fmt(v['recorded']):>10} {_fmt(v['rebuilt']):>10}" for k, v in self.metrics.items()]
        if self.differences:
            lines.append("differences:")
            lines += [f"  - {d.line()}" for d in self.differences]
        if self.notes:
            lines.append("notes:")
            lines += [f"  - {n}" for n in self.notes]
        return "\n".join(lines)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`["eta=0.3", "max_depth=4"]` → `{"eta": 0.3, "max_depth": 4}`: each value read as a YAML scalar, so numbers
    and booleans get the types XGBoost expects."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise AirloopError(f"--set expects KEY=VALUE, got '{item}'")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            raise AirloopError(f"--set {key}: '{raw}' is not a YAML scalar") from None
        if value is None or isinstance(value, (dict, list)):
            raise AirloopError(f"--set {key}: expects a single value (number, word or boolean), got '{raw}'")
        out[key] = value
    return out


def reproduce(name: str, version: str, settings: Settings, *, overrides: dict[str, Any] | None = None) -> Report:
    """Rebuild a registered version from its recorded data, spec and parameters, and compare it with itself.

    Args:
        name: the registered model (the pipeline's name).
        version: a version number, or an alias such as `champion`.
        settings: where MLflow and the DVC remote are.
        overrides: booster parameters to rebuild with instead of the recorded ones ("what if eta had been 0.3");
            each shows up as a difference, and the verdict still rests on the predictions alone.

    Returns:
        The report; `identical` is true only when the rebuilt booster's holdout predictions and saved bytes equal
        the registered one's.

    Raises:
        AirloopError: the version, its recipe or its training data cannot be found.
    """
    import xgboost as xgb

    from airloop.model.registry import Registry

    overrides = dict(overrides or {})
    fixed = [k for k in overrides if k in FIXED_PARAMS]
    if fixed:
        raise AirloopError(f"--set {fixed[0]}: follows the training data's classes and cannot be set")
    registry = Registry.from_settings(settings)
    notes: list[str] = []
    log.info("resolving %s %s in the model registry", name, version)  # the stages: `airloop reproduce` shows them
    source = rebuild.fetch(registry, registry.resolve(name, version), settings, notes)
    differences = _lineage_differences(source, settings, notes)
    built = rebuild.rebuild(source, overrides, notes)
    fit, n_holdout = built.fit, len(built.split.holdout)
    differences += _param_differences(source.recorded, fit.params, overrides, notes)
    differences += _training_differences(source.recorded, source.tags, source.run.data.params, fit, n_holdout)
    log.info("comparing the rebuilt model with the registered one")
    same = _compare_models(source, built, differences)
    metrics = _metric_differences(source, built, differences, notes)
    return Report(
        name=name,
        version=str(source.version.version),
        run_id=source.run.info.run_id,
        identical=same.predictions_equal and same.model_bytes_equal,
        predictions_equal=same.predictions_equal,
        model_bytes_equal=same.model_bytes_equal,
        n_holdout=n_holdout,
        rows_differing=same.rows_differing,
        max_abs_diff=same.max_abs_diff,
        data_md5=source.data_md5,
        spec_hash=source.spec.spec_hash,
        device=fit.device,
        xgboost_version=xgb.__version__,
        params=dict(fit.params),
        overrides=overrides,
        metrics=metrics,
        differences=differences,
        notes=notes,
    )


# ---------------------------------------------------------------------------------------------------- comparing


def _lineage_differences(source: Source, settings: Settings, notes: list[str]) -> list[Difference]:
    """Whether the fetched bytes and spec are the ones the version's lineage names."""
    out = []
    if source.restored_md5 != source.data_md5:
        note = "the restored bytes are not the recorded ones"
        out.append(Difference("data md5", source.data_md5, source.restored_md5, note))
    if source.tags.get("n_rows") and int(source.tags["n_rows"]) != len(source.frame):
        out.append(Difference("training rows", int(source.tags["n_rows"]), len(source.frame)))
    if source.tags.get("spec_hash") != source.spec.spec_hash:
        out.append(Difference("spec hash", source.tags.get("spec_hash"), source.spec.spec_hash, "the recorded spec"))
    _note_current_spec(source.spec, settings, notes)
    return out


@dataclass(frozen=True)
class _Sameness:
    predictions_equal: bool
    rows_differing: int
    max_abs_diff: float
    model_bytes_equal: bool


def _compare_models(source: Source, built: Rebuilt, differences: list[Difference]) -> _Sameness:
    """The rebuilt booster against the registered one: features, holdout predictions, saved bytes. Appends what
    differs to `differences`."""
    from airloop.model import training

    holdout, features = built.split.holdout, built.features
    registered_features = list(source.registered.feature_names or features)
    if registered_features != features:
        differences.append(Difference("features", registered_features, features, "registered model vs recorded spec"))
    ours = training.predict(built.fit.booster, holdout, features)
    theirs = training.predict(source.registered, holdout, registered_features)
    equal, rows, max_diff = _compare_predictions(theirs, ours)
    if not equal:
        note = f"{rows} of {len(holdout)} holdout rows differ, max abs diff {max_diff:.3g}"
        differences.append(Difference("predictions", note=note))
    rebuilt_bytes = _saved_bytes(built.fit.booster)
    bytes_equal = rebuilt_bytes == source.registered_bytes
    if not bytes_equal:
        differences.append(Difference("model bytes", note=_bytes_note(source.registered_bytes, rebuilt_bytes)))
    return _Sameness(equal, rows, max_diff, bytes_equal)


def _metric_differences(
    source: Source, built: Rebuilt, differences: list[Difference], notes: list[str]
) -> dict[str, dict[str, float | None]]:
    """Each recorded holdout metric as recorded, as the registered model scores now and as the rebuilt one does;
    appends the ones the rebuild does not repeat to `differences`."""
    from airloop.model import training

    spec, holdout = source.spec, built.split.holdout
    registered_features = list(source.registered.feature_names or built.features)
    registered = training.evaluate(source.registered, holdout, registered_features, spec.label.column, spec.label.task)
    metrics = _metrics(source.tags, registered, built.fit.metrics)
    for key, m in metrics.items():
        if _fmt(m["recorded"]) != _fmt(m["rebuilt"]):
            rebuilt = None if m["rebuilt"] is None else round(m["rebuilt"], 6)  # the tags' precision
            differences.append(Difference(f"holdout {key}", m["recorded"], rebuilt))
    if any(_fmt(m["recorded"]) != _fmt(m["registered"]) for m in metrics.values()):
        notes.append(
            "the registered model scores differently on this holdout than when it was registered: "
            "the holdout rebuilt here is not the one it was scored on"
        )
    return metrics


def _param_differences(
    recorded: Recorded, rebuilt: dict[str, Any], overrides: dict[str, Any], notes: list[str]
) -> list[Difference]:
    """Each booster parameter whose rebuilt value is not the recorded one (the device is reported on its own)."""
    values = dict(recorded.values)
    if recorded.as_text:
        # A version from before params.json: MLflow's params hold str(value), eval_metric left out, next to
        # non-booster entries (num_boost_round, n_rows…); compare the booster's parameters that were logged.
        keys = [k for k in rebuilt if k in values and k != "device"]
        return [
            Difference(f"param {k}", values[k], rebuilt[k], "--set" if k in overrides else "")
            for k in keys
            if str(rebuilt[k]) != values[k]
        ]
    if "eval_metric" not in values and "eval_metric" in rebuilt:
        # A search winner's record leaves eval_metric out; training then used the task's default, as here.
        notes.append(f"params.json has no eval_metric: trained with the spec's default, {rebuilt['eval_metric']}")
        values["eval_metric"] = rebuilt["eval_metric"]
    out = []
    for key in dict.fromkeys([*values, *rebuilt]):
        if key == "device":
            continue
        was, now = values.get(key, _ABSENT), rebuilt.get(key, _ABSENT)
        if was != now:
            out.append(Difference(f"param {key}", was, now, "--set" if key in overrides else ""))
    return out


def _training_differences(
    recorded: Recorded, tags: dict[str, str], run_params: dict[str, str], fit: FitResult, n_holdout: int
) -> list[Difference]:
    """Where the rebuild ran or stopped otherwise than the recorded training: device, xgboost version, best
    iteration (early stopping), holdout size. Each is absent from older versions, and then not compared."""
    import xgboost as xgb

    out = []
    device = str(recorded.values.get("device") or tags.get("device") or "cpu")
    if device != fit.device:
        out.append(Difference("device", device, fit.device, "no usable GPU here" if device == "cuda" else ""))
    version = tags.get("xgboost_version")
    if version and version != xgb.__version__:
        out.append(Difference("xgboost version", version, xgb.__version__, "recorded → installed"))
    best = run_params.get("best_iteration")
    if best is not None and int(best) != fit.best_iteration:
        out.append(Difference("best_iteration", int(best), fit.best_iteration))
    rows = run_params.get("n_holdout")
    if rows is not None and int(rows) != n_holdout:
        out.append(Difference("holdout rows", int(rows), n_holdout))
    return out


def _compare_predictions(theirs: np.ndarray, ours: np.ndarray) -> tuple[bool, int, float]:
    """(bit-for-bit equal, rows that differ, largest absolute difference); a multiclass row differs when any of
    its class probabilities does."""
    import numpy as np

    if theirs.shape != ours.shape:
        return False, int(max(len(theirs), len(ours))), float("nan")
    equal = bool(np.array_equal(theirs, ours))
    if equal:
        return True, 0, 0.0
    diff = (theirs != ours).reshape(len(theirs), -1)
    rows = int(diff.any(axis=1).sum())
    return False, rows, float(np.max(np.abs(theirs.astype(float) - ours.astype(float))))


def _saved_bytes(booster: Any) -> bytes:
    """The bytes MLflow's xgboost flavor writes for a booster (`save_model` to a `.json` file)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.json"
        booster.save_model(str(path))
        return path.read_bytes()


def _bytes_note(registered: bytes, rebuilt: bytes) -> str:
    """Why the saved models differ, where it is just the xgboost version stamped into the file."""
    try:
        a, b = json.loads(registered), json.loads(rebuilt)
    except ValueError:
        return "the saved model files differ"
    va, vb = a.pop("version", None), b.pop("version", None)
    if a == b and va != vb:
        return f"only the xgboost version written into the file differs ({va} vs {vb})"
    return f"the saved model JSON differs ({len(registered)} vs {len(rebuilt)} bytes)"


def _metrics(
    tags: dict[str, str], registered: dict[str, float], rebuilt: dict[str, float]
) -> dict[str, dict[str, float | None]]:
    """Each holdout metric the version recorded (its `metric.<name>` tags, 6 decimals), as the registered and
    the rebuilt model score on the holdout rebuilt here."""
    out = {}
    for key, text in tags.items():
        if key.startswith("metric."):
            name = key.removeprefix("metric.")
            out[name] = {"recorded": float(text), "registered": registered.get(name), "rebuilt": rebuilt.get(name)}
    return out


def _note_current_spec(recorded: PipelineSpec, settings: Settings, notes: list[str]) -> None:
    """Say so when the spec file has changed since: the version is rebuilt from its recorded spec regardless."""
    from airloop.catalog import find_spec

    try:
        current = find_spec(recorded.name, settings.specs_dir)
    except AirloopError:
        return
    if current.spec_hash != recorded.spec_hash:
        notes.append(
            f"the spec file in {settings.specs_dir} has changed since (hash {current.spec_hash}, recorded "
            f"{recorded.spec_hash}): rebuilt from the recorded spec"
        )


def _fmt(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.6f}"


def _json_safe(value: Any) -> Any:
    """NaN as null, so the report is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
