"""Every spec builds its three DAGs without import errors, with the tags, retries and schedules the loop needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.dags

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "include" / "pipelines").glob("*.yaml"))
KINDS = ("features", "train", "score", "monitor", "retrain")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_there_is_a_spec():
    assert SPECS, "include/pipelines/ must ship at least one spec"


@pytest.mark.parametrize("spec_path", SPECS, ids=lambda p: p.stem)
def test_every_spec_builds_its_dags(dagbag, spec_path):
    name = spec_path.stem
    assert {f"{name}__{k}" for k in KINDS} <= set(dagbag.dag_ids)


def test_tags_retries_and_start(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert "airloop" in dag.tags, dag_id
        assert any(t.startswith("pipeline:") for t in dag.tags), dag_id
        assert dag.catchup is False, dag_id
        assert str(dag.start_date.tzinfo) in ("UTC", "tzutc()", "Timezone('UTC')"), dag_id
        assert dag.doc_md, f"{dag_id} has no doc"
        for t in dag.tasks:
            assert t.retries >= 2, f"{dag_id}.{t.task_id} retries={t.retries}"


def _assets(condition) -> list:
    """Flatten an asset condition (Asset, AssetAll, AssetAny) into its assets."""
    if hasattr(condition, "objects"):
        return [a for obj in condition.objects for a in _assets(obj)]
    return [condition]


@pytest.mark.parametrize("spec_path", SPECS, ids=lambda p: p.stem)
def test_assets_wire_the_loop(dagbag, spec_path):
    from airflow.sdk import Asset, AssetAny

    name = spec_path.stem
    features = dagbag.dags[f"{name}__features"]
    train = dagbag.dags[f"{name}__train"]
    score = dagbag.dags[f"{name}__score"]

    landing = _assets(features.timetable.asset_condition)
    assert len(landing) == 1 and landing[0].watchers, "features DAG must be woken by a landing-zone watcher"
    assert landing[0].watchers[0].trigger.serialize()[0] == "airloop_airflow.triggers.LandingZoneTrigger"

    publish = features.get_task("publish")
    assert [o.name for o in publish.outlets if isinstance(o, Asset)] == [f"airloop.{name}.features"]
    train_assets = {a.name for a in _assets(train.timetable.asset_condition)}
    assert f"airloop.{name}.features" in train_assets
    assert isinstance(score.timetable.asset_condition, AssetAny)
    score_assets = {a.name for a in _assets(score.timetable.asset_condition)}
    assert score_assets == {f"airloop.{name}.features", f"airloop.{name}.champion"}
    assert features.max_active_runs == 1 and train.max_active_runs == 1

    monitor = dagbag.dags[f"{name}__monitor"]
    retrain = dagbag.dags[f"{name}__retrain"]
    assert {a.name for a in _assets(monitor.timetable.asset_condition)} == {f"airloop.{name}.features"}
    from airloop.catalog import load_spec

    stale = {f"airloop.{name}.stale"} if load_spec(spec_path).training.max_model_age else set()
    assert {a.name for a in _assets(retrain.timetable.asset_condition)} == {
        f"airloop.{name}.drift",
        f"airloop.{name}.decay",
        *stale,
    }
    assert [o.name for o in monitor.get_task("emit_drift").outlets] == [f"airloop.{name}.drift"]
    assert [o.name for o in monitor.get_task("emit_decay").outlets] == [f"airloop.{name}.decay"]
    assert [o.name for o in retrain.get_task("announce").outlets] == [f"airloop.{name}.champion"]
    assert retrain.max_active_runs == 1
    sensor = monitor.get_task("wait_for_champion")
    assert sensor.mode == "reschedule", "the wait holds no worker slot between pokes"


def test_task_graph(dagbag):
    from airloop.catalog import load_spec

    for spec_path in SPECS:
        name = spec_path.stem
        spec = load_spec(spec_path)
        training = ["prepare", "fit_trial", "select"] if spec.model.search else ["train"]
        if any(f.candidate for f in spec.features):
            training.append("measure_feature_gain")  # the feature-importance test runs between training and the gate
        for kind in ("train", "retrain"):
            assert [t.task_id for t in dagbag.dags[f"{name}__{kind}"].topological_sort()] == [
                *training,
                "gate",
                "announce",
            ]
        monitor = dagbag.dags[f"{name}__monitor"]
        # The sensor only waits; the drift statistics, reports and MLflow runs are the check_drift task's work.
        assert monitor.get_task("wait_for_champion").downstream_task_ids == {"check_drift"}
        assert monitor.get_task("check_drift").downstream_task_ids == {"emit_drift", "emit_decay"}
        assert [t.task_id for t in dagbag.dags[f"{name}__features"].topological_sort()] == [
            "discover",
            "process",
            "publish",
        ]


def test_broken_spec_is_one_failing_dag_naming_the_field(tmp_path):
    """A bad spec surfaces as its own failing `<name>__invalid_spec` DAG naming file and field, not a silent skip
    (nor an import error that hides every other pipeline: see test_spec_isolation)."""
    spec = yaml.safe_load(SPECS[0].read_text())
    spec["model"]["device"] = "tpu"
    (tmp_path / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec))
    code = (
        "from airflow.dag_processing.dagbag import DagBag; import sys; "
        f"b = DagBag(dag_folder={str(ROOT / 'dags')!r}); "
        "print(sorted(b.dag_ids), b.import_errors, b.dags[sys.argv[1]].doc_md)"
    )
    env = {**__import__("os").environ, "AIRLOOP_SPECS_DIR": str(tmp_path), "PYTHONPATH": str(ROOT / "plugins")}
    invalid = f"{spec['name']}__invalid_spec"
    out = subprocess.run([sys.executable, "-c", code, invalid], env=env, capture_output=True, text=True, timeout=180)
    assert f"[{invalid!r}] {{}}" in out.stdout, out.stdout + out.stderr
    assert "model.device" in out.stdout and f"{spec['name']}.yaml" in out.stdout


def test_training_queue_routes_only_training(tmp_path):
    """`training.queue: gpu` sends the train task (both DAGs) to the GPU workers; everything else stays default."""
    from airloop.catalog import load_spec
    from airloop_airflow.factory import build_dags

    data = yaml.safe_load(SPECS[0].read_text())
    default_queue = {t.queue for t in build_dags(load_spec(SPECS[0]))[f"{data['name']}__train"].tasks}
    assert len(default_queue) == 1 and "gpu" not in default_queue
    default = default_queue.copy().pop()

    data.setdefault("training", {})["queue"] = "gpu"
    path = tmp_path / SPECS[0].name
    path.write_text(yaml.safe_dump(data))
    dags = build_dags(load_spec(path))
    for kind in ("train", "retrain"):
        queues = {t.task_id: t.queue for t in dags[f"{data['name']}__{kind}"].tasks}
        # measure_feature_gain refits the model (without each candidate feature): training work, on the training queue
        assert queues == {"train": "gpu", "measure_feature_gain": "gpu", "gate": default, "announce": default}
    for kind in ("features", "score", "monitor"):
        assert {t.queue for t in dags[f"{data['name']}__{kind}"].tasks} == default_queue


def test_model_search_maps_one_task_per_trial(tmp_path):
    """`model.search` turns training into prepare → fit_trial (dynamically mapped over the trials that `prepare`
    returns) → select; only the trials go to the training queue, at most `parallel` at a time."""
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    from airloop.catalog import load_spec
    from airloop_airflow.factory import build_dags

    data = yaml.safe_load(SPECS[0].read_text())
    data["model"]["search"] = {"strategy": "grid", "parallel": 3, "space": {"max_depth": [3, 5], "eta": [0.1, 0.3]}}
    data.setdefault("training", {})["queue"] = "gpu"
    path = tmp_path / SPECS[0].name
    path.write_text(yaml.safe_dump(data))
    dags = build_dags(load_spec(path))
    for kind in ("train", "retrain"):
        dag = dags[f"{data['name']}__{kind}"]
        fit = dag.get_task("fit_trial")
        assert isinstance(fit, MappedOperator)
        assert fit.queue == "gpu" and fit.max_active_tis_per_dagrun == 3
        assert {t.task_id: t.queue == "gpu" for t in dag.tasks} == {
            "prepare": False,
            "fit_trial": True,
            "select": False,
            "measure_feature_gain": True,
            "gate": False,
            "announce": False,
        }
        assert fit.upstream_task_ids == {"prepare"} and dag.get_task("select").upstream_task_ids == {
            "prepare",
            "fit_trial",
        }
        mapped = fit.op_kwargs_expand_input.value  # mapped over what `prepare` returns, not fixed at parse time
        assert list(mapped) == ["job"] and mapped["job"].operator.task_id == "prepare"
        assert all(t.retries >= 2 for t in dag.tasks)


def test_a_stale_champion_retrains_on_a_daily_check(tmp_path):
    """`training.max_model_age` adds NAME__staleness (@daily), whose task emits `airloop.NAME.stale`; the retrain
    DAG listens to it next to drift and decay, and records the run's trigger as `schedule`."""
    from airloop.catalog import load_spec
    from airloop_airflow.assets import trigger_reason
    from airloop_airflow.factory import build_dags

    data = yaml.safe_load(SPECS[0].read_text())
    name = data["name"]
    data["training"]["max_model_age"] = "30d"
    path = tmp_path / SPECS[0].name
    path.write_text(yaml.safe_dump(data))
    dags = build_dags(load_spec(path))
    staleness = dags[f"{name}__staleness"]
    assert staleness.schedule == "@daily" and staleness.catchup is False
    check = staleness.get_task("check_age")
    assert [o.name for o in check.outlets] == [f"airloop.{name}.stale"] and check.retries >= 2
    retrain = dags[f"{name}__retrain"]
    assert {a.name for a in _assets(retrain.timetable.asset_condition)} == {
        f"airloop.{name}.drift",
        f"airloop.{name}.decay",
        f"airloop.{name}.stale",
    }

    from airflow.sdk import Asset

    stale_event = {"triggering_asset_events": {Asset(name=f"airloop.{name}.stale", uri=f"airloop://{name}/stale"): []}}
    assert trigger_reason(stale_event, name) == "schedule"

    data["training"].pop("max_model_age")
    path.write_text(yaml.safe_dump(data))
    dags = build_dags(load_spec(path))
    assert f"{name}__staleness" not in dags
    assert f"airloop.{name}.stale" not in {a.name for a in _assets(dags[f"{name}__retrain"].timetable.asset_condition)}
