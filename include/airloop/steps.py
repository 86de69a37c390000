"""The loop's steps as plain functions: what each Airflow task calls, and what tests and the CLI call directly.

Inputs and outputs are small JSON-able dicts (URIs, md5s, versions), which is what travels through XCom.
"""

from __future__ import annotations

import logging
import math
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airloop import uris
from airloop.data import ingest
from airloop.errors import AirloopError
from airloop.store import storage
from airloop.store.versioning import DataVersioner

if TYPE_CHECKING:
    from airloop.settings import Settings
    from airloop.spec import PipelineSpec
    from airloop.store.storage import FileInfo

log = logging.getLogger(__name__)


def git_sha(path: str | Path = ".") -> str:
    """The commit of the code that trained a model; 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def landing_files(uri: str, pattern: str) -> list[FileInfo]:
    """What is in a landing zone now: the watcher trigger polls this to notice new deliveries."""
    return storage.list_files(uri, pattern)


def check_drift(spec: PipelineSpec, settings: Settings) -> list[dict[str, Any]] | None:
    """Drift checks of the curated batches not checked yet; None while there is no champion to compare with."""
    from airloop.monitor import checks

    return checks.check_pending(spec, settings, DataVersioner.from_settings(settings))


def champion_lock(settings: Settings, pipeline: str, **kwargs: Any):
    """The lock every move of a pipeline's `champion` alias holds (gate, promote, rollback), wherever it runs."""
    from airloop.store import locks

    uri = uris.join_uri(settings.area("state", pipeline), "locks", "champion.lock")
    return locks.exclusive(uri, endpoint_url=settings.s3_endpoint_url, **kwargs)


def discover(spec: PipelineSpec, settings: Settings) -> list[str]:
    """Raw batch URIs in the landing zone not seen before (by URI; content duplicates are caught later)."""
    return ingest.pending_batches(spec, settings)


def process(spec: PipelineSpec, settings: Settings, raw_uri: str) -> dict[str, Any]:
    return ingest.process_batch(spec, settings, DataVersioner.from_settings(settings), raw_uri).to_dict()


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

    With `model.search` in the spec the candidates train here one after another (the CLI's path); the DAGs
    run the same three steps (`prepare_search`, `fit_candidate`, `select_candidate`) as mapped tasks instead.
    """
    import pandas as pd

    from airloop.data.features import feature_columns
    from airloop.model import registry, training

    done = _registered_before(spec, settings, run_key)
    if done:
        return done
    if spec.model.search is not None:
        prepared = prepare_search(
            spec, settings, trigger=trigger, git_sha=git_sha, extra_tags=extra_tags, search_key=run_key
        )
        if "skipped" in prepared:
            return prepared
        results = [fit_candidate(spec, settings, prepared, c) for c in prepared["candidates"]]
        return select_candidate(spec, settings, prepared, results, run_key=run_key)
    records = ingest.load_records(settings, spec.name)
    skipped = _nothing_to_learn(spec, settings, records, trigger)
    if skipped:
        return {"skipped": skipped}
    data = training.assemble_training_set(spec, records, DataVersioner.from_settings(settings))

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
    return _trained(spec, logged, data, fit)


def _registered_before(spec: PipelineSpec, settings: Settings, run_key: str | None) -> dict[str, Any] | None:
    """The version an earlier try of this unit of work registered (then this try returns it), else None."""
    from airloop.model import registry

    if not run_key:
        return None
    done = registry.version_for_run_key(spec.name, run_key, tracking_uri=settings.tracking_uri)
    if done:
        log.warning("%s: %s registered v%s in an earlier try: reusing it", spec.name, run_key, done["version"])
    return done


def _nothing_to_learn(spec: PipelineSpec, settings: Settings, records: list[Any], trigger: str) -> str | None:
    """Why training would learn nothing new (see `train`), or None when it should train."""
    from airloop.model import registry, training

    if trigger == "new_data" and not spec.training.retrain_on_new_data:
        champion = registry.version_tags(spec.name, registry.CHAMPION, tracking_uri=settings.tracking_uri)
        if champion:
            return (
                f"champion v{champion['version']} exists and training.retrain_on_new_data is false: "
                "retraining is drift-driven"
            )
    if trigger != "manual":
        window = ",".join(r.batch_id for r in training.training_window(spec, records))
        newest = registry.latest_version_tags(spec.name, tracking_uri=settings.tracking_uri)
        if window and newest.get("training_batches") == window:
            return f"no new labelled batch since v{newest['version']}: nothing new to learn"
    return None


def _trained(spec: PipelineSpec, logged: Any, data: Any, fit: Any) -> dict[str, Any]:
    """What a training step returns through XCom: the version, its data, device and holdout metrics."""
    from airloop.spec import TASK_METRICS

    return {
        "version": logged.version,
        "run_id": logged.run_id,
        "data_md5": data.md5,
        "device": fit.device,
        "batches": data.batches,
        "n_rows": data.n_rows,
        "metrics": {k: v for k, v in fit.metrics.items() if k in TASK_METRICS[spec.label.task]},
    }


def prepare_search(
    spec: PipelineSpec,
    settings: Settings,
    *,
    trigger: str,
    git_sha: str = "unknown",
    extra_tags: dict[str, str] | None = None,
    search_key: str | None = None,
) -> dict[str, Any]:
    """A model search's first step: version the training set once, open the MLflow parent run, list candidates.

    Every candidate then trains on these exact bytes (restored by md5 wherever its task runs) with the same
    split, so candidates differ only in their parameters. Returns `{"skipped": reason}` like `train`.
    """
    import json

    from airloop.model import registry, search, search_runs, training

    records = ingest.load_records(settings, spec.name)
    skipped = _nothing_to_learn(spec, settings, records, trigger)
    if skipped:
        return {"skipped": skipped}
    data = training.assemble_training_set(spec, records, DataVersioner.from_settings(settings))
    candidates = search.candidates(spec)
    metric = search.selection_metric(spec)
    conf = spec.model.search
    tags = registry.lineage_tags(spec, data, trigger=trigger, git=git_sha, extra_tags=extra_tags)
    parent = search_runs.open_parent(
        settings.tracking_uri,
        spec.name,
        tags=tags,
        params={
            "search.strategy": conf.strategy if conf else "none",
            "search.metric": f"valid_{metric}",
            "search.candidates": len(candidates),
            "search.space": json.dumps(conf.model_dump(mode="json")["space"] if conf else {}, sort_keys=True)[:6000],
        },
        search_key=search_key,
    )
    log.info("%s: searching %d candidates by valid %s (run %s)", spec.name, len(candidates), metric, parent)
    return {
        "data_md5": data.md5,
        "batches": data.batches,
        "n_rows": data.n_rows,
        "parent_run_id": parent,
        "trigger": trigger,
        "git_sha": git_sha,
        "extra_tags": dict(extra_tags or {}),
        "metric": metric,
        "candidates": candidates,
    }


def search_jobs(prepared: dict[str, Any]) -> list[dict[str, Any]]:
    """A prepared search as one job per candidate (what an orchestrator maps a training task over): each job
    holds the search's shared facts (data md5, parent run, lineage) and its candidate."""
    shared = {k: v for k, v in prepared.items() if k != "candidates"}
    return [{"search": shared, "candidate": c} for c in prepared["candidates"]]


def search_from_jobs(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """`search_jobs` undone: the prepared search, candidates included."""
    if not jobs:
        raise AirloopError("a model search without candidates: nothing to select from")
    return {**jobs[0]["search"], "candidates": [j["candidate"] for j in jobs]}


def _restored_split(spec: PipelineSpec, settings: Settings, data_md5: str):
    """The training set with this md5, restored from DVC, split the spec's way."""
    import tempfile

    import pandas as pd

    from airloop.model import training

    with tempfile.TemporaryDirectory() as tmp:
        path = DataVersioner.from_settings(settings).restore(data_md5, f"{tmp}/train.parquet")
        return training.split_frame(pd.read_parquet(path), spec)


def fit_candidate(
    spec: PipelineSpec, settings: Settings, prepared: dict[str, Any], candidate: dict[str, Any]
) -> dict[str, Any]:
    """Train one search candidate on the search's training set; log it as a child run. Scored on validation
    only (see `training.fit`). A candidate an earlier try finished is returned as it was, not trained again."""
    from airloop.data.features import feature_columns
    from airloop.model import search_runs, training

    parent, index = prepared["parent_run_id"], int(candidate["index"])
    done = search_runs.finished_candidate(settings.tracking_uri, parent, index)
    if done:
        log.warning("%s: candidate %d was finished by an earlier try: reusing it", spec.name, index)
        return done
    split = _restored_split(spec, settings, prepared["data_md5"])
    features = feature_columns(spec)
    fit = training.fit(split, spec, features, candidate["params"], score_holdout=False)
    valid = training.evaluate(fit.booster, split.valid, features, spec.label.column, spec.label.task)
    tags = {"pipeline": spec.name, "data_md5": prepared["data_md5"], "trigger": prepared["trigger"]}
    result = search_runs.log_candidate(settings.tracking_uri, parent, index, fit, valid, tags)
    metric = prepared["metric"]
    log.info("%s: candidate %d %s → valid %s %s", spec.name, index, candidate["params"], metric, valid.get(metric))
    return result


def select_candidate(
    spec: PipelineSpec,
    settings: Settings,
    prepared: dict[str, Any],
    results: list[dict[str, Any]],
    *,
    run_key: str | None = None,
) -> dict[str, Any]:
    """The search's last step: the best candidate by validation metric, scored on the holdout once, logged in
    the parent run with full lineage and registered (it then goes to the gate like any challenger)."""
    from airloop.data.features import feature_columns
    from airloop.model import registry, search, search_runs, training

    done = _registered_before(spec, settings, run_key)
    if done:
        return done
    results = list(results)
    metric = prepared["metric"]
    winner = search.best(results, metric)
    booster = search_runs.load_candidate_booster(settings.tracking_uri, winner["run_id"])
    split = _restored_split(spec, settings, prepared["data_md5"])
    features = feature_columns(spec)
    metrics = training.evaluate(booster, split.holdout, features, spec.label.column, spec.label.task)
    metrics.update({f"valid_{k}": float(v) for k, v in winner["valid"].items()})
    metrics["train_seconds"] = float(winner["seconds"])
    fit = training.FitResult(
        booster,
        winner["device"],
        int(winner["best_iteration"]),
        metrics,
        dict(winner["params"]),
        features,
        float(winner["seconds"]),
        {**winner["extra"], "search_best_index": winner["index"], "search_candidates": len(results)},
    )
    data = training.TrainingSet(Path(), prepared["data_md5"], list(prepared["batches"]), int(prepared["n_rows"]))
    search_runs.record_winner(settings.tracking_uri, prepared["parent_run_id"], results, winner)
    logged = registry.log_model_version(
        spec,
        fit,
        data,
        split.holdout,
        tracking_uri=settings.tracking_uri,
        trigger=prepared["trigger"],
        git=prepared["git_sha"],
        extra_tags={
            **prepared["extra_tags"],
            "search.best_run_id": winner["run_id"],
            "search.candidates": str(len(results)),
            **({registry.RUN_KEY: run_key} if run_key else {}),
        },
        run_id=prepared["parent_run_id"],
    )
    log.info(
        "%s: candidate %d of %d won (valid %s %s) → v%s",
        spec.name,
        winner["index"],
        len(results),
        metric,
        winner["valid"][metric],
        logged.version,
    )
    out = _trained(spec, logged, data, fit)
    out["search"] = {
        "candidates": len(results),
        "best_index": winner["index"],
        "best_run_id": winner["run_id"],
        "metric": f"valid_{metric}",
        "best_score": winner["valid"][metric],
        "params": {k: winner["params"].get(k) for k in _searched_keys(prepared)},
    }
    return out


def _searched_keys(prepared: dict[str, Any]) -> list[str]:
    """The parameters a search varied (the keys its candidates override)."""
    return sorted({k for c in prepared["candidates"] for k in c["params"]})


def test_features(spec: PipelineSpec, settings: Settings, *, version: str, data_md5: str) -> dict[str, Any]:
    """The feature-importance test: refit without each candidate feature on the version's own split, with its
    exact parameters, and record on the version whether each adds predictive power (the gate may require it)."""
    from airloop.model import feature_gain, registry

    c = registry.client(settings.tracking_uri)
    mv = c.get_model_version(spec.name, version)
    metric = spec.gate.metric
    tags = mv.tags or {}
    if f"metric.{metric}" not in tags:
        raise AirloopError(f"{spec.name} v{version}: no holdout {metric} recorded to compare against")
    params = registry.recorded(spec.name, version, "params", tracking_uri=settings.tracking_uri)
    split = _restored_split(spec, settings, data_md5)
    gains = feature_gain.feature_gain(spec, split, params, float(tags[f"metric.{metric}"]))
    for key, value in feature_gain.tags(gains).items():
        c.set_model_version_tag(spec.name, version, key, value)
    for name, g in gains.items():
        if math.isfinite(g["gain"]):
            c.log_metric(mv.run_id, f"{feature_gain.TAG}.{name}", g["gain"])
    return {"version": version, "metric": metric, "features": gains}


def staleness(spec: PipelineSpec, settings: Settings, *, now: float | None = None) -> dict[str, Any]:
    """How old the champion is against `training.max_model_age`: `stale` when it is older.

    Age counts from when the champion version was registered (trained), not from when it was promoted: a model
    promoted yesterday may have learned from data a year old.
    """
    import time

    from airloop.model import registry

    limit = spec.training.max_model_age_seconds
    c = registry.client(settings.tracking_uri)
    current = registry.champion_version(spec.name, settings.tracking_uri)
    if limit is None or current is None:
        why = "no max_model_age in the spec" if limit is None else "no champion yet"
        return {"stale": False, "reason": why, "champion_version": current}
    created = c.get_model_version(spec.name, current).creation_timestamp / 1000
    age = (time.time() if now is None else now) - created
    stale = age > limit
    reason = (
        f"champion v{current} is {age / 86400:.1f} days old, "
        f"{'older' if stale else 'not older'} than max_model_age {spec.training.max_model_age}"
    )
    return {
        "stale": stale,
        "reason": reason,
        "champion_version": current,
        "age_seconds": round(age, 1),
        "max_age_seconds": limit,
    }


def gate(spec: PipelineSpec, settings: Settings, *, version: str, data_md5: str) -> dict[str, Any]:
    """Rebuild the challenger's exact holdout from its versioned training set, then gate."""
    from airloop.model import registry

    holdout = _restored_split(spec, settings, data_md5).holdout
    with champion_lock(settings, spec.name):
        return registry.gate_and_promote(spec, version, holdout, tracking_uri=settings.tracking_uri).to_dict()


def promote(spec_name: str, settings: Settings, version: str, *, actor: str) -> str | None:
    """Make `version` champion by hand, under the champion lock. Returns the previous champion."""
    from airloop.model import registry

    with champion_lock(settings, spec_name):
        return registry.promote(spec_name, version, tracking_uri=settings.tracking_uri, actor=actor)


def rollback(spec_name: str, settings: Settings, *, actor: str) -> tuple[str, str]:
    """Move the champion back to the one before it, under the champion lock. Returns (from, to)."""
    from airloop.model import registry

    with champion_lock(settings, spec_name):
        return registry.rollback(spec_name, tracking_uri=settings.tracking_uri, actor=actor)


def score(spec: PipelineSpec, settings: Settings) -> list[dict[str, Any]]:
    from airloop.model.scoring import score_pending

    scored = score_pending(
        spec, settings, DataVersioner.from_settings(settings), ingest.load_records(settings, spec.name)
    )
    return [s.__dict__ for s in scored]


def land(spec: PipelineSpec, settings: Settings, df, name: str) -> str:
    """Drop a batch into the pipeline's landing zone (demo and tests), written atomically."""
    return storage.write_parquet(df, uris.join_uri(settings.location(spec.storage.landing), name))
