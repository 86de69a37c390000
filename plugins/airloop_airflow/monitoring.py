"""The monitor DAG's tasks: wait for a champion, check the new batches, emit drift and decay.

The wait is a reschedule-mode sensor that only asks whether there is work; the check, which reads data, renders
reports and logs MLflow runs, is a plain task after it, so it runs once per monitor run and retries on its own. Each
emit task turns the check's per-batch summaries into asset events, and emits nothing (a skip) when no batch
drifted or decayed, so the retrain DAG runs only when there is something to learn.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow.sdk import Metadata, task
from airflow.sdk.exceptions import AirflowSkipException

from airloop_airflow.config import monitor_poke, task_inputs
from airloop_airflow.sensors import DriftSensor

if TYPE_CHECKING:
    from airflow.sdk import Asset

log = logging.getLogger(__name__)

# What a drift or decay event carries about the batch it is about (a decay event adds the live performance).
EVENT_KEYS = ("batch_id", "champion_version", "share_drifted", "top_drifted", "mlflow_run_id", "html_uri")


def _emit_drift_task(drift: Asset):
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
            yield Metadata(drift, {k: r[k] for k in EVENT_KEYS})

    return emit_drift


def _emit_decay_task(decay: Asset):
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
            yield Metadata(decay, {**{k: r[k] for k in EVENT_KEYS}, "performance": r["performance"]})

    return emit_decay


def _check_drift_task(name: str):
    @task
    def check_drift() -> list[dict[str, Any]]:
        """Compare every curated batch not checked yet with the champion's training data: one summary per batch
        (`drift_detected`, `share_drifted`, `top_drifted`, report URIs, live performance on labelled batches)."""
        from airloop import steps

        results = steps.check_drift(*task_inputs(name))
        if results is None:  # the sensor saw a champion; it left (a rollback to nothing) before the check began
            raise AirflowSkipException(f"{name} has no champion with lineage: nothing to compare with")
        return results

    return check_drift


def monitor_tasks(name: str, drift: Asset, decay: Asset) -> None:
    """Wire the monitor DAG: wait (cheaply) for a champion → check the batches → emit drift and decay."""
    wait = DriftSensor(task_id="wait_for_champion", pipeline=name, timeout=6 * 3600, soft_fail=True, **monitor_poke())
    results = _check_drift_task(name)()
    wait >> results
    _emit_drift_task(drift)(results)
    _emit_decay_task(decay)(results)
