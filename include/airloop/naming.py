"""The one place that says what things are called: DAG ids, asset names and URIs, run triggers.

The DAG factory builds DAGs under these names, Model Ops links to them, the demo and the tests wait on them, and
the scaffold prints them; each used to spell `f"{name}__train"` or `f"airloop.{name}.drift"` itself, and two of
those spellings had already forgotten the staleness DAG. Change a convention here and every user follows.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

ASSET_GROUP = "airloop"
DAG_SEPARATOR = "__"

# Why a training run exists, recorded on the model (`trigger` tag); a stale champion's retrain is `schedule`.
Trigger = Literal["new_data", "drift", "decay", "schedule", "manual"]


class DagKind(StrEnum):
    """The DAGs one spec becomes, in the order the loop runs them."""

    FEATURES = "features"
    TRAIN = "train"
    SCORE = "score"
    MONITOR = "monitor"
    RETRAIN = "retrain"
    STALENESS = "staleness"  # only for specs with `training.max_model_age`


class AssetKind(StrEnum):
    """The assets a pipeline's DAGs pass between them (the landing zone's asset is named, not addressed)."""

    LANDING = "landing"
    FEATURES = "features"
    CHAMPION = "champion"
    DRIFT = "drift"
    DECAY = "decay"
    STALE = "stale"


# The assets that start a retrain, and the trigger each one is recorded as.
RETRAIN_TRIGGERS: dict[AssetKind, Trigger] = {
    AssetKind.DRIFT: "drift",
    AssetKind.DECAY: "decay",
    AssetKind.STALE: "schedule",  # the champion outlived max_model_age: due by the calendar, not by the data
}


def dag_id(pipeline: str, kind: DagKind | str) -> str:
    """`fraud_detection__train`."""
    return f"{pipeline}{DAG_SEPARATOR}{DagKind(kind).value}"


# The one DAG a spec file that fails to load becomes in place of its own (`churn__invalid_spec`): not a `DagKind`,
# because a valid spec never has it and whatever lists a pipeline's DAGs by kind (Model Ops, the demo) must not.
INVALID_SPEC = "invalid_spec"


def invalid_spec_dag_id(pipeline: str) -> str:
    """`churn__invalid_spec`: where a broken spec file shows itself in the Airflow UI."""
    return f"{pipeline}{DAG_SEPARATOR}{INVALID_SPEC}"


def dag_ids(pipeline: str, kinds: tuple[DagKind, ...] = tuple(DagKind)) -> dict[DagKind, str]:
    return {kind: dag_id(pipeline, kind) for kind in kinds}


def asset_name(pipeline: str, kind: AssetKind | str) -> str:
    """`airloop.fraud_detection.drift`."""
    return f"{ASSET_GROUP}.{pipeline}.{AssetKind(kind).value}"


def asset_uri(pipeline: str, kind: AssetKind | str) -> str:
    """`airloop://fraud_detection/drift`: the address of an asset that no storage location stands for."""
    return f"{ASSET_GROUP}://{pipeline}/{AssetKind(kind).value}"


def asset_kind(pipeline: str, name: str) -> AssetKind | None:
    """Which of a pipeline's assets `name` is; None for another pipeline's or a foreign asset."""
    prefix = f"{ASSET_GROUP}.{pipeline}."
    if not name.startswith(prefix):
        return None
    try:
        return AssetKind(name.removeprefix(prefix))
    except ValueError:
        return None


def landing_watcher(pipeline: str) -> str:
    return f"{pipeline}_landing_watcher"
