"""Model registry on MLflow: log a trained model with lineage, find and load versions, move aliases, describe.

Exports `Registry` (one MLflow tracking server and model registry, built once from `Settings`, like a provider's
hook), `LoggedVersion`, and the pure helpers `previous_champion`, `experiment_name`, `run_id_of`.
What a version records (tags, run contents, recipe) is `airloop.model.lineage`; the promotion rule is
`airloop.model.gate`, which moves the champion through `Registry.move_champion`.

A read that can answer "not there" (None, empty, a `RegistryError`) does so only on MLflow's own "does not exist";
when MLflow cannot be reached it raises `ServiceUnavailable` (see `airloop.model.mlflow_errors`).

Aliases only (`champion`, `challenger`), never stages. Every move of `champion` appends to the registered model's
`champion_history` tag, so `rollback` knows where to go back to and the history is auditable. Moves of the
champion are serialized by the callers (`steps` takes the champion lock around gate, promote and rollback).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airloop.contracts import Trained
from airloop.errors import RegistryError, first_line
from airloop.model import lineage
from airloop.model.lineage import RECIPE_DIR, RUN_KEY
from airloop.model.mlflow_errors import answering, check_reachable, is_missing

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb
    from mlflow.entities import Run
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

    from airloop.model.training import FitResult, TrainingSet
    from airloop.settings import Settings
    from airloop.spec import PipelineSpec

log = logging.getLogger(__name__)
CHAMPION, CHALLENGER = "champion", "challenger"
_HISTORY_KEPT = 50  # champion moves kept in the `champion_history` tag (a tag holds 5000 characters)


def experiment_name(pipeline: str) -> str:
    return f"airloop-{pipeline}"


def run_id_of(mv: ModelVersion) -> str:
    """The MLflow run that logged a version (every version airloop registers has one)."""
    if not mv.run_id:
        raise RegistryError(f"{mv.name} v{mv.version} was registered without an MLflow run")
    return mv.run_id


@dataclass(frozen=True)
class LoggedVersion:
    run_id: str
    version: str
    model_uri: str


class Registry:
    """One MLflow tracking server and model registry: the pipelines' models, their versions and aliases.

    Build it once where the settings are known (`Registry.from_settings(settings)`) and pass it down; its
    `MlflowClient` is created on first use, so building one imports nothing heavy.
    """

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._client: MlflowClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        return cls(settings.tracking_uri)

    def __repr__(self) -> str:
        return f"Registry({self.tracking_uri!r})"

    @property
    def client(self) -> MlflowClient:
        """The MLflow client (tracking and registry on the same URI), for reads this class has no method for."""
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    def _point_mlflow_here(self) -> None:
        """MLflow's fluent API and `models:/` URIs resolve through the process's URIs whatever `registry_uri=`
        says (MLflow 3.17): without this a tracking server's model was looked up in a local ./mlflow.db."""
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)

    def _unless_missing(self, exc: Exception) -> None:
        """Return when `exc` is MLflow's "does not exist"; raise `ServiceUnavailable` when MLflow could not answer,
        and `exc` itself for any other answer."""
        check_reachable(exc, self.tracking_uri)
        if not is_missing(exc):
            raise exc

    def _versions(self, name: str) -> list[ModelVersion]:
        """Every version of `name` (none for an unknown model: MLflow's search answers with an empty list)."""
        with answering(self.tracking_uri):
            return list(self.client.search_model_versions(f"name='{name}'"))

    def experiment_id(self, name: str, *, create: bool = False) -> str | None:
        """The id of the MLflow experiment called `name` (`experiment_name(pipeline)`, or a name derived from it);
        None when there is none, unless `create`, which creates it. MLflow unreachable: `ServiceUnavailable`."""
        with answering(self.tracking_uri):
            experiment = self.client.get_experiment_by_name(name)
            if experiment is not None:
                return str(experiment.experiment_id)
            return str(self.client.create_experiment(name)) if create else None

    # ------------------------------------------------------------------------------------------ logging a version

    def log_model_version(
        self,
        spec: PipelineSpec,
        fit: FitResult,
        data: TrainingSet,
        holdout: pd.DataFrame,
        *,
        trigger: str,
        git: str = "unknown",
        extra_tags: dict[str, str] | None = None,
        workdir: str | Path | None = None,
        run_id: str | None = None,
    ) -> LoggedVersion:
        """One MLflow run (params, metrics, model with signature + input example, importance plot, lineage tags)
        and one registered model version carrying the same lineage tags.

        `run_id` resumes an existing run instead of starting one: a model search's parent run, whose child runs
        hold the trials, receives the winner.
        """
        import mlflow

        self._point_mlflow_here()
        tags = lineage.run_tags(spec, data, fit, trigger=trigger, git=git, extra_tags=extra_tags)
        name = None if run_id else f"{spec.name}-{trigger}"
        with answering(self.tracking_uri):
            mlflow.set_experiment(experiment_name(spec.name))
            with mlflow.start_run(run_id=run_id, run_name=name, tags=tags) as run:
                model_uri = lineage.log_run(spec, fit, data, holdout, workdir)
                run_id = run.info.run_id
            mv = self._register(spec.name, model_uri, run_id, lineage.version_tags(tags, data, fit))
        return LoggedVersion(run_id, mv, f"models:/{spec.name}/{mv}")

    def _register(self, name: str, model_uri: str, run_id: str, tags: dict[str, str]) -> str:
        """Register once per run, with every tag in the same call: a version either exists complete or not at
        all, and a retried task finds the version its first attempt created."""
        c = self.client
        try:
            c.get_registered_model(name)
        except Exception as exc:
            self._unless_missing(exc)
            c.create_registered_model(name, description=f"airloop pipeline {name}")
        for mv in c.search_model_versions(f"name='{name}' and run_id='{run_id}'"):
            return str(mv.version)
        import mlflow

        mv = mlflow.register_model(model_uri, name, tags=tags)  # knows MLflow 3's logged-model ids (models:/m-…)
        return str(mv.version)

    def version_for_run_key(self, name: str, run_key: str) -> Trained | None:
        """The version an earlier try of the same unit of work registered, as `steps.train` returns it; else None.

        "MLflow unreachable" raises `ServiceUnavailable`: it must fail the try, never read as "nothing registered".
        """
        for mv in self._versions(name):
            tags = mv.tags or {}
            if tags.get(RUN_KEY) == run_key:
                return Trained(
                    version=str(mv.version),
                    run_id=run_id_of(mv),
                    data_md5=tags.get("data_md5", ""),
                    device=tags.get("device"),
                    batches=tuple(b for b in tags.get("training_batches", "").split(",") if b),
                    n_rows=int(tags.get("n_rows", "0") or 0),
                    metrics=lineage.metric_tags(tags),
                    reused=True,
                )
        return None

    # ------------------------------------------------------------------------------------------ finding a version

    def resolve(self, name: str, version_or_alias: str) -> ModelVersion:
        """The version by number (`3`) or by alias (`champion`); a missing one and an unreachable registry are
        told apart."""
        which = str(version_or_alias)
        try:
            if which.isdigit():
                return self.client.get_model_version(name, which)
            return self.client.get_model_version_by_alias(name, which)
        except Exception as exc:
            check_reachable(exc, self.tracking_uri)
            if is_missing(exc):
                raise RegistryError(f"model '{name}' has no version or alias '{which}'") from None
            raise RegistryError(f"cannot read model '{name}' v{which} from MLflow: {first_line(exc)}") from None

    def run_of(self, mv: ModelVersion) -> Run:
        """The MLflow run that logged a version."""
        run_id = run_id_of(mv)
        try:
            return self.client.get_run(run_id)
        except Exception as exc:
            check_reachable(exc, self.tracking_uri)
            raise RegistryError(
                f"{mv.name} v{mv.version}: cannot read its MLflow run {run_id}: {first_line(exc)}"
            ) from None

    def alias_model_version(self, name: str, alias: str) -> ModelVersion | None:
        """The version holding `alias`, or None (no such alias, or no such model)."""
        try:
            return self.client.get_model_version_by_alias(name, alias)
        except Exception as exc:
            self._unless_missing(exc)
            return None

    def alias_version(self, name: str, alias: str) -> str | None:
        """The number of the version holding `alias`, or None (no such alias, or no such model)."""
        mv = self.alias_model_version(name, alias)
        return str(mv.version) if mv else None

    def champion_version(self, name: str) -> str | None:
        return self.alias_version(name, CHAMPION)

    def version_tags(self, name: str, alias: str) -> dict[str, str]:
        """Tags of the version holding `alias` (plus its number under `version`); empty when there is none."""
        mv = self.alias_model_version(name, alias)
        return {**(mv.tags or {}), "version": str(mv.version)} if mv else {}

    def latest_version_tags(self, name: str) -> dict[str, str]:
        """Tags of the newest registered version (plus `version`); empty when the model has none."""
        versions = self._versions(name)
        if not versions:
            return {}
        mv = max(versions, key=lambda m: int(m.version))
        return {**(mv.tags or {}), "version": str(mv.version)}

    # ------------------------------------------------------------------------------- what a version is made of

    def load_booster(self, name: str, version: str) -> xgb.Booster:
        import mlflow.xgboost

        self._point_mlflow_here()
        with answering(self.tracking_uri):
            return mlflow.xgboost.load_model(f"models:/{name}/{version}")

    def model_file(self, name: str, version: str, dst: str | Path) -> Path:
        """Download a version's model into `dst`; returns its saved booster file (the exact registered bytes)."""
        import mlflow.artifacts
        from mlflow.models import Model

        self._point_mlflow_here()
        try:
            local = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{name}/{version}",
                    dst_path=str(dst),
                    tracking_uri=self.tracking_uri,
                    registry_uri=self.tracking_uri,
                )
            )
            return local / Model.load(str(local / "MLmodel")).flavors["xgboost"]["data"]
        except Exception as exc:
            check_reachable(exc, self.tracking_uri)
            raise RegistryError(f"{name} v{version}: cannot download the registered model: {first_line(exc)}") from None

    def recipe_files(self, mv: ModelVersion) -> set[str]:
        """The recipe files (`spec.json`, `params.json`) recorded on a version's run; empty for older versions."""
        run_id = run_id_of(mv)
        try:
            return {Path(a.path).name for a in self.client.list_artifacts(run_id, RECIPE_DIR)}
        except Exception as exc:
            check_reachable(exc, self.tracking_uri)
            raise RegistryError(
                f"{mv.name} v{mv.version}: cannot list the artifacts of run {run_id}: {first_line(exc)}"
            ) from None

    def recorded(self, mv: ModelVersion, what: str) -> dict[str, Any]:
        """One recorded recipe file of a version's run (`spec` or `params`; see `log_model_version`)."""
        import tempfile

        run_id = run_id_of(mv)
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = self.client.download_artifacts(run_id, f"{RECIPE_DIR}/{what}.json", tmp)
            except Exception as exc:
                check_reachable(exc, self.tracking_uri)
                raise RegistryError(
                    f"{mv.name} v{mv.version}: no recorded {what}.json on run {run_id} ({first_line(exc)})"
                ) from None
            return json.loads(Path(path).read_text())

    # ------------------------------------------------------------------------------------- recording on versions

    def tag_version(self, name: str, version: str, tags: dict[str, str]) -> None:
        with answering(self.tracking_uri):
            for key, value in tags.items():
                self.client.set_model_version_tag(name, version, key, value)

    def log_metrics(self, run_id: str, metrics: dict[str, float], *, step: int = 0) -> None:
        """Log metrics on a run in batches (MLflow takes at most 1000 per call), all at `step`, now."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(key, value, now, step) for key, value in metrics.items()]
        with answering(self.tracking_uri):
            for i in range(0, len(batch), 900):
                self.client.log_batch(run_id, metrics=batch[i : i + 900])

    # ------------------------------------------------------------------------------------------ moving aliases

    def mark_challenger(self, name: str, version: str) -> None:
        with answering(self.tracking_uri):
            self.client.set_registered_model_alias(name, CHALLENGER, version)

    def move_champion(self, name: str, version: str, *, reason: str, actor: str) -> None:
        """Point `champion` at `version`, drop its `challenger` alias, append the move to `champion_history`."""
        with answering(self.tracking_uri):  # MLflow gone half-way: ServiceUnavailable, not MLflow's own error
            c = self.client
            previous = self.champion_version(name)
            c.set_registered_model_alias(name, CHAMPION, version)
            if self.alias_version(name, CHALLENGER) == version:
                c.delete_registered_model_alias(name, CHALLENGER)
            history = self._history(name)
            history.append(
                {
                    "version": version,
                    "previous": previous,
                    "reason": reason,
                    "actor": actor,
                    "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
            )
            c.set_registered_model_tag(name, "champion_history", json.dumps(history[-_HISTORY_KEPT:]))
            c.set_model_version_tag(name, version, "promoted_by", actor)

    def promote(self, name: str, version: str, *, actor: str = "cli", reason: str | None = None) -> str | None:
        """Make `version` champion by hand (a manual decision, and `reason` if given). Returns the previous one."""
        version = str(version)
        try:
            self.client.get_model_version(name, version)
        except Exception as exc:
            self._unless_missing(exc)
            raise RegistryError(f"model '{name}' has no version {version}") from None
        previous = self.champion_version(name)
        if previous == version:
            return previous
        why = f"manual promote: {reason}" if reason else "manual promote"
        self.move_champion(name, version, reason=why, actor=actor)
        self.tag_version(name, version, {"trigger_promotion": "manual"})
        return previous

    def rollback_target(self, name: str) -> str | None:
        """Where `rollback` would move the champion now (None: nowhere to go)."""
        try:
            current = self.champion_version(name)
            return previous_champion(self._history(name), current) if current else None
        except Exception as exc:
            self._unless_missing(exc)  # no such model yet
            return None

    def rollback(self, name: str, *, actor: str = "cli", dry_run: bool = False) -> tuple[str, str]:
        """Move `champion` back to the champion before the current one (not with `dry_run`). Returns (from, to)."""
        try:
            self.client.get_registered_model(name)
        except Exception as exc:
            self._unless_missing(exc)
            raise RegistryError(f"no registered model '{name}'") from None
        current = self.champion_version(name)
        if current is None:
            raise RegistryError(f"model '{name}' has no champion to roll back from")
        previous = previous_champion(self._history(name), current)
        if previous is None:
            raise RegistryError(f"model '{name}': champion v{current} has no earlier champion to roll back to")
        if not dry_run:
            self.move_champion(name, previous, reason=f"rollback from v{current}", actor=actor)
        return current, previous

    def champion_history(self, name: str) -> list[dict[str, Any]]:
        """Every move of the `champion` alias, oldest first: version, previous, reason, actor, at (UTC)."""
        try:
            return self._history(name)
        except Exception as exc:
            self._unless_missing(exc)  # no such model yet
            return []

    def _history(self, name: str) -> list[dict[str, Any]]:
        with answering(self.tracking_uri):  # "no such model" passes through for the callers that expect it
            tags = self.client.get_registered_model(name).tags or {}
        try:
            return json.loads(tags.get("champion_history", "[]"))
        except json.JSONDecodeError:
            return []

    # --------------------------------------------------------------------------------------------- describing

    def describe_models(self, names: list[str]) -> list[dict[str, Any]]:
        """Per pipeline: champion, challenger and every version with aliases, metrics, lineage and gate decision."""
        out: list[dict[str, Any]] = []
        for name in names:
            try:
                model = self.client.get_registered_model(name)
            except Exception as exc:
                self._unless_missing(exc)
                out.append({"pipeline": name, "champion": None, "challenger": None, "versions": []})
                continue
            aliases = {alias: str(v) for alias, v in (model.aliases or {}).items()}
            by_version: dict[str, list[str]] = {}
            for alias, v in aliases.items():
                by_version.setdefault(v, []).append(alias)
            found = sorted(self._versions(name), key=lambda m: int(m.version))
            out.append(
                {
                    "pipeline": name,
                    "champion": aliases.get(CHAMPION),
                    "challenger": aliases.get(CHALLENGER),
                    "versions": [lineage.describe_version(mv, by_version.get(str(mv.version), [])) for mv in found],
                }
            )
        return out


# ---------------------------------------------------------------------------------------------- pure helpers


def previous_champion(history: list[dict[str, Any]], current: str) -> str | None:
    """The version that was champion before `current` took over, or None.

    The promotion that made `current` champion counts; a rollback onto it does not, so rolling back twice goes
    further back instead of flipping between two versions.
    """
    for entry in reversed(history):
        if entry.get("version") == current and not str(entry.get("reason", "")).startswith("rollback"):
            return entry.get("previous")
    return None
