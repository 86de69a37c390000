"""`airloop reproduce`: registered versions rebuilt from their recorded data, spec and params, bit for bit.

One module-scoped fixture curates a fraud batch and a retail batch, then registers four versions on a local
MLflow store: a plain fraud model, one trained on all cores (`nthread: 0`), one whose recipe is deleted afterwards
(a version from before recipes were recorded), and a retail model-search winner. The tests only read them.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from airloop import steps
from airloop.catalog import parse_spec
from airloop.contracts import Lineage, Trained
from airloop.data.datagen import generate
from airloop.errors import AirloopError, RegistryError
from airloop.model import rebuild, training
from airloop.model.lineage import RECIPE_DIR
from airloop.model.registry import Registry
from airloop.model.reproduce import Difference, parse_overrides, reproduce
from airloop.settings import Settings
from airloop.spec import PipelineSpec

pytestmark = pytest.mark.unit

FRAUD, RETAIL = "fraud_detection", "retail_demand"
RETAIL_SPEC = Path(__file__).resolve().parents[2] / "include" / "pipelines" / "retail_demand.yaml"


@dataclass
class Registered:
    root: Path
    settings: Settings
    spec: PipelineSpec
    plain: Trained  # steps.train results
    all_cores: Trained
    legacy: Trained
    searched: Trained


def _with_model(spec: PipelineSpec, **model: Any) -> PipelineSpec:
    data = spec.model_dump(mode="json", by_alias=True)
    data["model"].update(model)
    return parse_spec(data, "test")


def _retail_search() -> PipelineSpec:
    data = yaml.safe_load(RETAIL_SPEC.read_text())
    data["model"].update(device="cpu", num_boost_round=40, early_stopping_rounds=10, nthread=1)
    data["model"]["search"] = {"strategy": "grid", "space": {"max_depth": [2, 4]}}
    data["training"]["min_rows"] = 100
    return parse_spec(data, "retail_demand.yaml")


def _curate(spec: PipelineSpec, settings: Settings, df, name: str) -> None:
    steps.land(spec, settings, df, name)
    for uri in steps.discover(spec, settings):
        assert steps.process(spec, settings, uri).status == "curated"


@pytest.fixture(scope="module")
def registered(tmp_path_factory, settings_for, fast_spec) -> Registered:
    root = tmp_path_factory.mktemp("reproduce")
    settings = settings_for(root)
    retail = _retail_search()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # a sqlite MLflow store keeps artifacts under ./mlruns
        _curate(fast_spec, settings, generate("fraud", rows=1500, seed=21, labels=True), "fraud-1.parquet")
        _curate(retail, settings, generate("retail", rows=1200, seed=22, labels=True), "retail-1.parquet")
        manual = Lineage(trigger="manual")
        plain = steps.train(fast_spec, settings, manual)
        all_cores = steps.train(_with_model(fast_spec, nthread=0), settings, manual)
        legacy = steps.train(fast_spec, settings, manual)
        searched = steps.train(retail, settings, manual)
        assert all(isinstance(t, Trained) for t in (plain, all_cores, legacy, searched))
        c = Registry.from_settings(settings).client
        c.set_registered_model_alias(FRAUD, "champion", plain.version)
        # A version logged before airloop recorded its recipe: the run has no airloop/ artifacts.
        artifacts = Path(c.get_run(legacy.run_id).info.artifact_uri.removeprefix("file://"))
        shutil.rmtree(artifacts / RECIPE_DIR)
    assert [plain.version, all_cores.version, legacy.version, searched.version] == ["1", "2", "3", "1"]
    return Registered(root, settings, fast_spec, plain, all_cores, legacy, searched)


@pytest.fixture(autouse=True)
def _in_root(registered, monkeypatch):
    monkeypatch.chdir(registered.root)


@pytest.fixture(scope="module")
def plain_report(registered):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(registered.root)
        return reproduce(FRAUD, registered.plain.version, registered.settings)


def _specs_dir(tmp_path: Path, spec: PipelineSpec) -> Path:
    """A specs directory holding `spec` as its YAML file."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / f"{spec.name}.yaml").write_text(yaml.safe_dump(spec.model_dump(mode="json", by_alias=True)))
    return tmp_path


# ---------------------------------------------------------------------------------------------------- bit for bit


def test_a_registered_version_reproduces_bit_for_bit(plain_report, registered):
    report = plain_report
    assert report.identical, report.to_table()
    assert report.predictions_equal and report.model_bytes_equal
    assert report.differences == [] and report.rows_differing == 0 and report.max_abs_diff == 0.0
    assert report.data_md5 == registered.plain.data_md5
    assert report.spec_hash == registered.spec.spec_hash
    assert (report.params["nthread"], report.params["seed"], report.device) == (1, 42, "cpu")
    assert report.n_holdout == round(1500 * registered.spec.split.holdout_fraction)
    assert report.metrics and all(m["recorded"] == round(m["rebuilt"], 6) for m in report.metrics.values())
    assert report.to_table().splitlines()[0].endswith("identical (bit for bit: same predictions, same model bytes)")
    as_json = report.to_dict()
    assert json.loads(json.dumps(as_json))["identical"] is True and as_json["differences"] == []


def test_it_reads_the_settings_registry_from_any_directory(registered, env_for, tmp_path):
    """`models:/` must resolve in the settings' MLflow, in a fresh process whose MLflow was never pointed anywhere
    and whose environment names no store (a regression found on a real scheduler's stack: the model was looked
    up in a new ./mlflow.db of the current directory)."""
    import os
    import subprocess
    import sys

    code = (
        "import json, sys; from airloop.settings import Settings; from airloop.model.reproduce import reproduce; "
        "s = Settings.from_mapping(json.loads(sys.argv[1]), base=sys.argv[2]); "
        f"print(reproduce({FRAUD!r}, {registered.plain.version!r}, s).identical)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AIRLOOP_"))}
    args = [sys.executable, "-c", code, json.dumps(env_for(registered.root)), str(registered.root)]
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "True"
    assert not (tmp_path / "mlflow.db").exists()


def test_the_recorded_thread_count_is_reused(registered, monkeypatch, tmp_path):
    """`nthread: 0` trains on every usable core and records how many; a machine with another count rebuilds with
    the recorded one (XGBoost's CPU training repeats bit for bit only for the same thread count)."""
    c = Registry.from_settings(registered.settings).client
    recorded = json.loads(
        Path(c.download_artifacts(registered.all_cores.run_id, "airloop/params.json", str(tmp_path))).read_text()
    )
    assert recorded["nthread"] == training.usable_cores() >= 1
    monkeypatch.setattr(training, "usable_cores", lambda: recorded["nthread"] + 3)  # "another machine"
    report = reproduce(FRAUD, registered.all_cores.version, registered.settings)
    assert report.identical, report.to_table()
    assert report.params["nthread"] == recorded["nthread"]


def test_a_model_search_winner_reproduces(registered):
    assert registered.searched.search is not None and registered.searched.search.trials == 2
    report = reproduce(RETAIL, registered.searched.version, registered.settings)
    assert report.identical, report.to_table()
    assert report.params["max_depth"] == registered.searched.search.params["max_depth"]
    assert report.params["objective"] == "reg:tweedie"


def test_a_version_reproduces_from_its_recorded_spec_when_the_file_changed(registered, tmp_path):
    changed = _with_model(registered.spec, num_boost_round=7, params={"max_depth": 2, "eta": 0.5})
    settings = dataclasses.replace(registered.settings, specs_dir=str(_specs_dir(tmp_path / "specs", changed)))
    report = reproduce(FRAUD, registered.plain.version, settings)
    assert report.identical and report.differences == [], report.to_table()
    assert report.spec_hash == registered.spec.spec_hash != changed.spec_hash
    assert any(f"hash {changed.spec_hash}" in n and "recorded spec" in n for n in report.notes), report.notes


def test_a_version_without_a_recipe_uses_the_spec_file_only_if_its_hash_matches(registered, tmp_path):
    same = dataclasses.replace(registered.settings, specs_dir=str(_specs_dir(tmp_path / "same", registered.spec)))
    report = reproduce(FRAUD, registered.legacy.version, same)
    assert report.identical and report.differences == [], report.to_table()
    assert report.params["nthread"] == 1  # from the run's logged params, not all cores
    assert any("no recorded spec" in n for n in report.notes) and any("params.json" in n for n in report.notes)

    changed = _with_model(registered.spec, num_boost_round=7)
    other = dataclasses.replace(registered.settings, specs_dir=str(_specs_dir(tmp_path / "other", changed)))
    with pytest.raises(AirloopError, match=r"recipe is missing .* hashes to") as err:
        reproduce(FRAUD, registered.legacy.version, other)
    assert len(str(err.value).splitlines()) == 1


# ------------------------------------------------------------------------------------------------------ what if


def test_an_override_is_named_and_its_prediction_difference_shown(registered):
    report = reproduce(FRAUD, registered.plain.version, registered.settings, overrides={"max_depth": 2})
    assert not report.identical and not report.predictions_equal and not report.model_bytes_equal
    items = {d.item: d for d in report.differences}
    assert items["param max_depth"] == Difference("param max_depth", 6, 2, "--set")
    assert "predictions" in items and "model bytes" in items
    assert 0 < report.rows_differing <= report.n_holdout and report.max_abs_diff > 0
    assert f"{report.rows_differing} of {report.n_holdout} holdout rows differ" in items["predictions"].note
    assert report.overrides == {"max_depth": 2} and report.params["max_depth"] == 2


def test_an_override_equal_to_the_recorded_value_changes_nothing(registered):
    report = reproduce(FRAUD, registered.plain.version, registered.settings, overrides={"seed": 42})
    assert report.identical and report.differences == [], report.to_table()


def test_parse_overrides_reads_yaml_scalars():
    assert parse_overrides(["eta=0.3", "max_depth=4", "grow_policy=lossguide", "x=true"]) == {
        "eta": 0.3,
        "max_depth": 4,
        "grow_policy": "lossguide",
        "x": True,
    }
    for bad in ["eta", "=1", "eta=", "eta=[1, 2]", "eta={a: 1}", "eta=[1"]:
        with pytest.raises(AirloopError, match="--set"):
            parse_overrides([bad])


def test_a_cuda_version_is_rebuilt_on_cpu_without_a_gpu_and_says_so(registered, monkeypatch):
    monkeypatch.setattr(training, "cuda_available", lambda: False)
    recorded = rebuild.Recorded({"objective": "binary:logistic", "seed": 42, "device": "cuda", "nthread": 8})
    notes: list[str] = []
    spec, passed = rebuild.rebuild_plan(registered.spec, recorded, {}, {"device": "cuda"}, notes)
    assert (spec.model.device, spec.model.nthread) == ("cpu", 8)
    assert passed == {"objective": "binary:logistic", "seed": 42}
    assert notes == [
        "recorded on cuda: no usable GPU here, rebuilt on cpu; XGBoost does not promise bit-identical CUDA "
        "training, so differences may come from the device"
    ]


def test_multiclass_predictions_differ_by_row():
    import numpy as np

    from airloop.model.reproduce import _compare_predictions

    a = np.array([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]], dtype=np.float32)
    b = a.copy()
    assert _compare_predictions(a, b) == (True, 0, 0.0)
    b[1, 0], b[1, 1], b[2, 1] = 0.4, 0.6, 0.2
    equal, rows, max_diff = _compare_predictions(a, b)
    assert (equal, rows) == (False, 2) and max_diff == pytest.approx(0.1)
    assert _compare_predictions(a, a[:2])[:2] == (False, 3)


# ------------------------------------------------------------------------------------------------------- errors


def test_an_unknown_version_or_model_is_a_registry_error(registered):
    with pytest.raises(RegistryError, match=f"model '{FRAUD}' has no version or alias '99'"):
        reproduce(FRAUD, "99", registered.settings)
    with pytest.raises(RegistryError, match="model 'nope' has no version or alias '1'"):
        reproduce("nope", "1", registered.settings)
    with pytest.raises(AirloopError, match="num_class"):
        reproduce(FRAUD, "1", registered.settings, overrides={"num_class": 3})


def test_training_data_missing_from_the_remote_is_a_clear_error(registered, tmp_path):
    empty = dataclasses.replace(
        registered.settings, dvc_workspace=str(tmp_path / "ws"), dvc_remote=str(tmp_path / "remote")
    )
    md5 = registered.plain.data_md5
    with pytest.raises(AirloopError, match=f"md5 {md5} is neither in the DVC cache nor on remote"):
        reproduce(FRAUD, registered.plain.version, empty)


# ---------------------------------------------------------------------------------------------------------- CLI


@dataclass
class CliResult:
    rc: int
    stdout: str
    stderr: str


@pytest.fixture
def airloop(registered, env_for, monkeypatch, capsys) -> Callable[..., CliResult]:
    """`airloop ARGS` in this process against the module's store; `env` overrides single variables."""
    from airloop import cli

    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)  # the CLI sets it: undone after

    def call(*args: str, env: dict[str, str] | None = None) -> CliResult:
        for key, value in {**env_for(registered.root), **(env or {})}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(sys, "argv", ["airloop", *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            cli.main()
        out = capsys.readouterr()
        return CliResult(info.value.code, out.out, out.err)

    return call


def assert_one_line_error(result: CliResult, fragment: str) -> None:
    assert result.rc == 2, result
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("airloop: ") and fragment in lines[0], result.stderr


def test_cli_identical_exits_0(airloop, registered):
    result = airloop("reproduce", FRAUD, "champion")  # an alias names the version too
    assert result.rc == 0, result
    assert result.stdout.startswith(f"{FRAUD} v{registered.plain.version} ")
    assert "identical (bit for bit" in result.stdout.splitlines()[0]
    assert result.stderr == ""


def test_cli_set_exits_1_and_reports_the_param(airloop):
    result = airloop("reproduce", FRAUD, "1", "--set", "eta=0.5", "--set", "max_depth=3", "--format", "json")
    assert result.rc == 1, result
    report = json.loads(result.stdout)
    assert report["identical"] is False and report["overrides"] == {"eta": 0.5, "max_depth": 3}
    items = {d["item"]: d for d in report["differences"]}
    assert items["param eta"] == {"item": "param eta", "recorded": 0.08, "rebuilt": 0.5, "note": "--set"}
    assert items["param max_depth"]["rebuilt"] == 3 and "predictions" in items
    assert report["rows_differing"] > 0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("reproduce", FRAUD, "99"), f"model '{FRAUD}' has no version or alias '99'"),
        (("reproduce", "nope", "champion"), "model 'nope' has no version or alias 'champion'"),
        (("reproduce", FRAUD, "1", "--set", "eta"), "--set expects KEY=VALUE, got 'eta'"),
    ],
    ids=["unknown-version", "unknown-model", "bad-set"],
)
def test_cli_bad_calls_exit_2_with_one_line(airloop, args, fragment):
    assert_one_line_error(airloop(*args), fragment)


def test_cli_missing_training_data_exits_2_with_one_line(airloop, registered, tmp_path):
    env = {"AIRLOOP_DVC_WORKSPACE": str(tmp_path / "ws"), "AIRLOOP_DVC_REMOTE": str(tmp_path / "remote")}
    result = airloop("reproduce", FRAUD, "1", env=env)
    assert_one_line_error(result, f"md5 {registered.plain.data_md5} is neither in the DVC cache nor on remote")
