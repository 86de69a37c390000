"""What a registered version records about how it was made, and where: its lineage tags, its MLflow run's
params, metrics and model, and the recipe (`airloop/spec.json`, `airloop/params.json`) `airloop reproduce`
rebuilds it from.

Exports the tag and artifact names (`RECIPE_DIR`, `RUN_KEY`), `lineage_tags` (what a model search's parent run
carries too), `run_tags`, `version_tags`, `metric_tags`, `log_run` and `describe_version`. `Registry` writes with
these; everything that reads a version's tags reads the names from here.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airloop.metrics import KEY_METRICS  # every task's holdout metrics: a version's `metric.<name>` tags

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities.model_registry import ModelVersion

    from airloop.model.training import FitResult, TrainingSet
    from airloop.spec import PipelineSpec

RECIPE_DIR = "airloop"  # run artifacts a version is rebuilt from (spec.json, params.json)
RUN_KEY = "airloop.run_key"  # the orchestrator's unit of work that registered a version (one version per key)


def lineage_tags(
    spec: PipelineSpec, data: TrainingSet, *, trigger: str, git: str, extra_tags: dict[str, str] | None = None
) -> dict[str, str]:
    """The lineage every model's run and version carry: which data (md5, batches), code, spec and trigger."""
    return {
        "pipeline": spec.name,
        "data_md5": data.md5,
        "git_sha": git,
        "spec_hash": spec.spec_hash,
        "training_batches": ",".join(data.batches),
        "trigger": trigger,
        **(extra_tags or {}),
        "task": spec.label.task,
    }


def run_tags(
    spec: PipelineSpec,
    data: TrainingSet,
    fit: FitResult,
    *,
    trigger: str,
    git: str,
    extra_tags: dict[str, str] | None = None,
) -> dict[str, str]:
    """The lineage plus how the model was trained: device, xgboost version, class order (multiclass)."""
    import xgboost as xgb

    tags = lineage_tags(spec, data, trigger=trigger, git=git, extra_tags=extra_tags)
    tags["device"] = fit.device
    tags["xgboost_version"] = xgb.__version__
    if "classes" in fit.extra:
        tags["classes"] = fit.extra["classes"]  # JSON list, index order: how scoring names the classes
    return tags


def version_tags(run: dict[str, str], data: TrainingSet, fit: FitResult) -> dict[str, str]:
    """A version's tags: its run's, plus the row count and the holdout metrics (`metric.<name>`, 6 decimals)."""
    tags = dict(run)
    tags["n_rows"] = str(data.n_rows)
    for key in KEY_METRICS:
        if key in fit.metrics and not math.isnan(fit.metrics[key]):
            tags[f"metric.{key}"] = f"{fit.metrics[key]:.6f}"
    return tags


def metric_tags(tags: dict[str, str]) -> dict[str, float]:
    """The holdout metrics a version's tags hold."""
    return {k: float(tags[f"metric.{k}"]) for k in KEY_METRICS if f"metric.{k}" in tags}


def log_run(
    spec: PipelineSpec, fit: FitResult, data: TrainingSet, holdout: pd.DataFrame, workdir: str | Path | None = None
) -> str:
    """Into the active MLflow run: params, metrics, the model (signature + input example), its importance plot
    and the recipe. Returns the logged model's URI."""
    import tempfile

    import mlflow
    import mlflow.xgboost
    import sklearn
    import xgboost as xgb
    from mlflow.models import infer_signature

    from airloop.model.training import importance_png, predict

    example = holdout[fit.feature_names].head(5)
    # The output schema follows the task: P(class 1), one probability per class, or the predicted value.
    signature = infer_signature(example, predict(fit.booster, example, fit.feature_names))
    mlflow.log_params(
        {k: v for k, v in fit.params.items() if k != "eval_metric"}
        | {
            "num_boost_round": spec.model.num_boost_round,
            "best_iteration": fit.best_iteration,
            "n_rows": data.n_rows,
            **fit.extra,
        }
    )
    mlflow.log_metrics({k: v for k, v in fit.metrics.items() if not math.isnan(v)})
    info = mlflow.xgboost.log_model(
        fit.booster,
        name="model",
        signature=signature,
        input_example=example,
        model_format="json",
        pip_requirements=[
            f"xgboost=={xgb.__version__}",
            f"scikit-learn=={sklearn.__version__}",
            f"mlflow=={mlflow.__version__}",
        ],
    )
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        mlflow.log_artifact(str(importance_png(fit.booster, Path(tmp) / "feature_importance.png")))
    # What `airloop reproduce` rebuilds from: the spec as it was (its hash is the `spec_hash` tag) and the
    # exact booster parameters (typed, thread count included), next to the data md5 in the tags.
    mlflow.log_dict(spec.model_dump(mode="json", by_alias=True), f"{RECIPE_DIR}/spec.json")
    mlflow.log_dict(fit.params, f"{RECIPE_DIR}/params.json")
    return info.model_uri


def describe_version(mv: ModelVersion, aliases: list[str]) -> dict[str, Any]:
    """One version as Model Ops and `airloop models` show it: its number, aliases and what its tags record."""
    from airloop.model import feature_gain

    tags = mv.tags or {}
    return {
        "version": str(mv.version),
        "aliases": sorted(aliases),
        "metrics": metric_tags(tags),
        "data_md5": tags.get("data_md5"),
        "trigger": tags.get("trigger"),
        "gate": tags.get("gate.decision"),
        "gate_reason": tags.get("gate.reason"),
        "run_id": mv.run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mv.creation_timestamp / 1000)),
        "airflow_dag_id": tags.get("airflow_dag_id"),
        "airflow_run_id": tags.get("airflow_run_id"),
        "drift_batch": tags.get("drift.batch") or tags.get("decay.batch"),
        "training_batches": tags.get("training_batches"),
        "device": tags.get("device"),
        "promoted_by": tags.get("promoted_by"),
        "search_trials": int(tags["search.trials"]) if "search.trials" in tags else None,
        "search_best_run_id": tags.get("search.best_run_id"),
        "slices": _json_tag(tags, "gate.slices"),
        "feature_gain": feature_gain.from_tags(tags),
    }


def _json_tag(tags: dict[str, str], key: str) -> Any:
    try:
        return json.loads(tags[key]) if key in tags else None
    except ValueError:
        return None
