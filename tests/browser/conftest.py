"""A running embedded stack after the demo's loop, for the Model Ops API and browser tests.

One stack for this folder (package-scoped: Airflow standalone with its login on, MLflow server, local DVC remote)
in a private temporary folder on free ports; the demo's own loop (`airloop.dev.demo.run_loop`) lands a clean, a drifted
and a to-score batch. Two users: `admin` (role admin) and `viewer` (role viewer), with the passwords Airflow generates.
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("AIRLOOP_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "browser"

# The route list comes from the plugin's app factory, which imports Airflow: give it a throwaway home first
# (removed when the test process exits).
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airloop-browsertest-")
    atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))


@pytest.fixture(scope="package")  # stopped as soon as this folder's tests are done, not at the end of the session
def ops_stack(tmp_path_factory):
    from airloop.dev.airflow_api import AirflowAPI
    from airloop.dev.demo import Progress, run_loop
    from airloop.dev.localstack import LocalStack
    from airloop.settings import Settings

    stack = LocalStack(
        ROOT, tmp_path_factory.mktemp("modelops"), preferred_ports=(0, 0), users="admin:admin,viewer:viewer"
    )
    log = io.StringIO()
    try:
        info = stack.up(timeout=300)
        run_loop(stack, info, Progress(stream=log), rows=6000, timeout=300)
        settings = Settings.from_mapping(stack.client_env(), base=ROOT)
        yield {
            "stack": stack,
            "info": info,
            "settings": settings,
            "url": info["airflow_url"],
            "passwords": {u: stack.admin_password(u) for u in ("admin", "viewer")},
            "api": AirflowAPI(info["airflow_url"], "admin", info["password"]),
            "demo_log": log.getvalue(),
        }
    finally:
        stack.down()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
