"""Rebuild a registered version from its lineage: fetch what it was built from, then train it again.

Exports `fetch` (the version's training bytes, recorded spec and parameters, and the registered model itself, as a
`Source`), `rebuild` (train again from a `Source`, as a `Rebuilt`) and `rebuild_plan`. `airloop.model.reproduce`
compares the two and reports; this module only gathers and trains.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airloop.errors import AirloopError

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb
    from mlflow.entities import Run
    from mlflow.entities.model_registry import ModelVersion

    from airloop.model.registry import Registry
    from airloop.model.training import FitResult, Split
    from airloop.settings import Settings
    from airloop.spec import PipelineSpec

log = logging.getLogger(__name__)

# Set by the data, not by a person: training derives the class count from the labels.
FIXED_PARAMS = ("num_class",)


@dataclass(frozen=True)
class Recorded:
    """The booster parameters a version was trained with. `as_text`: only MLflow's logged strings survive
    (a version from before params.json), so values compare as text."""

    values: dict[str, Any]
    as_text: bool = False


@dataclass(frozen=True)
class Source:
    """A registered version and everything it was built from, fetched."""

    version: ModelVersion
    run: Run  # the MLflow run that logged it
    tags: dict[str, str]
    data_md5: str  # the lineage tag
    restored_md5: str  # of the bytes the DVC remote gave back
    frame: pd.DataFrame  # the training set
    spec: PipelineSpec  # the recorded one
    recorded: Recorded
    registered: xgb.Booster
    registered_bytes: bytes  # the registered model's saved file


@dataclass(frozen=True)
class Rebuilt:
    split: Split
    features: list[str]
    fit: FitResult


def fetch(registry: Registry, mv: ModelVersion, settings: Settings, notes: list[str]) -> Source:
    """Everything `mv` was built from: its training bytes (by the `data_md5` tag), spec and parameters, and
    the registered model. The data comes first: a md5 missing from the remote is the likeliest failure and
    costs nothing else."""
    import pandas as pd
    import xgboost as xgb

    from airloop.store.versioning import DataVersioner

    tags = dict(mv.tags or {})
    run = registry.run_of(mv)
    md5 = tags.get("data_md5")
    if not md5:
        raise AirloopError(f"{mv.name} v{mv.version} has no data_md5 lineage tag: its training data is unknown")
    log.info("restoring the training data (DVC md5 %s) and the registered model", md5)
    with tempfile.TemporaryDirectory() as tmp:
        path = DataVersioner.from_settings(settings).restore(md5, Path(tmp) / "train.parquet")
        restored_md5 = _md5(path)
        frame = pd.read_parquet(path)
        spec, recorded = _recipe(registry, mv, run, settings, notes)
        model_file = registry.model_file(mv.name, str(mv.version), Path(tmp) / "registered")
        registered = xgb.Booster()
        registered.load_model(str(model_file))
        registered_bytes = model_file.read_bytes()
    return Source(
        version=mv,
        run=run,
        tags=tags,
        data_md5=md5,
        restored_md5=restored_md5,
        frame=frame,
        spec=spec,
        recorded=recorded,
        registered=registered,
        registered_bytes=registered_bytes,
    )


def rebuild(source: Source, overrides: dict[str, Any], notes: list[str]) -> Rebuilt:
    """Train the version again: its recorded spec's split and features, its recorded parameters (and overrides)."""
    from airloop.data.features import feature_columns
    from airloop.model import training

    split = training.split_frame(source.frame, source.spec)
    features = feature_columns(source.spec)
    fit_spec, passed = rebuild_plan(source.spec, source.recorded, overrides, source.tags, notes)
    log.info("rebuilding: training on %d rows with the recorded spec and parameters", len(split.train))
    return Rebuilt(split, features, training.fit(split, fit_spec, features, passed))


def _recipe(
    registry: Registry, mv: ModelVersion, run: Run, settings: Settings, notes: list[str]
) -> tuple[PipelineSpec, Recorded]:
    """The recorded spec and parameters; for a version logged before they were recorded, the current spec file
    stands in only if it hashes to the version's `spec_hash` (then it is the same spec)."""
    from airloop.catalog import find_spec, parse_spec
    from airloop.model.lineage import RECIPE_DIR

    name, version = mv.name, str(mv.version)
    label = f"{name} v{version}"
    present = registry.recipe_files(mv)
    spec: PipelineSpec | None
    if "spec.json" in present:
        spec = parse_spec(registry.recorded(mv, "spec"), f"{label} {RECIPE_DIR}/spec.json")
    else:
        wanted = (mv.tags or {}).get("spec_hash")
        try:
            spec = find_spec(name, settings.specs_dir)
        except AirloopError:
            spec = None
        if spec is None or not wanted or spec.spec_hash != wanted:
            now = f"hashes to {spec.spec_hash}" if spec is not None else "cannot be loaded"
            raise AirloopError(
                f"{label}: its recipe is missing (run {mv.run_id} has no {RECIPE_DIR}/spec.json, logged before "
                f"airloop recorded it) and the spec in {settings.specs_dir} {now}, not the version's "
                f"{wanted or '(none)'}"
            )
        notes.append(f"no recorded spec: used the spec file in {settings.specs_dir}, whose hash matches")
    if "params.json" in present:
        return spec, Recorded(registry.recorded(mv, "params"))
    notes.append("no recorded params.json: parameters derived from the spec, compared with the run's logged params")
    return spec, Recorded(dict(run.data.params), as_text=True)


def rebuild_plan(
    spec: PipelineSpec, recorded: Recorded, overrides: dict[str, Any], tags: dict[str, str], notes: list[str]
) -> tuple[PipelineSpec, dict[str, Any]]:
    """The spec and parameter overrides that make `training.fit` train with the recorded parameters.

    `fit` sets the device and thread count from the spec, so those two go into a copy of the spec; every other
    recorded parameter is laid over the spec's own as an override, which is how a search winner was trained too.
    """
    from airloop.model.training import cuda_available

    if recorded.as_text:
        params: dict[str, Any] = dict(overrides)  # the spec's own, plus what the user asked
        nthread_text = recorded.values.get("nthread")
        nthread = int(nthread_text) if nthread_text and nthread_text.isdigit() else 0
    else:
        params = {**recorded.values, **overrides}
        nthread = int(params.get("nthread") or 0)
    if "nthread" in overrides:
        nthread = int(overrides["nthread"])
    if not nthread:
        notes.append(
            "the thread count was not recorded: rebuilt with all usable cores; XGBoost's CPU training repeats "
            "bit for bit only with the same thread count"
        )
    requested = str(overrides.get("device") or recorded.values.get("device") or tags.get("device") or "cpu")
    device = "cuda" if requested == "cuda" and cuda_available() else "cpu"
    if requested == "cuda":
        notes.append(
            "recorded on cuda: "
            + ("rebuilt on cuda" if device == "cuda" else "no usable GPU here, rebuilt on cpu")
            + "; XGBoost does not promise bit-identical CUDA training, so differences may come from the device"
        )
    model = spec.model.model_copy(update={"device": device, "nthread": nthread})
    passed = {k: v for k, v in params.items() if k not in ("device", "nthread", *FIXED_PARAMS)}
    return spec.model_copy(update={"model": model}), passed


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
