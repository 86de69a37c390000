"""DAG factory: five DAGs per pipeline spec (six with `training.max_model_age`), wired by assets.

    landing zone ──(AssetWatcher)──▶ <name>__features ──(features)──▶ <name>__train ──(champion)──┐
                                                     ├──(features)──▶ <name>__score ◀───────────────┤
                                                     └──(features)──▶ <name>__monitor ──(drift)──▶ <name>__retrain
                                                        @daily ──▶ <name>__staleness ──(stale)──────▶ <name>__retrain

One builder per DAG kind; DAG ids and asset names come from `airloop.naming`. Task bodies are one call into
`airloop.steps`; heavy libraries (pandas, xgboost, mlflow, dvc) are imported there, at run time, never while the
DAG file is parsed. Only URIs, md5s and versions travel through XCom, as `airloop.contracts` records that
`to_xcom` / `from_xcom` turn into JSON and back.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import Metadata, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from airloop.contracts import from_xcom, to_xcom
from airloop.naming import INVALID_SPEC, RETRAIN_TRIGGERS, AssetKind, DagKind, asset_name, dag_id, invalid_spec_dag_id
from airloop_airflow.assets import landing_asset, pipeline_asset
from airloop_airflow.config import settings, task_inputs
from airloop_airflow.monitoring import monitor_tasks
from airloop_airflow.training import train_gate_announce

if TYPE_CHECKING:
    from airflow.sdk import DAG, Asset

    from airloop.settings import Settings
    from airloop.spec import PipelineSpec

log = logging.getLogger(__name__)
START = pendulum.datetime(2026, 1, 1, tz="UTC")
DEFAULT_ARGS = {"retries": 2, "retry_delay": timedelta(seconds=20), "retry_exponential_backoff": True}


def _common(spec: PipelineSpec) -> dict[str, Any]:
    """What every DAG of a pipeline shares: start, no catch-up, retries, owner, tags, one run at a time.

    `auto_register=False`: a DAG counts only once `build_all` returns it (the DAG file puts those in its globals),
    so a spec whose later builder raises leaves none of its earlier DAGs behind, only its invalid_spec DAG.
    """
    return {
        "auto_register": False,
        "start_date": START,
        "catchup": False,
        "default_args": {**DEFAULT_ARGS, "owner": spec.owner},
        "tags": ["airloop", f"pipeline:{spec.name}", *spec.tags],
        "max_active_runs": 1,
    }


def features_dag(spec: PipelineSpec, where: Settings, features: Asset) -> DAG:
    """landing watcher → discover → process (mapped per file) → publish the features asset."""
    name = spec.name

    @dag(
        dag_id=dag_id(name, DagKind.FEATURES),
        schedule=[landing_asset(spec, where)],
        doc_md=f"New raw batches of **{name}** → validation → quarantine → features → DVC. {spec.description}",
        **_common(spec),
    )
    def features_dag():
        @task
        def discover() -> list[str]:
            """Raw files in the landing zone not processed yet (the watcher event only wakes us up)."""
            from airloop import steps

            found = steps.discover(*task_inputs(name))
            log.info("%d new batch file(s): %s", len(found), found)
            return found

        @task(max_active_tis_per_dagrun=2)
        def process(raw_uri: str) -> dict[str, Any]:
            """Validate, quarantine, build features, write curated Parquet and version it with DVC."""
            from airloop import steps

            record = steps.process(*task_inputs(name), raw_uri)
            log.info("%s → %s (%s)", raw_uri, record.status, record.reason or record.md5)
            return to_xcom(record)

        _publish_task(features)(process.expand(raw_uri=discover()))

    return features_dag()


def _publish_task(features: Asset):
    @task(outlets=[features])
    def publish(processed: list[dict[str, Any]]):
        """Announce the new curated batches (one asset event), or nothing if none made it."""
        from airloop.steps import BatchRecord

        records = [from_xcom(BatchRecord, r) for r in processed]
        curated = [r for r in records if r.status == "curated"]
        for r in records:
            if r.status == "rejected":
                log.warning("batch %s REJECTED: %s; quarantined at %s", r.batch_id, r.reason, r.quarantine_uri)
        if not curated:
            raise AirflowSkipException(f"no curated batch among {len(records)} file(s): nothing to announce")
        yield Metadata(
            features,
            {
                "batches": [r.batch_id for r in curated],
                "md5": [r.md5 for r in curated],
                "labelled": any(r.has_labels for r in curated),
            },
        )
        return [r.batch_id for r in curated]

    return publish


def train_dag(spec: PipelineSpec, features: Asset, champion: Asset) -> DAG:
    """New curated data (or the spec's `schedules.retrain` cron) → train → gate → announce the champion."""
    schedule: Any = features
    if spec.schedules.retrain:
        from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

        timetable = CronTriggerTimetable(spec.schedules.retrain, timezone="UTC")
        schedule = AssetOrTimeSchedule(timetable=timetable, assets=features)

    @dag(
        dag_id=dag_id(spec.name, DagKind.TRAIN),
        schedule=schedule,
        doc_md=f"Train **{spec.name}** on the newest labelled batches, register, gate against the champion.",
        **_common(spec),
    )
    def train_dag():
        train_gate_announce(spec, champion)

    return train_dag()


def score_dag(spec: PipelineSpec, features: Asset, champion: Asset) -> DAG:
    """New curated data or a new champion → predictions for every batch not scored yet."""
    name = spec.name

    @dag(
        dag_id=dag_id(name, DagKind.SCORE),
        schedule=(features | champion),
        doc_md=f"Score new curated batches of **{name}** with `models:/{name}@champion`.",
        **_common(spec),
    )
    def score_dag():
        @task
        def score() -> list[dict[str, Any]]:
            """Predictions for every curated batch not scored yet, each row tagged with the model version."""
            from airloop import steps

            scored = steps.score(*task_inputs(name))
            if not scored:  # an expected state (no champion yet, or every batch scored): a skip, not a red run
                raise AirflowSkipException("nothing to score: no champion yet, or every curated batch is scored")
            log.info("scored %d batch(es): %s", len(scored), [s.uri for s in scored])
            return [to_xcom(s) for s in scored]

        score()

    return score_dag()


def monitor_dag(spec: PipelineSpec, features: Asset) -> DAG:
    """New curated data → wait for a champion → drift and decay checks → drift / decay assets."""
    name = spec.name
    drift = asset_name(name, AssetKind.DRIFT)

    @dag(
        dag_id=dag_id(name, DagKind.MONITOR),
        schedule=features,
        doc_md=f"Compare each new curated batch of **{name}** with the champion's training data; emit "
        f"`{drift}` when the share of drifted features reaches {spec.drift.drift_share:.0%}.",
        **_common(spec),
    )
    def monitor_dag():
        monitor_tasks(name, pipeline_asset(name, AssetKind.DRIFT), pipeline_asset(name, AssetKind.DECAY))

    return monitor_dag()


def staleness_dag(spec: PipelineSpec, stale: Asset) -> DAG:
    """@daily → is the champion older than `training.max_model_age`? → the stale asset."""
    name = spec.name

    @dag(
        dag_id=dag_id(name, DagKind.STALENESS),
        schedule="@daily",
        doc_md=f"Once a day: is the champion of **{name}** older than {spec.training.max_model_age}? Then emit "
        f"`{asset_name(name, AssetKind.STALE)}`, which retrains it (trigger `schedule`).",
        **_common(spec),
    )
    def staleness_dag():
        @task(outlets=[stale])
        def check_age():
            """Compare the champion's age with max_model_age; emit the stale asset only when it is older."""
            from airloop import steps

            result = steps.staleness(*task_inputs(name))
            log.info("%s: %s", name, result.reason)
            if not result.stale:
                raise AirflowSkipException(result.reason)
            yield Metadata(stale, result.event_extra())

        check_age()

    return staleness_dag()


def retrain_dag(spec: PipelineSpec, champion: Asset, retrain_on: list[Asset]) -> DAG:
    """Drift, decay (or a stale champion) → train → gate → announce the champion."""
    schedule: Any = retrain_on[0]
    for asset in retrain_on[1:]:
        schedule = schedule | asset

    @dag(
        dag_id=dag_id(spec.name, DagKind.RETRAIN),
        schedule=schedule,
        doc_md=f"Continuous training of **{spec.name}**: retrain on drift, performance decay"
        f"{' or a stale champion' if spec.training.max_model_age else ''}, gate against the champion, promote or not.",
        **_common(spec),
    )
    def retrain_dag():
        train_gate_announce(spec, champion)

    return retrain_dag()


def build_dags(spec: PipelineSpec) -> dict[str, DAG]:
    """Every DAG of one pipeline spec, by DAG id."""
    name = spec.name
    features, champion = pipeline_asset(name, AssetKind.FEATURES), pipeline_asset(name, AssetKind.CHAMPION)
    # The stale asset exists only for specs with a maximum model age (and then so does the staleness DAG).
    aged = spec.training.max_model_age
    retrain_on = [pipeline_asset(name, kind) for kind in RETRAIN_TRIGGERS if aged or kind != AssetKind.STALE]
    dags = [
        features_dag(spec, settings(), features),
        train_dag(spec, features, champion),
        score_dag(spec, features, champion),
        monitor_dag(spec, features),
        retrain_dag(spec, champion, retrain_on),
    ]
    if aged:
        dags.append(staleness_dag(spec, pipeline_asset(name, AssetKind.STALE)))
    return {d.dag_id: d for d in dags}


def invalid_spec_dag(stem: str, message: str) -> DAG:
    """A spec file that does not load, as one DAG whose only task fails with the file's one-line error.

    Runs once (and unpaused) so the failure is red in the UI; the task fails without retrying, since only an edit
    of the file can fix it. Fixing the file removes this DAG and brings the pipeline's own DAGs back.
    """
    pipeline = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)

    @dag(
        dag_id=invalid_spec_dag_id(pipeline),
        schedule="@once",
        auto_register=False,
        start_date=START,
        catchup=False,
        is_paused_upon_creation=False,
        default_args={"retries": 0, "owner": "airloop"},
        tags=["airloop", f"pipeline:{pipeline}", INVALID_SPEC],
        doc_md=f"The spec file of **{pipeline}** does not load, so its DAGs are not built:\n\n    {message}",
    )
    def invalid_spec():
        @task
        def report_invalid_spec():
            """Fail with the spec's error: file and field (`airloop check` prints the same)."""
            raise AirflowFailException(message)

        report_invalid_spec()

    return invalid_spec()


def build_all(specs_dir: str | None = None) -> dict[str, DAG]:
    """DAGs for every spec in the specs directory, spec by spec.

    A spec that fails to load (YAML, fields, drift method, a custom feature module that does not import) or to
    build becomes one failing `<name>__invalid_spec` DAG; every other spec's DAGs are built as usual, so one user's
    broken draft never hides the other pipelines.
    """
    from airloop.monitor.speccheck import load_checked

    loaded = load_checked(specs_dir or settings().specs_dir)
    broken = {path.stem: message for path, message in loaded.errors.items()}
    out: dict[str, DAG] = {}
    for path, spec in loaded.specs.items():
        try:
            out.update(build_dags(spec))
        except Exception as exc:  # one spec's DAGs failing to build must not take the others down
            log.exception("spec %s: its DAGs failed to build", path)
            broken[path.stem] = f"{path}: its DAGs failed to build: {type(exc).__name__}: {exc}"
    for stem, message in broken.items():
        log.error("spec file not loaded, its DAGs are not built: %s", message)
        invalid = invalid_spec_dag(stem, message)
        out[invalid.dag_id] = invalid
    return out
