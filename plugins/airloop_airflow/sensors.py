"""`DriftSensor`: waits until a pipeline has a champion, then checks every new curated batch for drift."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airloop_airflow.config import spec_named, task_settings

if TYPE_CHECKING:
    from airflow.sdk import Context


class DriftSensor(BaseSensorOperator):
    """Compare new curated batches of `pipeline` with its champion's training data (found by lineage).

    Runs in reschedule mode by default: between pokes the worker slot is free, and the statistics run in the
    worker, never in the triggerer's event loop. Done as soon as a champion exists; the XCom value is one summary
    per batch checked (`drift_detected`, `share_drifted`, `top_drifted`, report URIs, …).

    Args:
        pipeline: Name of the pipeline spec (templated).
    """

    template_fields = ("pipeline",)

    def __init__(self, *, pipeline: str, mode: str = "reschedule", poke_interval: float = 30, **kwargs: Any):
        super().__init__(mode=mode, poke_interval=poke_interval, **kwargs)
        self.pipeline = pipeline

    def poke(self, context: Context) -> PokeReturnValue | bool:
        from airloop.steps import check_drift

        results = check_drift(spec_named(self.pipeline), task_settings())
        if results is None:
            self.log.info("%s has no champion yet: nothing to compare with", self.pipeline)
            return False
        return PokeReturnValue(is_done=True, xcom_value=results)
