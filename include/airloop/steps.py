"""The loop's steps as plain functions: what each Airflow task calls, and what tests and the CLI call directly.

Inputs and outputs are the records of `airloop.contracts` (URIs, md5s, versions, numbers: never a DataFrame);
`contracts.to_xcom` / `from_xcom` turn them into what travels through XCom and back.
"""

from __future__ import annotations

import logging
import math
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airloop import uris
from airloop.contracts import (
    FeatureGains,
    GateDecision,
    Lineage,
    PreparedSearch,
    SearchRun,
    SearchSummary,
    Skipped,
    Staleness,
    Trained,
    TrialJob,
    TrialResult,
)
from airloop.data import ingest
from airloop.data.ingest import BatchRecord  # what `process` returns; the DAG glue decodes it from XCom
from airloop.errors import AirloopError
from airloop.model.registry import CHAMPION, Registry, run_id_of
from airloop.store import storage
from airloop.store.versioning import DataVersioner

if TYPE_CHECKING:
    from airloop.model.scoring import ScoredBatch
    from airloop.model.training import FitResult
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


def process(spec: PipelineSpec, settings: Settings, raw_uri: str) -> BatchRecord:
    return ingest.process_batch(spec, settings, DataVersioner.from_settings(settings), raw_uri)


def train(
    spec: PipelineSpec,
    settings: Settings,
    lineage: Lineage,
    *,
    run_key: str | None = None,
) -> Trained | Skipped:
    """Assemble + version the training set, fit, log and register one model version.

    Returns `Skipped` instead of training when there is nothing to learn: fewer labelled rows than `min_rows`, the
    training window is the one the newest version was trained on (e.g. a batch sent only for scoring), or new data
    arrived while a champion exists and the spec leaves retraining to drift. Else a manual run always trains.

    `run_key` names the orchestrator's unit of work (Airflow: dag id / run id / task id, the same for every try).
    A try that finds a version already registered under its key returns that version instead of training again,
    so a retry after a crash (worker killed after registering) never leaves two versions for one run.

    With `model.search` in the spec the trials train here one after another, in this process; the DAGs run the
    same three steps (`prepare_search`, `fit_trial`, `select_trial`) as mapped tasks instead.
    """
    import pandas as pd

    from airloop.data.features import feature_columns
    from airloop.model import training
    from airloop.model.lineage import RUN_KEY

    registry = Registry.from_settings(settings)
    done = _registered_before(spec, registry, run_key)
    if done:
        return done
    if spec.model.search is not None:
        prepared = prepare_search(spec, settings, lineage, search_key=run_key)
        if isinstance(prepared, Skipped):
            return prepared
        results = [fit_trial(spec, settings, job) for job in prepared.jobs()]
        return _select(spec, settings, registry, prepared, results, run_key)
    records = ingest.load_records(settings, spec.name)
    skipped = _nothing_to_learn(spec, registry, records, lineage.trigger)
    if skipped:
        return skipped
    data = training.assemble_training_set(spec, records, DataVersioner.from_settings(settings))

    split = training.split_frame(pd.read_parquet(data.path), spec)
    fit = training.fit(split, spec, feature_columns(spec))
    logged = registry.log_model_version(
        spec,
        fit,
        data,
        split.holdout,
        trigger=lineage.trigger,
        git=lineage.git_sha,
        extra_tags={**lineage.extra_tags, **({RUN_KEY: run_key} if run_key else {})},
    )
    return _trained(spec, logged, data, fit)


def _registered_before(spec: PipelineSpec, registry: Registry, run_key: str | None) -> Trained | None:
    """The version an earlier try of this unit of work registered (then this try returns it), else None."""
    trained = registry.version_for_run_key(spec.name, run_key) if run_key else None
    if trained:
        log.warning("%s: %s registered v%s in an earlier try: reusing it", spec.name, run_key, trained.version)
    return trained


def _nothing_to_learn(spec: PipelineSpec, registry: Registry, records: list[Any], trigger: str) -> Skipped | None:
    """Why training would learn nothing new (see `train`), or None when it should train."""
    from airloop.model import training

    window = training.training_window(spec, records)
    if (rows := sum(r.n_valid for r in window)) < spec.training.min_rows:  # expected early on: a skip, not a failure
        return Skipped(reason=f"{rows} labelled rows, fewer than training.min_rows ({spec.training.min_rows})")
    if trigger == "new_data" and not spec.training.retrain_on_new_data:
        champion = registry.version_tags(spec.name, CHAMPION)
        if champion:
            return Skipped(
                reason=f"champion v{champion['version']} exists and training.retrain_on_new_data is false: "
                "retraining is drift-driven"
            )
    if trigger != "manual":
        newest = registry.latest_version_tags(spec.name)
        if newest.get("training_batches") == ",".join(r.batch_id for r in window):
            return Skipped(reason=f"no new labelled batch since v{newest['version']}: nothing new to learn")
    return None


def _trained(spec: PipelineSpec, logged: Any, data: Any, fit: Any, search: SearchSummary | None = None) -> Trained:
    """What a training step returns: the version, its data, device and holdout metrics."""
    from airloop.metrics import TASK_METRICS

    return Trained(
        version=logged.version,
        run_id=logged.run_id,
        data_md5=data.md5,
        device=fit.device,
        batches=tuple(data.batches),
        n_rows=data.n_rows,
        metrics={k: v for k, v in fit.metrics.items() if k in TASK_METRICS[spec.label.task]},
        search=search,
    )


def prepare_search(
    spec: PipelineSpec,
    settings: Settings,
    lineage: Lineage,
    *,
    search_key: str | None = None,
) -> PreparedSearch | Skipped:
    """A model search's first step: version the training set once, open the MLflow parent run, list the trials.

    Every trial then trains on these exact bytes (restored by md5 wherever its task runs) with the same split,
    so trials differ only in their parameters. Returns `Skipped` like `train`.
    """
    import json

    from airloop.model import search, search_runs, training
    from airloop.model.lineage import lineage_tags

    registry = Registry.from_settings(settings)
    records = ingest.load_records(settings, spec.name)
    skipped = _nothing_to_learn(spec, registry, records, lineage.trigger)
    if skipped:
        return skipped
    data = training.assemble_training_set(spec, records, DataVersioner.from_settings(settings))
    trials = search.trials(spec)
    metric = search.selection_metric(spec)
    conf = spec.model.search
    tags = lineage_tags(spec, data, trigger=lineage.trigger, git=lineage.git_sha, extra_tags=lineage.extra_tags)
    parent = search_runs.open_parent(
        registry,
        spec.name,
        tags=tags,
        params={
            "search.strategy": conf.strategy if conf else "none",
            "search.metric": f"valid_{metric}",
            "search.trials": len(trials),
            "search.space": json.dumps(conf.model_dump(mode="json")["space"] if conf else {}, sort_keys=True)[:6000],
        },
        search_key=search_key,
    )
    log.info("%s: searching %d trials by valid %s (run %s)", spec.name, len(trials), metric, parent)
    run = SearchRun(
        data_md5=data.md5,
        batches=tuple(data.batches),
        n_rows=data.n_rows,
        parent_run_id=parent,
        lineage=lineage,
        metric=metric,
    )
    return PreparedSearch(run=run, trials=tuple(trials))


def _restored_split(spec: PipelineSpec, settings: Settings, data_md5: str):
    """The training set with this md5, restored from DVC, split the spec's way."""
    import tempfile

    import pandas as pd

    from airloop.model import training

    with tempfile.TemporaryDirectory() as tmp:
        path = DataVersioner.from_settings(settings).restore(data_md5, f"{tmp}/train.parquet")
        return training.split_frame(pd.read_parquet(path), spec)


def fit_trial(spec: PipelineSpec, settings: Settings, job: TrialJob) -> TrialResult:
    """Train one search trial on the search's training set; log it as a child run. Scored on validation only
    (see `training.fit`). A trial an earlier try finished is returned as it was, not trained again."""
    from airloop.data.features import feature_columns
    from airloop.model import search_runs, training

    registry = Registry.from_settings(settings)
    run, trial = job.run, job.trial
    done = search_runs.finished_trial(registry, run.parent_run_id, trial.index)
    if done:
        log.warning("%s: trial %d was finished by an earlier try: reusing it", spec.name, trial.index)
        return done
    split = _restored_split(spec, settings, run.data_md5)
    features = feature_columns(spec)
    fit = training.fit(split, spec, features, trial.params, score_holdout=False)
    valid = training.evaluate(fit.booster, split.valid, features, spec.label.column, spec.label.task)
    tags = {"pipeline": spec.name, "data_md5": run.data_md5, "trigger": run.lineage.trigger}
    result = search_runs.log_trial(registry, run.parent_run_id, trial.index, fit, valid, tags)
    log.info("%s: trial %d %s → valid %s %s", spec.name, trial.index, trial.params, run.metric, valid.get(run.metric))
    return result


def select_trial(
    spec: PipelineSpec,
    settings: Settings,
    prepared: PreparedSearch,
    results: Sequence[TrialResult],
    *,
    run_key: str | None = None,
) -> Trained:
    """The search's last step: the best trial by validation metric, scored on the holdout once, logged in the
    parent run with full lineage and registered (it then goes to the gate like any challenger)."""
    registry = Registry.from_settings(settings)
    done = _registered_before(spec, registry, run_key)
    return done or _select(spec, settings, registry, prepared, results, run_key)


def _select(
    spec: PipelineSpec,
    settings: Settings,
    registry: Registry,
    prepared: PreparedSearch,
    results: Sequence[TrialResult],
    run_key: str | None,
) -> Trained:
    """`select_trial` once its run key is known to have registered nothing yet."""
    from airloop.model import search, search_runs, training
    from airloop.model.lineage import RUN_KEY

    run, results = prepared.run, list(results)
    winner = search.best(results, run.metric)
    fit, holdout = _winner_fit(spec, settings, registry, run, winner, len(results))
    data = training.TrainingSet(Path(), run.data_md5, list(run.batches), run.n_rows)
    search_runs.record_winner(registry, run.parent_run_id, results, winner)
    logged = registry.log_model_version(
        spec,
        fit,
        data,
        holdout,
        trigger=run.lineage.trigger,
        git=run.lineage.git_sha,
        extra_tags={
            **run.lineage.extra_tags,
            "search.best_run_id": winner.run_id,
            "search.trials": str(len(results)),
            **({RUN_KEY: run_key} if run_key else {}),
        },
        run_id=run.parent_run_id,
    )
    best_score = winner.valid[run.metric]
    won = f"trial {winner.index} of {len(results)} won (valid {run.metric} {best_score})"
    log.info("%s: %s → v%s", spec.name, won, logged.version)
    summary = SearchSummary(
        trials=len(results),
        best_index=winner.index,
        best_run_id=winner.run_id,
        metric=f"valid_{run.metric}",
        best_score=best_score,
        params={k: winner.params.get(k) for k in prepared.searched_keys()},
    )
    return _trained(spec, logged, data, fit, search=summary)


def _winner_fit(
    spec: PipelineSpec, settings: Settings, registry: Registry, run: SearchRun, winner: TrialResult, n_trials: int
) -> tuple[FitResult, Any]:
    """The winning trial's booster as it was trained, scored once on the holdout: the fit to register, and the
    holdout it was scored on."""
    from airloop.data.features import feature_columns
    from airloop.model import search_runs, training

    booster = search_runs.load_trial_booster(registry, winner.run_id)
    split = _restored_split(spec, settings, run.data_md5)
    features = feature_columns(spec)
    metrics = training.evaluate(booster, split.holdout, features, spec.label.column, spec.label.task)
    metrics.update({f"valid_{k}": float(v) for k, v in winner.valid.items()})
    metrics["train_seconds"] = float(winner.seconds)
    fit = training.FitResult(
        booster,
        winner.device,
        int(winner.best_iteration),
        metrics,
        dict(winner.params),
        features,
        float(winner.seconds),
        {**winner.extra, "search_best_index": winner.index, "search_trials": n_trials},
    )
    return fit, split.holdout


def measure_feature_gain(spec: PipelineSpec, settings: Settings, *, version: str, data_md5: str) -> FeatureGains:
    """The feature-importance test: refit without each candidate feature on the version's own split, with its
    exact parameters, and record on the version whether each adds predictive power (the gate may require it)."""
    from airloop.model import feature_gain

    registry = Registry.from_settings(settings)
    mv = registry.resolve(spec.name, version)
    metric = spec.gate_metric
    tags = mv.tags or {}
    if f"metric.{metric}" not in tags:
        raise AirloopError(f"{spec.name} v{version}: no holdout {metric} recorded to compare against")
    params = registry.recorded(mv, "params")
    split = _restored_split(spec, settings, data_md5)
    gains = feature_gain.feature_gain(spec, split, params, float(tags[f"metric.{metric}"]))
    registry.tag_version(spec.name, version, feature_gain.tags(gains))
    finite = {f"{feature_gain.TAG}.{name}": g["gain"] for name, g in gains.items() if math.isfinite(g["gain"])}
    registry.log_metrics(run_id_of(mv), finite)
    return FeatureGains(version=version, metric=metric, features=gains)


def staleness(spec: PipelineSpec, settings: Settings, *, now: float | None = None) -> Staleness:
    """How old the champion is against `training.max_model_age`: `stale` when it is older.

    Age counts from when the champion version was registered (trained), not from when it was promoted: a model
    promoted yesterday may have learned from data a year old.
    """
    import time

    limit = spec.training.max_model_age_seconds
    registry = Registry.from_settings(settings)
    champion = registry.alias_model_version(spec.name, CHAMPION)
    current = str(champion.version) if champion else None
    if limit is None or champion is None:
        why = "no max_model_age in the spec" if limit is None else "no champion yet"
        return Staleness(stale=False, reason=why, champion_version=current)
    created = champion.creation_timestamp / 1000
    age = (time.time() if now is None else now) - created
    stale = age > limit
    reason = (
        f"champion v{current} is {age / 86400:.1f} days old, "
        f"{'older' if stale else 'not older'} than max_model_age {spec.training.max_model_age}"
    )
    return Staleness(
        stale=stale, reason=reason, champion_version=current, age_seconds=round(age, 1), max_age_seconds=limit
    )


def gate(spec: PipelineSpec, settings: Settings, *, version: str, data_md5: str) -> GateDecision:
    """Rebuild the challenger's exact holdout from its versioned training set, then gate."""
    from airloop.model.gate import gate_and_promote

    holdout = _restored_split(spec, settings, data_md5).holdout
    with champion_lock(settings, spec.name):
        decision = gate_and_promote(Registry.from_settings(settings), spec, version, holdout)
    return decision


def promote(spec_name: str, settings: Settings, version: str, *, actor: str, reason: str | None = None) -> str | None:
    """Make `version` champion by hand, under the champion lock. Returns the previous champion."""

    with champion_lock(settings, spec_name):
        return Registry.from_settings(settings).promote(spec_name, version, actor=actor, reason=reason)


def rollback(spec_name: str, settings: Settings, *, actor: str, dry_run: bool = False) -> tuple[str, str]:
    """Move the champion back to the one before it (not with `dry_run`), under the champion lock. Returns (from, to)."""

    with champion_lock(settings, spec_name):
        return Registry.from_settings(settings).rollback(spec_name, actor=actor, dry_run=dry_run)


def score(spec: PipelineSpec, settings: Settings) -> list[ScoredBatch]:
    from airloop.model.scoring import score_pending

    return score_pending(
        spec, settings, DataVersioner.from_settings(settings), ingest.load_records(settings, spec.name)
    )


def land(spec: PipelineSpec, settings: Settings, df, name: str) -> str:
    """Drop a batch into the pipeline's landing zone (demo and tests), written atomically."""
    return storage.write_parquet(df, uris.join_uri(settings.location(spec.storage.landing), name))
