"""A pipeline's assets, and what the asset events that start a run say about it.

Names, URIs and the trigger each retrain asset stands for all come from `airloop.naming`, so the DAGs built here,
Model Ops, the demo and the tests agree on them without spelling them twice.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetWatcher

from airloop.contracts import Lineage
from airloop.naming import (
    ASSET_GROUP,
    RETRAIN_TRIGGERS,
    AssetKind,
    Trigger,
    asset_kind,
    asset_name,
    asset_uri,
    landing_watcher,
)
from airloop_airflow.config import PROJECT_ROOT
from airloop_airflow.triggers import LandingZoneTrigger

if TYPE_CHECKING:
    from airloop.settings import Settings
    from airloop.spec import PipelineSpec


def pipeline_asset(pipeline: str, kind: AssetKind) -> Asset:
    """One of the assets that pass between a pipeline's DAGs (features, champion, drift, decay, stale)."""
    return Asset(name=asset_name(pipeline, kind), uri=asset_uri(pipeline, kind), group=ASSET_GROUP)


def landing_asset(spec: PipelineSpec, where: Settings) -> Asset:
    """The landing zone, addressed by its storage location and watched for new batch files."""
    uri = where.location(spec.storage.landing)
    watcher = AssetWatcher(
        name=landing_watcher(spec.name),
        trigger=LandingZoneTrigger(uri=uri, pattern=spec.storage.pattern, poll_interval=3.0),
    )
    return Asset(name=asset_name(spec.name, AssetKind.LANDING), uri=uri, group=ASSET_GROUP, watchers=[watcher])


def _triggering_kinds(context: Mapping[str, Any], pipeline: str) -> set[AssetKind | None]:
    events = context.get("triggering_asset_events") or {}
    return {asset_kind(pipeline, getattr(asset, "name", "")) for asset in events.keys()}


def trigger_reason(context: Mapping[str, Any], name: str) -> Trigger:
    """Why this run exists, recorded on the model: new_data, drift, decay, schedule or manual.

    A retrain asset wins over new data (in `RETRAIN_TRIGGERS` order); a run no asset started is scheduled or manual.
    """
    kinds = _triggering_kinds(context, name)
    for kind, trigger in RETRAIN_TRIGGERS.items():
        if kind in kinds:
            return trigger
    if AssetKind.FEATURES in kinds:
        return "new_data"
    run_type = str(getattr(context.get("dag_run"), "run_type", "") or "")
    return "schedule" if "scheduled" in run_type else "manual"


def _drift_tags(context: Mapping[str, Any], name: str) -> dict[str, str]:
    """Lineage of a drift-, decay- or staleness-triggered run: which batch, how much, against which champion."""
    tags: dict[str, str] = {}
    for asset, events in (context.get("triggering_asset_events") or {}).items():
        kind = asset_kind(name, getattr(asset, "name", ""))
        if kind not in RETRAIN_TRIGGERS:
            continue
        for event in events:
            tags.update(_event_tags(kind, event.extra or {}))
    return tags


def _event_tags(kind: AssetKind, extra: dict[str, Any]) -> dict[str, str]:
    if kind == AssetKind.STALE:
        return {
            "staleness.champion_version": str(extra.get("champion_version", "")),
            "staleness.age_seconds": str(int(float(extra.get("age_seconds", 0)))),
        }
    tags = {
        f"{kind.value}.batch": str(extra.get("batch_id", "")),
        f"{kind.value}.champion_version": str(extra.get("champion_version", "")),
    }
    if kind == AssetKind.DRIFT:
        tags["drift.share"] = f"{float(extra.get('share_drifted', 0)):.4f}"
        tags["drift.top"] = ",".join(extra.get("top_drifted", []))
    else:
        perf = extra.get("performance") or {}
        tags.update({f"decay.{k}": str(perf.get(k)) for k in ("metric", "baseline", "live", "drop")})
    return tags


def lineage(context: Mapping[str, Any], name: str) -> Lineage:
    """What a training step records about the run that started it: trigger, code, DAG run, drift evidence."""
    from airloop.steps import git_sha

    dag_run = context["dag_run"]
    return Lineage(
        trigger=trigger_reason(context, name),
        git_sha=os.environ.get("AIRLOOP_GIT_SHA") or git_sha(PROJECT_ROOT),
        extra_tags={
            "airflow_dag_id": dag_run.dag_id,
            "airflow_run_id": dag_run.run_id,
            **_drift_tags(context, name),
        },
    )


def work_key(context: Mapping[str, Any]) -> str:
    """The unit of work a task instance is: the same for every try, different for every task and run."""
    return f"{context['dag_run'].dag_id}/{context['dag_run'].run_id}/{context['ti'].task_id}"
