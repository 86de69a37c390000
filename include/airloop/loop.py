"""The loop's steps as plain functions: what each Airflow task calls, and what tests and the CLI call directly.

Inputs and outputs are small JSON-able dicts (URIs, md5s, versions), which is what travels through XCom.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airloop import ingest, storage
from airloop.versioning import DataVersioner

if TYPE_CHECKING:
    from airloop.settings import Settings
    from airloop.spec import PipelineSpec

log = logging.getLogger(__name__)


def versioner_for(settings: Settings) -> DataVersioner:
    options = {}
    if settings.dvc_remote.startswith("s3://") and settings.s3_endpoint_url:
        options["endpointurl"] = settings.s3_endpoint_url
    return DataVersioner(settings.dvc_workspace, settings.dvc_remote, options)


def champion_lock(settings: Settings, pipeline: str, **kwargs: Any):
    """The lock every move of a pipeline's `champion` alias holds (gate, promote, rollback), wherever it runs."""
    from airloop import locks

    uri = storage.join_uri(settings.area("state", pipeline), "locks", "champion.lock")
    return locks.exclusive(uri, endpoint_url=settings.s3_endpoint_url, **kwargs)


def discover(spec: PipelineSpec, settings: Settings) -> list[str]:
    """Raw batch URIs in the landing zone not seen before (by URI; content duplicates are caught later)."""
    return ingest.pending_batches(spec, settings)


def process(spec: PipelineSpec, settings: Settings, raw_uri: str) -> dict[str, Any]:
    return ingest.process_batch(spec, settings, versioner_for(settings), raw_uri).to_dict()


def train(
    spec: PipelineSpec,
    settings: Settings,
    *,
    trigger: str,
    git_sha: str = "unknown",
    extra_tags: dict[str, str] | None = None,
    run_key: str | None = None,
) -> dict[str, Any]:
    """Assemble + version the training set, fit, log and register one model version.

    Returns `{"skipped": reason}` instead of training when there is nothing to learn: the training window is the
    one the newest version was trained on (e.g. a batch sent only for scoring), or new data arrived while a
    champion exists and the spec leaves retraining to drift. A manual run always trains.

    `run_key` names the orchestrator's unit of work (Airflow: dag id / run id / task id, the same for every try).
    A try that finds a version already registered under its key returns that version instead of training again,
    so a retry after a crash (worker killed after registering) never leaves two versions for one run.
    """
    import pandas as pd

    from airloop import registry, training
    from airloop.features import feature_columns
    from airloop.spec import TASK_METRICS

    if run_key:
        done = registry.version_for_run_key(spec.name, run_key, tracking_uri=settings.tracking_uri)
        if done:
            log.warning("%s: %s registered v%s in an earlier try: reusing it", spec.name, run_key, done["version"])
            return done
    versioner = versioner_for(settings)
    records = ingest.load_records(settings, spec.name)
    if trigger == "new_data" and not spec.training.retrain_on_new_data:
        champion = registry.version_tags(spec.name, registry.CHAMPION, tracking_uri=settings.tracking_uri)
        if champion:
            return {
                "skipped": f"champion v{champion['version']} exists and training.retrain_on_new_data is false: "
                "retraining is drift-driven"
            }
    if trigger != "manual":
        window = ",".join(r.batch_id for r in training.training_window(spec, records))
        newest = registry.latest_version_tags(spec.name, tracking_uri=settings.tracking_uri)
        if window and newest.get("training_batches") == window:
            return {"skipped": f"no new labelled batch since v{newest['version']}: nothing new to learn"}
    data = training.assemble_training_set(spec, records, versioner)

    split = training.split_frame(pd.read_parquet(data.path), spec)
    fit = training.fit(split, spec, feature_columns(spec))
    logged = registry.log_model_version(
        spec,
        fit,
        data,
        split.holdout,
        tracking_uri=settings.tracking_uri,
        trigger=trigger,
        git=git_sha,
        extra_tags={**(extra_tags or {}), **({registry.RUN_KEY: run_key} if run_key else {})},
    )
    return {
        "version": logged.version,
        "run_id": logged.run_id,
        "data_md5": data.md5,
        "device": fit.device,
        "batches": data.batches,
        "n_rows": data.n_rows,
        "metrics": {k: v for k, v in fit.metrics.items() if k in TASK_METRICS[spec.label.task]},
    }


def gate(spec: PipelineSpec, settings: Settings, *, version: str, data_md5: str) -> dict[str, Any]:
    """Rebuild the challenger's exact holdout from its versioned training set, then gate."""
    import tempfile

    import pandas as pd

    from airloop import registry, training

    versioner = versioner_for(settings)
    with tempfile.TemporaryDirectory() as tmp:
        path = versioner.restore(data_md5, f"{tmp}/train.parquet")
        holdout = training.split_frame(pd.read_parquet(path), spec).holdout
    with champion_lock(settings, spec.name):
        return registry.gate_and_promote(spec, version, holdout, tracking_uri=settings.tracking_uri).to_dict()


def promote(spec_name: str, settings: Settings, version: str, *, actor: str) -> str | None:
    """Make `version` champion by hand, under the champion lock. Returns the previous champion."""
    from airloop import registry

    with champion_lock(settings, spec_name):
        return registry.promote(spec_name, version, tracking_uri=settings.tracking_uri, actor=actor)


def rollback(spec_name: str, settings: Settings, *, actor: str) -> tuple[str, str]:
    """Move the champion back to the one before it, under the champion lock. Returns (from, to)."""
    from airloop import registry

    with champion_lock(settings, spec_name):
        return registry.rollback(spec_name, tracking_uri=settings.tracking_uri, actor=actor)


def score(spec: PipelineSpec, settings: Settings) -> list[dict[str, Any]]:
    from airloop.scoring import score_pending

    scored = score_pending(spec, settings, versioner_for(settings), ingest.load_records(settings, spec.name))
    return [s.__dict__ for s in scored]


def land(spec: PipelineSpec, settings: Settings, df, name: str) -> str:
    """Drop a batch into the pipeline's landing zone (demo and tests), written atomically."""
    return storage.write_parquet(df, storage.join_uri(settings.location(spec.storage.landing), name))
