"""One embedded stack for every end-to-end file: Airflow standalone (scheduler, API server, DAG processor,
triggerer), an MLflow server and a local DVC remote, in a private temporary folder on free ports.

Starting that stack takes a minute or more on a small machine, and each file used to start (and stop) its own.
The files never share a pipeline, so one stack serves them all: each file drives pipelines of its own and waits
only on DAG runs that appeared after its own snapshot. Package-scoped (this folder is a package), so the stack is
stopped as soon as the last e2e test is done instead of idling under the rest of the suite.

The stack builds its DAGs from a specs directory of its own: the shipped specs, plus the variants the e2e files
declare in a module-level `E2E_SPECS` (`{name: (shipped spec, change)}`; test_staleness's one-minute-age retail
pipeline). A variant is a separate pipeline under its own name and landing zone, so no file changes a pipeline that
another file drives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from airloop import uris
from airloop.catalog import find_spec
from airloop.dev.airflow_api import AirflowAPI
from airloop.dev.demo import RunWatcher
from airloop.dev.localstack import LocalStack
from airloop.dev.processes import poll_until
from airloop.errors import AirloopError
from airloop.naming import DagKind, dag_ids
from airloop.settings import Settings
from airloop.spec import PipelineSpec
from airloop.store import storage

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SHIPPED_SPECS = ROOT / "include" / "pipelines"
STACK_TIMEOUT = 300  # seconds for both services to answer healthy
DAGS_TIMEOUT = 300  # seconds for a pipeline's DAGs to be parsed and registered
# A DAG its file no longer defines (test_spec_isolation's churn) is marked stale by a clean-up pass every 60 s, once
# its last parse is 50 s older than the file's: up to two minutes by default, about 40 s with these.
STALE_DAGS_SOONER = {
    "AIRFLOW__SCHEDULER__PARSING_CLEANUP_INTERVAL": "10",
    "AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD": "30",
}

# A variant of a shipped spec: the shipped spec's name, and a function that changes its parsed YAML in place.
SpecVariant = tuple[str, Callable[[dict[str, Any]], None]]


@dataclass(frozen=True)
class Pipeline:
    """One pipeline on the shared stack: its spec, its DAG ids by kind (StrEnum keys: `dag["train"]` works), and
    its landing zone."""

    spec: PipelineSpec
    dag: dict[DagKind, str]
    landing: str

    def land(self, df: pd.DataFrame, name: str) -> str:
        """Deliver a batch the way a user does: a parquet file in the landing zone."""
        return storage.write_parquet(df, uris.join_uri(self.landing, name))


@dataclass(frozen=True)
class SharedStack:
    stack: LocalStack
    settings: Settings
    api: AirflowAPI
    runs: RunWatcher

    def pipeline(self, name: str, kinds: Iterable[str]) -> Pipeline:
        """The pipeline `name`, once the scheduler knows all of its DAGs of these kinds."""
        spec = find_spec(name, self.settings.specs_dir)
        dag = dag_ids(name, tuple(DagKind(kind) for kind in kinds))
        poll_until(lambda: True if all(self._registered(d) for d in dag.values()) else None, DAGS_TIMEOUT)
        return Pipeline(spec, dag, self.settings.location(spec.storage.landing))

    def _registered(self, dag: str) -> bool:
        found = known_dag(self.api, dag)
        return found is not None and found.get("dag_id") == dag


def known_dag(api: AirflowAPI, dag: str) -> dict[str, Any] | None:
    """The API's record of DAG `dag` (stale or not), or None while the API does not know it."""
    try:
        return api.get(f"/dags/{dag}")
    except AirloopError:  # 404 until the DAG processor has parsed it
        return None


def variant_yaml(name: str, base: str, change: Callable[[dict[str, Any]], None]) -> str:
    """The shipped spec `base` as pipeline `name` (its own landing zone), changed by `change`, as YAML."""
    data = yaml.safe_load((SHIPPED_SPECS / f"{base}.yaml").read_text())
    change(data)
    data["name"] = name
    data["storage"]["landing"] = f"landing/{name}"
    return yaml.safe_dump(data, sort_keys=False)


def _declared_variants(session: pytest.Session) -> dict[str, SpecVariant]:
    """The `E2E_SPECS` of every collected test module in this folder."""
    variants: dict[str, SpecVariant] = {}
    for module in {item.module for item in session.items if isinstance(item, pytest.Function)}:
        if Path(module.__file__).resolve().parent == HERE:
            variants.update(getattr(module, "E2E_SPECS", {}))
    return variants


def _write_specs(directory: Path, variants: dict[str, SpecVariant]) -> Path:
    for shipped in sorted(SHIPPED_SPECS.glob("*.yaml")):
        (directory / shipped.name).write_text(shipped.read_text())
    for name, (base, change) in variants.items():
        (directory / f"{name}.yaml").write_text(variant_yaml(name, base, change))
    return directory


@pytest.fixture(scope="package")
def e2e_stack(request, tmp_path_factory) -> Iterator[SharedStack]:
    """The running stack, its client settings and an API client; stopped at the end of tests/e2e, whatever happens."""
    specs = _write_specs(tmp_path_factory.mktemp("specs"), _declared_variants(request.session))
    stack = LocalStack(ROOT, tmp_path_factory.mktemp("stack"), preferred_ports=(0, 0), specs_dir=specs)
    try:
        with pytest.MonkeyPatch.context() as env:  # the stack's processes inherit these; this process keeps its own
            for key, value in STALE_DAGS_SOONER.items():
                env.setenv(key, value)
            info = stack.up(timeout=STACK_TIMEOUT)
        settings = Settings.from_mapping(stack.client_env(), base=ROOT)
        api = AirflowAPI(info["airflow_url"], info["username"], info["password"])
        yield SharedStack(stack, settings, api, RunWatcher(api))
    finally:
        stack.down()
