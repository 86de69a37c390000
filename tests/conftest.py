"""Marks every test by the folder it lives in, and the whole-loop library tests as `slow`.

A test file needs no `pytestmark` for its kind: `tests/unit` is `unit`, `tests/dags` is `dags`, and so on, so
`pytest -m "unit and not slow"` (the fast half of `make check`) selects by where a test lives.

`slow` goes to every test that uses a fixture in `SLOW_FIXTURES`: fixtures that run the library's loop for real
(DVC versioning, XGBoost training, an MLflow registry, the gate) before their tests can look at the result. A test
file may also mark itself `slow`; both are kept.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
KINDS = ("unit", "dags", "integration", "e2e", "browser")  # folder name == marker name

# Module- or session-scoped "worlds" that land, curate and version data (DVC), train (XGBoost), register (MLflow)
# and gate before any of their tests run: each costs seconds to tens of seconds on two cores.
SLOW_FIXTURES = frozenset(
    {
        "monitored_world",  # tests/unit/conftest.py: a champion, drift checks and a drift retrain (session-wide)
        "world",  # test_generality, test_governance, test_modelops, test_monitor, test_pii, test_races
        "cli_runs",  # test_bad_input: the CLI over every bad batch
        "landed",  # test_bad_input: ingest + train on the landed batches
        "state",  # test_registry: two rounds of land → process → train → gate
        "registered",  # test_reproduce: four registered versions to rebuild
        "tested",  # test_governance: two versions with candidate features measured with and without
        "searched",  # test_search: a grid search through MLflow child runs, then the gate
    }
)


def kind_of(path: Path) -> str | None:
    """The marker for a test file: the first folder under tests/, when it is one of the known kinds."""
    try:
        top = path.resolve().relative_to(TESTS).parts[0]
    except (ValueError, IndexError):
        return None
    return top if top in KINDS else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        kind = kind_of(item.path)
        if kind is not None and item.get_closest_marker(kind) is None:
            item.add_marker(getattr(pytest.mark, kind))
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())) and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)
