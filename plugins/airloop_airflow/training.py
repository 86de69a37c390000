"""train → gate → announce: the task group the new-data DAG (`__train`) and the retrain DAG (`__retrain`) share.

With `model.search`, `train` becomes prepare → fit_trial (mapped) → select; with `candidate: true` features,
`measure_feature_gain` runs before the gate. Only training goes to the spec's queue (e.g. `gpu`): gating and
announcing are light and stay on the default. What passes between the tasks is `airloop.contracts` records, turned
into XCom JSON and back by `to_xcom` / `from_xcom` only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow.sdk import Metadata, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from airloop.contracts import GateDecision, PreparedSearch, Skipped, Trained, TrialJob, TrialResult, from_xcom, to_xcom
from airloop_airflow.assets import lineage, work_key
from airloop_airflow.config import task_inputs

if TYPE_CHECKING:
    from airflow.sdk import Asset

    from airloop.spec import PipelineSpec

log = logging.getLogger(__name__)


def _on_queue(queue: str | None) -> dict[str, Any]:
    """Task kwargs that route to `queue`; none at all for the default, so the operator keeps Airflow's default."""
    return {"queue": queue} if queue else {}


def _log_registered(name: str, result: Trained, trigger: str) -> None:
    log.info(
        "registered %s v%s on %s (device %s, trigger %s): %s",
        name,
        result.version,
        result.data_md5,
        result.device,
        trigger,
        result.metrics,
    )


def _train_task(name: str, queue: str | None):
    """One task: version the training set, fit, log, register (a spec without `model.search`)."""

    @task(**_on_queue(queue))
    def train() -> dict[str, Any]:
        """Version the training set, fit XGBoost, log the MLflow run, register a model version."""
        from airloop import steps

        context = get_current_context()
        started_by = lineage(context, name)
        result = steps.train(*task_inputs(name), started_by, run_key=work_key(context))
        if isinstance(result, Skipped):
            raise AirflowSkipException(result.reason)
        _log_registered(name, result, started_by.trigger)
        return to_xcom(result)

    return train()


def _search_tasks(name: str, queue: str | None, parallel: int):
    """prepare → fit_trial × N (dynamically mapped, spread over the workers) → select: a model search.

    Only `fit_trial` goes to the spec's queue: it is where the training happens. `parallel` caps how many trials
    of one run train at once, so a search cannot take every worker slot from the other pipelines.
    """

    @task
    def prepare() -> list[dict[str, Any]]:
        """Version the training set once, open the MLflow parent run; one job per trial."""
        from airloop import steps

        context = get_current_context()
        prepared = steps.prepare_search(*task_inputs(name), lineage(context, name), search_key=work_key(context))
        if isinstance(prepared, Skipped):
            raise AirflowSkipException(prepared.reason)
        return [to_xcom(job) for job in prepared.jobs()]

    @task(max_active_tis_per_dagrun=parallel, **_on_queue(queue))
    def fit_trial(job: dict[str, Any]) -> dict[str, Any]:
        """Train one trial on the search's versioned training set; an MLflow child run."""
        from airloop import steps

        return to_xcom(steps.fit_trial(*task_inputs(name), from_xcom(TrialJob, job)))

    @task
    def select(jobs: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
        """The best trial by validation metric: scored on the holdout, registered, sent to the gate."""
        from airloop import steps

        context = get_current_context()
        prepared = PreparedSearch.from_jobs([from_xcom(TrialJob, j) for j in jobs])
        trials = [from_xcom(TrialResult, r) for r in results]
        result = steps.select_trial(*task_inputs(name), prepared, trials, run_key=work_key(context))
        _log_registered(name, result, prepared.run.lineage.trigger)
        return to_xcom(result)

    jobs = prepare()
    # Called on XComArgs, which the Task SDK's typing does not model (it wants the values they resolve to).
    return select(jobs, fit_trial.expand(job=jobs))  # type: ignore[arg-type]


def _feature_gain_task(name: str, queue: str | None):
    """The feature-importance test: the gate metric with and without each `candidate: true` feature."""

    @task(**_on_queue(queue))
    def measure_feature_gain(result: dict[str, Any]) -> dict[str, Any]:
        """Refit without each candidate feature (same split, params, seed); record whether each adds power."""
        from airloop import steps

        trained = from_xcom(Trained, result)
        gains = steps.measure_feature_gain(*task_inputs(name), version=trained.version, data_md5=trained.data_md5)
        for feature, g in gains.features.items():
            log.info("%s: %s %s gain %+.4f (adds: %s)", name, feature, gains.metric, g["gain"], g["adds"])
        return result

    return measure_feature_gain


def _gate_task(name: str):
    @task
    def gate(result: dict[str, Any]) -> dict[str, Any]:
        """Challenger vs champion on the challenger's holdout; moves the `champion` alias only on a win."""
        from airloop import steps

        trained = from_xcom(Trained, result)
        decision = steps.gate(*task_inputs(name), version=trained.version, data_md5=trained.data_md5)
        log.info("gate: v%s %s — %s", decision.version, decision.decision, decision.reason)
        return to_xcom(decision)

    return gate


def _announce_task(champion: Asset):
    @task(outlets=[champion])
    def announce(gated: dict[str, Any]):
        """Emit the champion asset (which re-runs scoring) only when the champion changed."""
        decision = from_xcom(GateDecision, gated)
        if decision.decision != "promoted":
            raise AirflowSkipException(f"v{decision.version} not promoted: {decision.reason}")
        yield Metadata(champion, {"version": decision.version, "reason": decision.reason})

    return announce


def train_gate_announce(spec: PipelineSpec, champion: Asset) -> None:
    """Wire the training tasks (one task or a search), the optional feature test, the gate and the announcement."""
    name, queue, search = spec.name, spec.training.queue, spec.model.search
    trained = _search_tasks(name, queue, search.parallel) if search else _train_task(name, queue)
    if any(f.candidate for f in spec.features):
        trained = _feature_gain_task(name, queue)(trained)
    _announce_task(champion)(_gate_task(name)(trained))
