"""Model search in MLflow: one parent run per search, one child run per trial.

The parent run carries the search's lineage (data md5, trigger, spec hash) and, once a winner is chosen, the
registered model. Each child run holds one trial: its parameters, its validation metrics and its booster
(a plain JSON artifact, so the winner is registered as it was trained, not refit). Both are found again by
tags, so a retried Airflow task resumes its search instead of starting a second one.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airloop.contracts import TrialResult, from_xcom, to_xcom
from airloop.model.mlflow_errors import answering
from airloop.model.registry import Registry, experiment_name

if TYPE_CHECKING:
    import xgboost as xgb
    from mlflow.tracking import MlflowClient

    from airloop.model.training import FitResult

log = logging.getLogger(__name__)
SEARCH_KEY = "airloop.search_key"  # the orchestrator's unit of work that opened a parent run
TRIAL = "airloop.trial"  # a child run's trial index
PARENT = "mlflow.parentRunId"  # MLflow's own nesting tag: the UI shows child runs under their parent
RESULT = "airloop.trial_result"  # a finished child's `TrialResult` (JSON)
ARTIFACT_DIR = "trial"
BOOSTER = f"{ARTIFACT_DIR}/model.json"


def open_parent(
    registry: Registry, pipeline: str, *, tags: dict[str, str], params: dict[str, Any], search_key: str | None
) -> str:
    """The search's parent run: a new one, or the unfinished one an earlier try of `search_key` opened on the
    same training data."""
    from mlflow.entities import Param

    c = registry.client
    exp = str(registry.experiment_id(experiment_name(pipeline), create=True))
    with answering(registry.tracking_uri):
        if search_key:
            found = c.search_runs(
                [exp],
                f"tags.`{SEARCH_KEY}` = '{_quote(search_key)}' and tags.data_md5 = '{tags['data_md5']}'",
                max_results=1,
            )
            if found and found[0].info.status == "RUNNING":
                log.warning("%s: resuming search run %s of %s", pipeline, found[0].info.run_id, search_key)
                return found[0].info.run_id
        run = c.create_run(
            exp,
            run_name=f"{pipeline}-{tags.get('trigger', 'search')}-search",
            tags={**tags, **({SEARCH_KEY: search_key} if search_key else {})},
        )
        c.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
    return run.info.run_id


def finished_trial(registry: Registry, parent_run_id: str, index: int) -> TrialResult | None:
    """A trial an earlier try already trained and logged under this parent (None if none finished)."""
    c = registry.client
    with answering(registry.tracking_uri):
        exp = c.get_run(parent_run_id).info.experiment_id
        query = f"tags.`{PARENT}` = '{parent_run_id}' and tags.`{TRIAL}` = '{index}'"
        runs = c.search_runs([exp], query, max_results=20)
    for run in runs:
        if run.info.status == "FINISHED" and RESULT in run.data.tags:
            return from_xcom(TrialResult, json.loads(run.data.tags[RESULT]))
    return None


def log_trial(
    registry: Registry, parent_run_id: str, index: int, fit: FitResult, valid: dict[str, float], tags: dict[str, str]
) -> TrialResult:
    """One child run for a trained trial: params, validation metrics, the booster. Returns its result."""
    with answering(registry.tracking_uri):
        return _log_trial(registry.client, parent_run_id, index, fit, valid, tags)


def _log_trial(
    c: MlflowClient, parent_run_id: str, index: int, fit: FitResult, valid: dict[str, float], tags: dict[str, str]
) -> TrialResult:
    from mlflow.entities import Metric, Param, RunTag

    exp = c.get_run(parent_run_id).info.experiment_id
    run = c.create_run(exp, run_name=f"trial-{index:02d}", tags={**tags, PARENT: parent_run_id, TRIAL: str(index)})
    run_id = run.info.run_id
    try:
        result = TrialResult(
            index=index,
            run_id=run_id,
            params=dict(fit.params),
            valid={k: v for k, v in valid.items() if math.isfinite(v)},
            best_iteration=fit.best_iteration,
            device=fit.device,
            seconds=round(fit.seconds, 3),
            extra=dict(fit.extra),
        )
        params = [Param(k, str(v)) for k, v in result.params.items() if k != "eval_metric"]
        params.append(Param("best_iteration", str(fit.best_iteration)))  # `device` is among the booster params
        metrics = [Metric(f"valid_{k}", v, 0, 0) for k, v in result.valid.items()]
        metrics.append(Metric("train_seconds", fit.seconds, 0, 0))
        record = RunTag(RESULT, json.dumps(to_xcom(result), default=str))
        c.log_batch(run_id, metrics=metrics, params=params, tags=[record])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.json"
            fit.booster.save_model(str(path))
            c.log_artifact(run_id, str(path), artifact_path=ARTIFACT_DIR)
        c.set_terminated(run_id, "FINISHED")
    except BaseException:
        c.set_terminated(run_id, "FAILED")
        raise
    return result


def load_trial_booster(registry: Registry, run_id: str) -> xgb.Booster:
    """A trial's booster exactly as it was trained (its best iteration and airloop attributes included)."""
    import xgboost as xgb

    with tempfile.TemporaryDirectory() as tmp, answering(registry.tracking_uri):
        path = registry.client.download_artifacts(run_id, BOOSTER, tmp)
        booster = xgb.Booster()
        booster.load_model(path)
        return booster


def record_winner(registry: Registry, parent_run_id: str, results: list[TrialResult], winner: TrialResult) -> None:
    """On the parent run: which child won, and every trial's validation score as a step series."""
    from mlflow.entities import RunTag

    for r in results:
        registry.log_metrics(parent_run_id, {f"search_valid_{k}": v for k, v in r.valid.items()}, step=r.index)
    tags = [RunTag("search.best_run_id", winner.run_id), RunTag("search.best_index", str(winner.index))]
    with answering(registry.tracking_uri):
        registry.client.log_batch(parent_run_id, tags=tags)


def _quote(value: str) -> str:
    return value.replace("'", "\\'")
