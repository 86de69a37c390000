"""Shared fixtures for the unit suite: the shipped spec, a fast variant of it for training, and tmp settings.

Nothing here starts a service or writes outside pytest's tmp directories.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from airloop.catalog import load_spec, parse_spec
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

    def call(root: Path, *args: str) -> CliResult:
        for key, value in env_for(root).items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(root)
        monkeypatch.setattr(sys, "argv", ["airloop", *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            cli.main()
        out = capsys.readouterr()
        return CliResult(info.value.code, out.out, out.err)

    return call
