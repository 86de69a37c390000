"""`DriftSensor`: waits until a pipeline's new curated batches have a champion to be compared with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowSkipException

from airloop_airflow.config import task_inputs

if TYPE_CHECKING:
    from airflow.sdk import Context


class DriftSensor(BaseSensorOperator):
    """Done when `pipeline` has curated batches not checked for drift yet and a champion to compare them with.

    A poke only asks (`airloop.monitor.checks.drift_work`: batch records, then one registry read); the statistics,
    reports and MLflow runs belong to the downstream `check_drift` task. Reschedule mode by default, so the worker
    slot is free between pokes. When every batch has been checked already (by an earlier run) there is nothing to wait
    for: the sensor skips, and so does the rest of the run. An unreachable registry raises (the task retries):
    it never reads as "no champion".

    Every rescheduled poke is a full task start, so by default the pokes are a minute apart (Airflow's advice for
    reschedule mode) and back off exponentially up to `max_wait` (15 min) while no champion exists.

    Args:
        pipeline: Name of the pipeline spec (templated).
    """

    template_fields = ("pipeline",)

    def __init__(
        self,
        *,
        pipeline: str,
        mode: str = "reschedule",
        poke_interval: float = 60,
        exponential_backoff: bool = True,
        max_wait: float = 15 * 60,
        **kwargs: Any,
    ):
        super().__init__(
            mode=mode,
            poke_interval=poke_interval,
            exponential_backoff=exponential_backoff,
            max_wait=max_wait,
            **kwargs,
        )
        self.pipeline = pipeline

    def poke(self, context: Context) -> bool:
        from airloop.monitor.checks import drift_work

        work = drift_work(*task_inputs(self.pipeline))
        if work == "nothing_new":
            raise AirflowSkipException(f"every curated batch of {self.pipeline} is checked already")
        if work == "no_champion":
            self.log.info("%s has no champion yet: nothing to compare with", self.pipeline)
            return False
        return True
