"""Shared fixtures for the unit suite: the shipped spec, a fast variant of it for training, tmp settings, and one
monitored world (a champion, batches checked for drift, a drift retrain) that more than one test file reads.

Nothing here starts a service or writes outside pytest's tmp directories.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from airloop.catalog import load_spec, parse_spec
from airloop.contracts import Trained
from airloop.settings import Settings
from airloop.spec import PipelineSpec

ROOT = Path(__file__).resolve().parents[2]
SPECS_DIR = ROOT / "include" / "pipelines"
SPEC_PATH = SPECS_DIR / "fraud_detection.yaml"


@pytest.fixture(scope="session")
def spec_path() -> Path:
    return SPEC_PATH


@pytest.fixture(scope="session")
def spec() -> PipelineSpec:
    return load_spec(SPEC_PATH)


@pytest.fixture(scope="session")
def _spec_data() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text())


@pytest.fixture
def spec_dict(_spec_data) -> dict[str, Any]:
    """A fresh, mutable copy of the shipped spec as parsed YAML."""
    return copy.deepcopy(_spec_data)


@pytest.fixture(scope="session")
def fast_spec(_spec_data) -> PipelineSpec:
    """The shipped spec with a small model (CPU, few rounds) and a low row minimum: seconds, not minutes."""
    data = copy.deepcopy(_spec_data)
    data["model"].update(device="cpu", num_boost_round=40, early_stopping_rounds=10, nthread=1)
    data["training"]["min_rows"] = 100
    data["training"]["retrain_on_new_data"] = True  # the registry round trip retrains on each new batch
    return parse_spec(data, "fast_spec")


def _env(root: Path) -> dict[str, str]:
    return {
        "AIRLOOP_DATA_ROOT": str(root / "data"),
        "AIRLOOP_DVC_WORKSPACE": str(root / "dvc"),
        "AIRLOOP_DVC_REMOTE": str(root / "dvc-remote"),
        "AIRLOOP_SPECS_DIR": str(SPECS_DIR),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
    }


@pytest.fixture(scope="session")
def env_for() -> Callable[[Path], dict[str, str]]:
    """The AIRLOOP_* / MLFLOW_* variables that put every location under `root` (all of them, always)."""
    return _env


@pytest.fixture(scope="session")
def settings_for() -> Callable[[Path], Settings]:
    """Settings whose data root, DVC workspace/remote and MLflow store all live under `root`."""
    return lambda root: Settings.from_mapping(_env(root), base=root)


@dataclass
class CliResult:
    rc: int
    stdout: str
    stderr: str


@pytest.fixture
def cli_main(env_for, monkeypatch, capsys) -> Callable[..., CliResult]:
    """`airloop ARGS` through `airloop.cli.main()` in this process, with every location under `root`.

    `main` ends every call with `sys.exit`; any other exception escaping it is what a user would see as a traceback.
    """
    from airloop import cli

    def call(root: Path, *args: str, env: Mapping[str, str] | None = None) -> CliResult:
        """`env` overrides the locations' variables (e.g. an MLflow that is down)."""
        for key, value in {**env_for(root), **(env or {})}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(root)
        monkeypatch.setattr(sys, "argv", ["airloop", *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            cli.main()
        out = capsys.readouterr()
        return CliResult(info.value.code, out.out, out.err)

    return call


@dataclass(frozen=True)
class MonitoredWorld:
    """What `monitored_world` built, in the order it happened (all under `root`, MLflow on a sqlite store there)."""

    root: Path
    settings: Settings
    spec: PipelineSpec
    empty: dict[str, Any]  # the Model Ops page of the pipeline before anything landed
    before_champion: list[dict[str, Any]] | None  # the drift check once the first batch is curated: no champion yet
    v1: Trained  # trained on the first batch (trigger new_data, from a named DAG but no run id), gated: champion
    batch_ids: dict[str, str]  # kind → batch id of the four batches that land after v1
    first: list[dict[str, Any]]  # the drift check of every curated batch against v1's training data
    second: list[dict[str, Any]]  # the same check again: nothing left to check
    v2: Trained  # retrained on drift (tagged as a retrain DAG's run), then gated
    detail: dict[str, Any]  # the Model Ops page after v2's gate, seen at a fixed `now`


# The batches that land after the champion: two without labels (clean, covariate drift), two with (clean, concept).
MONITORED_BATCHES = {
    "clean": {"seed": 202, "labels": False},
    "covariate": {"seed": 203, "drift": "covariate", "labels": False},
    "clean_labelled": {"seed": 204, "labels": True},
    "concept": {"seed": 205, "drift": "concept", "labels": True},
}

RETRAIN_RUN_ID = "asset_triggered__2026-11-26T08:00:00+00:00"  # what test_modelops expects the timeline to link


@pytest.fixture(scope="session")
def monitored_world(tmp_path_factory, settings_for, fast_spec) -> MonitoredWorld:
    """A fraud pipeline's life on a local MLflow store and DVC remote: land, curate, train v1 and gate it (champion),
    land four more batches, check them all for drift (twice), retrain on drift and gate v2.

    test_monitor reads the checks and test_modelops the pages and versions. They used to build a world each (three
    trainings and eight drift reports between them); this one is both. Read-only, except that a test may move the
    champion alias (the checks and the captured pages stay as they were).
    """
    from airloop import steps
    from airloop.contracts import Lineage
    from airloop.data.datagen import generate
    from airloop.monitor import checks
    from airloop.naming import DagKind, dag_id
    from airloop.ops import views
    from airloop.store.versioning import DataVersioner

    name, spec = fast_spec.name, fast_spec
    root = tmp_path_factory.mktemp("monitored")
    settings = settings_for(root)

    def train(lineage: Lineage) -> Trained:
        result = steps.train(spec, settings, lineage)
        assert isinstance(result, Trained), result
        steps.gate(spec, settings, version=result.version, data_md5=result.data_md5)
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # a sqlite MLflow store keeps its artifacts under ./mlruns
        versioner = DataVersioner.from_settings(settings)
        empty = views.pipeline_detail(spec, settings)
        landed = steps.land(spec, settings, generate("fraud", rows=3000, seed=201), "first.parquet")
        steps.process(spec, settings, landed)
        before_champion = checks.check_pending(spec, settings, versioner)
        v1 = train(Lineage(trigger="new_data", extra_tags={"airflow_dag_id": dag_id(name, DagKind.TRAIN)}))
        batch_ids = {}
        for kind, how in MONITORED_BATCHES.items():
            landed = steps.land(spec, settings, generate("fraud", rows=3000, **how), f"{kind}.parquet")
            batch_ids[kind] = steps.process(spec, settings, landed).batch_id
        first = checks.check_pending(spec, settings, versioner)
        second = checks.check_pending(spec, settings, versioner)
        run = {"airflow_dag_id": dag_id(name, DagKind.RETRAIN), "airflow_run_id": RETRAIN_RUN_ID}
        v2 = train(Lineage(trigger="drift", extra_tags={**run, "drift.batch": "shifted-x"}))
        detail = views.pipeline_detail(spec, settings, now=2e9)
    return MonitoredWorld(root, settings, spec, empty, before_champion, v1, batch_ids, first, second, v2, detail)
