"""What an operator needs to see about each pipeline's models, in one place: the data behind the Model Ops pages.

The Airflow UI plugin renders these dicts as pages and serves them as JSON; both come from here, so the page and
the API can never disagree. Everything is read from where the loop keeps it — MLflow (versions, aliases, lineage
tags, the champion's history) and the drift records the monitor writes — nothing is cached or copied. When MLflow
cannot be reached these raise `ServiceUnavailable` rather than show an empty page: the web app answers 503 with it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airloop.model import registry
from airloop.naming import DagKind, dag_id

if TYPE_CHECKING:
    from airloop.settings import Settings
    from airloop.spec import PipelineSpec

HISTORY_LIMIT = 500  # drift checks shown per pipeline (newest kept)


def _iso(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    import calendar

    return float(calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")))


def mlflow_links(settings: Settings, pipeline: str, version: dict[str, Any], experiment_id: str | None) -> dict:
    """Links into MLflow's UI for a version (its registry page and its training run), when MLflow has a UI."""
    base = settings.mlflow_ui_url
    if not base:
        return {"mlflow_version_url": None, "mlflow_run_url": None}
    base = base.rstrip("/")
    run = version.get("run_id")
    return {
        "mlflow_version_url": f"{base}/#/models/{quote(pipeline)}/versions/{version['version']}",
        "mlflow_run_url": f"{base}/#/experiments/{experiment_id}/runs/{run}" if run and experiment_id else None,
    }


def airflow_run_path(dag_id: str | None, run_id: str | None) -> str | None:
    """The Airflow UI's path of a DAG run (relative to the api-server's base URL)."""
    if not dag_id or not run_id:
        return None
    return f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def _check_summary(check: dict[str, Any]) -> dict[str, Any]:
    report = check.get("report") or {}
    return {
        "batch_id": check.get("batch_id"),
        "checked_at": _iso(check.get("checked_at")),
        "champion_version": check.get("champion_version"),
        "drift_detected": bool(check.get("drift_detected")),
        "share_drifted": check.get("share_drifted"),
        "drift_share": report.get("drift_share"),
        "top_drifted": list(check.get("top_drifted") or []),
        "decayed": bool(check.get("decayed")),
        "performance": check.get("performance"),
        "mlflow_run_id": check.get("mlflow_run_id"),
    }


def drift_history(spec: PipelineSpec, settings: Settings, limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
    """Every drift check, oldest first, with its per-feature scores (what the drift chart draws)."""
    from airloop.monitor.checks import load_checks

    out = []
    for check in load_checks(settings, spec.name)[-limit:]:
        features = (check.get("report") or {}).get("features") or {}
        out.append(
            {
                **_check_summary(check),
                "checked_at_epoch": check.get("checked_at"),
                "features": {
                    name: {k: f.get(k) for k in ("method", "statistic", "threshold", "p_value", "drifted")}
                    for name, f in features.items()
                },
            }
        )
    return out


def pipeline_detail(spec: PipelineSpec, settings: Settings, *, now: float | None = None) -> dict[str, Any]:
    """One pipeline: the summary row, the version timeline (newest first), the champion's history, drift history."""
    now = time.time() if now is None else now
    models = registry.Registry.from_settings(settings)
    model = models.describe_models([spec.name])[0]
    history = models.champion_history(spec.name)
    # None when the pipeline has no experiment; an unreachable MLflow raises `ServiceUnavailable`
    experiment_id = models.experiment_id(registry.experiment_name(spec.name)) if model["versions"] else None
    versions = []
    for v in reversed(model["versions"]):
        versions.append(
            {
                **v,
                **mlflow_links(settings, spec.name, v, experiment_id),
                "airflow_run_path": airflow_run_path(v.get("airflow_dag_id"), v.get("airflow_run_id")),
            }
        )
    checks = drift_history(spec, settings)
    return {
        "pipeline": spec.name,
        "summary": _summary(spec, model, versions, history, checks, now),
        "versions": versions,
        "champion_history": list(reversed(history)),
        "rollback_to": registry.previous_champion(history, model["champion"]) if model["champion"] else None,
        "drift_history": checks,
        "slices": slice_rows(versions, model["champion"]),
        "drift_share": spec.drift.drift_share,
        "dag_ids": pipeline_dag_ids(spec),
    }


def pipeline_dag_ids(spec: PipelineSpec) -> dict[str, str]:
    """The DAGs the factory builds from this spec, by kind (the staleness DAG only with `training.max_model_age`)."""
    kinds = [kind for kind in DagKind if kind != DagKind.STALENESS or spec.training.max_model_age]
    return {kind.value: dag_id(spec.name, kind) for kind in kinds}


def slice_rows(versions: list[dict[str, Any]], champion: str | None) -> dict[str, Any] | None:
    """The fairness view: the newest gated version's per-group metric next to the champion's on the same holdout.

    The newest version is what the gate last judged (and the reason it gave), whether it won or not.
    """
    judged = next((v for v in versions if v.get("slices")), None)
    if judged is None:
        return None
    record = judged["slices"]
    rows = []
    for label, per in (record.get("challenger") or {}).items():
        theirs = (record.get("champion") or {}).get(label) or {}
        worst = (record.get("summary") or {}).get(label, {}).get("group")
        for group, v in per.items():
            rows.append(
                {
                    "slice": label,
                    "group": group,
                    "n": v["n"],
                    "value": v["value"],
                    "champion_value": (theirs.get(group) or {}).get("value"),
                    "worst": group == worst,
                }
            )
    return {
        "version": judged["version"],
        "champion_version": record.get("champion_version"),
        "is_champion": judged["version"] == champion,
        "metric": record.get("metric"),
        "ok": record.get("ok"),
        "reason": record.get("reason"),
        "rows": rows,
    }


def _summary(spec, model, versions, history, checks, now) -> dict[str, Any]:
    metric = spec.gate.metric
    by_version = {v["version"]: v for v in versions}
    champion = by_version.get(model["champion"]) if model["champion"] else None
    since = next((h for h in reversed(history) if h.get("version") == model["champion"]), None)
    since_at = (since or {}).get("at") or (champion or {}).get("created")
    newest = versions[0] if versions else None
    last = checks[-1] if checks else None
    return {
        "pipeline": spec.name,
        "description": spec.description,
        "owner": spec.owner,
        "champion": model["champion"],
        "challenger": model["challenger"],
        "metric": metric,
        "champion_metric": (champion or {}).get("metrics", {}).get(metric),
        "champion_data_md5": (champion or {}).get("data_md5"),
        "champion_trigger": (champion or {}).get("trigger"),
        "champion_since": since_at,
        "champion_reason": (since or {}).get("reason"),
        "champion_age_seconds": (now - _epoch(since_at)) if since_at else None,
        "last_drift_check": {k: v for k, v in last.items() if k not in ("features", "checked_at_epoch")}
        if last
        else None,
        "last_retrain": {k: newest.get(k) for k in ("version", "trigger", "created", "gate", "gate_reason")}
        if newest
        else None,
        "drift_trend": [c["share_drifted"] for c in checks[-30:]],
        "n_versions": len(versions),
    }


def overview(specs: list[PipelineSpec], settings: Settings, *, now: float | None = None) -> list[dict[str, Any]]:
    """The summary row of every pipeline (the Model Ops landing page)."""
    return [pipeline_detail(spec, settings, now=now)["summary"] for spec in specs]


def rollback(spec: PipelineSpec, settings: Settings, *, actor: str) -> dict[str, Any]:
    """Move the champion back, exactly as `airloop rollback` does; the move is audited in the champion history."""
    from airloop import steps

    old, new = steps.rollback(spec.name, settings, actor=actor)
    entry = registry.Registry.from_settings(settings).champion_history(spec.name)[-1]
    return {"pipeline": spec.name, "from": old, "to": new, "actor": entry.get("actor"), "at": entry.get("at")}


def drift_chart_svg(
    spec: PipelineSpec,
    settings: Settings,
    limit: int = HISTORY_LIMIT,
    *,
    history: list[dict[str, Any]] | None = None,
) -> str:
    """The drift history chart (per-feature scores, share drifted and the decision line) as standalone SVG.

    `history`: the `drift_history` already read (the pipeline page has it from `pipeline_detail`); None reads it.
    """
    from airloop.ops.charts import drift_history_svg

    history = drift_history(spec, settings, limit) if history is None else history[-limit:]
    records = [
        {
            "batch_id": h["batch_id"],
            "checked_at": h["checked_at_epoch"],
            "share_drifted": h["share_drifted"],
            "drift_detected": h["drift_detected"],
            "decayed": h["decayed"],
            "report": {"features": h["features"], "drift_share": h["drift_share"]},
        }
        for h in history
    ]
    return drift_history_svg(records, drift_share=spec.drift.drift_share)
