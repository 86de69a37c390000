"""What the loop's steps hand each other: small frozen records, and the one place they become JSON and back.

An Airflow task returns a step's result through XCom and the next task reads it; the CLI and the tests call the
same steps directly. Each payload used to be a dict whose keys were learnt by grepping four files. Now each is a
keyword-only frozen dataclass holding only JSON-able facts (URIs, md5s, versions, numbers, strings — never a
DataFrame), and `to_xcom` / `from_xcom` are the only code that knows how one looks as a dict, so the DAG factory
never spells a key.

Vocabulary: a *trial* is one parameter set a model search trains and scores; a *candidate* is a feature the spec
puts on trial (`features[].candidate: true`). The two never share a name.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from airloop.errors import AirloopError
from airloop.naming import Trigger

T = TypeVar("T")

# What the gate decided about a challenger.
GateVerdict = Literal["promoted", "rejected"]


@dataclass(frozen=True, kw_only=True)
class Lineage:
    """Why a training run exists and what code ran it; recorded as tags on the run and the model version."""

    trigger: Trigger
    git_sha: str = "unknown"
    extra_tags: dict[str, str] = dataclasses.field(default_factory=dict)  # e.g. the Airflow run, drift evidence


@dataclass(frozen=True, kw_only=True)
class Skipped:
    """A training step that found nothing new to learn, and why (an Airflow task turns it into a skip)."""

    reason: str


@dataclass(frozen=True, kw_only=True)
class SearchSummary:
    """How a model search chose the version it registered."""

    trials: int  # how many trials competed
    best_index: int
    best_run_id: str  # the winning trial's MLflow child run
    metric: str  # `valid_<metric>`: trials are ranked on the validation slice, never the holdout
    best_score: float
    params: dict[str, Any]  # the winner's values of the searched parameters


@dataclass(frozen=True, kw_only=True)
class Trained:
    """A registered model version: what a training step returns and the gate receives."""

    version: str
    run_id: str
    data_md5: str
    device: str | None
    batches: tuple[str, ...]
    n_rows: int
    metrics: dict[str, float]  # holdout metrics of the label's task
    reused: bool = False  # an earlier try of the same unit of work registered it (see `steps.train`)
    search: SearchSummary | None = None  # set when a model search chose it


@dataclass(frozen=True, kw_only=True)
class Trial:
    """One parameter set of a model search: the searched values only, laid over the spec's `model.params`."""

    index: int
    params: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class SearchRun:
    """What every trial of one search shares: the versioned training set, the MLflow parent run, the lineage."""

    data_md5: str
    batches: tuple[str, ...]
    n_rows: int
    parent_run_id: str
    lineage: Lineage
    metric: str  # the selection metric, without its `valid_` prefix


@dataclass(frozen=True, kw_only=True)
class TrialJob:
    """One trial with its search's shared facts: what an orchestrator maps a training task over."""

    run: SearchRun
    trial: Trial


@dataclass(frozen=True, kw_only=True)
class PreparedSearch:
    """A model search after its first step: the training set is versioned, the parent run open, trials listed."""

    run: SearchRun
    trials: tuple[Trial, ...]

    def jobs(self) -> list[TrialJob]:
        return [TrialJob(run=self.run, trial=t) for t in self.trials]

    @classmethod
    def from_jobs(cls, jobs: list[TrialJob]) -> PreparedSearch:
        """`jobs()` undone: the prepared search, every trial included."""
        if not jobs:
            raise AirloopError("a model search without trials: nothing to select from")
        return cls(run=jobs[0].run, trials=tuple(j.trial for j in jobs))

    def searched_keys(self) -> list[str]:
        """The parameters the search varies (the keys its trials override)."""
        return sorted({k for t in self.trials for k in t.params})


@dataclass(frozen=True, kw_only=True)
class TrialResult:
    """A trained trial, as its MLflow child run records it (a retried task reads it back from there)."""

    index: int
    run_id: str
    params: dict[str, Any]  # every booster param, eval_metric included: the winner's recipe
    valid: dict[str, float]  # finite validation metrics only
    best_iteration: int
    device: str
    seconds: float
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class FeatureGains:
    """The feature-importance test of one version: `{feature: {"with", "without", "gain", "adds"}}`."""

    version: str
    metric: str
    features: dict[str, dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class GateDecision:
    """The gate's decision on a challenger, with the scores it compared."""

    version: str
    decision: GateVerdict
    reason: str
    metric: str
    challenger_score: float
    champion_version: str | None
    champion_score: float | None


@dataclass(frozen=True, kw_only=True)
class Staleness:
    """The champion's age against `training.max_model_age`."""

    stale: bool
    reason: str
    champion_version: str | None
    age_seconds: float | None = None  # None when there is no champion or no limit
    max_age_seconds: float | None = None

    def event_extra(self) -> dict[str, Any]:
        """The `stale` asset event's metadata: which champion, how old, against which limit."""
        fields = ("champion_version", "age_seconds", "max_age_seconds")
        return {k: v for k, v in to_xcom(self).items() if k in fields}


def to_xcom(obj: Any) -> dict[str, Any]:
    """A record (any dataclass instance, e.g. `ingest.BatchRecord` too) as a plain JSON-able dict."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise TypeError(f"to_xcom takes a dataclass instance, not {type(obj).__name__}")
    return _plain(dataclasses.asdict(obj))


def from_xcom(cls: type[T], data: Mapping[str, Any]) -> T:
    """`to_xcom` undone: nested records, tuples and `Literal` values restored and checked.

    A key the record does not have, or a value outside a `Literal`, raises `AirloopError`: a payload written by
    another version of a step fails where it is read, not three tasks later.
    """
    return _decode(cls, data, cls.__name__)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _decode(tp: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return _decode_record(tp, value, where)
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        kinds = [a for a in args if a is not type(None)]
        return _decode(kinds[0], value, where) if len(kinds) == 1 else value
    if origin is Literal:
        if value not in args:
            raise AirloopError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return tuple(_decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is list and args:
        return [_decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict and len(args) == 2:
        return {k: _decode(args[1], v, f"{where}.{k}") for k, v in value.items()}
    return value


def _decode_record(cls: Any, value: Any, where: str) -> Any:
    if not isinstance(value, Mapping):
        raise AirloopError(f"{where}: expected a mapping for {cls.__name__}, got {type(value).__name__}")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(value) - known)
    if unknown:
        raise AirloopError(f"{where}: {cls.__name__} has no field(s) {', '.join(unknown)}")
    return cls(**{k: _decode(hints[k], v, f"{where}.{k}") for k, v in value.items()})
