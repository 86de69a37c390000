"""pyproject.toml repeats requirements.in's bounds (`make lock` pins from requirements.in; the package's metadata
comes from pyproject): every requirement of the package and of its `stack` extra must be in requirements.in with
the same extras and version specifier, so the two never drift apart."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _requirements_in() -> dict[str, Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in (ROOT / "requirements.in").read_text().splitlines())
    reqs = [Requirement(line) for line in lines if line]
    return {canonicalize_name(r.name): r for r in reqs}


def _pyproject() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["stack"]]]


def test_pyproject_requirements_match_requirements_in():
    pinned_from = _requirements_in()
    for req in _pyproject():
        name = canonicalize_name(req.name)
        assert name in pinned_from, f"{req} is in pyproject.toml but not in requirements.in"
        source = pinned_from[name]
        assert (req.extras, req.specifier) == (source.extras, source.specifier), (
            f"pyproject.toml says {req}, requirements.in says {source}"
        )


def test_the_parser_sees_every_line_of_requirements_in():
    reqs = _requirements_in()
    assert reqs["mlflow"].specifier == Requirement("mlflow>=3.17,<3.18").specifier
    assert reqs["dvc"].extras == {"s3"} and "apache-airflow" in reqs
