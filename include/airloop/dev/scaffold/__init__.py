"""`airloop new`: the files a new pipeline starts from — a spec, a custom feature module and its test.

Pure functions that return file contents (and one that writes them, refusing to overwrite), so the CLI command
stays thin and every piece can be tested without a process. With a sample file (`--from`) the schema is inferred
from the data: dtypes, nullability, category domains, the label, and a first feature set.

One module per job: `rules` (the names and tasks the spec accepts), `inference` (a schema from a sample, or the
skeleton's example schema), `render` (the file texts, filled in from `templates/`) and `files` (the plan, the
all-or-nothing write, the next steps).
"""

from __future__ import annotations

from airloop.dev.scaffold.files import Scaffold, next_steps, plan, write
from airloop.dev.scaffold.inference import Column, Inferred, infer_schema, skeleton
from airloop.dev.scaffold.render import features_module, features_test, spec_yaml
from airloop.dev.scaffold.rules import (
    ScaffoldError,
    check_name,
    check_task,
    spec_name_pattern,
    supported_tasks,
)

__all__ = [
    "Column",
    "Inferred",
    "Scaffold",
    "ScaffoldError",
    "check_name",
    "check_task",
    "features_module",
    "features_test",
    "infer_schema",
    "next_steps",
    "plan",
    "skeleton",
    "spec_name_pattern",
    "spec_yaml",
    "supported_tasks",
    "write",
]
