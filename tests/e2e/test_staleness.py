"""A stale champion retrains, on a real scheduler: `training.max_model_age` → `NAME__staleness` → the stale asset
→ `NAME__retrain` with trigger `schedule`.

The pipeline is the shipped retail spec with a one-minute age limit (and no search, to stay quick), under a name
of its own (declared in `E2E_SPECS` for the shared stack's specs directory, see conftest.py), so the shipped retail
pipeline that test_second_pipeline drives keeps its own spec. v1 trains on a first labelled batch; a second,
clean labelled batch arrives (with a champion and `retrain_on_new_data: false`, new data alone retrains nothing);
once v1 is older than a minute the daily check is started by hand, as an operator would from the UI instead of
waiting for midnight.
"""

from __future__ import annotations

from typing import Any

import pytest

from airloop import steps
from airloop.data.datagen import generate
from airloop.dev.processes import poll_until
from airloop.model.registry import Registry

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAME = "retail_demand_stale"
STAGE_TIMEOUT = 300


def one_minute_retail(data: dict[str, Any]) -> None:
    """The shipped retail spec with a one-minute age limit, and no search to stay quick."""
    data["model"].pop("search")
    data["training"]["max_model_age"] = "1m"


# The shared stack's specs directory holds this pipeline next to the shipped ones (conftest.py).
E2E_SPECS = {NAME: ("retail_demand", one_minute_retail)}


@pytest.fixture(scope="module")
def stale(e2e_stack):
    settings, api, runs = e2e_stack.settings, e2e_stack.api, e2e_stack.runs
    pipeline = e2e_stack.pipeline(NAME, ("features", "train", "retrain", "staleness"))
    spec, dag, land = pipeline.spec, pipeline.dag, pipeline.land

    before = {k: runs.snapshot(d) for k, d in dag.items()}
    land(generate("retail", rows=3000, seed=61, labels=True), "s1.parquet")
    poll_until(runs.finished_after(dag["train"], before["train"]), STAGE_TIMEOUT)
    facts: dict = {
        "settings": settings,
        "spec": spec,
        "v1": Registry(settings.tracking_uri).describe_models([NAME])[0],
    }

    before = {k: runs.snapshot(d) for k, d in dag.items()}
    land(generate("retail", rows=3000, seed=62, labels=True), "s2.parquet")
    poll_until(runs.finished_after(dag["train"], before["train"]), STAGE_TIMEOUT)  # skipped: drift-driven
    facts["fresh"] = steps.staleness(spec, settings)
    facts["aged"] = poll_until(lambda: s if (s := steps.staleness(spec, settings)).stale else None, 180)
    check = api.trigger(dag["staleness"])
    facts["check_run"] = poll_until(runs.finished_after(dag["staleness"], before["staleness"]), STAGE_TIMEOUT)
    facts["check_tis"] = api.task_instances(dag["staleness"], check["dag_run_id"])
    facts["retrain_run"] = poll_until(runs.finished_after(dag["retrain"], before["retrain"]), STAGE_TIMEOUT)
    facts["after"] = Registry(settings.tracking_uri).describe_models([NAME])[0]
    return facts


def test_the_daily_check_emits_the_stale_asset(stale):
    assert stale["v1"]["champion"] == "1" and len(stale["v1"]["versions"]) == 1
    assert stale["aged"].stale is True and stale["aged"].champion_version == "1"
    assert {ti["task_id"]: ti["state"] for ti in stale["check_tis"]} == {"check_age": "success"}


def test_the_stale_champion_is_retrained_with_trigger_schedule(stale):
    after = stale["after"]
    assert [v["version"] for v in after["versions"]] == ["1", "2"], "exactly one retrain, from the stale event"
    tags = Registry(stale["settings"].tracking_uri).client.get_model_version(NAME, "2").tags
    assert tags["trigger"] == "schedule" and tags["airflow_dag_id"] == f"{NAME}__retrain"
    assert tags["staleness.champion_version"] == "1" and int(tags["staleness.age_seconds"]) >= 60
    assert len(tags["training_batches"].split(",")) == 2, "it learned the batch that arrived since v1"
    assert tags.get("gate.decision") in ("promoted", "rejected")
