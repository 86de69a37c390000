"""Model registry on MLflow: log a trained model with lineage, gate it, move aliases, list and roll back.

Exports `log_model_version`, `gate_and_promote`, `promote`, `rollback`, `describe_models`, `champion_version`.
Aliases only (`champion`, `challenger`), never stages. Every alias move appends to the registered model's
`champion_history` tag, so `rollback` knows where to go back to and the history is auditable.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airloop.errors import RegistryError

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from airloop.model.training import FitResult, TrainingSet
    from airloop.spec import PipelineSpec

log = logging.getLogger(__name__)
CHAMPION, CHALLENGER = "champion", "challenger"
RECIPE_DIR = "airloop"  # run artifacts a version is rebuilt from (spec.json, params.json)
RUN_KEY = "airloop.run_key"  # the orchestrator's unit of work that registered a version (one version per key)
# Every task's holdout metrics (binary, multiclass, regression): whichever a version has become `metric.<name>` tags.
KEY_METRICS = ("pr_auc", "roc_auc", "log_loss", "mlogloss", "accuracy", "macro_f1", "rmse", "mae", "r2")


def client(tracking_uri: str) -> MlflowClient:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def experiment_name(pipeline: str) -> str:
    return f"airloop-{pipeline}"


@dataclass
class LoggedVersion:
    run_id: str
    version: str
    model_uri: str


def log_model_version(
    spec: PipelineSpec,
    fit: FitResult,
    data: TrainingSet,
    holdout: pd.DataFrame,
    *,
    tracking_uri: str,
    trigger: str,
    git: str = "unknown",
    extra_tags: dict[str, str] | None = None,
    workdir: str | Path | None = None,
    run_id: str | None = None,
) -> LoggedVersion:
    """One MLflow run (params, metrics, model with signature + input example, importance plot, lineage tags)
    and one registered model version carrying the same lineage tags.

    `run_id` resumes an existing run instead of starting one: a model search's parent run, whose child runs
    hold the candidates, receives the winner.
    """
    import tempfile

    import mlflow
    import mlflow.xgboost
    import sklearn
    import xgboost as xgb
    from mlflow.models import infer_signature

    from airloop.model.training import importance_png, predict

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_experiment(experiment_name(spec.name))
    lineage = lineage_tags(spec, data, trigger=trigger, git=git, extra_tags=extra_tags)
    lineage["device"] = fit.device
    lineage["xgboost_version"] = xgb.__version__
    if "classes" in fit.extra:
        lineage["classes"] = fit.extra["classes"]  # JSON list, index order: how scoring names the classes
    example = holdout[fit.feature_names].head(5)
    # The output schema follows the task: P(class 1), one probability per class, or the predicted value.
    signature = infer_signature(example, predict(fit.booster, example, fit.feature_names))
    with mlflow.start_run(run_id=run_id, run_name=None if run_id else f"{spec.name}-{trigger}", tags=lineage) as run:
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
        run_id = run.info.run_id
    tags = dict(lineage)
    tags["n_rows"] = str(data.n_rows)
    for key in KEY_METRICS:
        if key in fit.metrics and not math.isnan(fit.metrics[key]):
            tags[f"metric.{key}"] = f"{fit.metrics[key]:.6f}"
    mv = _register(spec.name, info.model_uri, run_id, tracking_uri, tags)
    return LoggedVersion(run_id, mv, f"models:/{spec.name}/{mv}")


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


def _register(name: str, model_uri: str, run_id: str, tracking_uri: str, tags: dict[str, str]) -> str:
    """Register once per run, with every tag in the same call: a version either exists complete or not at all,
    and a retried task finds the version its first attempt created."""
    c = client(tracking_uri)
    try:
        c.get_registered_model(name)
    except Exception:
        c.create_registered_model(name, description=f"airloop pipeline {name}")
    for mv in c.search_model_versions(f"name='{name}' and run_id='{run_id}'"):
        return str(mv.version)
    import mlflow

    mv = mlflow.register_model(model_uri, name, tags=tags)  # knows MLflow 3's logged-model ids (models:/m-…)
    return str(mv.version)


def version_for_run_key(name: str, run_key: str, *, tracking_uri: str) -> dict[str, Any] | None:
    """The version an earlier try of the same unit of work registered, as `loop.train` returns it; else None.

    Errors propagate: "MLflow unreachable" must fail the try, never read as "nothing registered yet".
    """
    for mv in client(tracking_uri).search_model_versions(f"name='{name}'"):
        tags = mv.tags or {}
        if tags.get(RUN_KEY) == run_key:
            batches = [b for b in tags.get("training_batches", "").split(",") if b]
            return {
                "version": str(mv.version),
                "run_id": mv.run_id,
                "data_md5": tags.get("data_md5"),
                "device": tags.get("device"),
                "batches": batches,
                "n_rows": int(tags.get("n_rows", "0") or 0),
                "metrics": {k: float(tags[f"metric.{k}"]) for k in KEY_METRICS if f"metric.{k}" in tags},
                "reused": True,
            }
    return None


def recorded(name: str, version: str, what: str, *, tracking_uri: str) -> dict[str, Any]:
    """One recorded recipe file of a version's run (`spec` or `params`; see `log_model_version`)."""
    import tempfile

    c = client(tracking_uri)
    run_id = c.get_model_version(name, version).run_id
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = c.download_artifacts(run_id, f"{RECIPE_DIR}/{what}.json", tmp)
        except Exception as exc:
            raise RegistryError(f"{name} v{version}: no recorded {what}.json on run {run_id} ({exc})") from None
        return json.loads(Path(path).read_text())


def champion_version(name: str, tracking_uri: str) -> str | None:
    return _alias(client(tracking_uri), name, CHAMPION)


def version_tags(name: str, alias: str, *, tracking_uri: str) -> dict[str, str]:
    """Tags of the version holding `alias` (plus its number under `version`); empty when there is none."""
    try:
        mv = client(tracking_uri).get_model_version_by_alias(name, alias)
    except Exception:
        return {}
    return {**(mv.tags or {}), "version": str(mv.version)}


def latest_version_tags(name: str, *, tracking_uri: str) -> dict[str, str]:
    """Tags of the newest registered version (plus `version`); empty when the model has none."""
    try:
        versions = client(tracking_uri).search_model_versions(f"name='{name}'")
    except Exception:
        return {}
    if not versions:
        return {}
    mv = max(versions, key=lambda m: int(m.version))
    return {**(mv.tags or {}), "version": str(mv.version)}


def _alias(c: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(c.get_model_version_by_alias(name, alias).version)
    except Exception:
        return None


def load_booster(name: str, version: str, tracking_uri: str):
    import mlflow
    import mlflow.xgboost

    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    return mlflow.xgboost.load_model(f"models:/{name}/{version}")


@dataclass
class GateDecision:
    version: str
    decision: str  # promoted | rejected
    reason: str
    metric: str
    challenger_score: float
    champion_version: str | None
    champion_score: float | None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def gate_and_promote(
    spec: PipelineSpec, version: str, holdout: pd.DataFrame, *, tracking_uri: str, actor: str = "airloop-gate"
) -> GateDecision:
    """Score challenger and current champion on the same holdout; move `champion` only if the challenger wins.

    The champion read here must still be champion when the alias moves (compare-and-set); if another run moved
    it meanwhile, the gate runs again against the new champion.
    """
    from airloop.model.training import evaluate

    c = client(tracking_uri)
    name, metric, label = spec.name, spec.gate.metric, spec.label.column
    challenger = load_booster(name, version, tracking_uri)
    ch_score = evaluate(challenger, holdout, list(challenger.feature_names), label, spec.label.task)[metric]
    for _ in range(3):
        current = _alias(c, name, CHAMPION)
        if current is None:
            decision = GateDecision(version, "promoted", "first version: no champion yet", metric, ch_score, None, None)
        elif current == version:
            decision = GateDecision(version, "promoted", "already champion", metric, ch_score, current, ch_score)
        else:
            decision = _compare(spec, version, ch_score, current, holdout, tracking_uri)
        if decision.decision == "promoted" and decision.reason != "already champion":
            decision = _governance(c, spec, decision, challenger, holdout, current, tracking_uri)
        if _alias(c, name, CHAMPION) != current:
            log.warning("champion of %s moved while gating version %s: gating again", name, version)
            continue
        break
    else:
        raise RegistryError(f"{name}: champion kept moving while gating version {version}; not promoted")
    tags = {
        "gate.decision": decision.decision,
        "gate.reason": decision.reason,
        "gate.metric": metric,
        "gate.challenger_score": f"{ch_score:.6f}",
        "gate.champion_version": decision.champion_version or "",
        "gate.champion_score": "" if decision.champion_score is None else f"{decision.champion_score:.6f}",
    }
    for k, v in tags.items():
        c.set_model_version_tag(name, version, k, v)
    if decision.decision == "promoted":
        _move_champion(c, name, version, reason=f"gate: {decision.reason}", actor=actor)
    else:
        c.set_registered_model_alias(name, CHALLENGER, version)
    log.info("gate %s v%s: %s (%s)", name, version, decision.decision, decision.reason)
    return decision


def _governance(c, spec, decision, challenger, holdout, current, tracking_uri) -> GateDecision:
    """The rules a metric win does not settle: candidate features must earn their place, and no group of the
    holdout may fall below the floor or fall further behind the others than under the champion.

    Slice metrics are recorded on the version (`gate.slices`, for Model Ops) and its run (`slice.*` metrics)
    whatever the outcome, so a refused challenger shows why.
    """
    from airloop.model import feature_gain, slices

    version = decision.version
    problems = []
    ok, why = feature_gain.verdict(spec, c.get_model_version(spec.name, version).tags or {})
    if not ok:
        problems.append(why)
    if spec.slices is not None:
        mine = slices.slice_metrics(challenger, holdout, spec)
        theirs = None
        if current is not None:
            champ = load_booster(spec.name, current, tracking_uri)
            if all(f in holdout.columns for f in champ.feature_names or []):
                theirs = slices.slice_metrics(champ, holdout, spec)
        verdict = slices.judge(spec, mine, theirs)
        _record_slices(c, spec, version, mine, theirs, verdict, current)
        if not verdict.ok:
            problems.append(verdict.reason)
    if not problems:
        return decision
    return GateDecision(
        version,
        "rejected",
        f"{decision.reason}; but {'; '.join(problems)}",
        decision.metric,
        decision.challenger_score,
        decision.champion_version,
        decision.champion_score,
    )


def _record_slices(c, spec, version, mine, theirs, verdict, current) -> None:
    from mlflow.entities import Metric

    from airloop.model.slices import metric_key

    metric = spec.gate.metric
    body = {
        "metric": metric,
        "champion_version": current,
        "ok": verdict.ok,
        "reason": verdict.reason,
        "summary": verdict.worst,
        "challenger": mine,
        "champion": theirs,
    }
    text = json.dumps(body, sort_keys=True)
    if len(text) > 5000:  # a model version tag holds 5000 characters: keep the verdict, drop the champion's detail
        text = json.dumps({**body, "champion": None, "truncated": True}, sort_keys=True)[:5000]
    c.set_model_version_tag(spec.name, version, "gate.slices", text)
    run_id = c.get_model_version(spec.name, version).run_id
    now = int(time.time() * 1000)
    metrics = [
        Metric(metric_key(label, group, metric), v["value"], now, 0)
        for label, per in mine.items()
        for group, v in per.items()
        if math.isfinite(v["value"])
    ]
    for i in range(0, len(metrics), 900):
        c.log_batch(run_id, metrics=metrics[i : i + 900])


def _compare(spec, version, ch_score, current, holdout, tracking_uri) -> GateDecision:
    from airloop.model.training import booster_task, evaluate
    from airloop.spec import improvement

    metric = spec.gate.metric
    champ = load_booster(spec.name, current, tracking_uri)
    missing = [f for f in champ.feature_names or [] if f not in holdout.columns]
    champ_task = booster_task(champ) or "binary"
    if missing or champ_task != spec.label.task:
        why = f"missing features {missing[:3]}" if missing else f"a {champ_task} model; the task is {spec.label.task}"
        return GateDecision(
            version,
            "promoted",
            f"champion v{current} cannot score this data ({why})",
            metric,
            ch_score,
            current,
            None,
        )
    cp_score = evaluate(champ, holdout, list(champ.feature_names), spec.label.column, spec.label.task)[metric]
    # Better is up for pr_auc or r2, down for log_loss or rmse: the gain is positive when the challenger is better.
    gain = improvement(metric, ch_score, cp_score)
    if math.isnan(ch_score):
        return GateDecision(
            version,
            "rejected",
            f"challenger {metric} is undefined on the holdout",
            metric,
            ch_score,
            current,
            cp_score,
        )
    if math.isnan(cp_score) or gain >= spec.gate.min_improvement and gain > 0:
        why = (
            f"{metric} {ch_score:.4f} vs champion v{current} {cp_score:.4f} (+{gain:.4f} ≥ {spec.gate.min_improvement})"
        )
        return GateDecision(version, "promoted", why, metric, ch_score, current, cp_score)
    why = (
        f"{metric} {ch_score:.4f} vs champion v{current} {cp_score:.4f} "
        f"(improvement {gain:+.4f} < required {spec.gate.min_improvement}, must be > 0)"
    )
    return GateDecision(version, "rejected", why, metric, ch_score, current, cp_score)


def _history(c: MlflowClient, name: str) -> list[dict[str, Any]]:
    tags = c.get_registered_model(name).tags or {}
    try:
        return json.loads(tags.get("champion_history", "[]"))
    except json.JSONDecodeError:
        return []


def champion_history(name: str, *, tracking_uri: str) -> list[dict[str, Any]]:
    """Every move of the `champion` alias, oldest first: version, previous, reason, actor, at (UTC)."""
    try:
        return _history(client(tracking_uri), name)
    except Exception:  # no such model yet
        return []


def _move_champion(c: MlflowClient, name: str, version: str, *, reason: str, actor: str) -> None:
    previous = _alias(c, name, CHAMPION)
    c.set_registered_model_alias(name, CHAMPION, version)
    if _alias(c, name, CHALLENGER) == version:
        c.delete_registered_model_alias(name, CHALLENGER)
    history = _history(c, name)
    history.append(
        {
            "version": version,
            "previous": previous,
            "reason": reason,
            "actor": actor,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    c.set_registered_model_tag(name, "champion_history", json.dumps(history[-50:]))
    c.set_model_version_tag(name, version, "promoted_by", actor)


def _require_version(c: MlflowClient, name: str, version: str) -> None:
    try:
        c.get_model_version(name, str(version))
    except Exception:
        raise RegistryError(f"model '{name}' has no version {version}") from None


def promote(name: str, version: str, *, tracking_uri: str, actor: str = "cli") -> str | None:
    """Make `version` champion by hand (recorded as a manual decision). Returns the previous champion."""
    c = client(tracking_uri)
    _require_version(c, name, version)
    previous = _alias(c, name, CHAMPION)
    if previous == str(version):
        return previous
    _move_champion(c, name, str(version), reason="manual promote", actor=actor)
    c.set_model_version_tag(name, str(version), "trigger_promotion", "manual")
    return previous


def previous_champion(history: list[dict[str, Any]], current: str) -> str | None:
    """The version that was champion before `current` took over, or None.

    The promotion that made `current` champion counts; a rollback onto it does not, so rolling back twice goes
    further back instead of flipping between two versions.
    """
    for entry in reversed(history):
        if entry.get("version") == current and not str(entry.get("reason", "")).startswith("rollback"):
            return entry.get("previous")
    return None


def rollback_target(name: str, *, tracking_uri: str) -> str | None:
    """Where `rollback` would move the champion now (None: nowhere to go)."""
    c = client(tracking_uri)
    try:
        current = _alias(c, name, CHAMPION)
        return previous_champion(_history(c, name), current) if current else None
    except Exception:  # no such model yet
        return None


def rollback(name: str, *, tracking_uri: str, actor: str = "cli") -> tuple[str, str]:
    """Move `champion` back to the version that held it before the current one. Returns (from, to)."""
    c = client(tracking_uri)
    try:
        c.get_registered_model(name)
    except Exception:
        raise RegistryError(f"no registered model '{name}'") from None
    current = _alias(c, name, CHAMPION)
    if current is None:
        raise RegistryError(f"model '{name}' has no champion to roll back from")
    previous = previous_champion(_history(c, name), current)
    if previous is None:
        raise RegistryError(f"model '{name}': champion v{current} has no earlier champion to roll back to")
    _move_champion(c, name, previous, reason=f"rollback from v{current}", actor=actor)
    return current, previous


def describe_models(names: list[str], *, tracking_uri: str) -> list[dict[str, Any]]:
    """Per pipeline: champion, challenger and every version with aliases, metrics, lineage and gate decision."""
    from airloop.model import feature_gain

    c = client(tracking_uri)
    out = []
    for name in names:
        try:
            model = c.get_registered_model(name)
        except Exception:
            out.append({"pipeline": name, "champion": None, "challenger": None, "versions": []})
            continue
        by_version: dict[str, list[str]] = {}
        for alias, v in (model.aliases or {}).items():
            by_version.setdefault(str(v), []).append(alias)
        versions = []
        for mv in sorted(c.search_model_versions(f"name='{name}'"), key=lambda m: int(m.version)):
            tags = mv.tags or {}
            versions.append(
                {
                    "version": str(mv.version),
                    "aliases": sorted(by_version.get(str(mv.version), [])),
                    "metrics": {k: float(tags[f"metric.{k}"]) for k in KEY_METRICS if f"metric.{k}" in tags},
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
                    "search_candidates": int(tags["search.candidates"]) if "search.candidates" in tags else None,
                    "search_best_run_id": tags.get("search.best_run_id"),
                    "slices": _json_tag(tags, "gate.slices"),
                    "feature_gain": feature_gain.from_tags(tags),
                }
            )
        out.append(
            {
                "pipeline": name,
                "champion": _alias(c, name, CHAMPION),
                "challenger": _alias(c, name, CHALLENGER),
                "versions": versions,
            }
        )
    return out


def _json_tag(tags: dict[str, str], key: str) -> Any:
    try:
        return json.loads(tags[key]) if key in tags else None
    except ValueError:
        return None
