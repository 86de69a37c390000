"""Load-time spec checks above the catalog: drift method names and custom feature imports.

The catalog checks what a spec references below it (fields, metric/task pairs, feature transforms). The drift
statistics' names live in `monitor.drift_methods`, above the catalog, so the drift-method check lives here; the
drift package loads its statistics from that same list, and the check imports none of numpy, pandas or scipy. The
DAG factory and `airloop check` share this module.

Custom feature modules (`module:function`) are imported here too, by the DAG parse and `airloop check` alike: a
module that fails to import (or lacks the function) turns only its own spec into an error line, so the factory
builds `<name>__invalid_spec` for it and the other pipelines parse (an import error is caught per spec, never
raised out of the DAG file). Keep feature modules' import-time code cheap: it runs in Airflow's parsing processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from airloop.catalog import SpecLoad, load_specs_isolated
from airloop.errors import AirloopError, SpecError
from airloop.monitor.drift_methods import unknown_method

if TYPE_CHECKING:
    from airloop.spec import PipelineSpec


def check_drift_method(spec: PipelineSpec, source: str) -> None:
    """Raise SpecError, naming file and field, when `drift.method` is neither `auto` nor a registered statistic."""
    why = unknown_method(spec.drift.method)
    if why:
        raise SpecError(f"{source}: field 'drift.method': {why}")


def import_feature_modules(spec: PipelineSpec, source: str) -> None:
    """Import every custom feature function the spec names, as its first task would; errors name file and field."""
    from airloop.data.features import custom

    for i, feat in enumerate(spec.features):
        if not custom.is_custom(feat.transform):
            continue
        try:
            custom.output_columns(feat, custom.function_for(feat, spec.name))
        except AirloopError as exc:
            raise SpecError(f"{source}: field 'features.{i}' ({feat.name}): {exc}") from None


def check_loaded(spec: PipelineSpec, source: str) -> None:
    """The checks above the catalog, on one spec that loaded: its drift method, then its feature module imports."""
    check_drift_method(spec, source)
    import_feature_modules(spec, source)


def load_checked(directory: str | Path) -> SpecLoad:
    """Every spec of a directory, each checked on its own (fields, drift method, feature imports): the good ones,
    and one line per bad file. The DAG factory and `airloop check` both call this, so they agree on what is broken.
    """
    return load_specs_isolated(directory, check_loaded)
