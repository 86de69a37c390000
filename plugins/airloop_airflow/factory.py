"""DAG factory: five DAGs per pipeline spec (six with `training.max_model_age`), wired by assets.

    landing zone ──(AssetWatcher)──▶ <name>__features ──(features)──▶ <name>__train ──(champion)──┐
                                                     ├──(features)──▶ <name>__score ◀───────────────┤
                                                     └──(features)──▶ <name>__monitor ──(drift)──▶ <name>__retrain
                                                        @daily ──▶ <name>__staleness ──(stale)──────▶ <name>__retrain

Task bodies are one call into `airloop.steps`; heavy libraries (pandas, xgboost, mlflow, dvc) are imported
there, at run time, never while the DAG file is parsed. Only URIs, md5s and versions travel through XCom.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import Asset, AssetWatcher, Metadata, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from airloop_airflow.config import PROJECT_ROOT, settings, spec_named, task_settings
from airloop_airflow.sensors import DriftSensor
from airloop_airflow.triggers import LandingZoneTrigger

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from airloop.settings import Settings
    from airloop.spec import PipelineSpec

log = logging.getLogger(__name__)
START = pendulum.datetime(2026, 1, 1, tz="UTC")
DEFAULT_ARGS = {"retries": 2, "retry_delay": timedelta(seconds=20), "retry_exponential_backoff": True}


def features_asset(name: str) -> Asset:
    return Asset(name=f"airloop.{name}.features", uri=f"airloop://{name}/features", group="airloop")


def champion_asset(name: str) -> Asset:
    return Asset(name=f"airloop.{name}.champion", uri=f"airloop://{name}/champion", group="airloop")


def drift_asset(name: str) -> Asset:
    return Asset(name=f"airloop.{name}.drift", uri=f"airloop://{name}/drift", group="airloop")


def decay_asset(name: str) -> Asset:
    return Asset(name=f"airloop.{name}.decay", uri=f"airloop://{name}/decay", group="airloop")


def stale_asset(name: str) -> Asset:
    return Asset(name=f"airloop.{name}.stale", uri=f"airloop://{name}/stale", group="airloop")


def landing_asset(spec: PipelineSpec, where: Settings) -> Asset:
    uri = where.location(spec.storage.landing)
    watcher = AssetWatcher(
        name=f"{spec.name}_landing_watcher",
        trigger=LandingZoneTrigger(uri=uri, pattern=spec.storage.pattern, poll_interval=3.0),
    )
    return Asset(name=f"airloop.{spec.name}.landing", uri=uri, group="airloop", watchers=[watcher])


def trigger_reason(context: dict[str, Any], name: str) -> str:
    """Why this run exists, recorded on the model: new_data, drift, schedule or manual."""
    events = context.get("triggering_asset_events") or {}
    names = {getattr(asset, "name", "") for asset in events.keys()}
    if f"airloop.{name}.drift" in names:
        return "drift"
    if f"airloop.{name}.decay" in names:
        return "decay"
    if f"airloop.{name}.stale" in names:
        return "schedule"  # the champion outlived max_model_age: a retrain due by the calendar, not by the data
    if f"airloop.{name}.features" in names:
        return "new_data"
    run_type = str(getattr(context.get("dag_run"), "run_type", "") or "")
    return "schedule" if "scheduled" in run_type else "manual"


def _drift_tags(context: dict[str, Any], name: str) -> dict[str, str]:
    """Lineage of a drift- or decay-triggered run: which batch, how much, against which champion."""
    tags: dict[str, str] = {}
    for asset, events in (context.get("triggering_asset_events") or {}).items():
        kind = getattr(asset, "name", "").removeprefix(f"airloop.{name}.")
        if kind not in ("drift", "decay", "stale"):
            continue
        for event in events:
            extra = event.extra or {}
            if kind == "stale":
                tags["staleness.champion_version"] = str(extra.get("champion_version", ""))
                tags["staleness.age_seconds"] = str(int(float(extra.get("age_seconds", 0))))
                continue
            tags[f"{kind}.batch"] = str(extra.get("batch_id", ""))
            tags[f"{kind}.champion_version"] = str(extra.get("champion_version", ""))
            if kind == "drift":
                tags["drift.share"] = f"{float(extra.get('share_drifted', 0)):.4f}"
                tags["drift.top"] = ",".join(extra.get("top_drifted", []))
            else:
                perf = extra.get("performance") or {}
                tags.update({f"decay.{k}": str(perf.get(k)) for k in ("metric", "baseline", "live", "drop")})
    return tags


def _lineage(context: dict[str, Any], name: str) -> dict[str, Any]:
    """What a training step records about the run that started it: trigger, code, DAG run, drift evidence."""
    from airloop.steps import git_sha

    dag_run = context["dag_run"]
    return {
        "trigger": trigger_reason(context, name),
        "git_sha": os.environ.get("AIRLOOP_GIT_SHA") or git_sha(PROJECT_ROOT),
        "extra_tags": {
            "airflow_dag_id": dag_run.dag_id,
            "airflow_run_id": dag_run.run_id,
            **_drift_tags(context, name),
        },
    }


def _work_key(context: dict[str, Any]) -> str:
    """The unit of work a task instance is: the same for every try, different for every task and run."""
    return f"{context['dag_run'].dag_id}/{context['dag_run'].run_id}/{context['ti'].task_id}"


def _log_registered(name: str, result: dict[str, Any], trigger: str) -> None:
    log.info(
        "registered %s v%s on %s (device %s, trigger %s): %s",
        name,
        result["version"],
        result["data_md5"],
        result["device"],
        trigger,
        result["metrics"],
    )


def _train_task(name: str, queue: str | None):
    """One task: version the training set, fit, log, register (a spec without `model.search`)."""

    @task(**({"queue": queue} if queue else {}))
    def train() -> dict[str, Any]:
        """Version the training set, fit XGBoost, log the MLflow run, register a model version."""
        from airloop import steps

        context = get_current_context()
        lineage = _lineage(context, name)
        result = steps.train(spec_named(name), task_settings(), **lineage, run_key=_work_key(context))
        if "skipped" in result:
            raise AirflowSkipException(result["skipped"])
        _log_registered(name, result, lineage["trigger"])
        return result

    return train()


def _search_tasks(name: str, queue: str | None, parallel: int):
    """prepare → fit_candidate × N (dynamically mapped, spread over the workers) → select: a model search.

    Only `fit_candidate` goes to the spec's queue: it is where the training happens. `parallel` caps how many
    candidates of one run train at once, so a search cannot take every worker slot from the other pipelines.
    """

    @task
    def prepare() -> list[dict[str, Any]]:
        """Version the training set once, open the MLflow parent run; one job per candidate."""
        from airloop import steps

        context = get_current_context()
        prepared = steps.prepare_search(
            spec_named(name), task_settings(), **_lineage(context, name), search_key=_work_key(context)
        )
        if "skipped" in prepared:
            raise AirflowSkipException(prepared["skipped"])
        return steps.search_jobs(prepared)

    @task(max_active_tis_per_dagrun=parallel, **({"queue": queue} if queue else {}))
    def fit_candidate(job: dict[str, Any]) -> dict[str, Any]:
        """Train one candidate on the search's versioned training set; an MLflow child run."""
        from airloop import steps

        return steps.fit_candidate(spec_named(name), task_settings(), job["search"], job["candidate"])

    @task
    def select(jobs: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
        """The best candidate by validation metric: scored on the holdout, registered, sent to the gate."""
        from airloop import steps

        context = get_current_context()
        prepared = steps.search_from_jobs(list(jobs))
        result = steps.select_candidate(
            spec_named(name), task_settings(), prepared, list(results), run_key=_work_key(context)
        )
        _log_registered(name, result, prepared["trigger"])
        return result

    jobs = prepare()
    return select(jobs, fit_candidate.expand(job=jobs))


def _test_features_task(name: str, queue: str | None):
    """The feature-importance test: the gate metric with and without each `candidate: true` feature."""

    @task(**({"queue": queue} if queue else {}))
    def test_features(result: dict[str, Any]) -> dict[str, Any]:
        """Refit without each candidate feature (same split, params, seed); record whether each adds power."""
        from airloop import steps

        tested = steps.test_features(
            spec_named(name), task_settings(), version=result["version"], data_md5=result["data_md5"]
        )
        for feature, g in tested["features"].items():
            log.info("%s: %s %s gain %+.4f (adds: %s)", name, feature, tested["metric"], g["gain"], g["adds"])
        return result

    return test_features


def _train_gate_announce(name: str, champion: Asset, spec: PipelineSpec) -> None:
    """train → gate → announce, shared by the new-data DAG (`__train`) and the drift DAG (`__retrain`).

    With `model.search`, `train` becomes prepare → fit_candidate (mapped) → select. Only training goes to the
    spec's queue (e.g. `gpu`): gating and announcing are light and stay on the default.
    """
    queue, search = spec.training.queue, spec.model.search
    trained = _search_tasks(name, queue, search.parallel) if search else _train_task(name, queue)
    if any(f.candidate for f in spec.features):
        trained = _test_features_task(name, queue)(trained)

    @task
    def gate(result: dict[str, Any]) -> dict[str, Any]:
        """Challenger vs champion on the challenger's holdout; moves the `champion` alias only on a win."""
        from airloop import steps

        decision = steps.gate(spec_named(name), task_settings(), version=result["version"], data_md5=result["data_md5"])
        log.info("gate: v%s %s — %s", decision["version"], decision["decision"], decision["reason"])
        return decision

    @task(outlets=[champion])
    def announce(decision: dict[str, Any]):
        """Emit the champion asset (which re-runs scoring) only when the champion changed."""
        if decision["decision"] != "promoted":
            raise AirflowSkipException(f"v{decision['version']} not promoted: {decision['reason']}")
        yield Metadata(champion, {"version": decision["version"], "reason": decision["reason"]})

    announce(gate(trained))


def build_dags(spec: PipelineSpec) -> dict[str, DAG]:
    where = settings()
    name = spec.name
    features, champion = features_asset(name), champion_asset(name)
    tags = ["airloop", f"pipeline:{name}", *spec.tags]
    common = {
        "start_date": START,
        "catchup": False,
        "default_args": {**DEFAULT_ARGS, "owner": spec.owner},
        "tags": tags,
    }

    @dag(
        dag_id=f"{name}__features",
        schedule=[landing_asset(spec, where)],
        max_active_runs=1,
        doc_md=f"New raw batches of **{name}** → validation → quarantine → features → DVC. {spec.description}",
        **common,
    )
    def features_dag():
        @task
        def discover() -> list[str]:
            """Raw files in the landing zone not processed yet (the watcher event only wakes us up)."""
            from airloop import steps

            found = steps.discover(spec_named(name), task_settings())
            log.info("%d new batch file(s): %s", len(found), found)
            return found

        @task(max_active_tis_per_dagrun=2)
        def process(raw_uri: str) -> dict[str, Any]:
            """Validate, quarantine, build features, write curated Parquet and version it with DVC."""
            from airloop import steps

            record = steps.process(spec_named(name), task_settings(), raw_uri)
            log.info("%s → %s (%s)", raw_uri, record["status"], record.get("reason") or record.get("md5"))
            return record

        @task(outlets=[features])
        def publish(records: list[dict[str, Any]]):
            """Announce the new curated batches (one asset event), or nothing if none made it."""
            records = list(records)
            curated = [r for r in records if r["status"] == "curated"]
            for r in records:
                if r["status"] == "rejected":
                    log.warning(
                        "batch %s REJECTED: %s; quarantined at %s",
                        r["batch_id"],
                        r["reason"],
                        r["quarantine_uri"],
                    )
            if not curated:
                raise AirflowSkipException(f"no curated batch among {len(records)} file(s): nothing to announce")
            yield Metadata(
                features,
                {
                    "batches": [r["batch_id"] for r in curated],
                    "md5": [r["md5"] for r in curated],
                    "labelled": any(r["has_labels"] for r in curated),
                },
            )
            return [r["batch_id"] for r in curated]

        publish(process.expand(raw_uri=discover()))

    schedule: Any = features
    if spec.schedules.retrain:
        from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

        schedule = AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(spec.schedules.retrain, timezone="UTC"), assets=features
        )

    @dag(
        dag_id=f"{name}__train",
        schedule=schedule,
        max_active_runs=1,
        doc_md=f"Train **{name}** on the newest labelled batches, register, gate against the champion.",
        **common,
    )
    def train_dag():
        _train_gate_announce(name, champion, spec)

    @dag(
        dag_id=f"{name}__score",
        schedule=(features | champion),
        max_active_runs=1,
        doc_md=f"Score new curated batches of **{name}** with `models:/{name}@champion`.",
        **common,
    )
    def score_dag():
        @task
        def score() -> list[dict[str, Any]]:
            """Predictions for every curated batch not scored yet, each row tagged with the model version."""
            from airloop import steps

            scored = steps.score(spec_named(name), task_settings())
            log.info("scored %d batch(es): %s", len(scored), [s["uri"] for s in scored])
            return scored

        score()

    drift, decay = drift_asset(name), decay_asset(name)
    extra_dags: list[DAG] = []

    @dag(
        dag_id=f"{name}__monitor",
        schedule=features,
        max_active_runs=1,
        doc_md=f"Compare each new curated batch of **{name}** with the champion's training data; emit "
        f"`airloop.{name}.drift` when the share of drifted features reaches {spec.drift.drift_share:.0%}.",
        **common,
    )
    def monitor_dag():
        check = DriftSensor(task_id="check_drift", pipeline=name, poke_interval=5, timeout=6 * 3600, soft_fail=True)

        keys = ("batch_id", "champion_version", "share_drifted", "top_drifted", "mlflow_run_id", "html_uri")

        @task(outlets=[drift])
        def emit_drift(results: list[dict[str, Any]]):
            """One drift event per drifted batch (scores, batch, champion version); nothing when none drifted."""
            drifted = [r for r in results if r["drift_detected"]]
            for r in results:
                log.info(
                    "%s: %s, %.0f%% of features drifted",
                    r["batch_id"],
                    "DRIFT" if r["drift_detected"] else "no drift",
                    100 * r["share_drifted"],
                )
            if not drifted:
                raise AirflowSkipException(f"no drift in {len(results)} batch(es)")
            for r in drifted:
                yield Metadata(drift, {k: r[k] for k in keys})

        @task(outlets=[decay])
        def emit_decay(results: list[dict[str, Any]]):
            """One decay event per labelled batch on which the champion's live metric fell more than allowed."""
            decayed = [r for r in results if r.get("decayed")]
            for r in results:
                if r.get("performance"):
                    p = r["performance"]
                    log.info(
                        "%s: live %s %s vs holdout %s (drop %s, max %s)",
                        r["batch_id"],
                        p["metric"],
                        p["live"],
                        p["baseline"],
                        p["drop"],
                        p["max_drop"],
                    )
            if not decayed:
                raise AirflowSkipException(f"no performance decay in {len(results)} batch(es)")
            for r in decayed:
                yield Metadata(decay, {**{k: r[k] for k in keys}, "performance": r["performance"]})

        emit_drift(check.output)
        emit_decay(check.output)

    retrain_on: Any = drift | decay
    if spec.training.max_model_age:
        stale = stale_asset(name)
        retrain_on = drift | decay | stale

        @dag(
            dag_id=f"{name}__staleness",
            schedule="@daily",
            max_active_runs=1,
            doc_md=f"Once a day: is the champion of **{name}** older than {spec.training.max_model_age}? Then emit "
            f"`airloop.{name}.stale`, which retrains it (trigger `schedule`).",
            **common,
        )
        def staleness_dag():
            @task(outlets=[stale])
            def check_age():
                """Compare the champion's age with max_model_age; emit the stale asset only when it is older."""
                from airloop import steps

                result = steps.staleness(spec_named(name), task_settings())
                log.info("%s: %s", name, result["reason"])
                if not result["stale"]:
                    raise AirflowSkipException(result["reason"])
                yield Metadata(stale, {k: result[k] for k in ("champion_version", "age_seconds", "max_age_seconds")})

            check_age()

        extra_dags.append(staleness_dag())

    @dag(
        dag_id=f"{name}__retrain",
        schedule=retrain_on,
        max_active_runs=1,
        doc_md=f"Continuous training of **{name}**: retrain on drift, performance decay"
        f"{' or a stale champion' if spec.training.max_model_age else ''}, gate against the champion, promote or not.",
        **common,
    )
    def retrain_dag():
        _train_gate_announce(name, champion, spec)

    dags = (features_dag(), train_dag(), score_dag(), monitor_dag(), retrain_dag(), *extra_dags)
    return {d.dag_id: d for d in dags}


def build_all(specs_dir: str | None = None) -> dict[str, DAG]:
    """DAGs for every spec in the specs directory. A broken spec fails loudly (an import error in the UI)."""
    from airloop.catalog import load_specs

    out: dict[str, DAG] = {}
    for spec in load_specs(specs_dir or settings().specs_dir):
        out.update(build_dags(spec))
    return out
