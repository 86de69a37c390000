"""What a new pipeline may be called and which label tasks it may have, asked of the spec itself.

`airloop new` refuses a bad name or task before it infers or writes anything, with the same rule the spec applies
when it loads (the spec's name pattern, the tasks its `label.task` accepts), so the two can never disagree.
"""

from __future__ import annotations

import re

from airloop.errors import AirloopError
from airloop.metrics import DEFAULT_METRIC, TASKS, metric_direction


class ScaffoldError(AirloopError):
    """`airloop new` cannot proceed: a bad name, a file already there, or a sample it cannot infer from."""


def task_metric(task: str) -> tuple[str, str]:
    """The gate metric a new spec starts with, and its direction: the task's default metric."""
    metric = DEFAULT_METRIC[task]
    return metric, metric_direction(metric)


def spec_name_pattern() -> str:
    from airloop.spec import NAME_RE

    return NAME_RE


def check_name(name: str) -> None:
    """Refuse names the spec would refuse, before any file is written."""
    if not re.match(spec_name_pattern(), name):
        raise ScaffoldError(
            f"'{name}' is not a valid pipeline name: a lower-case letter, then 1-62 lower-case letters, digits or "
            f"'_' (pattern {spec_name_pattern()}); it names the spec file, the DAGs and the registered model"
        )


def supported_tasks() -> tuple[str, ...]:
    """The label tasks the spec accepts: `metrics.TASKS`, the list `label.task` is typed from."""
    return TASKS


def check_task(task: str) -> None:
    supported = supported_tasks()
    if task not in supported:
        raise ScaffoldError(
            f"unknown task '{task}': airloop's spec accepts label.task {', '.join(supported)}, not {task}"
        )
