"""The one place Airflow-side code reads its environment: deployment settings and specs by name.

Shared by the DAG factory (at parse time and in task bodies) and the sensors, so every piece of glue resolves
settings the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airloop.settings import Settings
    from airloop.spec import PipelineSpec

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def settings() -> Settings:
    """Deployment settings from this process's environment."""
    from airloop.settings import Settings

    return Settings.from_mapping(os.environ, base=PROJECT_ROOT)


def spec_named(name: str) -> PipelineSpec:
    from airloop.spec import find_spec

    return find_spec(name, settings().specs_dir)
