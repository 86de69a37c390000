"""One broken spec file breaks only its own DAGs, on a real scheduler.

A `churn.yaml` with a misspelt field lands in the shared stack's specs directory beside the healthy pipelines (the
way a user's draft does). The DAG processor re-parses the one DAG file: every healthy pipeline keeps its DAGs, with
no import error; `churn__invalid_spec` appears, runs once and fails naming the file and the field; a batch landed
meanwhile in a healthy pipeline still flows through features and training. Fixing the file replaces the failing
DAG with churn's own; the file is removed at the end whatever happens, so the other e2e files never see churn.

The healthy pipeline that takes the batch is a fraud variant of this file's own (`E2E_SPECS`, see conftest.py), so
no other file's pipeline gets a batch it did not land. With `AIRLOOP_E2E_SCREENSHOTS=DIR` set, the test also saves
the Airflow UI's DAG list (headless Chromium) and the REST API's DAG list at the moment churn is broken, in DIR.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from airloop.data.datagen import generate
from airloop.dev.processes import poll_until
from airloop.naming import DagKind, dag_id, dag_ids, invalid_spec_dag_id

from .conftest import known_dag, variant_yaml

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BROKEN = "churn"
MISSPELT = "min_rowz"  # `training.min_rows`, misspelt
HEALTHY = "fraud_isolation"
CHURN_KINDS = (DagKind.FEATURES, DagKind.TRAIN, DagKind.SCORE, DagKind.MONITOR, DagKind.RETRAIN)
STAGE_TIMEOUT = 300
STALE_TIMEOUT = 180  # a DAG its file no longer defines is marked stale by a periodic clean-up (conftest.py)


def _quick_fraud(data: dict[str, Any]) -> None:
    """The shipped fraud spec, with fewer boosting rounds: this file only needs a batch to flow, not a good model."""
    data["model"]["num_boost_round"] = 50


E2E_SPECS = {HEALTHY: ("fraud_detection", _quick_fraud)}


def _misspell(data: dict[str, Any]) -> None:
    data["training"][MISSPELT] = data["training"].pop("min_rows")


def _churn_spec(*, misspelt: bool) -> str:
    """The shipped fraud spec as a pipeline called churn; with `training.min_rows` misspelt when asked."""
    return variant_yaml(BROKEN, "fraud_detection", _misspell if misspelt else lambda data: None)


def _dags(api) -> dict[str, dict[str, Any]]:
    """Every DAG the API lists (stale ones included), by id."""
    return {d["dag_id"]: d for d in api.get("/dags", limit=500, exclude_stale="false")["dags"]}


def _active(api, dag: str) -> dict[str, Any] | None:
    """The DAG when the scheduler knows it and its file still defines it, else None."""
    found = known_dag(api, dag)
    return None if found is None or found.get("is_stale") else found


def _gone(api, dag: str) -> bool:
    """True once the DAG is no longer defined: unknown to the API, or marked stale."""
    found = known_dag(api, dag)
    return found is None or bool(found.get("is_stale"))


def _finished_run(api, dag: str):
    def poll() -> dict[str, Any] | None:
        return next((r for r in api.dag_runs(dag) if r["state"] in ("success", "failed")), None)

    return poll


@pytest.fixture(scope="module")
def isolation(e2e_stack):
    api, runs = e2e_stack.api, e2e_stack.runs
    healthy = e2e_stack.pipeline(HEALTHY, ("features", "train"))
    churn_file = Path(e2e_stack.settings.specs_dir) / f"{BROKEN}.yaml"
    invalid = invalid_spec_dag_id(BROKEN)
    facts: dict[str, Any] = {"before": {d for d, v in _dags(api).items() if not v.get("is_stale")}}
    try:
        churn_file.write_text(_churn_spec(misspelt=True))
        poll_until(lambda: _active(api, invalid), STAGE_TIMEOUT)
        facts["dags"] = _dags(api)
        facts["import_errors"] = api.get("/importErrors", limit=100)["import_errors"]
        run = poll_until(_finished_run(api, invalid), STAGE_TIMEOUT)
        facts["invalid_run"] = run
        tis = api.task_instances(invalid, run["dag_run_id"])
        facts["invalid_tis"] = {ti["task_id"]: ti["state"] for ti in tis}
        facts["invalid_log"] = "\n".join(
            api.task_log(invalid, run["dag_run_id"], ti["task_id"], ti["try_number"]) for ti in tis
        )
        if evidence := os.environ.get("AIRLOOP_E2E_SCREENSHOTS"):
            _save_evidence(Path(evidence), api, facts["dags"], facts["invalid_log"])

        # While churn is broken, a batch landed in a healthy pipeline still flows through features and training.
        before = {k: runs.snapshot(d) for k, d in healthy.dag.items()}
        healthy.land(generate("fraud", rows=3000, seed=71, labels=True), "isolation.parquet")
        facts["features_run"] = poll_until(runs.finished_after(healthy.dag["features"], before["features"]), 300)
        facts["train_run"] = poll_until(runs.finished_after(healthy.dag["train"], before["train"]), STAGE_TIMEOUT)
        facts["train_tis"] = api.task_instances(healthy.dag["train"], facts["train_run"]["dag_run_id"])

        # Fixed: churn's own DAGs replace the failing one (in the same parse).
        churn_file.write_text(_churn_spec(misspelt=False))
        churn_dags = list(dag_ids(BROKEN, CHURN_KINDS).values())
        poll_until(lambda: True if all(_active(api, d) for d in churn_dags) else None, STAGE_TIMEOUT)
        facts["invalid_gone_once_fixed"] = poll_until(lambda: True if _gone(api, invalid) else None, STALE_TIMEOUT)

        # Removed: churn's DAGs go too, and the stack is back to what the other files expect.
        churn_file.unlink()
        facts["churn_gone_once_removed"] = poll_until(
            lambda: True if all(_gone(api, d) for d in churn_dags) else None, STALE_TIMEOUT
        )
        facts["after"] = {d for d, v in _dags(api).items() if not v.get("is_stale")}
    finally:
        churn_file.unlink(missing_ok=True)  # whatever happened above: no other file may see churn
    return facts


def test_healthy_pipelines_keep_their_dags_beside_a_broken_spec(isolation):
    dags, invalid = isolation["dags"], invalid_spec_dag_id(BROKEN)
    listed = {d for d, v in dags.items() if not v.get("is_stale")}
    assert isolation["before"] <= listed, f"lost: {isolation['before'] - listed}"
    assert listed - isolation["before"] == {invalid}, "the broken spec adds its one failing DAG, nothing else"
    assert not any(dags[d].get("has_import_errors") for d in listed), [
        d for d in listed if dags[d]["has_import_errors"]
    ]
    for pipeline in ("fraud_detection", "retail_demand", HEALTHY):
        assert dag_id(pipeline, "train") in listed
    assert not [e for e in isolation["import_errors"] if "airloop_pipelines" in e.get("filename", "")]


def test_the_broken_spec_fails_naming_its_file_and_field(isolation):
    assert isolation["invalid_run"]["state"] == "failed"
    assert isolation["invalid_tis"] == {"report_invalid_spec": "failed"}
    log = isolation["invalid_log"]
    assert f"{BROKEN}.yaml" in log and f"training.{MISSPELT}" in log, log[-2000:]


def test_a_healthy_pipeline_still_trains_on_a_landed_batch(isolation):
    assert isolation["features_run"]["state"] == "success"
    states = {ti["task_id"]: ti["state"] for ti in isolation["train_tis"]}
    assert states["train"] == "success" and states["gate"] == "success", states


def test_fixing_the_spec_brings_its_dags_and_removing_it_takes_them_away(isolation):
    assert isolation["invalid_gone_once_fixed"] is True
    assert isolation["churn_gone_once_removed"] is True
    assert isolation["after"] == isolation["before"], "the session's stack is as the other files left it"


def _save_evidence(directory: Path, api, dags: dict[str, dict[str, Any]], invalid_log: str) -> None:
    """The REST API's DAG list (with each DAG's last run) and the failing task's log lines naming the spec file as
    text, and the UI's DAG list as a PNG."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = [f"{'dag_id':36} {'is_paused':9} {'is_stale':8} {'import_errors':13} last_run"]
    for name in sorted(dags):
        d = dags[name]
        last = next(iter(api.dag_runs(name)), {}).get("state", "-")
        rows.append(f"{name:36} {d['is_paused']!s:9} {d['is_stale']!s:8} {d['has_import_errors']!s:13} {last}")
    rows += ["", f"{invalid_spec_dag_id(BROKEN)} task log, the lines naming the spec file:"]
    rows += [line for line in invalid_log.splitlines() if f"{BROKEN}.yaml" in line]
    (directory / "spec_isolation_dag_list.txt").write_text("\n".join(rows) + "\n")
    _screenshot(api, directory / "spec_isolation_dag_list.png")


def _screenshot(api, path: Path) -> None:
    """Airflow's DAG list in headless Chromium, logged in through Airflow's own login page."""
    from playwright.sync_api import sync_playwright

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    flags += ["--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=flags)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            page.set_default_timeout(60_000)
            page.goto(f"{api.base}/")
            page.wait_for_url(re.compile(r"/auth/login"))
            page.fill("input[name=username]", api.username)
            page.fill("input[name=password]", api.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{api.base}/")
            page.goto(f"{api.base}/dags")
            page.get_by_label("Show table view").click()  # one row per DAG: the whole list on one screen
            page.get_by_text(invalid_spec_dag_id(BROKEN)).first.wait_for()
            page.screenshot(path=str(path), full_page=True)
        finally:
            browser.close()
